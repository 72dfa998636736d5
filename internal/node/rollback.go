package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/sqlite"
	"healthcode/internal/staff"
	"healthcode/internal/trace"
)

// Rollback (回滚, DESIGN.md §3; D48). An auditor strictly above an account
// voids the account's events of a time range, or one batch's: one
// rolled_back event lists them, and the views are replayed from the log
// without them, so every code is what it would be had the events never
// been recorded. The log keeps every event: voided ones stay readable, in
// the audit log and in the access log; the start-up rebuild skips them the
// same way, after a first pass that collects the voids. An appeal resolved
// as corrected voids events of the appellant by the same mechanism.

// recourse holds the accountability views (D48): the voided events, the
// rollbacks, the appeals, the persons' notices and the access index. They
// are folded by noteEvent from their own events (kinds 40–44) and from the
// actors of all events, voided or not, and a replay after a rollback keeps
// them. Guarded by n.mu; deadlines belongs to the writer goroutine, open to
// openMu.
type recourse struct {
	voided map[uint64]uint64 // event seq → the rollback or appeal resolution that voided it

	rollbacks []*Rollback // in order
	rbByID    map[uint64]*Rollback

	appeals   []*Appeal // in order
	apByID    map[uint64]*Appeal
	apOf      map[uint32][]*Appeal // by person
	apByRes   map[uint64]*Appeal   // by resolution event
	lifted    map[liftKey]uint64   // an override lifted for one person → the appeal resolution
	deadlines deadlineHeap         // open appeals by deadline (stale entries are skipped)

	notices    map[uint32][]Notice // by person, from the recourse events
	reqPersons map[uint64][]uint32 // the persons of batch override requests (their decisions name none)
	access     accessIndex

	openMu sync.Mutex
	open   map[string]int // open appeals by current region (the metric)
}

type liftKey struct {
	request uint64
	person  uint32
}

func newRecourse() *recourse {
	return &recourse{voided: map[uint64]uint64{}, rbByID: map[uint64]*Rollback{}, apByID: map[uint64]*Appeal{}, apByRes: map[uint64]*Appeal{},
		apOf: map[uint32][]*Appeal{}, lifted: map[liftKey]uint64{}, notices: map[uint32][]Notice{},
		reqPersons: map[uint64][]uint32{}, access: newAccessIndex(), open: map[string]int{}}
}

// resetViews empties the views that replayed events feed (see replayed),
// before the start-up rebuild and before a replay after a rollback. The
// persons, places, accounts, codes and recourse views are kept: their
// events are never voided.
func (n *Node) resetViews() {
	n.visits = trace.New()
	n.tests = map[uint32][]health.TestResult{}
	n.samples = map[sampleKey]sampleState{}
	n.areas, n.areaReg = nil, nil
	n.areasAtPlace, n.areasOfCity, n.areaAffectedN = map[uint32][]int32{}, map[uint32][]int32{}, map[uint64]int{}
	n.dependants = map[uint32][]Binding{}
	n.cases, n.casesPerDay = map[string]*Case{}, map[string]int{}
	n.contacts = map[uint32][]ContactRecord{}
	n.referrals, n.referralBySeq, n.referralOf = nil, map[uint64]*Referral{}, map[referralKey]*Referral{}
	n.selfStops = map[uint32][]health.Visit{}
	n.alerts = nil
	ov := newOverrideState()
	if n.ov != nil {
		ov.attrs = n.ov.attrs // from enrolments
	}
	n.ov = ov
	n.pub.version++
}

// replayed reports whether a replay after a rollback applies events of
// kind k: not enrolments, places, accounts or the recourse events, whose
// views it keeps.
func replayed(k health.EventKind) bool {
	switch k {
	case health.EvPersonEnrolled, health.EvPlaceRegistered, health.EvIDLookup,
		health.EvAccountCreated, health.EvPasswordChanged, health.EvAccountSuspended, health.EvAccountReinstated, health.EvAPIKeyIssued, health.EvAPIKeyRevoked,
		health.EvRolledBack, health.EvDataRead, health.EvAppealEscalated, health.EvAppealFiled, health.EvAppealResolved:
		return false
	}
	return true
}

