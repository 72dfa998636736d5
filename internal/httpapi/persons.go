package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/staff"
)

type enrolBody struct {
	IDNumber   string      `json:"id_number"`
	Name       string      `json:"name"`
	Phone      string      `json:"phone"`
	HomeRegion string      `json:"home_region"`
	Persons    []enrolBody `json:"persons"`
}

type enrolled struct {
	PersonID string `json:"person_id"`
	Token    string `json:"token"`
	Existing bool   `json:"existing"`
}

// enrol: a single person enrols themselves (no token needed) and gets their
// token; a batch {"persons":[...]} needs staff.
func (s *Server) enrol(w http.ResponseWriter, r *http.Request) {
	var b enrolBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	actor := "self"
	in := []node.Enrolment{{IDNumber: b.IDNumber, Name: b.Name, Phone: b.Phone, HomeRegion: b.HomeRegion}}
	if b.Persons != nil {
		c, err := s.staff(r, staff.EnrolPersons)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		homes := make([]string, 0, len(b.Persons))
		for _, p := range b.Persons {
			if p.HomeRegion != "" {
				homes = append(homes, p.HomeRegion)
			}
		}
		if err := s.allowAll(r, c, staff.EnrolPersons, homes); err != nil {
			s.writeError(w, r, err)
			return
		}
		if b.IDNumber != "" || b.Name != "" {
			s.writeError(w, r, health.Errorf(health.Invalid, "ambiguous_body", "persons", "send one person or a persons batch, not both"))
			return
		}
		actor = c.Actor()
		in = make([]node.Enrolment, len(b.Persons))
		for i, p := range b.Persons {
			if p.Persons != nil {
				s.writeError(w, r, health.Errorf(health.Invalid, "unknown_field", fmt.Sprintf("persons[%d].persons", i), "is not a field of a person"))
				return
			}
			in[i] = node.Enrolment{IDNumber: p.IDNumber, Name: p.Name, Phone: p.Phone, HomeRegion: p.HomeRegion}
		}
	}
	res, err := s.n.Enrol(r.Context(), actor, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Persons == nil {
		status := http.StatusCreated
		if res[0].Existing {
			status = http.StatusOK
		}
		writeJSON(w, status, enrolled{PersonID: health.PersonID(res[0].Person), Token: res[0].Token, Existing: res[0].Existing})
		return
	}
	out := make([]enrolled, len(res))
	for i, e := range res {
		out[i] = enrolled{PersonID: health.PersonID(e.Person), Token: e.Token, Existing: e.Existing}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"persons": out})
}

// AppendCodeJSON appends the JSON of a code view to buf, with the signed
// token sc as "qr" (null when sc is nil).
func AppendCodeJSON(buf []byte, v *node.CodeView, sc *node.SignedCode) []byte {
	pid := health.PersonID(v.Person)
	buf = append(buf, `{"person_id":"`...)
	buf = append(buf, pid...)
	buf = append(buf, `","colour":"`...)
	buf = append(buf, v.Colour.String()...)
	buf = append(buf, `","star":`...)
	buf = strconv.AppendBool(buf, v.Star)
	buf = append(buf, `,"reasons":[`...)
	for i, rs := range v.Reasons {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"rule":`...)
		buf = strconv.AppendQuote(buf, rs.Rule)
		buf = append(buf, `,"rule_version":`...)
		buf = strconv.AppendInt(buf, int64(rs.RuleVersion), 10)
		buf = append(buf, `,"colour":"`...)
		buf = append(buf, rs.Colour.String()...)
		buf = append(buf, `","star":`...)
		buf = strconv.AppendBool(buf, rs.Star)
		buf = append(buf, `,"title":{"zh":`...)
		buf = strconv.AppendQuote(buf, rs.Title["zh"])
		buf = append(buf, `,"en":`...)
		buf = strconv.AppendQuote(buf, rs.Title["en"])
		buf = append(buf, `},"evidence":[`...)
		for j, e := range rs.Evidence {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '"')
			buf = append(buf, health.EventID(e)...)
			buf = append(buf, '"')
		}
		buf = append(buf, ']')
		if !rs.Until.IsZero() {
			buf = append(buf, `,"until":"`...)
			buf = rs.Until.UTC().AppendFormat(buf, time.RFC3339)
			buf = append(buf, '"')
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `],"last_test":`...)
	if v.LastResult == health.NoResult {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, `{"result":"`...)
		buf = append(buf, v.LastResult.String()...)
		buf = append(buf, `","sampled_at":"`...)
		buf = v.LastTestAt.UTC().AppendFormat(buf, time.RFC3339)
		buf = append(buf, `"}`...)
	}
	buf = append(buf, `,"valid_until":"`...)
	buf = v.ValidUntil.UTC().AppendFormat(buf, time.RFC3339)
	buf = append(buf, `","ruleset":{"id":`...)
	buf = strconv.AppendQuote(buf, v.Ruleset)
	buf = append(buf, `,"version":`...)
	buf = strconv.AppendInt(buf, int64(v.RulesetVersion), 10)
	if sc == nil {
		return append(buf, `},"qr":null,"qr_expires_at":null}`...)
	}
	buf = append(buf, `},"qr":"`...)
	buf = append(buf, sc.Payload...) // Base45 and a prefix: nothing to escape
	buf = append(buf, `","qr_expires_at":"`...)
	buf = sc.ExpiresAt.UTC().AppendFormat(buf, time.RFC3339)
	buf = append(buf, `"}`...)
	return buf
}
