package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/staff"
)

// official is the node's view of a staff caller.
func official(c Caller) node.Official {
	return node.Official{Account: c.Staff.Username, Region: c.Staff.Region}
}

// nodeRefusal logs and counts a Permission error from the node (a region or
// authority check made there) like one made here, and returns it.
func (s *Server) nodeRefusal(r *http.Request, c Caller, a staff.Action, err error) error {
	var he *health.Error
	if errors.As(err, &he) && he.Kind == health.Permission {
		s.deny(r, c, a, he.Code)
	}
	return err
}

type overrideBody struct {
	Persons  []string `json:"persons"`
	Colour   string   `json:"colour"`
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence"`
	Until    string   `json:"until"`
	Note     string   `json:"note"`
}

type decisionOut struct {
	By    string `json:"by"`
	At    string `json:"at"`
	Note  string `json:"note,omitempty"`
	Event string `json:"event"`
}

type overrideOut struct {
	OverrideID string            `json:"override_id"`
	Status     string            `json:"status"`
	Held       bool              `json:"held"`
	Persons    []string          `json:"persons"`
	Colour     string            `json:"colour"`
	Reason     string            `json:"reason"`
	ReasonText map[string]string `json:"reason_title"`
	Evidence   []string          `json:"evidence"`
	Until      string            `json:"until"`
	Requester  string            `json:"requester"`
	Requested  string            `json:"requested"`
	Alerts     []string          `json:"alerts"`
	Approval   *decisionOut      `json:"approval,omitempty"`
	Refusal    *decisionOut      `json:"refusal,omitempty"`
	Clearance  *decisionOut      `json:"clearance,omitempty"`
	Revocation *decisionOut      `json:"revocation,omitempty"`
}

func decisionJSON(d *node.OverrideDecision) *decisionOut {
	if d == nil {
		return nil
	}
	return &decisionOut{By: "staff:" + d.By.Account + "@" + d.By.Region, At: health.FormatTime(d.At), Note: d.Note, Event: health.EventID(d.Seq)}
}

func overrideJSON(o node.Override) overrideOut {
	out := overrideOut{OverrideID: o.ID, Status: o.Status, Held: o.Held, Persons: make([]string, len(o.Persons)), Colour: o.Colour.String(),
		Reason: o.Reason.Code, ReasonText: o.Reason.Title, Evidence: []string{}, Until: health.FormatTime(o.Until),
		Requester: "staff:" + o.Requester.Account + "@" + o.Requester.Region, Requested: health.FormatTime(o.Requested), Alerts: []string{},
		Approval: decisionJSON(o.Approval), Refusal: decisionJSON(o.Refusal), Clearance: decisionJSON(o.Clearance), Revocation: decisionJSON(o.Revocation)}
	for i, p := range o.Persons {
		out.Persons[i] = health.PersonID(p)
	}
	for _, e := range o.Evidence {
		out.Evidence = append(out.Evidence, health.EventID(e))
	}
	out.Evidence = append(out.Evidence, o.Documents...)
	for _, a := range o.Alerts {
		out.Alerts = append(out.Alerts, health.EventID(a))
	}
	return out
}

type alertJSONOut struct {
	Event    string         `json:"event"`
	Override string         `json:"override_id"`
	Check    string         `json:"check"`
	Flagged  int            `json:"flagged"`
	Batch    int            `json:"batch"`
	Sample   []string       `json:"sample"`
	Detail   string         `json:"detail"`
	Account  string         `json:"account"`
	Region   string         `json:"region"`
	Target   string         `json:"target"`
	At       string         `json:"at"`
	Counts   map[string]int `json:"counts,omitempty"`
}

func abuseAlertJSON(a node.AbuseAlert) alertJSONOut {
	out := alertJSONOut{Event: health.EventID(a.Seq), Override: a.Override, Check: a.Check, Flagged: a.Flagged, Batch: a.Batch,
		Sample: make([]string, len(a.Sample)), Detail: a.Detail, Account: a.Account, Region: a.Region, Target: a.Target,
		At: health.FormatTime(a.At), Counts: a.Counts}
	for i, p := range a.Sample {
		out.Sample[i] = health.PersonID(p)
	}
	return out
}

