package httpapi

import (
	"encoding/json"
	"net/http"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/staff"
)

type kindOut struct {
	Dwell      string `json:"dwell"`
	MinOverlap string `json:"min_overlap"`
	Zh         string `json:"zh"`
}

// rules publishes the ruleset in force (public: the rules are published).
func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	rs := s.n.Ruleset()
	out := struct {
		ID         string             `json:"id"`
		Version    int                `json:"version"`
		Published  string             `json:"published"`
		Title      map[string]string  `json:"title"`
		Params     map[string]any     `json:"params"`
		Rules      []*health.Rule     `json:"rules"`
		PlaceKinds map[string]kindOut `json:"place_kinds"`
		Source     string             `json:"source"`
	}{ID: rs.ID, Version: rs.Version, Published: health.FormatTime(rs.Published), Title: rs.Title, Params: rs.Params,
		Rules: rs.Rules, PlaceKinds: map[string]kindOut{}, Source: string(rs.Source)}
	for name, k := range rs.PlaceKinds {
		out.PlaceKinds[name] = kindOut{Dwell: k.Dwell.String(), MinOverlap: k.MinOverlap.String(), Zh: k.Zh}
	}
	writeJSON(w, http.StatusOK, out)
}

// stats are aggregate counts (no personal data).
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st := s.n.Stats()
	type rc struct {
		Rule  string            `json:"rule"`
		Title map[string]string `json:"title"`
		Count int               `json:"count"`
	}
	top := make([]rc, 0, len(st.TopReasons))
	for _, t := range st.TopReasons {
		top = append(top, rc{t.Rule, t.Title, t.Count})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"persons": st.Persons, "places": st.Places, "visits": st.Visits, "tests": st.Tests, "events": st.Events,
		"codes":   map[string]int{"green": st.Codes[health.Green], "yellow": st.Codes[health.Yellow], "red": st.Codes[health.Red]},
		"starred": st.Starred, "top_reasons": top,
	})
}

// event shows one event of the log: to staff, or to the person it is about
// (so that "why is my code red" can be followed to its evidence).
func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	seq, ok := health.ParseEventID(r.PathValue("id"))
	if !ok {
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_event_id", "id", "%q is not an event id (e.g. e42)", r.PathValue("id")))
		return
	}
	e, err := s.n.Event(r.Context(), seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	public := e.Kind == health.EvRiskDeclared || e.Kind == health.EvRiskLifted || e.Kind == health.EvPlaceRegistered
	if c.IsStaff() {
		if err := s.allow(r, c, staff.ReadEvents, s.eventRegion(e)); err != nil {
			s.writeError(w, r, err)
			return
		}
		if e.Person != 0 {
			if err := s.logRead(r, c, "events", e.Person); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
	} else if !public && e.Person != c.Person {
		s.writeError(w, r, health.Errorf(health.Permission, "not_your_event", "id", "this event is not about you"))
		return
	}
	out := map[string]any{"event_id": health.EventID(e.Seq), "kind": e.Kind.String(), "at": health.FormatTime(e.At),
		"recorded": health.FormatTime(e.Recorded), "batch": e.Batch}
	if !e.Until.IsZero() {
		out["until"] = health.FormatTime(e.Until)
	}
	if e.Person != 0 {
		out["person_id"] = health.PersonID(e.Person)
	}
	if e.Place != 0 {
		out["place_id"] = health.PlaceID(e.Place)
	}
	if e.Ref != 0 {
		out["ref"] = health.EventID(e.Ref)
	}
	if e.Region != 0 {
		out["region"] = region.Unpack(e.Region)
	}
	if c.IsStaff() {
		out["actor"] = e.Actor
	}
	switch e.Kind {
	case health.EvTestResult, health.EvTestCorrected:
		out["result"] = health.Result(e.Aux).String()
	case health.EvRiskDeclared:
		out["level"] = health.RiskLevel(e.Aux).String()
	case health.EvVisit:
		// Unverified presence (a remote scan, impossible travel) is shown as
		// such; it can never by itself make a code yellow or red.
		if rs := node.UnverifiedReasons(e.Aux); len(rs) > 0 {
			out["unverified"] = rs
		}
	case health.EvDependantBound:
		out["dependant_id"] = health.PersonID(uint32(e.Aux))
	}
	if len(e.Data) > 0 {
		out["data"] = json.RawMessage(e.Data)
	}
	writeJSON(w, http.StatusOK, out)
}

// eventRegion is the region of the object an event is about, for staff
// reads: its person's home, else its region, else its place's region, else
// "" (no regional object).
func (s *Server) eventRegion(e health.Event) string {
	if e.Person != 0 {
		if reg, err := s.personRegion(e.Person); err == nil {
			return reg
		}
	}
	if e.Region != 0 {
		return region.Unpack(e.Region)
	}
	if e.Place != 0 {
		if pl, err := s.n.Place(e.Place); err == nil {
			return pl.Region
		}
	}
	return ""
}
