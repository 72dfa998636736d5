package node

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/staff"
	"healthcode/internal/trace"
)

// Case classifications.
const (
	Confirmed    = "confirmed"
	Asymptomatic = "asymptomatic"
)

// Case is an epidemiological investigation of one person (流调). Identity
// stays in the vault; the case carries only the person index.
type Case struct {
	ID             string    `json:"case_id"`
	Person         uint32    `json:"-"`
	Classification string    `json:"classification"`
	Onset          time.Time `json:"onset,omitzero"`
	FirstPositive  time.Time `json:"first_positive,omitzero"`
	Site           string    `json:"site"`
	IsolatedAt     time.Time `json:"isolated_at"`
	// Region is the county that investigates the case: the person's home
	// county unless given when the case is opened.
	Region string    `json:"region,omitempty"`
	Seq    uint64    `json:"-"`
	Opened time.Time `json:"-"`
	Actor  string    `json:"-"`
	// Versions of the trajectory, oldest first; the last is current.
	Versions []Trajectory `json:"-"`
	// Assignments, oldest first; the last names who investigates now.
	Assignments []Assignment `json:"-"`
}

// Assignment hands a case to an investigator, possibly of another region
// (remote help).
type Assignment struct {
	Region       string    `json:"region"`
	Investigator string    `json:"investigator"`
	Seq          uint64    `json:"-"`
	Actor        string    `json:"-"`
	At           time.Time `json:"-"`
}

// VisibleTo reports whether a staff account of region acct may work on the
// case: its region covers the case's county or a county the case is
// assigned to (remote help).
func (c *Case) VisibleTo(acct string) bool {
	if staff.Covers(acct, c.Region) {
		return true
	}
	for _, a := range c.Assignments {
		if staff.Covers(acct, a.Region) {
			return true
		}
	}
	return false
}

// Transport details a stop on a train, flight or bus.
type Transport struct {
	Mode     string `json:"mode,omitempty"`     // train, flight or bus; inferred from the trip number if empty
	Trip     string `json:"trip"`               // train/flight/bus number and date, e.g. "G1234 2022-06-10"
	Carriage string `json:"carriage,omitempty"` // train or bus
	Row      int    `json:"row,omitempty"`      // flight
	Seat     string `json:"seat,omitempty"`
}

// Stop is one place on a case's trajectory.
type Stop struct {
	Place     uint32     `json:"place"`
	From      time.Time  `json:"from"`
	To        time.Time  `json:"to"`
	Transport *Transport `json:"transport,omitempty"`
	Visit     uint64     `json:"visit"` // the visit event that puts the stop in the visit index
	// Actor entered the stop: the version's author, or for a supplement
	// the supplying region's account. Empty in old events: the version's.
	Actor string `json:"actor,omitempty"`
	// SelfReported: the person entered it; Actor confirmed it.
	SelfReported bool `json:"self_reported,omitempty"`
	// Home: the person's home address, never published.
	Home bool `json:"home,omitempty"`
}

// Trajectory is one version of a case's stops.
type Trajectory struct {
	Version  int       `json:"version"`
	Seq      uint64    `json:"-"`
	Actor    string    `json:"-"`
	Recorded time.Time `json:"-"`
	Stops    []Stop    `json:"stops"`
	Review   *Review   `json:"-"` // the human review, nil while pending
}

// Review is a reviewer's decision on a trajectory version.
type Review struct {
	Decision string    `json:"decision"` // approved or returned
	Comment  string    `json:"comment,omitempty"`
	Findings []string  `json:"findings,omitempty"` // the automatic findings' codes the reviewer saw
	Seq      uint64    `json:"-"`
	Actor    string    `json:"-"`
	At       time.Time `json:"-"`
}

// The review decisions.
const (
	Approved = "approved"
	Returned = "returned"
)

type caseData struct {
	Case
	Person uint32 `json:"person"`
}

type stopsData struct {
	CaseID  string `json:"case_id"`
	Version int    `json:"version"`
	Stops   []Stop `json:"stops"`
}

