package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/review"
	"healthcode/internal/staff"
)

type caseBody struct {
	PersonID       string `json:"person_id"`
	Classification string `json:"classification"`
	Onset          string `json:"onset"`
	FirstPositive  string `json:"first_positive"`
	Site           string `json:"site"`
	IsolatedAt     string `json:"isolated_at"`
	Region         string `json:"region"` // the investigating county; "" = the person's home county
}

// openCase opens an investigation case (staff).
func (s *Server) openCase(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ManageCases)
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
	// The investigating county: the one named, else the person's home.
	reg := b.Region
	if reg != "" {
		if err := s.regions.Validate(reg); err != nil {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_region", "region", "%v", err))
			return
		}
	} else {
		if reg, err = s.personRegion(p); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := s.allow(r, c, staff.ManageCases, reg); err != nil {
		s.writeError(w, r, err)
		return
	}
	in := node.CaseInput{Person: p, Classification: b.Classification, Site: b.Site, Region: b.Region}
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

// caseVisible reports whether account p may see case cs (Case.VisibleTo).
func caseVisible(p staff.Principal, cs node.Case) bool { return cs.VisibleTo(p.Region) }

// staffCase authenticates a staff account that may perform action a on
// case id: 404 for an unknown case, 403 outside the account's region.
func (s *Server) staffCase(r *http.Request, a staff.Action, id string) (Caller, node.Case, error) {
	c, err := s.staff(r, a)
	if err != nil {
		return c, node.Case{}, err
	}
	cs, err := s.n.Case(id)
	if err != nil {
		return c, cs, err
	}
	if !caseVisible(c.Staff, cs) {
		return c, cs, s.allow(r, c, a, cs.Region)
	}
	return c, cs, nil
}

// listCases lists cases, newest first (staff): all, one person's
// (?person_id=), or those investigated inside a region (?region=).
func (s *Server) listCases(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ManageCases)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	var person uint32
	if v := q.Get("person_id"); v != "" {
		p, ok := health.ParsePersonID(v)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_person_id", "person_id", "%q is not a person id (e.g. p123)", v))
			return
		}
		person = p
	}
	reg := q.Get("region")
	if reg != "" && (len(reg) > 6 || strings.Trim(reg, "0123456789") != "") {
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_region", "region", "must be a region code or its prefix: 1 to 6 digits"))
		return
	}
	// A list asked for outside the account's region is refused; without
	// one, it is the cases the account may see.
	if reg != "" && !staff.Covers(c.Staff.Region, reg) && !staff.Covers(reg, c.Staff.Region) {
		s.writeError(w, r, s.allow(r, c, staff.ManageCases, reg))
		return
	}
	type caseRow struct {
		CaseID         string `json:"case_id"`
		PersonID       string `json:"person_id"`
		Classification string `json:"classification"`
		Region         string `json:"region"`
		Versions       int    `json:"versions"`
	}
	out := []caseRow{}
	for _, cs := range s.n.Cases() {
		if person != 0 && cs.Person != person || !strings.HasPrefix(cs.Region, region.Prefix(reg)) || !caseVisible(c.Staff, cs) {
			continue
		}
		v := 0
		if len(cs.Versions) > 0 {
			v = cs.Versions[0].Version
		}
		out = append(out, caseRow{CaseID: cs.ID, PersonID: health.PersonID(cs.Person), Classification: cs.Classification, Region: cs.Region, Versions: v})
	}
	persons := make([]uint32, 0, len(out))
	for _, row := range out {
		p, _ := health.ParsePersonID(row.PersonID)
		persons = append(persons, p)
	}
	if err := s.logRead(r, c, "cases", persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": out})
}

