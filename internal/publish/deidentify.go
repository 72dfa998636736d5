package publish

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"healthcode/internal/health"
)

// DefaultK is the k of k-anonymity used when Options.K is not positive.
const DefaultK = 5

// Stop is one approved trajectory point of a case, as [Deidentify] takes it.
type Stop struct {
	Place       uint32
	PlaceName   string
	PlaceRegion string // 6-digit county code of the place
	Home        bool   // the case's home address: never published
	From, To    time.Time
}

// Case is a case as [Deidentify] takes it. ID is never published.
type Case struct {
	ID             string
	Region         string // the case's county code
	Chain          string // chain id, "" if none; never published
	Age            int    // years, -1 unknown
	Sex            string // "M", "F", "" unknown
	Classification string // confirmed or asymptomatic
	Reported       time.Time
	Stops          []Stop // approved stops only
}

// Options configures [Deidentify].
type Options struct {
	K      int    // minimum group and equivalence class size; DefaultK if not positive
	Region string // publish only the regions under this code prefix; "" for all
}

// Report is the de-identified public case data: one group per region and one
// per chain, each sorted. It is ready for encoding/json.
type Report struct {
	K       int     `json:"k"`
	Region  string  `json:"region,omitempty"` // the Options.Region filter
	Regions []Group `json:"regions"`          // by county code
	Chains  []Group `json:"chains"`           // by chain label number
}

// Group is the cases of one region or one chain. A group of at least k cases
// lists its Records; a smaller one is Suppressed and lists only its
// aggregated Stops.
type Group struct {
	Region     string      `json:"region,omitempty"` // county code, for a region group
	Chain      string      `json:"chain,omitempty"`  // label (传播链N), for a chain group
	Suppressed bool        `json:"suppressed"`
	Cases      string      `json:"cases"`             // the number of cases, or "<k" if suppressed
	Records    []Record    `json:"records,omitempty"` // sorted by label number
	Stops      []Aggregate `json:"stops,omitempty"`   // suppressed groups only, sorted by time
}

// Record is one published case. Region, AgeBand and Sex may be generalised
// ("*", or a city or province code for Region) for k-anonymity.
type Record struct {
	Label          string   `json:"label"` // 病例N, numbered within the group by report time
	Region         string   `json:"region"`
	AgeBand        string   `json:"age_band"` // "0-9" … "70-79", "80+", "unknown" or "*"
	Sex            string   `json:"sex"`      // "M", "F", "unknown" or "*"
	Classification string   `json:"classification"`
	Reported       string   `json:"reported"` // report day (CST), "2006-01-02"
	Stops          []Window `json:"stops"`    // sorted by time
}

// Window is a published stop: a place and an hour-rounded time window.
type Window struct {
	Place       PlaceID   `json:"place_id"`
	PlaceName   string    `json:"place_name"`
	PlaceRegion string    `json:"place_region"`
	From        time.Time `json:"from"` // floored to the hour
	To          time.Time `json:"to"`   // ceiled to the hour
}

// Aggregate is a stop of a suppressed group: a window and how many of the
// group's cases were there.
type Aggregate struct {
	Window
	Cases int `json:"cases"`
}

// Generalisation levels of a case's quasi-identifiers. Region groups stop at
// ageHidden (the region is their key); chain groups go on to regionHidden.
const (
	exact         = iota // region, age band and sex as recorded
	sexHidden            // sex "*"
	ageHidden            // and age band "*"
	cityLevel            // and region generalised to its city
	provinceLevel        // and to its province
	regionHidden         // and region "*"
)

// entry is a case prepared for publication.
type entry struct {
	region, ageBand, sex, class string
	reported                    time.Time
	stops                       []Window
	level                       int // generalisation level, shared by both views
}

// qi is a published quasi-identifier tuple. The level is part of the key so
// that a class holds only cases generalised alike.
type qi struct {
	level            int
	region, age, sex string
}

