package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"healthcode/internal/export"
	"healthcode/internal/health"
	"healthcode/internal/staff"
)

type listExposureOut struct {
	PlaceID    string `json:"place_id"`
	PlaceName  string `json:"place_name"`
	From       string `json:"from"`
	To         string `json:"to"`
	SourceCase string `json:"source_case"`
	ViaPerson  string `json:"via_person,omitempty"`
}

type listContactOut struct {
	PersonID      string            `json:"person_id"`
	Name          string            `json:"name"`  // masked
	Phone         string            `json:"phone"` // masked
	Degree        int               `json:"degree"`
	Community     string            `json:"community"`
	CommunityCode string            `json:"community_code"`
	Code          string            `json:"code"`
	Exposures     []listExposureOut `json:"exposures"`
}

// The formats of a community list.
const (
	xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	csvType  = "text/csv; charset=utf-8"
)

// communityList serves the contacts in force who live in a region, by
// community, with masked names and phones: JSON, or a CSV or XLSX
// attachment for the community workers (staff).
func (s *Server) communityList(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ReadCommunityLists)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.listRegion(r, c, staff.ReadCommunityLists)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	switch format {
	case "":
		format = "json"
	case "json", "csv", "xlsx":
	default:
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_format", "format", "must be json, csv or xlsx"))
		return
	}
	lang := q.Get("lang")
	switch lang {
	case "":
		lang = "zh"
	case "zh", "en":
	default:
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_lang", "lang", "must be zh or en"))
		return
	}
	now := s.n.Now()
	l := export.List{Lang: lang, Generated: now, Title: s.listTitle(reg, lang)}
	for _, lc := range s.n.CommunityList(reg) {
		name, phone, err := s.n.MaskedContact(r.Context(), lc.Person)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ct := export.Contact{PersonID: health.PersonID(lc.Person), Name: name, Phone: phone, Degree: lc.Degree,
			Community: s.communityName(lc.Home), CommunityCode: lc.Home, CodeColour: lc.Colour.String()}
		for _, rec := range lc.Records {
			for _, e := range rec.Exposures {
				ex := export.Exposure{PlaceName: s.placeName(e.Place), PlaceID: health.PlaceID(e.Place), From: e.From, To: e.To, SourceCase: rec.Case}
				if e.Via != 0 {
					ex.Via = health.PersonID(e.Via)
				}
				ct.Exposures = append(ct.Exposures, ex)
			}
		}
		l.Contacts = append(l.Contacts, ct)
	}
	persons := make([]uint32, len(l.Contacts))
	for i, ct := range l.Contacts {
		persons[i], _ = health.ParsePersonID(ct.PersonID)
	}
	if err := s.logRead(r, c, "community_list", persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	if format == "json" {
		out := make([]listContactOut, len(l.Contacts))
		for i, ct := range l.Contacts {
			co := listContactOut{PersonID: ct.PersonID, Name: ct.Name, Phone: ct.Phone, Degree: ct.Degree, Community: ct.Community,
				CommunityCode: ct.CommunityCode, Code: ct.CodeColour, Exposures: make([]listExposureOut, len(ct.Exposures))}
			for k, e := range ct.Exposures {
				co.Exposures[k] = listExposureOut{PlaceID: e.PlaceID, PlaceName: e.PlaceName, From: health.FormatTime(e.From),
					To: health.FormatTime(e.To), SourceCase: e.SourceCase, ViaPerson: e.Via}
			}
			out[i] = co
		}
		writeJSON(w, http.StatusOK, map[string]any{"region": reg, "title": l.Title, "generated": health.FormatTime(now), "contacts": out})
		return
	}
	var buf bytes.Buffer
	ctype := csvType
	if format == "csv" {
		err = export.WriteCSV(&buf, l)
	} else {
		ctype = xlsxType
		err = export.WriteXLSX(&buf, l)
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("community list %s: %w", reg, err))
		return
	}
	file := fmt.Sprintf("community-list-%s-%s.%s", reg, now.In(health.CST).Format("20060102-1504"), format)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// communityName is the name of a home region (a street, or a county):
// its own name in the region table, or its code if it has none.
func (s *Server) communityName(code string) string {
	if reg, ok := s.regions.Lookup(code); ok && reg.Name != "" {
		return reg.Name
	}
	return code
}

// listTitle is the title of a region's community list.
func (s *Server) listTitle(reg, lang string) string {
	name := strings.TrimSpace(s.regions.FullName(reg))
	if lang == "en" {
		return strings.TrimSpace("Community list " + reg + " " + name)
	}
	return strings.TrimSpace("社区名单 " + reg + " " + name)
}