// requestOverride records an official's request for a manual colour (人工
// 赋码): 201 with its id and status; the abuse checks' alerts, if any, are
// in the answer and hold the request for an auditor.
func (s *Server) requestOverride(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.RequestOverrides)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b overrideBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Persons == nil {
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", "persons", "is required: the person ids"))
		return
	}
	in := node.OverrideInput{Persons: make([]uint32, len(b.Persons)), Colour: b.Colour, Reason: b.Reason, Evidence: b.Evidence, Note: b.Note}
	for i, id := range b.Persons {
		p, ok := health.ParsePersonID(id)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_person_id", fmt.Sprintf("persons[%d]", i), "%q is not a person id (e.g. p123)", id))
			return
		}
		in.Persons[i] = p
	}
	if in.Until, err = health.ParseTime("until", b.Until); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, alerts, err := s.n.RequestOverride(r.Context(), official(c), in)
	if err != nil {
		s.writeError(w, r, s.nodeRefusal(r, c, staff.RequestOverrides, err))
		return
	}
	out := map[string]any{"override_id": o.ID, "status": o.Status, "held": o.Held, "alerts": []alertJSONOut{}}
	as := make([]alertJSONOut, len(alerts))
	for i, a := range alerts {
		as[i] = abuseAlertJSON(a)
	}
	out["alerts"] = as
	writeJSON(w, http.StatusCreated, out)
}