// Deidentify builds the public report of cases under opt; see the package
// documentation for the rules. It never fails: unknown ages, sexes and
// classifications are published as "unknown".
func Deidentify(cases []Case, opt Options) Report {
	k := opt.K
	if k <= 0 {
		k = DefaultK
	}
	homes := make(map[uint32]bool)
	for _, c := range cases {
		for _, s := range c.Stops {
			if s.Home {
				homes[s.Place] = true
			}
		}
	}
	byRegion := make(map[string][]*entry)
	byChain := make(map[string][]*entry)
	for _, c := range cases {
		e := &entry{
			region:   c.Region,
			ageBand:  ageBand(c.Age),
			sex:      oneOf(c.Sex, "M", "F"),
			class:    oneOf(c.Classification, "confirmed", "asymptomatic"),
			reported: c.Reported,
			stops:    trajectory(c.Stops, homes),
		}
		byRegion[c.Region] = append(byRegion[c.Region], e)
		if c.Chain != "" {
			byChain[c.Chain] = append(byChain[c.Chain], e)
		}
	}
	anonymise(byRegion, byChain, k)

	r := Report{K: k, Region: opt.Region, Regions: []Group{}, Chains: []Group{}}
	for _, region := range slices.Sorted(maps.Keys(byRegion)) {
		if strings.HasPrefix(region, opt.Region) {
			g := group(byRegion[region], ageHidden, k)
			g.Region = region
			r.Regions = append(r.Regions, g)
		}
	}
	under := func(e *entry) bool { return strings.HasPrefix(e.region, opt.Region) }
	for i, chain := range chainOrder(byChain) {
		if members := byChain[chain]; slices.ContainsFunc(members, under) {
			g := group(members, regionHidden, k)
			g.Chain = "传播链" + strconv.Itoa(i+1)
			r.Chains = append(r.Chains, g)
		}
	}
	return r
}

// ageBand returns the ten-year band of age, "80+" from 80 on, "unknown" for a
// negative age.
func ageBand(age int) string {
	switch {
	case age < 0:
		return "unknown"
	case age >= 80:
		return "80+"
	}
	lo := age / 10 * 10
	return fmt.Sprintf("%d-%d", lo, lo+9)
}

// oneOf returns s if it is one of the allowed values and "unknown" otherwise,
// so that no free text reaches the report.
func oneOf(s string, allowed ...string) string {
	if slices.Contains(allowed, s) {
		return s
	}
	return "unknown"
}

// trajectory returns the publishable windows of stops: no stop at a home
// place, hour-rounded, merged per place where they overlap or touch, sorted
// by time. It is never nil.
func trajectory(stops []Stop, homes map[uint32]bool) []Window {
	ws := make([]Window, 0, len(stops))
	for _, s := range stops {
		if s.Home || homes[s.Place] {
			continue
		}
		from := s.From.UTC().Truncate(time.Hour)
		to := s.To.UTC()
		if t := to.Truncate(time.Hour); t.Before(to) {
			to = t.Add(time.Hour)
		} else {
			to = t
		}
		if !to.After(from) {
			to = from.Add(time.Hour)
		}
		ws = append(ws, Window{Place: PlaceID(s.Place), PlaceName: s.PlaceName, PlaceRegion: s.PlaceRegion, From: from, To: to})
	}
	slices.SortFunc(ws, func(a, b Window) int {
		return cmp.Or(cmp.Compare(a.Place, b.Place), compareWindow(a, b))
	})
	merged := ws[:0]
	for _, w := range ws {
		if n := len(merged); n > 0 && merged[n-1].Place == w.Place && !w.From.After(merged[n-1].To) {
			if w.To.After(merged[n-1].To) {
				merged[n-1].To = w.To
			}
			continue
		}
		merged = append(merged, w)
	}
	slices.SortFunc(merged, compareWindow)
	return merged
}

// compareWindow orders windows by time, then place.
func compareWindow(a, b Window) int {
	return cmp.Or(
		a.From.Compare(b.From),
		a.To.Compare(b.To),
		cmp.Compare(a.Place, b.Place),
		strings.Compare(a.PlaceName, b.PlaceName),
		strings.Compare(a.PlaceRegion, b.PlaceRegion),
	)
}

// anonymise raises the cases' generalisation levels until every published
// region and chain group is k-anonymous at the levels the cases share.
// Levels only rise and are bounded, so it terminates.
func anonymise(byRegion, byChain map[string][]*entry, k int) {
	for changed := true; changed; {
		changed = false
		for _, members := range byRegion {
			if len(members) >= k && generalise(members, ageHidden, k) {
				changed = true
			}
		}
		for _, members := range byChain {
			if len(members) >= k && generalise(members, regionHidden, k) {
				changed = true
			}
		}
	}
}

// generalise makes members (at least k of them) k-anonymous in a view whose
// most general level is top, raising levels as little as the rule allows,
// and reports whether it raised any. The result does not depend on map
// order: each round acts on all small classes of the previous round at once.
func generalise(members []*entry, top, k int) bool {
	raised := false
	for {
		classes := classify(members, top)
		small := false
		for key, class := range classes {
			if len(class) < k && key.level < top {
				for _, e := range class {
					e.level = key.level + 1
				}
				small = true
			}
		}
		if !small {
			break
		}
		raised = true
	}
	// Every class below top now has k cases or more. The one class at top
	// may still be too small: generalise the smallest others into it.
	for {
		classes := classify(members, top)
		var topSize int
		var smallest qi
		var found bool
		for key, class := range classes {
			switch {
			case key.level == top:
				topSize = len(class)
			case !found || len(class) < len(classes[smallest]) ||
				len(class) == len(classes[smallest]) && compareQI(key, smallest) < 0:
				smallest, found = key, true
			}
		}
		if topSize == 0 || topSize >= k {
			return raised
		}
		for _, e := range classes[smallest] {
			e.level = top
		}
		raised = true
	}
}

