package httpapi

import (
	"fmt"
	"net/http"

	"healthcode/internal/health"
	"healthcode/internal/node"
)

type caseBody struct {
	PersonID       string `json:"person_id"`
	Classification string `json:"classification"`
	Onset          string `json:"onset"`
	FirstPositive  string `json:"first_positive"`
	Site           string `json:"site"`
	IsolatedAt     string `json:"isolated_at"`
}

// openCase opens an investigation case (staff).
func (s *Server) openCase(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b caseBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, ok := health.ParsePersonID(b.PersonID)
	if !ok {
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_person_id", "person_id", "%q is not a person id (e.g. p123)", b.PersonID))
		return
	}
	in := node.CaseInput{Person: p, Classification: b.Classification, Site: b.Site}
	var err1, err2, err3 error
	in.Onset, err1 = optTime("onset", b.Onset)
	in.FirstPositive, err2 = optTime("first_positive", b.FirstPositive)
	in.IsolatedAt, err3 = optTime("isolated_at", b.IsolatedAt)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	cs, err := s.n.OpenCase(r.Context(), c.Actor(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"case_id": cs.ID, "event": health.EventID(cs.Seq)})
}

type stopJSON struct {
	PlaceID   string          `json:"place_id"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Transport *node.Transport `json:"transport,omitempty"`
	Visit     string          `json:"visit,omitempty"`
}

type trajectoryJSON struct {
	Version  int        `json:"version"`
	Event    string     `json:"event"`
	Actor    string     `json:"actor"`
	Recorded string     `json:"recorded"`
	Stops    []stopJSON `json:"stops"`
}

func trajectoryOut(t node.Trajectory) trajectoryJSON {
	out := trajectoryJSON{Version: t.Version, Event: health.EventID(t.Seq), Actor: t.Actor, Recorded: health.FormatTime(t.Recorded), Stops: []stopJSON{}}
	for _, s := range t.Stops {
		out.Stops = append(out.Stops, stopJSON{PlaceID: health.PlaceID(s.Place), From: health.FormatTime(s.From), To: health.FormatTime(s.To),
			Transport: s.Transport, Visit: health.EventID(s.Visit)})
	}
	return out
}

// getCase returns a case with every version of its trajectory (staff).
func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	if _, err := s.staff(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	cs, err := s.n.Case(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"case_id": cs.ID, "person_id": health.PersonID(cs.Person), "classification": cs.Classification,
		"site": cs.Site, "isolated_at": health.FormatTime(cs.IsolatedAt), "event": health.EventID(cs.Seq)}
	if !cs.Onset.IsZero() {
		out["onset"] = health.FormatTime(cs.Onset)
	}
	if !cs.FirstPositive.IsZero() {
		out["first_positive"] = health.FormatTime(cs.FirstPositive)
	}
	versions := []trajectoryJSON{}
	for _, v := range cs.Versions {
		versions = append(versions, trajectoryOut(v))
	}
	out["versions"] = versions
	writeJSON(w, http.StatusOK, out)
}

type stopsBody struct {
	Stops []stopJSON `json:"stops"`
}

// replaceStops records a new version of a case's trajectory (staff).
func (s *Server) replaceStops(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b stopsBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Stops == nil {
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", "stops", "is required (an empty list clears the trajectory)"))
		return
	}
	in := make([]node.StopInput, len(b.Stops))
	for i, st := range b.Stops {
		f := func(name string) string { return fmt.Sprintf("stops[%d].%s", i, name) }
		if st.Visit != "" {
			s.writeError(w, r, health.Errorf(health.Invalid, "unknown_field", f("visit"), "is assigned by the node"))
			return
		}
		p, ok := health.ParsePlaceID(st.PlaceID)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_place_id", f("place_id"), "%q is not a place id (e.g. L12)", st.PlaceID))
			return
		}
		from, err := health.ParseTime(f("from"), st.From)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		to, err := health.ParseTime(f("to"), st.To)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		in[i] = node.StopInput{Place: p, From: from, To: to, Transport: st.Transport}
	}
	tr, err := s.n.ReplaceStops(r.Context(), c.Actor(), r.PathValue("id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"case_id": r.PathValue("id"), "trajectory": trajectoryOut(tr)})
}

type traceBody struct {
	Cases []string `json:"cases"`
	Depth int      `json:"depth"`
}

type exposureJSON struct {
	PlaceID    string `json:"place_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	SourceCase string `json:"source_case"`
	ViaPerson  string `json:"via_person,omitempty"`
	Visit      string `json:"visit"`
	Source     string `json:"source_visit"`
	Unverified bool   `json:"unverified"`
}

type contactJSON struct {
	PersonID  string         `json:"person_id"`
	Degree    int            `json:"degree"`
	Exposures []exposureJSON `json:"exposures"`
}

// traceCases finds close and secondary contacts of cases (staff).
func (s *Server) traceCases(w http.ResponseWriter, r *http.Request) {
	if _, err := s.staff(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	b := traceBody{Depth: 1}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	contacts, err := s.n.Trace(b.Cases, b.Depth)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]contactJSON, len(contacts))
	for i, c := range contacts {
		cj := contactJSON{PersonID: health.PersonID(c.Person), Degree: c.Degree, Exposures: make([]exposureJSON, len(c.Exposures))}
		for k, e := range c.Exposures {
			ej := exposureJSON{PlaceID: health.PlaceID(e.Place), From: health.FormatTime(e.From), To: health.FormatTime(e.To),
				SourceCase: e.SourceCase, Visit: health.EventID(e.Visit), Source: health.EventID(e.SourceVisit), Unverified: e.Unverified}
			if e.Via != 0 {
				ej.ViaPerson = health.PersonID(e.Via)
			}
			cj.Exposures[k] = ej
		}
		out[i] = cj
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": out})
}