// overrideStep is one decision on an override: approve, refuse, revoke
// (officials) or clear, audit-refuse (auditors).
func (s *Server) overrideStep(w http.ResponseWriter, r *http.Request, a staff.Action,
	step func(n *node.Node, r *http.Request, off node.Official, id, note string) (node.Override, error)) {
	c, err := s.staff(r, a)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b struct {
		Note string `json:"note"`
	}
	if err := decode(w, r, &b); err != nil && !isCode(err, "empty_body") {
		s.writeError(w, r, err)
		return
	}
	// Only accounts whose region covers the requester's act on a request
	// (the node checks the persons and the alerts' level as well).
	cur, err := s.n.Override(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.allow(r, c, a, cur.Requester.Region); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := step(s.n, r, official(c), r.PathValue("id"), b.Note)
	if err != nil {
		s.writeError(w, r, s.nodeRefusal(r, c, a, err))
		return
	}
	writeJSON(w, http.StatusOK, overrideJSON(o))
}

func (s *Server) approveOverride(w http.ResponseWriter, r *http.Request) {
	s.overrideStep(w, r, staff.ApproveOverrides, func(n *node.Node, r *http.Request, off node.Official, id, note string) (node.Override, error) {
		return n.ApproveOverride(r.Context(), off, id, note)
	})
}

func (s *Server) refuseOverride(w http.ResponseWriter, r *http.Request) {
	s.overrideStep(w, r, staff.ApproveOverrides, func(n *node.Node, r *http.Request, off node.Official, id, note string) (node.Override, error) {
		return n.RefuseOverride(r.Context(), off, id, note)
	})
}

func (s *Server) revokeOverride(w http.ResponseWriter, r *http.Request) {
	s.overrideStep(w, r, staff.RequestOverrides, func(n *node.Node, r *http.Request, off node.Official, id, note string) (node.Override, error) {
		return n.RevokeOverride(r.Context(), off, id, note)
	})
}

// clearOverride is an auditor's release of a held request (its alerts were
// looked into); auditRefuseOverride refuses it for good.
func (s *Server) clearOverride(w http.ResponseWriter, r *http.Request) {
	s.overrideStep(w, r, staff.Rollback, func(n *node.Node, r *http.Request, off node.Official, id, note string) (node.Override, error) {
		return n.ClearOverride(r.Context(), off, id, note)
	})
}

func (s *Server) auditRefuseOverride(w http.ResponseWriter, r *http.Request) {
	s.overrideStep(w, r, staff.Rollback, func(n *node.Node, r *http.Request, off node.Official, id, note string) (node.Override, error) {
		return n.AuditRefuseOverride(r.Context(), off, id, note)
	})
}

// getOverride shows one override (officials and auditors of a region that
// covers the requester's).
func (s *Server) getOverride(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a := staff.RequestOverrides
	if c.Staff.Has(staff.Auditor) {
		a = staff.ReadAudit
	}
	if !c.IsStaff() {
		s.writeError(w, r, health.Errorf(health.Permission, "staff_only", "", "this endpoint needs a staff account"))
		return
	}
	o, err := s.n.Override(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.allow(r, c, a, o.Requester.Region); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.logRead(r, c, "override", o.Persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, overrideJSON(o))
}

// listOverrides lists the overrides requested in a region (?region=,
// default the account's; ?status=).
func (s *Server) listOverrides(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !c.IsStaff() {
		s.writeError(w, r, health.Errorf(health.Permission, "staff_only", "", "this endpoint needs a staff account"))
		return
	}
	a := staff.RequestOverrides
	if c.Staff.Has(staff.Auditor) {
		a = staff.ReadAudit
	}
	reg, err := s.listRegion(r, c, a)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	os := s.n.Overrides(node.OverrideFilter{Region: reg, Status: r.URL.Query().Get("status")})
	out := make([]overrideOut, len(os))
	var persons []uint32
	for i, o := range os {
		out[i] = overrideJSON(o)
		persons = append(persons, o.Persons...)
	}
	if err := s.logRead(r, c, "overrides", persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"region": reg, "overrides": out})
}

// abuseAlerts lists the abuse alerts addressed to a region or below
// (auditors; ?region= default the account's).
func (s *Server) abuseAlerts(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ReadAudit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.listRegion(r, c, staff.ReadAudit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	as := s.n.AbuseAlerts(reg)
	out := make([]alertJSONOut, len(as))
	var persons []uint32
	for i, a := range as {
		out[i] = abuseAlertJSON(a)
		persons = append(persons, a.Sample...)
	}
	if err := s.logRead(r, c, "abuse_alerts", persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"region": reg, "alerts": out})
}

type noticeOut struct {
	OverrideID    string            `json:"override_id"`
	Colour        string            `json:"colour"`
	Reason        string            `json:"reason"`
	ReasonTitle   map[string]string `json:"reason_title"`
	Until         string            `json:"until"`
	Authority     string            `json:"authority"`
	AuthorityName string            `json:"authority_name"`
	Approved      string            `json:"approved"`
	Evidence      []string          `json:"evidence"`
	Appeal        map[string]any    `json:"appeal"`
}

// personOverrides shows a person the manual colours applied to their code:
// the ground, the expiry, the authority that approved it, the events the
// code's reason cites and where to appeal (the person, a holder of their
// code, or staff who may read codes). Other persons of the batch are never
// shown.
func (s *Server) personOverrides(w http.ResponseWriter, r *http.Request) {
	p, err := s.codeCaller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ns, err := s.n.PersonOverrides(p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]noticeOut, len(ns))
	for i, n := range ns {
		o := noticeOut{OverrideID: n.ID, Colour: n.Colour.String(), Reason: n.Reason.Code, ReasonTitle: n.Reason.Title,
			Until: health.FormatTime(n.Until), Authority: n.Authority, AuthorityName: n.AuthorityName, Approved: health.FormatTime(n.Approved),
			Evidence: make([]string, len(n.Evidence)),
			Appeal:   map[string]any{"region": n.Appeal.Region, "escalation": n.Appeal.Escalation, "deadline_hours": n.Appeal.Deadline.Hours()}}
		for k, e := range n.Evidence {
			o.Evidence[k] = health.EventID(e)
		}
		out[i] = o
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": health.PersonID(p), "overrides": out})
}