// CaseInput opens a case.
type CaseInput struct {
	Person         uint32
	Classification string
	Onset          time.Time // confirmed cases
	FirstPositive  time.Time // asymptomatic cases
	Site           string    // the isolation site's code, e.g. GZ01
	IsolatedAt     time.Time
	Region         string // the investigating county; "" = the person's home county
}

var siteRE = regexp.MustCompile(`^[A-Z]{2}[0-9A-Z]{1,6}$`)

// OpenCase opens a case and returns it with its id: the isolation site's
// code, the CST date of isolation and a three-digit sequence number for that
// site and day (GZ01-20220611-007).
func (n *Node) OpenCase(ctx context.Context, actor string, in CaseInput) (Case, error) {
	now := n.now()
	if in.Person == 0 || in.Person > n.nPersons.Load() {
		return Case{}, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(in.Person))
	}
	start := in.Onset
	switch in.Classification {
	case Confirmed:
		if in.Onset.IsZero() {
			return Case{}, health.Errorf(health.Invalid, "missing_field", "onset", "is required for a confirmed case")
		}
	case Asymptomatic:
		if in.FirstPositive.IsZero() {
			return Case{}, health.Errorf(health.Invalid, "missing_field", "first_positive", "is required for an asymptomatic case")
		}
		start = in.FirstPositive
	default:
		return Case{}, health.Errorf(health.Invalid, "invalid_classification", "classification", "must be confirmed or asymptomatic")
	}
	if !siteRE.MatchString(in.Site) {
		return Case{}, health.Errorf(health.Invalid, "invalid_site", "site", "must be an isolation site code like GZ01 (two capital letters, then 1 to 6 capitals or digits)")
	}
	for f, t := range map[string]time.Time{"onset": in.Onset, "first_positive": in.FirstPositive, "isolated_at": in.IsolatedAt} {
		if t.After(now.Add(n.cfg.ClockSkew)) {
			return Case{}, health.Errorf(health.Invalid, "future_time", f, "%s is in the future", health.FormatTime(t))
		}
	}
	if in.IsolatedAt.IsZero() {
		return Case{}, health.Errorf(health.Invalid, "missing_field", "isolated_at", "is required")
	}
	if now.Sub(start) > 60*24*time.Hour || in.IsolatedAt.Before(start.Add(-30*24*time.Hour)) {
		return Case{}, health.Errorf(health.Invalid, "invalid_time", "isolated_at", "onset, first positive and isolation must be within 60 days and in order")
	}
	if in.Region != "" {
		if _, err := n.validRegion("region", in.Region); err != nil {
			return Case{}, err
		}
	}
	var out Case
	err := n.submitSolo(ctx, func(g *group) error {
		for _, c := range n.cases {
			if c.Person == in.Person {
				return health.Errorf(health.Conflict, "case_exists", "person_id", "%s already has case %s", health.PersonID(in.Person), c.ID)
			}
		}
		day := in.IsolatedAt.In(health.CST).Format("20060102")
		prefix := in.Site + "-" + day + "-"
		k := n.casesPerDay[prefix] + 1
		if k > 999 {
			return health.Errorf(health.Conflict, "site_day_full", "site", "site %s has 999 cases on %s already", in.Site, day)
		}
		reg := in.Region
		if reg == "" {
			reg = countyOf(n.home(in.Person))
		}
		c := Case{ID: fmt.Sprintf("%s%03d", prefix, k), Person: in.Person, Classification: in.Classification,
			Onset: in.Onset, FirstPositive: in.FirstPositive, Site: in.Site, IsolatedAt: in.IsolatedAt, Region: reg}
		data, err := json.Marshal(caseData{Case: c, Person: in.Person})
		if err != nil {
			return err
		}
		c.Seq = g.add(health.Event{Kind: health.EvCaseOpened, At: start, Until: in.IsolatedAt, Person: in.Person, Actor: actor, Batch: batchID(g), Data: data})
		out = c
		return nil
	}, nil)
	return out, err
}

// StopInput is one stop of a trajectory: a place of the gazetteer, or, for
// transport, the trip section (the place is found or added from Transport).
type StopInput struct {
	Place     uint32
	From, To  time.Time
	Transport *Transport
	Home      bool
}

