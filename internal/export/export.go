// Package export writes community lists (社区名单): the contacts of cases
// grouped by the community (street) they live in, with their exposures, as
// CSV or XLSX for the community worker's inbox. Names and phone numbers come
// masked by the caller; the package only lays them out.
package export

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"healthcode/internal/health"
)

// Exposure is one exposure of a contact.
type Exposure struct {
	PlaceName  string
	PlaceID    string
	From, To   time.Time // zero times are left blank
	SourceCase string
	Via        string // the person id of the close contact, for a secondary contact; "" for a close one
}

// Contact is one person on a community list.
type Contact struct {
	PersonID      string
	Name          string // masked by the caller, e.g. 张*三
	Phone         string // masked by the caller
	Degree        int    // 1 close, 2 secondary
	Community     string // the street or community of residence
	CommunityCode string // 9-digit street code or 6-digit county code; the list groups by it
	Address       string
	Exposures     []Exposure
	CodeColour    string // "green", "yellow" or "red"; shown as 绿码, 黄码, 红码 in Chinese
}

// List is a community list.
type List struct {
	Title     string    // the XLSX document title
	Generated time.Time // the XLSX document's creation time; zero leaves it unset
	Lang      string    // language of headers and labels: "zh" (or "") or "en"
	Contacts  []Contact
}

// cst is China Standard Time (UTC+8, no daylight saving), the zone of the
// exposure times.
var cst = time.FixedZone("CST", 8*60*60)

// lang is the language of a list's headers and labels.
type lang int

// The languages.
const (
	zh lang = iota
	en
)

// parseLang returns the language named s, or a health.Invalid error.
func parseLang(s string) (lang, error) {
	switch s {
	case "", "zh":
		return zh, nil
	case "en":
		return en, nil
	}
	return 0, health.Errorf(health.Invalid, "invalid_lang", "lang", "%q is not a list language (zh or en)", s)
}

// pick returns the text in language l.
func (l lang) pick(zhText, enText string) string {
	if l == en {
		return enText
	}
	return zhText
}

// column is a column of the contact rows.
type column struct {
	zh, en string
	width  float64 // XLSX column width, in characters
}

// columns are the columns of the contact rows, in order: the contact's,
// repeated on each of its rows, then the exposure's.
var columns = [...]column{
	{"社区", "Community", 20},
	{"社区代码", "Community code", 12},
	{"类别", "Degree", 10},
	{"人员编号", "Person ID", 20},
	{"姓名", "Name", 10},
	{"电话", "Phone", 14},
	{"住址", "Address", 36},
	{"健康码", "Code colour", 10},
	{"暴露场所", "Exposure place", 24},
	{"场所编号", "Place ID", 14},
	{"开始时间", "From", 17},
	{"结束时间", "To", 17},
	{"传染源病例", "Source case", 14},
	{"经由密接", "Via close contact", 20},
}

// The positions of the exposure time columns in columns.
const (
	fromColumn = 10
	toColumn   = 11
)

// header returns the header row in language l.
func header(l lang) []string {
	h := make([]string, len(columns))
	for i, c := range columns {
		h[i] = l.pick(c.zh, c.en)
	}
	return h
}

// row is one row of a list: a contact's and one exposure's cells, as text
// except for the exposure times.
type row struct {
	text     [len(columns)]string // the cells; the time columns are empty
	from, to time.Time
}

// rows returns the rows of contact c, one per exposure, or one with blank
// exposure cells if c has none.
func rows(c Contact, l lang) []row {
	exposures := c.Exposures
	if len(exposures) == 0 {
		exposures = []Exposure{{}}
	}
	out := make([]row, len(exposures))
	for i, e := range exposures {
		out[i] = row{
			text: [...]string{
				c.Community, c.CommunityCode, degree(c.Degree, l), c.PersonID, c.Name, c.Phone, c.Address, colour(c.CodeColour, l),
				e.PlaceName, e.PlaceID, "", "", e.SourceCase, e.Via,
			},
			from: e.From,
			to:   e.To,
		}
	}
	return out
}

// degree labels a contact degree.
func degree(d int, l lang) string {
	switch d {
	case 1:
		return l.pick("密接", "close")
	case 2:
		return l.pick("次密接", "secondary")
	}
	return strconv.Itoa(d)
}

// colour labels a health-code colour: in Chinese 绿码, 黄码 or 红码, in
// English the colour as given. Unknown colours are shown as given.
func colour(s string, l lang) string {
	c, ok := health.ParseColour(s)
	if !ok || l == en {
		return s
	}
	return [...]string{health.Green: "绿码", health.Yellow: "黄码", health.Red: "红码"}[c]
}

// group is the contacts of one community.
type group struct {
	code, name string // name is the first non-empty Community of the contacts
	contacts   []Contact
	close      int // contacts of degree 1
	secondary  int // contacts of degree 2
}

// groups sorts the contacts by community code, degree and person id, and
// groups them by community code.
func groups(contacts []Contact) []group {
	cs := slices.Clone(contacts)
	slices.SortStableFunc(cs, func(a, b Contact) int {
		return cmp.Or(cmp.Compare(a.CommunityCode, b.CommunityCode), cmp.Compare(a.Degree, b.Degree), cmp.Compare(a.PersonID, b.PersonID))
	})
	var gs []group
	for _, c := range cs {
		if len(gs) == 0 || gs[len(gs)-1].code != c.CommunityCode {
			gs = append(gs, group{code: c.CommunityCode})
		}
		g := &gs[len(gs)-1]
		g.contacts = append(g.contacts, c)
		if g.name == "" {
			g.name = c.Community
		}
		switch c.Degree {
		case 1:
			g.close++
		case 2:
			g.secondary++
		}
	}
	return gs
}