// classify groups members by their quasi-identifiers as published in a view
// whose most general level is top.
func classify(members []*entry, top int) map[qi][]*entry {
	classes := make(map[qi][]*entry)
	for _, e := range members {
		key := e.qi(top)
		classes[key] = append(classes[key], e)
	}
	return classes
}

func compareQI(a, b qi) int {
	return cmp.Or(
		cmp.Compare(a.level, b.level),
		strings.Compare(a.region, b.region),
		strings.Compare(a.age, b.age),
		strings.Compare(a.sex, b.sex),
	)
}

// qi returns e's quasi-identifiers at its level, capped at top.
func (e *entry) qi(top int) qi {
	q := qi{level: min(e.level, top), region: e.region, age: e.ageBand, sex: e.sex}
	if q.level >= sexHidden {
		q.sex = "*"
	}
	if q.level >= ageHidden {
		q.age = "*"
	}
	switch {
	case q.level >= regionHidden:
		q.region = "*"
	case q.level >= provinceLevel:
		q.region = regionPrefix(e.region, 2)
	case q.level >= cityLevel:
		q.region = regionPrefix(e.region, 4)
	}
	return q
}

// regionPrefix returns the 6-digit code of the ancestor of code named by its
// first digits (4: city, 2: province), or "*" if code is too short.
func regionPrefix(code string, digits int) string {
	if len(code) < digits {
		return "*"
	}
	return code[:digits] + strings.Repeat("0", 6-digits)
}

// chainOrder returns the chain ids ordered by their first report time, then
// id; a chain's label number is its position plus one.
func chainOrder(byChain map[string][]*entry) []string {
	first := make(map[string]time.Time, len(byChain))
	for chain, members := range byChain {
		t := members[0].reported
		for _, e := range members[1:] {
			if e.reported.Before(t) {
				t = e.reported
			}
		}
		first[chain] = t
	}
	return slices.SortedFunc(maps.Keys(byChain), func(a, b string) int {
		return cmp.Or(first[a].Compare(first[b]), strings.Compare(a, b))
	})
}

// group publishes members in a view whose most general level is top: their
// records if there are at least k of them, else their aggregated stops.
func group(members []*entry, top, k int) Group {
	if len(members) < k {
		return Group{Suppressed: true, Cases: "<" + strconv.Itoa(k), Stops: aggregate(members)}
	}
	type reported struct {
		at  time.Time
		rec Record
	}
	rs := make([]reported, len(members))
	for i, e := range members {
		q := e.qi(top)
		rs[i] = reported{e.reported, Record{
			Region:         q.region,
			AgeBand:        q.age,
			Sex:            q.sex,
			Classification: e.class,
			Reported:       health.Day(e.reported),
			Stops:          slices.Clone(e.stops), // not shared between the views
		}}
	}
	slices.SortFunc(rs, func(a, b reported) int {
		return cmp.Or(a.at.Compare(b.at), compareRecord(a.rec, b.rec))
	})
	recs := make([]Record, len(rs))
	for i, r := range rs {
		recs[i] = r.rec
		recs[i].Label = "病例" + strconv.Itoa(i+1)
	}
	return Group{Cases: strconv.Itoa(len(members)), Records: recs}
}

// compareRecord orders records by their published content (not the label).
func compareRecord(a, b Record) int {
	return cmp.Or(
		strings.Compare(a.Region, b.Region),
		strings.Compare(a.AgeBand, b.AgeBand),
		strings.Compare(a.Sex, b.Sex),
		strings.Compare(a.Classification, b.Classification),
		strings.Compare(a.Reported, b.Reported),
		slices.CompareFunc(a.Stops, b.Stops, compareWindow),
	)
}

// aggregate returns the distinct windows of members with the number of
// members at each, sorted by time. A case has each window at most once.
func aggregate(members []*entry) []Aggregate {
	var ws []Window
	for _, e := range members {
		ws = append(ws, e.stops...)
	}
	slices.SortFunc(ws, compareWindow)
	var out []Aggregate
	for _, w := range ws {
		if n := len(out); n > 0 && compareWindow(out[n-1].Window, w) == 0 {
			out[n-1].Cases++
			continue
		}
		out = append(out, Aggregate{Window: w, Cases: 1})
	}
	return out
}
