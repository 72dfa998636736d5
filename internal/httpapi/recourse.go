package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/staff"
)

// logRead records a staff read of persons' data in the audit log before the
// data is shown (invariant 3): an error stops the answer.
func (s *Server) logRead(r *http.Request, c Caller, what string, persons ...uint32) error {
	if !c.IsStaff() || len(persons) == 0 {
		return nil
	}
	return s.n.RecordRead(r.Context(), c.Actor(), what, persons)
}

type rollbackOut struct {
	ID         string         `json:"rollback_id"`
	At         string         `json:"at"`
	Auditor    string         `json:"auditor"`
	Account    string         `json:"account,omitempty"`
	Region     string         `json:"account_region,omitempty"`
	Batch      string         `json:"batch,omitempty"`
	From       string         `json:"from,omitempty"`
	To         string         `json:"to,omitempty"`
	Reason     string         `json:"reason"`
	Count      int            `json:"count"`
	Cascaded   int            `json:"cascaded"`
	ByKind     map[string]int `json:"by_kind"`
	Kept       map[string]int `json:"kept"`
	Already    int            `json:"already"`
	Persons    []string       `json:"persons"`
	Suspended  bool           `json:"suspended"`
	Suspension string         `json:"suspension_event,omitempty"`
}

func optFormat(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return health.FormatTime(t)
}

func rollbackJSON(rb node.Rollback) rollbackOut {
	out := rollbackOut{ID: rb.ID, At: health.FormatTime(rb.At), Auditor: "staff:" + rb.Auditor.Account + "@" + rb.Auditor.Region,
		Account: rb.Account, Region: rb.AccountRegion, Batch: rb.Batch, From: optFormat(rb.From), To: optFormat(rb.To), Reason: rb.Reason,
		Count: rb.Count, Cascaded: rb.Cascaded, ByKind: rb.ByKind, Kept: rb.Kept, Already: rb.Already, Persons: make([]string, len(rb.Persons)),
		Suspended: rb.Suspend}
	if out.ByKind == nil {
		out.ByKind = map[string]int{}
	}
	if out.Kept == nil {
		out.Kept = map[string]int{}
	}
	for i, p := range rb.Persons {
		out.Persons[i] = health.PersonID(p)
	}
	if rb.Suspension != 0 {
		out.Suspension = health.EventID(rb.Suspension)
	}
	return out
}

// rollBack marks every event of an account, or of a batch, in a time range
// as rolled back and recomputes the codes without them (auditors of a level
// above the account); the account may be suspended in the same step.
func (s *Server) rollBack(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.Rollback)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b struct {
		Account string `json:"account"`
		Batch   string `json:"batch"`
		From    string `json:"from"`
		To      string `json:"to"`
		Suspend bool   `json:"suspend"`
		Reason  string `json:"reason"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	in := node.RollbackInput{Account: b.Account, Batch: b.Batch, Suspend: b.Suspend, Reason: b.Reason}
	if in.From, err = optTime("from", b.From); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.To, err = optTime("to", b.To); err != nil {
		s.writeError(w, r, err)
		return
	}
	rb, err := s.n.RollBack(r.Context(), official(c), in)
	if err != nil {
		s.writeError(w, r, s.nodeRefusal(r, c, staff.Rollback, err))
		return
	}
	writeJSON(w, http.StatusCreated, rollbackJSON(rb))
}

// listRollbacks lists the rollbacks done by auditors of the account's
// region or below, for review.
func (s *Server) listRollbacks(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ReadAudit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []rollbackOut{}
	for _, rb := range s.n.Rollbacks() {
		if staff.Covers(c.Staff.Region, rb.Auditor.Region) || staff.Covers(c.Staff.Region, rb.AccountRegion) {
			out = append(out, rollbackJSON(rb))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rollbacks": out})
}

type appealOut struct {
	ID          string           `json:"appeal_id"`
	PersonID    string           `json:"person_id"`
	Text        string           `json:"text"`
	Evidence    []string         `json:"evidence"`
	Reason      string           `json:"reason"`
	Source      string           `json:"source"`
	Origin      string           `json:"origin"`
	Region      string           `json:"region"`
	Filed       string           `json:"filed"`
	Deadline    string           `json:"deadline"`
	Overdue     bool             `json:"overdue"`
	Status      string           `json:"status"`
	Escalations []map[string]any `json:"escalations"`
	Resolution  map[string]any   `json:"resolution,omitempty"`
}

func appealJSON(a node.Appeal) appealOut {
	out := appealOut{ID: a.ID, PersonID: health.PersonID(a.Person), Text: a.Text, Evidence: a.Evidence, Reason: a.Reason, Source: a.Source,
		Origin: a.Origin, Region: a.Region, Filed: health.FormatTime(a.Filed), Deadline: health.FormatTime(a.Deadline), Overdue: a.Overdue,
		Status: a.Status, Escalations: []map[string]any{}}
	if out.Evidence == nil {
		out.Evidence = []string{}
	}
	for _, e := range a.Escalations {
		out.Escalations = append(out.Escalations, map[string]any{"from": e.From, "to": e.To, "at": health.FormatTime(e.At), "event": health.EventID(e.Seq)})
	}
	if res := a.Resolution; res != nil {
		voided := make([]string, len(res.Voided))
		for i, v := range res.Voided {
			voided[i] = health.EventID(v)
		}
		lifted := res.Lifted
		if lifted == nil {
			lifted = []string{}
		}
		out.Resolution = map[string]any{"outcome": res.Outcome, "note": res.Note, "by_region": res.By.Region, "at": health.FormatTime(res.At),
			"lifted": lifted, "voided": voided, "event": health.EventID(res.Seq)}
	}
	return out
}

// fileAppeal records a person's appeal of their code (their own token, or a
// holder's for a dependant): 201; it goes to the region that produced the
// disputed reason.
func (s *Server) fileAppeal(w http.ResponseWriter, r *http.Request) {
	p, err := pathPerson(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.IsStaff() || c.Person != p && !s.n.IsDependant(c.Person, p) {
		s.writeError(w, r, health.Errorf(health.Permission, "not_your_code", "id", "a person appeals their own code (or a dependant's)"))
		return
	}
	var b struct {
		Text     string   `json:"text"`
		Evidence []string `json:"evidence"`
		Reason   string   `json:"reason"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.n.FileAppeal(r.Context(), p, node.AppealInput{Text: b.Text, Evidence: b.Evidence, Reason: b.Reason})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appealJSON(a))
}