// stopIn is a stop as an investigator enters it: a place of the gazetteer,
// or a trip section (transport without place_id).
type stopIn struct {
	PlaceID   string          `json:"place_id"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Transport *node.Transport `json:"transport"`
	Home      bool            `json:"home"`
	Visit     string          `json:"visit"` // refused: the node assigns it
}

// stopInputs converts the stops of a request body (field names the list).
func stopInputs(field string, list []stopIn) ([]node.StopInput, error) {
	in := make([]node.StopInput, len(list))
	for i, st := range list {
		f := func(name string) string { return fmt.Sprintf("%s[%d].%s", field, i, name) }
		if st.Visit != "" {
			return nil, health.Errorf(health.Invalid, "unknown_field", f("visit"), "is assigned by the node")
		}
		var p uint32
		switch {
		case st.PlaceID == "" && st.Transport == nil:
			return nil, health.Errorf(health.Invalid, "missing_field", f("place_id"), "is required unless the stop is a trip (transport)")
		case st.PlaceID != "":
			var ok bool
			if p, ok = health.ParsePlaceID(st.PlaceID); !ok {
				return nil, health.Errorf(health.Invalid, "invalid_place_id", f("place_id"), "%q is not a place id (e.g. L12)", st.PlaceID)
			}
		}
		from, err := health.ParseTime(f("from"), st.From)
		if err != nil {
			return nil, err
		}
		to, err := health.ParseTime(f("to"), st.To)
		if err != nil {
			return nil, err
		}
		in[i] = node.StopInput{Place: p, From: from, To: to, Transport: st.Transport, Home: st.Home}
	}
	return in, nil
}

type stopOut struct {
	PlaceID      string          `json:"place_id"`
	From         string          `json:"from"`
	To           string          `json:"to"`
	Transport    *node.Transport `json:"transport,omitempty"`
	Visit        string          `json:"visit"`
	Actor        string          `json:"actor"`
	SelfReported bool            `json:"self_reported"`
	Home         bool            `json:"home"`
}

type reviewOut struct {
	Decision string   `json:"decision"`
	Comment  string   `json:"comment"`
	Findings []string `json:"findings"`
	Actor    string   `json:"actor"`
	At       string   `json:"at"`
	Event    string   `json:"event"`
}

func reviewJSON(rv node.Review) reviewOut {
	f := rv.Findings
	if f == nil {
		f = []string{}
	}
	return reviewOut{Decision: rv.Decision, Comment: rv.Comment, Findings: f, Actor: rv.Actor, At: health.FormatTime(rv.At), Event: health.EventID(rv.Seq)}
}

type trajectoryJSON struct {
	Version  int        `json:"version"`
	Event    string     `json:"event"`
	Actor    string     `json:"actor"`
	Recorded string     `json:"recorded"`
	Stops    []stopOut  `json:"stops"`
	Review   *reviewOut `json:"review"` // null while pending
}

func trajectoryOut(t node.Trajectory) trajectoryJSON {
	out := trajectoryJSON{Version: t.Version, Event: health.EventID(t.Seq), Actor: t.Actor, Recorded: health.FormatTime(t.Recorded), Stops: []stopOut{}}
	for _, s := range t.Stops {
		out.Stops = append(out.Stops, stopOut{PlaceID: health.PlaceID(s.Place), From: health.FormatTime(s.From), To: health.FormatTime(s.To),
			Transport: s.Transport, Visit: health.EventID(s.Visit), Actor: s.Actor, SelfReported: s.SelfReported, Home: s.Home})
	}
	if t.Review != nil {
		rv := reviewJSON(*t.Review)
		out.Review = &rv
	}
	return out
}

type assignmentOut struct {
	Region       string `json:"region"`
	Investigator string `json:"investigator"`
	Actor        string `json:"actor"`
	At           string `json:"at"`
	Event        string `json:"event"`
}

func assignmentJSON(a node.Assignment) assignmentOut {
	return assignmentOut{Region: a.Region, Investigator: a.Investigator, Actor: a.Actor, At: health.FormatTime(a.At), Event: health.EventID(a.Seq)}
}

// selfStopOut is an unconfirmed self-reported stop.
type selfStopOut struct {
	Visit   string `json:"visit"`
	PlaceID string `json:"place_id"`
	From    string `json:"from"`
	To      string `json:"to"`
}

func selfStopsJSON(vs []health.Visit) []selfStopOut {
	out := make([]selfStopOut, len(vs))
	for i, v := range vs {
		out[i] = selfStopOut{Visit: health.EventID(v.Seq), PlaceID: health.PlaceID(v.Place), From: health.FormatTime(v.From), To: health.FormatTime(v.To)}
	}
	return out
}

// getCase returns a case with every version of its trajectory, its
// assignments and the person's unconfirmed self-reported stops (staff).
func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	c, cs, err := s.staffCase(r, staff.ManageCases, r.PathValue("id"))
	if err == nil {
		err = s.logRead(r, c, "case", cs.Person)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"case_id": cs.ID, "person_id": health.PersonID(cs.Person), "classification": cs.Classification,
		"site": cs.Site, "isolated_at": health.FormatTime(cs.IsolatedAt), "event": health.EventID(cs.Seq), "region": cs.Region}
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
	as := make([]assignmentOut, len(cs.Assignments))
	for i, a := range cs.Assignments {
		as[i] = assignmentJSON(a)
	}
	out["assignments"] = as
	out["self_stops"] = selfStopsJSON(s.n.SelfStops(cs.Person))
	writeJSON(w, http.StatusOK, out)
}

type stopsBody struct {
	Stops []stopIn `json:"stops"`
}

// findingOut is one automatic review finding; stops index the reviewed
// version's stops.
type findingOut struct {
	Code    string            `json:"code"`
	Stops   []int             `json:"stops"`
	Message map[string]string `json:"message"`
	Detail  map[string]any    `json:"detail"`
}

func findingsJSON(fs []review.Finding) []findingOut {
	out := make([]findingOut, len(fs))
	for i, f := range fs {
		out[i] = findingOut{Code: f.Code, Stops: f.Stops, Message: f.Message, Detail: f.Detail}
		if out[i].Stops == nil {
			out[i].Stops = []int{}
		}
		if out[i].Detail == nil {
			out[i].Detail = map[string]any{}
		}
	}
	return out
}

// stopsCommand runs a command that writes a trajectory version from the
// stops of the body, and answers with the version and its automatic
// review findings.
func (s *Server) stopsCommand(w http.ResponseWriter, r *http.Request, status int,
	write func(c Caller, caseID string, in []node.StopInput) (node.Trajectory, error)) {
	c, _, err := s.staffCase(r, staff.RecordStops, r.PathValue("id"))
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
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", "stops", "is required"))
		return
	}
	in, err := stopInputs("stops", b.Stops)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tr, err := write(c, r.PathValue("id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeVersion(w, r, status, r.PathValue("id"), tr)
}

// writeVersion answers a new trajectory version with its automatic review
// findings (null if another version superseded it meanwhile).
func (s *Server) writeVersion(w http.ResponseWriter, r *http.Request, status int, caseID string, tr node.Trajectory) {
	out := map[string]any{"case_id": caseID, "trajectory": trajectoryOut(tr), "findings": nil}
	// The version is written: a failing review must not turn that into an
	// error answer (it cannot fail for a case that exists).
	if v, fs, err := s.n.AutoReview(caseID); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "automatic review", slog.String("case", caseID), slog.Any("err", err))
	} else if v == tr.Version {
		out["findings"] = findingsJSON(fs)
	}
	writeJSON(w, status, out)
}

// replaceStops records a new version of a case's trajectory (staff).
func (s *Server) replaceStops(w http.ResponseWriter, r *http.Request) {
	s.stopsCommand(w, r, http.StatusOK, func(c Caller, caseID string, in []node.StopInput) (node.Trajectory, error) {
		return s.n.ReplaceStops(r.Context(), c.Actor(), caseID, in)
	})
}

// supplementStops adds stops to the current trajectory as a new version
// (staff; typically an assigned investigator of another region).
func (s *Server) supplementStops(w http.ResponseWriter, r *http.Request) {
	s.stopsCommand(w, r, http.StatusCreated, func(c Caller, caseID string, in []node.StopInput) (node.Trajectory, error) {
		if len(in) == 0 {
			return node.Trajectory{}, health.Errorf(health.Invalid, "missing_field", "stops", "give at least one stop to add")
		}
		return s.n.SupplementStops(r.Context(), c.Actor(), caseID, in)
	})
}

// confirmStops adds the case person's self-reported stops to the
// trajectory as a new version (staff).
func (s *Server) confirmStops(w http.ResponseWriter, r *http.Request) {
	c, _, err := s.staffCase(r, staff.RecordStops, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b struct {
		Visits []string `json:"visits"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	seqs := make([]uint64, len(b.Visits))
	for i, v := range b.Visits {
		seq, ok := health.ParseEventID(v)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_visit", fmt.Sprintf("visits[%d]", i), "%q is not a visit id (e.g. e42)", v))
			return
		}
		seqs[i] = seq
	}
	caseID := r.PathValue("id")
	tr, err := s.n.ConfirmSelfStops(r.Context(), c.Actor(), caseID, seqs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeVersion(w, r, http.StatusCreated, caseID, tr)
}

