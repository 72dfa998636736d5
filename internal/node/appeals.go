package node

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"healthcode/internal/health"
	"healthcode/internal/staff"
)

// Appeals (申诉, D48). A person disputes a reason of their code; the appeal
// goes to the region that produced the reason and must be answered there
// within the appeal deadline (Config.Overrides.AppealDeadline, 24 h),
// after which the node moves it one level up (county → city → province →
// national) by an appeal_escalated event, again and again until someone
// answers or it reaches the national level. An official or community
// worker whose region covers the appeal's current region resolves it:
// upheld, or corrected — lifting overrides for the person and voiding
// events of the person — and the code is re-evaluated. Everything is an
// event, so deadlines and escalations survive a restart.

// The statuses and outcomes of an appeal.
const (
	AppealOpen     = "open"
	AppealResolved = "resolved"

	OutcomeUpheld    = "upheld"    // the reason stands
	OutcomeCorrected = "corrected" // the code was wrong and is corrected
)

// Appeal is a person's dispute of their code.
type Appeal struct {
	ID       string // "AP-<seq>"
	Seq      uint64 // the appeal_filed event
	Person   uint32
	Text     string
	Evidence []string
	Reason   string   // the rule id of the disputed reason ("" if the code had none)
	Source   string   // what produced it: "override", "contact", "test", "risk_area", or "home" (no reason)
	Cited    []uint64 // the events the disputed reason cited
	Origin   string   // the region it went to first
	Region   string   // the region it is with now
	Filed    time.Time
	Deadline time.Time // for the current region
	Overdue  bool      // open and past its deadline, at the time of reading (national appeals go no higher)
	Status   string    // AppealOpen or AppealResolved
	// Escalations, oldest first.
	Escalations []AppealEscalation
	Resolution  *AppealResolution
}

// AppealEscalation is one move of an appeal one level up.
type AppealEscalation struct {
	Seq      uint64
	From, To string
	At       time.Time // the deadline that was missed
}

// AppealResolution is the answer to an appeal.
type AppealResolution struct {
	Seq      uint64
	By       Official
	At       time.Time
	Outcome  string
	Note     string
	Lifted   []string // overrides lifted for the person ("OV-…")
	Voided   []uint64 // events of the person voided
	Cascaded int      // events voided with them (see RollBack)
}

// AppealID formats an appeal event as an appeal id ("AP-42").
func AppealID(seq uint64) string { return "AP-" + strconv.FormatUint(seq, 10) }

// ParseAppealID parses an appeal id; ok is false if s is not one.
func ParseAppealID(s string) (uint64, bool) {
	v, ok := strings.CutPrefix(s, "AP-")
	n, err := strconv.ParseUint(v, 10, 64)
	return n, ok && err == nil && n > 0
}

// AppealInput is an appeal as filed.
type AppealInput struct {
	Text     string   // required, at most 2,000 bytes
	Evidence []string // at most 10 references (event ids, "doc:…" documents), each at most 200 bytes
	Reason   string   // the rule id of the reason disputed; "" = the code's first (most severe) reason
}

// Resolution is the answer to an appeal.
type Resolution struct {
	Outcome  string   // OutcomeUpheld or OutcomeCorrected
	Note     string   // required, at most 1,000 bytes: why
	Revoke   []string // corrected: overrides ("OV-…") applied to the person that no longer apply to them
	RollBack []uint64 // corrected: events of the person to void (their visits, test results, contact records)
}

// AppealFilter selects appeals: those now with a region inside Region (""
// or "000000": all), with Status ("": all), of Person (0: all).
type AppealFilter struct {
	Region string
	Status string
	Person uint32
}