// ReplaceStops records a new version of a case's trajectory. The previous
// version's stops are withdrawn from the visit index (they stay in the log
// and in the case's history); the new stops become investigation visits.
func (n *Node) ReplaceStops(ctx context.Context, actor, caseID string, in []StopInput) (Trajectory, error) {
	return n.newVersion(ctx, actor, caseID, in, nil, false)
}

// SupplementStops records a new version that adds stops to the current
// ones, with the supplying account (often another region's) on them.
func (n *Node) SupplementStops(ctx context.Context, actor, caseID string, in []StopInput) (Trajectory, error) {
	return n.newVersion(ctx, actor, caseID, in, nil, true)
}

// ConfirmSelfStops records a new version that adds the person's own,
// unconfirmed stops (self-reported visits) to the current ones; the
// self-reported visits are withdrawn, the stops replace them.
func (n *Node) ConfirmSelfStops(ctx context.Context, actor, caseID string, visits []uint64) (Trajectory, error) {
	if len(visits) == 0 || len(visits) > 500 {
		return Trajectory{}, health.Errorf(health.Invalid, "invalid_visits", "visits", "give 1 to 500 visit ids")
	}
	return n.newVersion(ctx, actor, caseID, nil, visits, true)
}

// checkStops validates stop inputs against what needs no view.
func (n *Node) checkStops(in []StopInput, now time.Time) error {
	if len(in) > 500 {
		return health.Errorf(health.Invalid, "too_many_stops", "stops", "a trajectory has at most 500 stops")
	}
	nPlaces := n.nPlaces.Load()
	for i, s := range in {
		f := func(name string) string { return fmt.Sprintf("stops[%d].%s", i, name) }
		switch {
		case s.Transport == nil && (s.Place == 0 || s.Place > nPlaces):
			return health.Errorf(health.NotFound, "unknown_place", f("place_id"), "no place %s", health.PlaceID(s.Place))
		case s.Transport != nil && s.Place != 0:
			return health.Errorf(health.Invalid, "ambiguous_place", f("place_id"), "a transport stop names its trip, not a place")
		case s.From.IsZero() || s.To.IsZero() || !s.To.After(s.From) || s.To.Sub(s.From) > 72*time.Hour:
			return health.Errorf(health.Invalid, "invalid_interval", f("to"), "a stop needs from < to, at most 72h apart")
		case s.From.After(now.Add(n.cfg.ClockSkew)):
			return health.Errorf(health.Invalid, "future_time", f("from"), "%s is in the future", health.FormatTime(s.From))
		}
		if s.Transport != nil {
			if _, err := parseTrip(f("transport"), s.Transport); err != nil {
				return err
			}
		}
	}
	return nil
}