// apply folds one event into the views: the accountability views first
// (noteEvent), then the others (applyView). It is the only place views
// change, both at start-up and for new events, so views are a function of
// the log. If affected is not nil, persons whose code may change are added
// to it.
func (n *Node) apply(e *health.Event, affected map[uint32]struct{}) error {
	if err := n.noteEvent(e, affected); err != nil {
		return err
	}
	return n.applyView(e, affected)
}

// loadVoided is the start-up rebuild's first pass: it reads the voids of
// every rollback and appeal resolution, so that the replay can skip the
// voided events (which come before the events voiding them).
func (n *Node) loadVoided(ctx context.Context) error {
	return n.store.Scan(ctx, 0, func(e *health.Event) error {
		if e.Kind != health.EvRolledBack && e.Kind != health.EvAppealResolved {
			return nil
		}
		seqs, err := voidsOf(e)
		if err != nil {
			return fmt.Errorf("node: voids of event %d: %w", e.Seq, err)
		}
		for _, s := range seqs {
			n.rc.voided[s] = e.Seq
		}
		return nil
	})
}

// skipVoided reports whether the start-up rebuild skips e, voided by a
// later event; a skipped event still counts and is still in the access log.
func (n *Node) skipVoided(e *health.Event) (bool, error) {
	if len(n.rc.voided) == 0 || n.rc.voided[e.Seq] == 0 {
		return false, nil
	}
	if err := n.noteEvent(e, nil); err != nil {
		return true, fmt.Errorf("node: replay event %d: %w", e.Seq, err)
	}
	n.lastSeq = e.Seq
	n.nEvents.Add(1)
	return true, nil
}

// evidenceHolders returns every person with evidence at now: tests,
// contact records, applied overrides, visits an area can touch.
func (n *Node) evidenceHolders(now time.Time) map[uint32]struct{} {
	out := map[uint32]struct{}{}
	for p := range n.tests {
		out[p] = struct{}{}
	}
	for p := range n.contacts {
		out[p] = struct{}{}
	}
	n.ov.addApplied(out)
	for i := range n.areas {
		n.areaAffected(i, now, out, false)
	}
	return out
}