// autoReview runs the automatic review of a case's current trajectory (staff).
func (s *Server) autoReview(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.staffCase(r, staff.RecordStops, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, fs, err := s.n.AutoReview(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"case_id": r.PathValue("id"), "version": v, "findings": findingsJSON(fs)})
}

// reviewStops records a second official's decision on the current
// trajectory version, with the codes of its automatic findings (staff).
func (s *Server) reviewStops(w http.ResponseWriter, r *http.Request) {
	c, _, err := s.staffCase(r, staff.RecordStops, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b struct {
		Version  int    `json:"version"`
		Decision string `json:"decision"`
		Comment  string `json:"comment"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Version < 1 {
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", "version", "is required: the trajectory version reviewed (1, 2, …)"))
		return
	}
	caseID := r.PathValue("id")
	v, fs, err := s.n.AutoReview(caseID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var codes []string
	if v == b.Version {
		for _, f := range fs {
			if !slices.Contains(codes, f.Code) {
				codes = append(codes, f.Code)
			}
		}
	}
	rv, err := s.n.ReviewStops(r.Context(), c.Actor(), caseID, b.Version, b.Decision, b.Comment, codes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"case_id": caseID, "version": b.Version, "review": reviewJSON(rv)})
}

// assignCase hands a case to an investigator of a region (staff).
func (s *Server) assignCase(w http.ResponseWriter, r *http.Request) {
	c, _, err := s.staffCase(r, staff.ManageCases, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b struct {
		Region       string `json:"region"`
		Investigator string `json:"investigator"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.n.AssignCase(r.Context(), c.Actor(), r.PathValue("id"), b.Region, b.Investigator)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"case_id": r.PathValue("id"), "assignment": assignmentJSON(a)})
}