// newVersion writes a trajectory version: in (resolved to places) and the
// self-reported visits confirm, after the current stops if add is set.
func (n *Node) newVersion(ctx context.Context, actor, caseID string, in []StopInput, confirm []uint64, add bool) (Trajectory, error) {
	if err := n.checkStops(in, n.now()); err != nil {
		return Trajectory{}, err
	}
	var out Trajectory
	err := n.submitSolo(ctx, func(g *group) error {
		c, ok := n.cases[caseID]
		if !ok {
			return health.Errorf(health.NotFound, "unknown_case", "case_id", "no case %s", caseID)
		}
		var old []Stop
		if len(c.Versions) > 0 {
			old = c.Versions[len(c.Versions)-1].Stops
		}
		var stops []Stop
		if add {
			stops = slices.Clone(old)
		}
		// Self-reported visits to confirm: the person's own, still live.
		var withdraw []Stop
		for i, seq := range confirm {
			v, ok := n.selfStop(c.Person, seq)
			if !ok {
				return health.Errorf(health.NotFound, "unknown_self_stop", fmt.Sprintf("visits[%d]", i),
					"%s is not an unconfirmed stop of the case's person", health.EventID(seq))
			}
			withdraw = append(withdraw, Stop{Place: v.Place, Visit: v.Seq})
			stops = append(stops, Stop{Place: v.Place, From: v.From, To: v.To, Actor: actor, SelfReported: true})
		}
		// Transport stops: their trip sections, added as places if new.
		b := batchID(g)
		sections := map[string]uint32{}
		for _, s := range in {
			st := Stop{Place: s.Place, From: s.From.UTC(), To: s.To.UTC(), Transport: s.Transport, Actor: actor, Home: s.Home}
			if s.Transport != nil {
				tr, _ := parseTrip("", s.Transport) // checked above
				st.Transport = &tr.Transport
				st.Place = n.sectionPlace(g, sections, tr, actor, b)
			}
			stops = append(stops, st)
		}
		if len(stops) > 500 {
			return health.Errorf(health.Invalid, "too_many_stops", "stops", "a trajectory has at most 500 stops")
		}
		// Seqs are consecutive from here: the stops event, one withdrawal
		// per old stop and confirmed self-report, then one visit per stop.
		base := g.nextSeq
		gone := append(slices.Clone(old), withdraw...)
		for i := range stops {
			stops[i].Visit = base + 1 + uint64(len(gone)) + uint64(i)
		}
		tr := Trajectory{Version: len(c.Versions) + 1, Stops: stops}
		data, err := json.Marshal(stopsData{CaseID: caseID, Version: tr.Version, Stops: stops})
		if err != nil {
			return err
		}
		tr.Seq = g.add(health.Event{Kind: health.EvStopsReplaced, At: g.now, Person: c.Person, Ref: c.Seq, Actor: actor, Batch: b, Data: data})
		for _, s := range gone {
			g.add(health.Event{Kind: health.EvVisitWithdrawn, At: g.now, Person: c.Person, Place: s.Place, Ref: s.Visit, Actor: actor, Batch: b})
		}
		for _, s := range stops {
			g.add(health.Event{Kind: health.EvVisit, At: s.From, Until: s.To, Person: c.Person, Place: s.Place, Ref: tr.Seq,
				Aux: int64(health.SourceInvestigation), Actor: actor, Batch: b})
		}
		tr.Actor, tr.Recorded = actor, g.now
		out = tr
		return nil
	}, nil)
	return out, err
}

// applyCase folds the case events into the views (called by apply).
func (n *Node) applyCase(e *health.Event, affected map[uint32]struct{}) error {
	switch e.Kind {
	case health.EvCaseOpened:
		var d caseData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("case data: %w", err)
		}
		c := d.Case
		c.Person, c.Seq, c.Opened, c.Actor = e.Person, e.Seq, e.Recorded, e.Actor
		if c.Region == "" {
			c.Region = countyOf(n.home(c.Person))
		}
		n.cases[c.ID] = &c
		prefix := c.ID[:len(c.ID)-3]
		n.casesPerDay[prefix]++
	case health.EvStopsReplaced:
		var d stopsData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("stops data: %w", err)
		}
		c, ok := n.cases[d.CaseID]
		if !ok {
			return fmt.Errorf("stops for unknown case %s", d.CaseID)
		}
		for i := range d.Stops {
			if d.Stops[i].Actor == "" {
				d.Stops[i].Actor = e.Actor
			}
		}
		c.Versions = append(c.Versions, Trajectory{Version: d.Version, Seq: e.Seq, Actor: e.Actor, Recorded: e.Recorded, Stops: d.Stops})
		n.alertOverlaps(c, e.Seq)
	case health.EvVisitWithdrawn:
		n.visits.Withdraw(e.Ref)
		if list := n.selfStops[e.Person]; len(list) > 0 {
			n.selfStops[e.Person] = slices.DeleteFunc(list, func(v health.Visit) bool { return v.Seq == e.Ref })
		}
		if affected != nil {
			affected[e.Person] = struct{}{}
		}
	case health.EvStopsReviewed:
		var d reviewData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("review data: %w", err)
		}
		c, ok := n.cases[d.CaseID]
		if !ok || d.Version < 1 || d.Version > len(c.Versions) {
			return fmt.Errorf("review of unknown trajectory %s v%d", d.CaseID, d.Version)
		}
		r := d.Review
		r.Seq, r.Actor, r.At = e.Seq, e.Actor, e.Recorded
		c.Versions[d.Version-1].Review = &r
		n.pub.version++
	case health.EvCaseAssigned:
		var d assignData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("assignment data: %w", err)
		}
		c, ok := n.cases[d.CaseID]
		if !ok {
			return fmt.Errorf("assignment of unknown case %s", d.CaseID)
		}
		a := d.Assignment
		a.Seq, a.Actor, a.At = e.Seq, e.Actor, e.Recorded
		c.Assignments = append(c.Assignments, a)
	}
	return nil
}