// personAppeals lists a person's own appeals.
func (s *Server) personAppeals(w http.ResponseWriter, r *http.Request) {
	p, err := s.codeCaller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []appealOut{}
	for _, a := range s.n.Appeals(node.AppealFilter{Person: p}) {
		out = append(out, appealJSON(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": health.PersonID(p), "appeals": out})
}

// listAppeals is the appeal inbox of a region (community workers and
// officials): ?region= (default the account's), ?status=open|resolved.
func (s *Server) listAppeals(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.HandleAppeals)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.listRegion(r, c, staff.HandleAppeals)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	as := s.n.Appeals(node.AppealFilter{Region: reg, Status: r.URL.Query().Get("status")})
	out := make([]appealOut, len(as))
	persons := make([]uint32, len(as))
	for i, a := range as {
		out[i], persons[i] = appealJSON(a), a.Person
	}
	if err := s.logRead(r, c, "appeals", persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"region": reg, "appeals": out})
}

// resolveAppeal answers an appeal (upheld or corrected; corrected lifts
// overrides or voids events of the person and re-evaluates the code).
func (s *Server) resolveAppeal(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.HandleAppeals)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.n.Appeal(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.allow(r, c, staff.HandleAppeals, a.Region); err != nil {
		s.writeError(w, r, err)
		return
	}
	var b struct {
		Outcome  string   `json:"outcome"`
		Note     string   `json:"note"`
		Revoke   []string `json:"revoke"`
		RollBack []string `json:"roll_back"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	res := node.Resolution{Outcome: b.Outcome, Note: b.Note, Revoke: b.Revoke}
	for i, id := range b.RollBack {
		seq, ok := health.ParseEventID(id)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_event_id", fmt.Sprintf("roll_back[%d]", i), "%q is not an event id (e.g. e42)", id))
			return
		}
		res.RollBack = append(res.RollBack, seq)
	}
	a, err = s.n.ResolveAppeal(r.Context(), official(c), r.PathValue("id"), res)
	if err != nil {
		s.writeError(w, r, s.nodeRefusal(r, c, staff.HandleAppeals, err))
		return
	}
	writeJSON(w, http.StatusOK, appealJSON(a))
}

// notices lists the messages to a person about their code (corrections by
// rollback, appeals escalated and resolved, overrides applied).
func (s *Server) notices(w http.ResponseWriter, r *http.Request) {
	p, err := pathPerson(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.IsStaff() || c.Person != p && !s.n.IsDependant(c.Person, p) {
		s.writeError(w, r, health.Errorf(health.Permission, "not_your_code", "id", "a person reads their own notices (or a dependant's)"))
		return
	}
	ns, err := s.n.Notices(p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, len(ns))
	for i, n := range ns {
		out[i] = map[string]any{"at": health.FormatTime(n.At), "kind": n.Kind, "ref": n.Ref, "region": n.Region, "outcome": n.Outcome, "event": health.EventID(n.Seq)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": health.PersonID(p), "notices": out})
}

// accessLog answers "who looked at my data": the staff reads of a person's
// data and the changes staff made to their record, with the staff's region
// and roles; the account names only to auditors (whose reads are logged).
func (s *Server) accessLog(w http.ResponseWriter, r *http.Request) {
	p, err := pathPerson(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	auditor := false
	if c.IsStaff() {
		reg, err := s.personRegion(p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.allow(r, c, staff.ReadAudit, reg); err != nil {
			s.writeError(w, r, err)
			return
		}
		auditor = true
	} else if c.Person != p && !s.n.IsDependant(c.Person, p) {
		s.writeError(w, r, health.Errorf(health.Permission, "not_your_code", "id", "a person reads their own access log (or a dependant's)"))
		return
	}
	log, err := s.n.AccessLog(p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.logRead(r, c, "access_log", p); err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, len(log))
	for i, a := range log {
		m := map[string]any{"at": health.FormatTime(a.At), "read": a.Read, "what": a.What, "region": a.Region, "roles": a.Roles, "event": health.EventID(a.Seq)}
		if a.Roles == nil {
			m["roles"] = []string{}
		}
		if a.Lab != "" {
			m["lab"] = a.Lab
		}
		if a.RolledBack != "" {
			m["rolled_back"] = a.RolledBack
		}
		if auditor {
			m["account"] = a.Account
		}
		out[i] = m
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": health.PersonID(p), "access": out})
}