// replayViews rebuilds the views fed by events from the log without the
// voided events, then re-evaluates every code that had something in it
// (reasons, a scheduled change, a test) or has evidence now. It runs on the
// writer after the voiding event is durable and applied, so writes wait
// for it, and it holds n.mu while it replays, so readers of the views wait
// too (codes stay readable: they change only at the re-evaluation).
func (n *Node) replayViews(ctx context.Context) error {
	start := time.Now()
	var had []uint32
	for p := uint32(1); p <= n.nPersons.Load(); p++ {
		if s := n.codes.load(p); s.hasDetail() || !s.nextEval().IsZero() || s.lastResult() != health.NoResult {
			had = append(had, p)
		}
	}
	n.mu.Lock()
	last := n.lastSeq
	n.resetViews()
	n.nEvents.Store(0)
	n.nTests.Store(0)
	err := n.store.Scan(ctx, 0, func(e *health.Event) error {
		if !replayed(e.Kind) || n.rc.voided[e.Seq] != 0 {
			n.lastSeq = e.Seq
			n.nEvents.Add(1)
			return nil
		}
		if err := n.applyView(e, nil); err != nil {
			return fmt.Errorf("node: replay event %d: %w", e.Seq, err)
		}
		return nil
	})
	n.visits.Compact()
	n.lastSeq = max(n.lastSeq, last) // a failed scan must not give seqs back
	n.mu.Unlock()
	if err != nil {
		return err
	}
	now := n.now()
	set := n.evidenceHolders(now)
	for _, p := range had {
		set[p] = struct{}{}
	}
	for p := range set {
		if err := n.evaluate(p, now); err != nil {
			return err
		}
	}
	n.log.Info("views replayed without voided events", "voided", len(n.rc.voided), "events", n.nEvents.Load(),
		"codes", len(set), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// RollbackInput names the events to roll back: those of one staff account
// or of one batch (exactly one of Account and Batch), recorded in [From,
// To] (zero: unbounded).
type RollbackInput struct {
	Account string // a username: the events whose actor is the account ("staff:<account>@<region>", or a lab's upload by it)
	Batch   string // a batch id ("b42"): the events of one submission
	From    time.Time
	To      time.Time
	Suspend bool   // also suspend the account (the batch's), in the same transaction
	Reason  string // required, at most 500 bytes
}

// Rollback is a recorded rollback, for review.
type Rollback struct {
	ID            string // "RB-<seq>"
	Seq           uint64 // the rolled_back event
	At            time.Time
	Auditor       Official
	Account       string // the account rolled back, or the batch's
	AccountRegion string
	Batch         string
	From, To      time.Time
	Reason        string
	Events        []uint64       // the voided events, in order (only from Rollback; nil in Rollbacks)
	Count         int            // how many
	Cascaded      int            // of which voided because they depended on another voided event (an approval of a voided request, …)
	ByKind        map[string]int // voided events by kind
	Kept          map[string]int // events named that cannot be rolled back, by kind (enrolments, places, investigation records, …)
	Already       int            // events named that an earlier rollback or appeal had voided
	Persons       []uint32       // the persons told their code was corrected
	Suspend       bool           // a suspension was asked for
	Suspension    uint64         // the account_suspended event written with it; 0 if the account was suspended already
}

// RollbackID formats a rollback event as a rollback id ("RB-42").
func RollbackID(seq uint64) string { return "RB-" + strconv.FormatUint(seq, 10) }

// ParseRollbackID parses a rollback id; ok is false if s is not one.
func ParseRollbackID(s string) (uint64, bool) {
	v, ok := strings.CutPrefix(s, "RB-")
	n, err := strconv.ParseUint(v, 10, 64)
	return n, ok && err == nil && n > 0
}

// rollbackData is the Data of a rolled_back event.
type rollbackData struct {
	Account       string         `json:"account"` // the auditor
	Region        string         `json:"region"`
	Target        string         `json:"target"` // the account rolled back
	TargetRegion  string         `json:"target_region"`
	Batch         string         `json:"batch,omitempty"`
	From          time.Time      `json:"from,omitzero"`
	To            time.Time      `json:"to,omitzero"`
	Reason        string         `json:"reason"`
	Suspend       bool           `json:"suspend,omitempty"`
	Suspension    uint64         `json:"suspension,omitempty"`
	Seqs          string         `json:"seqs"` // ranges
	Cascaded      int            `json:"cascaded,omitempty"`
	ByKind        map[string]int `json:"by_kind"`
	Kept          map[string]int `json:"kept,omitempty"`
	Already       int            `json:"already,omitempty"`
	Persons       string         `json:"persons,omitempty"` // ranges
	PersonsNumber int            `json:"persons_n,omitempty"`
}

// recordSlack is how far out of order Recorded times may be around a
// rollback's range (the clock stepping back): the scan starts and stops
// this much outside it and filters exactly.
const recordSlack = time.Hour

// rollbackable reports whether an event of kind k (with aux) can be rolled
// back: the evidence and decisions that make codes — visits except those
// of investigation trajectories, test results and corrections, risk areas
// and their lifts, proxy bindings, contact records and referral
// acknowledgements, override requests, decisions and alerts. Enrolments,
// places, gate lookups, cases and trajectories (corrected by a new
// trajectory version and its review), accounts, and the recourse events
// themselves cannot.
func rollbackable(k health.EventKind, aux int64) bool {
	switch k {
	case health.EvVisit:
		return health.VisitSource(aux&3) != health.SourceInvestigation
	case health.EvTestResult, health.EvTestCorrected, health.EvRiskDeclared, health.EvRiskLifted, health.EvDependantBound,
		health.EvContactTraced, health.EvReferralAcked,
		health.EvOverrideRequested, health.EvOverrideApproved, health.EvOverrideRefused, health.EvOverrideRevoked,
		health.EvOverrideCleared, health.EvAbuseAlert:
		return true
	}
	return false
}

// cand is an event named by a rollback or an appeal resolution.
type cand struct {
	seq    uint64
	ref    uint64
	aux    int64
	person uint32
	kind   health.EventKind
}

func candOf(e *health.Event) cand {
	return cand{seq: e.Seq, ref: e.Ref, aux: e.Aux, person: e.Person, kind: e.Kind}
}

// staffOf parses a staff actor: "staff:<username>@<region>", or a lab's
// upload by one, "lab:<lab>/staff:<username>@<region>". ok is false for
// any other actor (a person, the node).
func staffOf(actor string) (username, region, lab string, ok bool) {
	if rest, isLab := strings.CutPrefix(actor, "lab:"); isLab {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", "", "", false
		}
		lab, actor = rest[:i], rest[i+1:]
	}
	rest, found := strings.CutPrefix(actor, "staff:")
	if !found {
		return "", "", "", false
	}
	at := strings.LastIndexByte(rest, '@')
	if at <= 0 || at == len(rest)-1 {
		return "", "", "", false
	}
	return rest[:at], rest[at+1:], lab, true
}

// rollbackTarget is the account whose events a rollback names.
type rollbackTarget struct {
	account, region string
	first           uint64 // a batch's first event
}

// actedBy reports whether actor is the target account (itself or through a lab).
func (t rollbackTarget) actedBy(actor string) bool {
	u, r, _, ok := staffOf(actor)
	return ok && u == t.account && r == t.region
}

// RollBack voids events of one staff account (Account, recorded in [From,
// To]) or of one batch, and recomputes the codes by replaying the views
// without them; with Suspend the account (the batch's) is suspended in the
// same transaction. The auditor's region must be strictly above the
// account's (staff.Above): Permission otherwise, and nothing is written.
// Events that cannot be rolled back (see rollbackable) are counted as kept;
// events that depend on a voided one (the approval of a voided override
// request, the lift of a voided area, the acknowledgement of a voided
// contact record) are voided with it. The persons whose events were voided
// or whose code cited one are told (Notices). It returns Invalid for a bad
// input (both or neither of Account and Batch, a malformed batch id, a
// missing reason, From after To, a batch not submitted by a staff
// account), NotFound for an unknown account or batch, and Conflict when
// nothing is left to roll back. If the replay fails, the rollback is
// recorded (and applied at the next start) and the error says so.
func (n *Node) RollBack(ctx context.Context, auditor Official, in RollbackInput) (Rollback, error) {
	switch {
	case (in.Account == "") == (in.Batch == ""):
		return Rollback{}, health.Errorf(health.Invalid, "account_or_batch", "account", "give exactly one of account and batch")
	case !in.From.IsZero() && !in.To.IsZero() && in.From.After(in.To):
		return Rollback{}, health.Errorf(health.Invalid, "invalid_interval", "to", "must not be before from")
	}
	if err := checkText("reason", in.Reason, 500, true); err != nil {
		return Rollback{}, err
	}
	if auditor.Account == "" || staff.LevelOf(auditor.Region) == 0 {
		return Rollback{}, health.Errorf(health.Permission, "invalid_official", "", "a rollback needs a named auditor of a county or above")
	}
	tgt, err := n.rollbackTarget(ctx, in)
	if err != nil {
		return Rollback{}, err
	}
	if !staff.Above(auditor.Region, tgt.region) || auditor.Account == tgt.account {
		return Rollback{}, health.Errorf(health.Permission, "not_above", "",
			"rolling back account %s (region %s) needs an auditor of a region above it; %s is of region %s", tgt.account, tgt.region, auditor.Account, auditor.Region)
	}
	if in.Suspend {
		if _, err := n.Account(tgt.account); err != nil {
			return Rollback{}, err
		}
	}
	var cands []cand
	last, err := n.scanRollback(ctx, in, tgt, &cands)
	if err != nil {
		return Rollback{}, err
	}
	var seq uint64
	var replayErr error
	err = n.submitSolo(ctx, func(g *group) error {
		all := cands
		if in.Account != "" && last < n.lastSeq {
			// Events the account recorded since the scan.
			more := slices.Clone(cands)
			if _, err := n.scanRollbackAfter(ctx, in, tgt, last, &more); err != nil {
				return err
			}
			all = more
		}
		plan := n.planVoids(all, func(c cand) bool { return rollbackable(c.kind, c.aux) })
		if len(plan.seqs) == 0 {
			return health.Errorf(health.Conflict, "nothing_to_roll_back", "", "no event of %s in the range can be rolled back (%d already rolled back, %d that cannot be)",
				tgt.account, plan.already, sum(plan.kept))
		}
		persons := n.personsOf(plan)
		d := rollbackData{Account: auditor.Account, Region: auditor.Region, Target: tgt.account, TargetRegion: tgt.region, Batch: in.Batch,
			From: in.From.UTC(), To: in.To.UTC(), Reason: in.Reason, Suspend: in.Suspend, Seqs: formatRanges(plan.seqs), Cascaded: plan.cascaded,
			ByKind: plan.byKind, Kept: plan.kept, Already: plan.already, Persons: formatRanges(persons), PersonsNumber: len(persons)}
		if len(d.Kept) == 0 {
			d.Kept = nil
		}
		b := batchID(g)
		if in.Suspend {
			acct, err := n.Account(tgt.account)
			if err != nil {
				return err
			}
			if acct.Status == staff.Active {
				data, err := json.Marshal(accountData{Username: acct.Username, Reason: in.Reason})
				if err != nil {
					return err
				}
				d.Suspension = g.add(health.Event{Kind: health.EvAccountSuspended, At: g.now, Region: accountRegion(acct.Region),
					Actor: auditor.actor(), Batch: b, Data: data})
			}
		}
		data, err := json.Marshal(d)
		if err != nil {
			return err
		}
		seq = g.add(health.Event{Kind: health.EvRolledBack, At: g.now, Region: accountRegion(auditor.Region), Aux: int64(len(plan.seqs)),
			Actor: auditor.actor(), Batch: b, Data: data})
		return nil
	}, func() { replayErr = n.replayViews(context.WithoutCancel(ctx)) })
	if err != nil {
		return Rollback{}, err
	}
	rb, err := n.Rollback(RollbackID(seq))
	if err != nil {
		return Rollback{}, err
	}
	if replayErr != nil {
		n.log.Error("replay after rollback", "rollback", rb.ID, "err", replayErr)
		return rb, fmt.Errorf("node: rollback %s is recorded but the views could not be replayed (the next start will): %w", rb.ID, replayErr)
	}
	return rb, nil
}

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

// rollbackTarget finds the account a rollback names: the account itself,
// or the actor of the batch's first event.
func (n *Node) rollbackTarget(ctx context.Context, in RollbackInput) (rollbackTarget, error) {
	if in.Account != "" {
		acct, err := n.Account(in.Account)
		if err != nil {
			return rollbackTarget{}, err
		}
		return rollbackTarget{account: acct.Username, region: acct.Region}, nil
	}
	// A batch id is the seq of its request's first event ("b42"), and a
	// request's events are consecutive (batchID).
	first, err := strconv.ParseUint(strings.TrimPrefix(in.Batch, "b"), 10, 64)
	if !strings.HasPrefix(in.Batch, "b") || err != nil || first == 0 {
		return rollbackTarget{}, health.Errorf(health.Invalid, "invalid_batch", "batch", "%q is not a batch id (b<n>)", truncateText(in.Batch, 40))
	}
	e, err := n.store.Event(ctx, first)
	if err != nil || e.Batch != in.Batch {
		if err == nil || isNotFound(err) {
			return rollbackTarget{}, health.Errorf(health.NotFound, "unknown_batch", "batch", "no batch %s", in.Batch)
		}
		return rollbackTarget{}, err
	}
	u, r, _, ok := staffOf(e.Actor)
	if !ok {
		return rollbackTarget{}, health.Errorf(health.Invalid, "not_staff_batch", "batch",
			"batch %s was submitted by %s, not by a staff account; a person's own records are corrected by appeal", in.Batch, e.Actor)
	}
	return rollbackTarget{account: u, region: r, first: first}, nil
}

// scanRollback appends to out the events the rollback names and returns
// the last seq it read. An account's are found from the last event
// recorded before From (a binary search over seqs: Recorded grows with
// seq) to the first recorded after To, a batch's from its first event to
// its last.
func (n *Node) scanRollback(ctx context.Context, in RollbackInput, tgt rollbackTarget, out *[]cand) (uint64, error) {
	if in.Batch != "" {
		return n.scanRollbackAfter(ctx, in, tgt, tgt.first-1, out)
	}
	var after uint64
	if !in.From.IsZero() {
		var err error
		if after, err = n.lastRecordedBefore(ctx, in.From.Add(-recordSlack)); err != nil {
			return 0, err
		}
	}
	return n.scanRollbackAfter(ctx, in, tgt, after, out)
}

func (n *Node) scanRollbackAfter(ctx context.Context, in RollbackInput, tgt rollbackTarget, after uint64, out *[]cand) (uint64, error) {
	last := after
	err := n.store.Scan(ctx, after, func(e *health.Event) error {
		if in.Batch != "" && e.Batch != in.Batch {
			return errStopScan
		}
		if !in.To.IsZero() && e.Recorded.After(in.To.Add(recordSlack)) {
			return errStopScan
		}
		last = e.Seq
		switch {
		case in.Batch == "" && !tgt.actedBy(e.Actor):
		case e.Recorded.Before(in.From), !in.To.IsZero() && e.Recorded.After(in.To):
		default:
			*out = append(*out, candOf(e))
		}
		return nil
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	if err != nil {
		return 0, fmt.Errorf("node: rollback scan: %w", err)
	}
	return last, nil
}

// lastRecordedBefore returns the last seq recorded before t (0 if none),
// by a binary search over the log.
func (n *Node) lastRecordedBefore(ctx context.Context, t time.Time) (uint64, error) {
	hi, err := n.store.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	lo := uint64(0)
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		e, err := n.store.Event(ctx, mid)
		if err != nil {
			return 0, fmt.Errorf("node: rollback: find the start of the range: %w", err)
		}
		if e.Recorded.Before(t) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// voidPlan is the set of events a rollback or an appeal resolution voids.
type voidPlan struct {
	seqs     []uint64 // sorted
	set      map[uint64]struct{}
	work     []cand // the voided events, direct first, then the dependents
	byKind   map[string]int
	kept     map[string]int
	already  int
	cascaded int
}

// planVoids computes the events to void among cands (those voidable allows
// and no earlier void took), with their dependents. Only the writer calls it.
func (n *Node) planVoids(cands []cand, voidable func(cand) bool) voidPlan {
	p := voidPlan{set: map[uint64]struct{}{}, byKind: map[string]int{}, kept: map[string]int{}}
	for _, c := range cands {
		switch {
		case !voidable(c):
			p.kept[c.kind.String()]++
		case n.rc.voided[c.seq] != 0:
			p.already++
		default:
			if _, dup := p.set[c.seq]; !dup {
				p.set[c.seq] = struct{}{}
				p.work = append(p.work, c)
			}
		}
	}
	for i := 0; i < len(p.work); i++ {
		c := p.work[i]
		p.byKind[c.kind.String()]++
		for _, d := range n.dependents(c) {
			if _, dup := p.set[d.seq]; dup || n.rc.voided[d.seq] != 0 {
				continue
			}
			p.set[d.seq] = struct{}{}
			p.work = append(p.work, d)
			p.cascaded++
		}
	}
	p.seqs = make([]uint64, 0, len(p.set))
	for s := range p.set {
		p.seqs = append(p.seqs, s)
	}
	slices.Sort(p.seqs)
	return p
}

// dependents returns the events in the views that refer to c and cannot
// stand without it: the decisions and alerts of an override request, the
// lift of a risk area, the acknowledgement of the referral a contact
// record made. (A test correction stands without the version it
// corrects: it is then the sample's only version.)
func (n *Node) dependents(c cand) []cand {
	var out []cand
	switch c.kind {
	case health.EvOverrideRequested:
		o := n.ov.byID[c.seq]
		if o == nil {
			return nil
		}
		for _, d := range []struct {
			dec  *OverrideDecision
			kind health.EventKind
		}{{o.Approval, health.EvOverrideApproved}, {o.Refusal, health.EvOverrideRefused}, {o.Revocation, health.EvOverrideRevoked}, {o.Clearance, health.EvOverrideCleared}} {
			if d.dec != nil {
				out = append(out, cand{seq: d.dec.Seq, ref: o.Seq, kind: d.kind})
			}
		}
		for _, a := range o.Alerts {
			out = append(out, cand{seq: a, ref: o.Seq, kind: health.EvAbuseAlert})
		}
	case health.EvRiskDeclared:
		for _, a := range n.areas {
			if a.Seq == c.seq && a.Lifted != 0 {
				out = append(out, cand{seq: a.Lifted, ref: a.Seq, kind: health.EvRiskLifted})
			}
		}
	case health.EvContactTraced:
		if r := n.referralBySeq[c.seq]; r != nil && r.Acked != 0 {
			out = append(out, cand{seq: r.Acked, ref: c.seq, person: r.Person, kind: health.EvReferralAcked})
		}
	}
	return out
}

// personsOf returns the persons a plan concerns, sorted: those its events
// are about (an override's persons for its request, decisions and alerts)
// and those whose code now cites one of them (a risk area's).
func (n *Node) personsOf(p voidPlan) []uint32 {
	set := map[uint32]struct{}{}
	add := func(q uint32) {
		if q != 0 {
			set[q] = struct{}{}
		}
	}
	for _, c := range p.work {
		switch c.kind {
		case health.EvDependantBound:
			add(c.person)
			add(uint32(c.aux))
		case health.EvOverrideRequested:
			if o := n.ov.byID[c.seq]; o != nil {
				for _, q := range o.Persons {
					add(q)
				}
			}
		case health.EvOverrideApproved, health.EvOverrideRefused, health.EvOverrideRevoked, health.EvOverrideCleared, health.EvAbuseAlert:
			if o := n.ov.byID[c.ref]; o != nil {
				for _, q := range o.Persons {
					add(q)
				}
			}
		default:
			add(c.person)
		}
	}
	n.codes.mu.RLock()
	for q, code := range n.codes.detail {
	cites:
		for _, r := range code.Reasons {
			for _, ev := range r.Evidence {
				if _, ok := p.set[ev]; ok {
					add(q)
					break cites
				}
			}
		}
	}
	n.codes.mu.RUnlock()
	out := make([]uint32, 0, len(set))
	for q := range set {
		out = append(out, q)
	}
	slices.Sort(out)
	return out
}

// voidsOf returns the events a rolled_back or appeal_resolved event voids.
func voidsOf(e *health.Event) ([]uint64, error) {
	var d struct {
		Seqs string `json:"seqs"`
		Void string `json:"void"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, err
	}
	if e.Kind == health.EvRolledBack {
		return parseRanges[uint64](d.Seqs)
	}
	return parseRanges[uint64](d.Void)
}

// noteRollback folds a rolled_back event: its voids, its record and the
// notices of its persons. It returns the persons.
func (n *Node) noteRollback(e *health.Event) ([]uint32, error) {
	var d rollbackData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, fmt.Errorf("rollback data: %w", err)
	}
	seqs, err := parseRanges[uint64](d.Seqs)
	if err != nil {
		return nil, fmt.Errorf("rollback seqs: %w", err)
	}
	persons, err := parseRanges[uint32](d.Persons)
	if err != nil {
		return nil, fmt.Errorf("rollback persons: %w", err)
	}
	for _, s := range seqs {
		n.rc.voided[s] = e.Seq
	}
	rb := &Rollback{ID: RollbackID(e.Seq), Seq: e.Seq, At: e.Recorded, Auditor: Official{Account: d.Account, Region: d.Region},
		Account: d.Target, AccountRegion: d.TargetRegion, Batch: d.Batch, From: d.From, To: d.To, Reason: d.Reason,
		Events: seqs, Count: len(seqs), Cascaded: d.Cascaded, ByKind: d.ByKind, Kept: d.Kept, Already: d.Already,
		Persons: persons, Suspend: d.Suspend, Suspension: d.Suspension}
	n.rc.rollbacks = append(n.rc.rollbacks, rb)
	n.rc.rbByID[e.Seq] = rb
	for _, p := range persons {
		n.rc.notify(p, Notice{Seq: e.Seq, At: e.Recorded, Kind: NoticeCodeCorrected, Ref: rb.ID, Region: d.Region})
	}
	return persons, nil
}

// view copies a rollback for callers; events only if asked.
func (rb *Rollback) view(events bool) Rollback {
	c := *rb
	c.Events = nil
	if events {
		c.Events = slices.Clone(rb.Events)
	}
	c.ByKind, c.Kept = cloneCounts(rb.ByKind), cloneCounts(rb.Kept)
	c.Persons = slices.Clone(rb.Persons)
	return c
}

// Rollbacks lists the rollbacks, newest first, without their event lists.
func (n *Node) Rollbacks() []Rollback {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]Rollback, 0, len(n.rc.rollbacks))
	for i := len(n.rc.rollbacks) - 1; i >= 0; i-- {
		out = append(out, n.rc.rollbacks[i].view(false))
	}
	return out
}

// Rollback returns one rollback with the events it voided, or NotFound.
func (n *Node) Rollback(id string) (Rollback, error) {
	seq, ok := ParseRollbackID(id)
	n.mu.RLock()
	defer n.mu.RUnlock()
	rb := n.rc.rbByID[seq]
	if !ok || rb == nil {
		return Rollback{}, health.Errorf(health.NotFound, "unknown_rollback", "id", "no rollback %s", truncateText(id, 40))
	}
	return rb.view(true), nil
}

// Voided returns the rollback ("RB-…") or appeal ("AP-…") that voided
// event seq, or "" if it stands.
func (n *Node) Voided(seq uint64) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	by := n.rc.voided[seq]
	switch {
	case by == 0:
		return ""
	case n.rc.rbByID[by] != nil:
		return RollbackID(by)
	}
	if r := n.rc.apByResolution(by); r != nil {
		return r.ID
	}
	return health.EventID(by)
}

// formatRanges formats sorted, distinct numbers as ranges: "3-7,12".
func formatRanges[T uint32 | uint64](xs []T) string {
	var b strings.Builder
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(xs[i]), 10))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(uint64(xs[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// maxRanged bounds the numbers one ranges string may expand to.
const maxRanged = 1 << 26

// parseRanges parses formatRanges' form; "" is none.
func parseRanges[T uint32 | uint64](s string) ([]T, error) {
	if s == "" {
		return nil, nil
	}
	bits := 64
	var zero T
	if any(zero) == any(uint32(0)) {
		bits = 32
	}
	var out []T
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, bits)
		if err != nil {
			return nil, fmt.Errorf("ranges: %q: %w", part, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, bits); err != nil || b < a {
				return nil, fmt.Errorf("ranges: bad range %q", part)
			}
		}
		if k := len(out); k > 0 && uint64(out[k-1]) >= a {
			return nil, fmt.Errorf("ranges: %q is out of order", part)
		}
		if uint64(len(out))+b-a >= maxRanged {
			return nil, errors.New("ranges: too many numbers")
		}
		for v := a; ; v++ {
			out = append(out, T(v))
			if v == b {
				break
			}
		}
	}
	return out, nil
}

func isNotFound(err error) bool { return errors.Is(err, sqlite.ErrNotFound) }