// Case returns a case by id.
func (n *Node) Case(id string) (Case, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	c, ok := n.cases[id]
	if !ok {
		return Case{}, health.Errorf(health.NotFound, "unknown_case", "id", "no case %s", id)
	}
	out := *c
	out.Versions = slices.Clone(c.Versions)
	out.Assignments = slices.Clone(c.Assignments)
	return out, nil
}

// InfectiousWindow is a case's infectious period: from infectious_before
// (default 48h) before onset, or before the first positive sample if
// asymptomatic, until isolation.
func (n *Node) infectiousWindow(c *Case) (time.Time, time.Time) {
	start := c.Onset
	if c.Classification == Asymptomatic {
		start = c.FirstPositive
	}
	return start.Add(-n.paramDuration("infectious_before", 48*time.Hour)), c.IsolatedAt
}

// Trace finds the close (depth 1) or close and secondary (depth 2)
// contacts of the given cases, per DESIGN.md §5, over scans, stops and
// other visits in the index. A contact who is a case is quarantined from
// their isolation on, a recorded close contact from the record on.
func (n *Node) Trace(caseIDs []string, depth int) (trace.Result, error) {
	if depth != 1 && depth != 2 {
		return trace.Result{}, health.Errorf(health.Invalid, "invalid_depth", "depth", "must be 1 (close contacts) or 2 (close and secondary)")
	}
	if len(caseIDs) == 0 || len(caseIDs) > 10000 {
		return trace.Result{}, health.Errorf(health.Invalid, "invalid_cases", "cases", "give 1 to 10000 case ids")
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	seeds := make([]trace.Seed, 0, len(caseIDs))
	// A case is isolated from its isolation on; a recorded close contact is
	// quarantined from the first record that found them close.
	isolated := map[uint32]time.Time{}
	for _, c := range n.cases {
		isolated[c.Person] = c.IsolatedAt
	}
	for p, recs := range n.contacts {
		for _, r := range recs {
			if q, ok := isolated[p]; r.Degree == 1 && (!ok || r.Recorded.Before(q)) {
				isolated[p] = r.Recorded
			}
		}
	}
	for i, id := range caseIDs {
		c, ok := n.cases[id]
		if !ok {
			return trace.Result{}, health.Errorf(health.NotFound, "unknown_case", fmt.Sprintf("cases[%d]", i), "no case %s", id)
		}
		from, to := n.infectiousWindow(c)
		seeds = append(seeds, trace.Seed{Person: c.Person, From: from, To: to, Case: c.ID})
	}
	p := trace.Params{
		MinOverlap: func(place uint32) time.Duration {
			return n.rules.PlaceKinds[n.places[place].Kind].MinOverlap
		},
		QuarantineAt: func(person uint32) time.Time { return isolated[person] },
		Near:         n.nearPlaces(),
	}
	return trace.Result{Contacts: n.visits.Trace(seeds, depth, p), Seeds: seeds}, nil
}

// Cases returns every case, newest first (by opening), without their
// version history.
func (n *Node) Cases() []Case {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]Case, 0, len(n.cases))
	for _, c := range n.cases {
		cc := *c
		cc.Versions = nil
		if len(c.Versions) > 0 {
			cc.Versions = []Trajectory{c.Versions[len(c.Versions)-1]}
		}
		cc.Assignments = slices.Clone(c.Assignments)
		out = append(out, cc)
	}
	slices.SortFunc(out, func(a, b Case) int { return cmp.Compare(b.Seq, a.Seq) })
	return out
}