type appealData struct {
	Text     string    `json:"text"`
	Evidence []string  `json:"evidence,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Source   string    `json:"source"`
	Region   string    `json:"region"`
	Cited    []uint64  `json:"cited,omitempty"`
	Deadline time.Time `json:"deadline"`
}

type escalationData struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Deadline time.Time `json:"deadline"` // the new region's
}

type resolutionData struct {
	Account  string   `json:"account"`
	Region   string   `json:"region"`
	Outcome  string   `json:"outcome"`
	Note     string   `json:"note"`
	Lift     []uint64 `json:"lift,omitempty"` // override requests
	Void     string   `json:"void,omitempty"` // ranges
	Cascaded int      `json:"cascaded,omitempty"`
}

// Limits of an appeal and its resolution.
const (
	maxAppealText     = 2000
	maxAppealEvidence = 10
	maxResolutionNote = 1000
	maxResolutionRefs = 200
)

// appealText checks free text that may have line breaks.
func appealText(field, s string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return health.Errorf(health.Invalid, "missing_field", field, "is required")
	case len(s) > max:
		return health.Errorf(health.Invalid, "too_long", field, "must be at most %d bytes", max)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		return health.Errorf(health.Invalid, "invalid_text", field, "must not contain control characters")
	}
	return nil
}

// appealRoute is where an appeal goes.
type appealRoute struct {
	reason, source, region string
	cited                  []uint64
	ref                    uint64
}

// routeAppeal finds the reason person p disputes (rule, or the first
// reason) and the region that produced it: an override's requester
// region; a contact record's case's county; a risk area's county (or the
// area's region if larger); the home county for a test result, a case of
// another node, or a code without reasons. Callers hold n.mu or are the
// writer.
func (n *Node) routeAppeal(p uint32, rule string) (appealRoute, error) {
	home := countyOf(n.home(p))
	rt := appealRoute{source: "home", region: home}
	code := n.codes.reasons(p)
	var reason *health.Reason
	if code != nil {
		for i := range code.Reasons {
			if rule == "" || code.Reasons[i].Rule == rule {
				reason = &code.Reasons[i]
				break
			}
		}
	}
	if reason == nil {
		if rule != "" {
			var have []string
			if code != nil {
				for _, r := range code.Reasons {
					have = append(have, r.Rule)
				}
			}
			return rt, health.Errorf(health.Invalid, "not_a_reason", "reason", "the code of %s has no reason %q (its reasons: %v)", health.PersonID(p), rule, have)
		}
		return rt, nil
	}
	rt.reason, rt.cited = reason.Rule, slices.Clone(reason.Evidence)
	each := ""
	for _, r := range n.rules.Rules {
		if r.ID == reason.Rule {
			each = r.Each
		}
	}
	ev := func(i int) uint64 {
		if i < len(reason.Evidence) {
			return reason.Evidence[i]
		}
		return 0
	}
	switch each {
	case "overrides":
		rt.source, rt.ref = "override", ev(1)
		if o := n.ov.byID[rt.ref]; o != nil {
			rt.region = o.Requester.Region
		}
	case "contacts":
		rt.source, rt.ref = "contact", ev(0)
		for _, r := range n.contacts[p] {
			if r.Seq == rt.ref {
				if c := n.cases[r.Case]; c != nil && c.Region != "" {
					rt.region = c.Region
				}
			}
		}
	case "stays", "city_stays":
		rt.source, rt.ref = "risk_area", ev(1)
		for _, a := range n.areas {
			if a.Seq == rt.ref {
				rt.region = countyOf(a.Region)
			}
		}
	case "tests":
		rt.source, rt.ref = "test", ev(0)
	}
	if rt.region == "" {
		rt.region = home
	}
	return rt, nil
}

// FileAppeal records person's appeal of their code (the caller checks the
// person's own token). The appeal goes to the region that produced the
// disputed reason (see Appeal.Source) with a deadline of
// Config.Overrides.AppealDeadline. It returns NotFound for an unknown
// person, Invalid for a bad text or evidence or a reason the code does not
// have (field reason), and Conflict if the person has an open appeal of
// the same reason.
func (n *Node) FileAppeal(ctx context.Context, person uint32, in AppealInput) (Appeal, error) {
	if person == 0 || person > n.nPersons.Load() {
		return Appeal{}, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(person))
	}
	if err := appealText("text", in.Text, maxAppealText, true); err != nil {
		return Appeal{}, err
	}
	if len(in.Evidence) > maxAppealEvidence {
		return Appeal{}, health.Errorf(health.Invalid, "too_many", "evidence", "at most %d references", maxAppealEvidence)
	}
	for i, s := range in.Evidence {
		if err := appealText(fmt.Sprintf("evidence[%d]", i), s, 200, true); err != nil {
			return Appeal{}, err
		}
	}
	var seq uint64
	err := n.submitSolo(ctx, func(g *group) error {
		rt, err := n.routeAppeal(person, in.Reason)
		if err != nil {
			return err
		}
		for _, a := range n.rc.apOf[person] {
			if a.Status == AppealOpen && a.Reason == rt.reason {
				return health.Errorf(health.Conflict, "appeal_open", "reason", "appeal %s of the same reason is open (with region %s)", a.ID, a.Region)
			}
		}
		data, err := json.Marshal(appealData{Text: in.Text, Evidence: in.Evidence, Reason: rt.reason, Source: rt.source, Region: rt.region,
			Cited: rt.cited, Deadline: g.now.Add(n.cfg.Overrides.AppealDeadline)})
		if err != nil {
			return err
		}
		seq = g.add(health.Event{Kind: health.EvAppealFiled, At: g.now, Person: person, Region: accountRegion(rt.region), Ref: rt.ref,
			Actor: "person:" + health.PersonID(person), Batch: batchID(g), Data: data})
		return nil
	}, nil)
	if err != nil {
		return Appeal{}, err
	}
	return n.Appeal(AppealID(seq))
}

// ResolveAppeal records the answer to an open appeal. The official (or
// community worker) must be of a region covering the appeal's current
// region (Permission otherwise). Upheld changes nothing; corrected lifts
// the named overrides for the person only (each must be applied to them)
// and voids the named events (each must be about the person: a visit
// other than an investigation stop, a test result or a contact record),
// with their dependents, by a replay as for a rollback. The code is
// re-evaluated and the person told. It returns NotFound for an unknown
// appeal, Invalid for a bad outcome, note, override or event (naming
// revoke[i] or rollback[i]), and Conflict for an appeal resolved already
// or an event voided already.
func (n *Node) ResolveAppeal(ctx context.Context, off Official, id string, res Resolution) (Appeal, error) {
	if off.Account == "" || staff.LevelOf(off.Region) == 0 {
		return Appeal{}, health.Errorf(health.Permission, "invalid_official", "", "an appeal is resolved by a named official or community worker of a county or above")
	}
	seq, ok := ParseAppealID(id)
	if !ok {
		return Appeal{}, health.Errorf(health.NotFound, "unknown_appeal", "id", "%q is not an appeal id (AP-<n>)", truncateText(id, 40))
	}
	switch res.Outcome {
	case OutcomeUpheld:
		if len(res.Revoke)+len(res.RollBack) > 0 {
			return Appeal{}, health.Errorf(health.Invalid, "upheld_with_changes", "outcome", "an upheld appeal changes nothing; use corrected")
		}
	case OutcomeCorrected:
	default:
		return Appeal{}, health.Errorf(health.Invalid, "invalid_outcome", "outcome", "must be %s or %s", OutcomeUpheld, OutcomeCorrected)
	}
	if err := appealText("note", res.Note, maxResolutionNote, true); err != nil {
		return Appeal{}, err
	}
	if len(res.Revoke)+len(res.RollBack) > maxResolutionRefs {
		return Appeal{}, health.Errorf(health.Invalid, "too_many", "rollback", "at most %d overrides and events", maxResolutionRefs)
	}
	current, err := n.Appeal(id)
	if err != nil {
		return Appeal{}, err
	}
	person := current.Person
	reqs := make([]uint64, len(res.Revoke))
	for i, s := range res.Revoke {
		r, ok := ParseOverrideID(s)
		if !ok {
			return Appeal{}, health.Errorf(health.Invalid, "unknown_override", fmt.Sprintf("revoke[%d]", i), "%q is not an override id", truncateText(s, 40))
		}
		reqs[i] = r
	}
	var cands []cand
	for i, s := range res.RollBack {
		field := fmt.Sprintf("rollback[%d]", i)
		e, err := n.store.Event(ctx, s)
		if isNotFound(err) {
			return Appeal{}, health.Errorf(health.Invalid, "unknown_event", field, "no event %s", health.EventID(s))
		}
		if err != nil {
			return Appeal{}, err
		}
		if e.Person != person || !appealVoidable(e.Kind, e.Aux) {
			return Appeal{}, health.Errorf(health.Invalid, "not_voidable", field,
				"%s is a %s of %s; an appeal voids the appellant's visits (not investigation stops), test results and contact records",
				health.EventID(s), e.Kind, health.PersonID(e.Person))
		}
		cands = append(cands, candOf(&e))
	}
	voids := false
	var replayErr error
	err = n.submitSolo(ctx, func(g *group) error {
		a := n.rc.apByID[seq]
		if a == nil {
			return health.Errorf(health.NotFound, "unknown_appeal", "id", "no appeal %s", id)
		}
		if a.Status != AppealOpen {
			return health.Errorf(health.Conflict, "appeal_resolved", "id", "appeal %s was resolved already (%s)", a.ID, a.Resolution.Outcome)
		}
		if !covers(off.Region, a.Region) {
			return health.Errorf(health.Permission, "outside_region", "id", "appeal %s is with region %s, outside the authority of %s (region %s)", a.ID, a.Region, off.Account, off.Region)
		}
		for i, r := range reqs {
			o := n.ov.byID[r]
			field := fmt.Sprintf("revoke[%d]", i)
			switch {
			case o == nil:
				return health.Errorf(health.Invalid, "unknown_override", field, "no override %s", res.Revoke[i])
			case !slices.Contains(o.Persons, person):
				return health.Errorf(health.Invalid, "not_the_persons", field, "%s does not name %s", o.ID, health.PersonID(person))
			case !o.applied() || !g.now.Before(o.Until) || n.rc.lifted[liftKey{o.Seq, person}] != 0:
				return health.Errorf(health.Invalid, "override_not_applied", field, "%s does not apply to %s now", o.ID, health.PersonID(person))
			}
		}
		for i, c := range cands {
			if n.rc.voided[c.seq] != 0 {
				return health.Errorf(health.Conflict, "already_voided", fmt.Sprintf("rollback[%d]", i), "%s is voided already", health.EventID(c.seq))
			}
		}
		plan := n.planVoids(cands, func(cand) bool { return true })
		voids = len(plan.seqs) > 0
		data, err := json.Marshal(resolutionData{Account: off.Account, Region: off.Region, Outcome: res.Outcome, Note: res.Note,
			Lift: reqs, Void: formatRanges(plan.seqs), Cascaded: plan.cascaded})
		if err != nil {
			return err
		}
		g.add(health.Event{Kind: health.EvAppealResolved, At: g.now, Person: person, Region: accountRegion(off.Region), Ref: seq,
			Actor: off.actor(), Batch: batchID(g), Data: data})
		return nil
	}, func() {
		if voids {
			replayErr = n.replayViews(context.WithoutCancel(ctx))
		}
	})
	if err != nil {
		return Appeal{}, err
	}
	out, err := n.Appeal(id)
	if err != nil {
		return Appeal{}, err
	}
	if replayErr != nil {
		n.log.Error("replay after appeal", "appeal", id, "err", replayErr)
		return out, fmt.Errorf("node: the resolution of %s is recorded but the views could not be replayed (the next start will): %w", id, replayErr)
	}
	return out, nil
}

// appealVoidable reports whether an appeal may void an event of kind k
// (with aux) of the appellant: a visit (scan or manifest), a test result
// or correction, a contact record.
func appealVoidable(k health.EventKind, aux int64) bool {
	switch k {
	case health.EvVisit:
		s := health.VisitSource(aux & 3)
		return s == health.SourceScan || s == health.SourceManifest
	case health.EvTestResult, health.EvTestCorrected, health.EvContactTraced:
		return true
	}
	return false
}

// lifted reports whether override request req no longer applies to p (an
// appeal). Callers hold n.mu or are the writer.
func (n *Node) lifted(req uint64, p uint32) bool {
	if len(n.rc.lifted) == 0 {
		return false
	}
	_, ok := n.rc.lifted[liftKey{req, p}]
	return ok
}

// Appeal returns one appeal as of now, or NotFound.
func (n *Node) Appeal(id string) (Appeal, error) {
	seq, ok := ParseAppealID(id)
	now := n.now()
	n.mu.RLock()
	defer n.mu.RUnlock()
	a := n.rc.apByID[seq]
	if !ok || a == nil {
		return Appeal{}, health.Errorf(health.NotFound, "unknown_appeal", "id", "no appeal %s", truncateText(id, 40))
	}
	return a.view(now), nil
}

// Appeals lists the appeals that pass the filter, newest first.
func (n *Node) Appeals(f AppealFilter) []Appeal {
	now := n.now()
	reg := f.Region
	if reg == "" {
		reg = nationalRegion
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	list := n.rc.appeals
	if f.Person != 0 {
		list = n.rc.apOf[f.Person]
	}
	var out []Appeal
	for i := len(list) - 1; i >= 0; i-- {
		a := list[i]
		if (f.Status != "" && a.Status != f.Status) || !covers(reg, a.Region) {
			continue
		}
		out = append(out, a.view(now))
	}
	return out
}

func (a *Appeal) view(now time.Time) Appeal {
	c := *a
	c.Evidence, c.Cited = slices.Clone(a.Evidence), slices.Clone(a.Cited)
	c.Escalations = slices.Clone(a.Escalations)
	if a.Resolution != nil {
		r := *a.Resolution
		r.Lifted, r.Voided = slices.Clone(r.Lifted), slices.Clone(r.Voided)
		c.Resolution = &r
	}
	c.Overdue = a.Status == AppealOpen && !now.Before(a.Deadline)
	return c
}

// apByResolution returns the appeal resolved by event seq, or nil.
func (rc *recourse) apByResolution(seq uint64) *Appeal { return rc.apByRes[seq] }

// noteAppeal folds the appeal events.
func (n *Node) noteAppeal(e *health.Event, affected map[uint32]struct{}) error {
	rc := n.rc
	live := affected != nil
	if e.Kind == health.EvAppealFiled {
		var d appealData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("appeal data: %w", err)
		}
		a := &Appeal{ID: AppealID(e.Seq), Seq: e.Seq, Person: e.Person, Text: d.Text, Evidence: d.Evidence, Reason: d.Reason,
			Source: d.Source, Cited: d.Cited, Origin: d.Region, Region: d.Region, Filed: e.Recorded, Deadline: d.Deadline, Status: AppealOpen}
		rc.appeals = append(rc.appeals, a)
		rc.apByID[e.Seq] = a
		rc.apOf[e.Person] = append(rc.apOf[e.Person], a)
		rc.countOpen(a.Region, 1)
		rc.schedule(a)
		return nil
	}
	a := rc.apByID[e.Ref]
	if a == nil {
		return fmt.Errorf("%s of unknown appeal %d", e.Kind, e.Ref)
	}
	if e.Kind == health.EvAppealEscalated {
		var d escalationData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("escalation data: %w", err)
		}
		a.Escalations = append(a.Escalations, AppealEscalation{Seq: e.Seq, From: d.From, To: d.To, At: e.At})
		if a.Status == AppealOpen {
			rc.countOpen(a.Region, -1)
			rc.countOpen(d.To, 1)
		}
		a.Region, a.Deadline = d.To, d.Deadline
		rc.schedule(a)
		rc.notify(a.Person, Notice{Seq: e.Seq, At: e.Recorded, Kind: NoticeAppealEscalated, Ref: a.ID, Region: d.To})
		if live {
			n.m.appealEscalations.WithLabelValues(d.From).Inc()
		}
		return nil
	}
	var d resolutionData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("resolution data: %w", err)
	}
	voids, err := parseRanges[uint64](d.Void)
	if err != nil {
		return fmt.Errorf("resolution voids: %w", err)
	}
	r := &AppealResolution{Seq: e.Seq, By: Official{Account: d.Account, Region: d.Region}, At: e.Recorded, Outcome: d.Outcome, Note: d.Note,
		Voided: voids, Cascaded: d.Cascaded}
	for _, req := range d.Lift {
		rc.lifted[liftKey{req, a.Person}] = e.Seq
		r.Lifted = append(r.Lifted, OverrideID(req))
	}
	for _, s := range voids {
		rc.voided[s] = e.Seq
	}
	if a.Status == AppealOpen {
		rc.countOpen(a.Region, -1)
	}
	a.Status, a.Resolution = AppealResolved, r
	rc.apByRes[e.Seq] = a
	rc.notify(a.Person, Notice{Seq: e.Seq, At: e.Recorded, Kind: NoticeAppealResolved, Ref: a.ID, Region: d.Region, Outcome: d.Outcome})
	if live {
		affected[a.Person] = struct{}{}
		n.m.appealResolution.WithLabelValues(levelName(levelOf(d.Region))).Observe(e.Recorded.Sub(a.Filed).Seconds())
	}
	return nil
}

// levelOf is the authority level of a county-or-above region code.
func levelOf(reg string) int {
	switch staff.LevelOf(reg) {
	case staff.National:
		return levelNational
	case staff.Province:
		return levelProvince
	case staff.City:
		return levelCity
	case staff.County:
		return levelCounty
	}
	return 0
}

func (rc *recourse) countOpen(reg string, d int) {
	rc.openMu.Lock()
	rc.open[reg] += d
	if rc.open[reg] <= 0 {
		delete(rc.open, reg)
	}
	rc.openMu.Unlock()
}

// openByRegion copies the open appeals by region (the metric).
func (rc *recourse) openByRegion() map[string]int {
	rc.openMu.Lock()
	defer rc.openMu.Unlock()
	return cloneCounts(rc.open)
}

// deadlineItem is an open appeal's next deadline.
type deadlineItem struct {
	at     time.Time
	appeal uint64
}

type deadlineHeap []deadlineItem

func (h deadlineHeap) Len() int { return len(h) }
func (h deadlineHeap) Less(i, j int) bool {
	return h[i].at.Before(h[j].at) || h[i].at.Equal(h[j].at) && h[i].appeal < h[j].appeal
}
func (h deadlineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)   { *h = append(*h, x.(deadlineItem)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// schedule puts an open appeal's deadline on the heap, unless it is with
// the national level (there is no level above).
func (rc *recourse) schedule(a *Appeal) {
	if a.Status == AppealOpen && a.Region != nationalRegion {
		heap.Push(&rc.deadlines, deadlineItem{at: a.Deadline, appeal: a.Seq})
	}
}

// nextDeadline is the earliest appeal deadline on the heap (the writer's
// timer wakes up for it); ok is false if there is none.
func (n *Node) nextDeadline() (time.Time, bool) {
	if len(n.rc.deadlines) == 0 {
		return time.Time{}, false
	}
	return n.rc.deadlines[0].at, true
}

// escalationRetry is when the writer looks again at appeals whose
// escalation could not be committed.
const escalationRetry = time.Minute

// prepareEscalations adds an appeal_escalated event for each level every
// open appeal has missed by g.now: at the missed deadline, to the level
// above, with a new deadline counted from the missed one, so that the
// outcome does not depend on when the writer looks. Only the writer calls
// it (as a solo request).
func (n *Node) prepareEscalations(g *group) error {
	h := &n.rc.deadlines
	var due []*Appeal
	seen := map[uint64]bool{}
	for h.Len() > 0 && !(*h)[0].at.After(g.now) {
		it := heap.Pop(h).(deadlineItem)
		a := n.rc.apByID[it.appeal]
		if a == nil || seen[a.Seq] || a.Status != AppealOpen || a.Region == nationalRegion || a.Deadline.After(g.now) {
			continue // resolved, or escalated since: a later entry exists
		}
		seen[a.Seq] = true
		due = append(due, a)
	}
	slices.SortFunc(due, func(x, y *Appeal) int { return cmp.Compare(x.Seq, y.Seq) })
	b := batchID(g)
	step := n.cfg.Overrides.AppealDeadline
	for _, a := range due {
		reg, dl := a.Region, a.Deadline
		for !dl.After(g.now) && reg != nationalRegion {
			to := n.parentAuthority(reg)
			next := dl.Add(step)
			data, err := json.Marshal(escalationData{From: reg, To: to, Deadline: next})
			if err != nil {
				return err
			}
			g.add(health.Event{Kind: health.EvAppealEscalated, At: dl, Person: a.Person, Region: accountRegion(to), Ref: a.Seq,
				Actor: "node", Batch: b, Data: data})
			reg, dl = to, next
		}
		// Should the commit fail, look again later; once applied, the
		// appeal's new deadline makes this entry stale.
		heap.Push(h, deadlineItem{at: g.now.Add(escalationRetry), appeal: a.Seq})
	}
	return nil
}

// escalateDue commits the escalations due now. The writer calls it on its
// timer, between groups.
func (n *Node) escalateDue() {
	at, ok := n.nextDeadline()
	if !ok || at.After(n.now()) {
		return
	}
	req := &writeReq{solo: true, prepare: n.prepareEscalations, done: make(chan error, 1)}
	n.commitGroup([]*writeReq{req})
	if err := <-req.done; err != nil {
		n.log.Error("appeal escalation", "err", err)
	}
}

// The kinds of notices.
const (
	NoticeCodeCorrected   = "code_corrected"   // a rollback voided events about the person or that their code cited
	NoticeOverrideApplied = "override_applied" // a manual code change was applied to the person
	NoticeAppealEscalated = "appeal_escalated" // the person's appeal went one level up
	NoticeAppealResolved  = "appeal_resolved"  // the person's appeal was answered
)

// Notice is a message to a person about their code.
type Notice struct {
	Seq     uint64 // the event that tells it
	At      time.Time
	Kind    string // one of the Notice* kinds
	Ref     string // the rollback ("RB-…"), override ("OV-…") or appeal ("AP-…")
	Region  string // the authority: the auditor's region, the approving region, the appeal's new region, the resolver's region
	Outcome string // appeal_resolved: upheld or corrected
}

func (rc *recourse) notify(p uint32, nt Notice) {
	if p != 0 {
		rc.notices[p] = append(rc.notices[p], nt)
	}
}

// Notices returns person p's notices, oldest first: those of rollbacks and
// appeals (from their events), and one for each override applied to the
// person (from the overrides view: an override voided by a rollback is no
// longer listed). It returns NotFound for an unknown person.
func (n *Node) Notices(p uint32) ([]Notice, error) {
	if p == 0 || p > n.nPersons.Load() {
		return nil, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(p))
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := slices.Clone(n.rc.notices[p])
	for _, o := range n.ov.ofPerson[p] {
		if d := appliedBy(o); d != nil {
			out = append(out, Notice{Seq: d.Seq, At: d.At, Kind: NoticeOverrideApplied, Ref: o.ID, Region: o.Approval.By.Region})
		}
	}
	slices.SortStableFunc(out, func(a, b Notice) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// appliedBy returns the decision that applied o (its approval, or the
// auditor's release if that came later), or nil if o was never applied.
func appliedBy(o *Override) *OverrideDecision {
	if o.Approval == nil || o.Refusal != nil {
		return nil
	}
	d := o.Approval
	if len(o.Alerts) > 0 {
		if o.Clearance == nil {
			return nil
		}
		if o.Clearance.Seq > d.Seq {
			d = o.Clearance
		}
	}
	if o.Revocation != nil && o.Revocation.Seq < d.Seq {
		return nil
	}
	return d
}

// openAppeals is the healthcode_appeals_open gauge: the open appeals by
// the region they are with now.
type openAppeals struct{ n *Node }

var openAppealsDesc = prometheus.NewDesc("healthcode_appeals_open", "Open appeals, by the region they are with now.", []string{"region"}, nil)

func (c openAppeals) Describe(ch chan<- *prometheus.Desc) { ch <- openAppealsDesc }

func (c openAppeals) Collect(ch chan<- prometheus.Metric) {
	for reg, k := range c.n.rc.openByRegion() {
		ch <- prometheus.MustNewConstMetric(openAppealsDesc, prometheus.GaugeValue, float64(k), reg)
	}
}