type sharedOut struct {
	PlaceID     string `json:"place_id"`
	PlaceName   string `json:"place_name"`
	OtherCase   string `json:"other_case"`
	From        string `json:"from"`
	To          string `json:"to"`
	LowPriority bool   `json:"low_priority"`
}

type memberOut struct {
	CaseID    string      `json:"case_id"`
	Region    string      `json:"region"`
	Start     string      `json:"start"`
	Infection string      `json:"infection"`
	Basis     string      `json:"basis"`
	Shared    []sharedOut `json:"shared"`
}

// chain returns the chain of transmission of a case (staff).
func (s *Server) chain(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.staffCase(r, staff.ManageCases, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	ch, err := s.n.Chain(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	members := make([]memberOut, len(ch.Members))
	for i, m := range ch.Members {
		mo := memberOut{CaseID: m.Case, Region: m.Region, Start: health.FormatTime(m.Start), Infection: health.FormatTime(m.Infection),
			Basis: m.Basis, Shared: make([]sharedOut, len(m.Shared))}
		for k, ss := range m.Shared {
			mo.Shared[k] = sharedOut{PlaceID: health.PlaceID(ss.Place), PlaceName: s.placeName(ss.Place), OtherCase: ss.Other,
				From: health.FormatTime(ss.From), To: health.FormatTime(ss.To), LowPriority: ss.LowPriority}
		}
		members[i] = mo
	}
	writeJSON(w, http.StatusOK, map[string]any{"case_id": ch.Case, "members": members})
}

// chainSVG draws the chain of a case (staff); ?lang=en for English.
func (s *Server) chainSVG(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.staffCase(r, staff.ManageCases, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	lang := r.URL.Query().Get("lang")
	if lang != "" && lang != "zh" && lang != "en" {
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_lang", "lang", "must be zh or en"))
		return
	}
	svg, err := s.n.ChainSVG(r.PathValue("id"), lang)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(svg)
}

// placeName is a place's name, "" if there is no such place.
func (s *Server) placeName(idx uint32) string {
	p, err := s.n.Place(idx)
	if err != nil {
		return ""
	}
	return p.Name
}

type traceBody struct {
	Cases  []string `json:"cases"`
	Depth  int      `json:"depth"`
	Record *bool    `json:"record"`
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
	Code      string         `json:"code"` // the colour after recording
	Exposures []exposureJSON `json:"exposures"`
}

// traceCases finds close and secondary contacts of cases and, unless
// "record": false, records them so that the code rules act on them (staff).
func (s *Server) traceCases(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.Trace)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := traceBody{Depth: 1}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, id := range b.Cases {
		if cs, err := s.n.Case(id); err == nil && !caseVisible(c.Staff, cs) {
			s.writeError(w, r, s.allow(r, c, staff.Trace, cs.Region))
			return
		}
	}
	tr, err := s.n.Trace(b.Cases, b.Depth)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res := map[string]any{}
	if b.Record == nil || *b.Record {
		n, err := s.n.RecordContacts(r.Context(), c.Actor(), tr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res["recorded"] = n
	}
	persons := make([]uint32, len(tr.Contacts))
	for i, ct := range tr.Contacts {
		persons[i] = ct.Person
	}
	if err := s.logRead(r, c, "trace", persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]contactJSON, len(tr.Contacts))
	for i, ct := range tr.Contacts {
		code, err := s.n.Code(ct.Person)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cj := contactJSON{PersonID: health.PersonID(ct.Person), Degree: ct.Degree, Code: code.Colour.String(), Exposures: make([]exposureJSON, len(ct.Exposures))}
		for k := range ct.Exposures {
			e := &ct.Exposures[k]
			ej := exposureJSON{PlaceID: health.PlaceID(e.Place), From: health.FormatTime(e.FromTime()), To: health.FormatTime(e.ToTime()),
				SourceCase: tr.Case(e), Visit: health.EventID(e.Visit), Source: health.EventID(e.SourceVisit), Unverified: e.Unverified}
			if e.Via != 0 {
				ej.ViaPerson = health.PersonID(e.Via)
			}
			cj.Exposures[k] = ej
		}
		out[i] = cj
	}
	res["contacts"] = out
	writeJSON(w, http.StatusOK, res)
}
