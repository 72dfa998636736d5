package node

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	"healthcode/internal/health"
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
	Seq            uint64    `json:"-"`
	Opened         time.Time `json:"-"`
	Actor          string    `json:"-"`
	// Versions of the trajectory, oldest first; the last is current.
	Versions []Trajectory `json:"-"`
}

// Transport details a stop on a train, flight or bus.
type Transport struct {
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
}

// Trajectory is one version of a case's stops.
type Trajectory struct {
	Version  int       `json:"version"`
	Seq      uint64    `json:"-"`
	Actor    string    `json:"-"`
	Recorded time.Time `json:"-"`
	Stops    []Stop    `json:"stops"`
}

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
		c := Case{ID: fmt.Sprintf("%s%03d", prefix, k), Person: in.Person, Classification: in.Classification,
			Onset: in.Onset, FirstPositive: in.FirstPositive, Site: in.Site, IsolatedAt: in.IsolatedAt}
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

// StopInput is one stop of a trajectory.
type StopInput struct {
	Place     uint32
	From, To  time.Time
	Transport *Transport
}

// ReplaceStops records a new version of a case's trajectory. The previous
// version's stops are withdrawn from the visit index (they stay in the log
// and in the case's history); the new stops become investigation visits.
func (n *Node) ReplaceStops(ctx context.Context, actor, caseID string, in []StopInput) (Trajectory, error) {
	now := n.now()
	nPlaces := n.nPlaces.Load()
	for i, s := range in {
		f := func(name string) string { return fmt.Sprintf("stops[%d].%s", i, name) }
		switch {
		case s.Place == 0 || s.Place > nPlaces:
			return Trajectory{}, health.Errorf(health.NotFound, "unknown_place", f("place_id"), "no place %s", health.PlaceID(s.Place))
		case s.From.IsZero() || s.To.IsZero() || !s.To.After(s.From) || s.To.Sub(s.From) > 72*time.Hour:
			return Trajectory{}, health.Errorf(health.Invalid, "invalid_interval", f("to"), "a stop needs from < to, at most 72h apart")
		case s.From.After(now.Add(n.cfg.ClockSkew)):
			return Trajectory{}, health.Errorf(health.Invalid, "future_time", f("from"), "%s is in the future", health.FormatTime(s.From))
		case s.Transport != nil && (s.Transport.Trip == "" || len(s.Transport.Trip) > 40 || s.Transport.Row < 0 || s.Transport.Row > 200):
			return Trajectory{}, health.Errorf(health.Invalid, "invalid_transport", f("transport"), "a transport stop needs a trip (number and date, up to 40 characters) and a row from 0 to 200")
		}
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
		// Seqs are consecutive within the group: the stops event, one
		// withdrawal per old stop, then one visit per new stop.
		base := g.nextSeq
		stops := make([]Stop, len(in))
		for i, s := range in {
			stops[i] = Stop{Place: s.Place, From: s.From.UTC(), To: s.To.UTC(), Transport: s.Transport, Visit: base + 1 + uint64(len(old)) + uint64(i)}
		}
		tr := Trajectory{Version: len(c.Versions) + 1, Stops: stops}
		data, err := json.Marshal(stopsData{CaseID: caseID, Version: tr.Version, Stops: stops})
		if err != nil {
			return err
		}
		b := batchID(g)
		tr.Seq = g.add(health.Event{Kind: health.EvStopsReplaced, At: g.now, Person: c.Person, Ref: c.Seq, Actor: actor, Batch: b, Data: data})
		for _, s := range old {
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
		c.Versions = append(c.Versions, Trajectory{Version: d.Version, Seq: e.Seq, Actor: e.Actor, Recorded: e.Recorded, Stops: d.Stops})
	case health.EvVisitWithdrawn:
		n.visits.Withdraw(e.Ref)
		if affected != nil {
			affected[e.Person] = struct{}{}
		}
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
	before := 48 * time.Hour
	if v, ok := n.rules.Params["infectious_before"].(string); ok {
		if d, err := time.ParseDuration(v); err == nil {
			before = d
		}
	}
	return start.Add(-before), c.IsolatedAt
}

// Trace finds the close (depth 1) or close and secondary (depth 2)
// contacts of the given cases, per DESIGN.md §5, over scans, stops and
// other visits in the index. A contact who is a case is quarantined from
// their isolation on.
func (n *Node) Trace(caseIDs []string, depth int) ([]trace.Contact, error) {
	if depth != 1 && depth != 2 {
		return nil, health.Errorf(health.Invalid, "invalid_depth", "depth", "must be 1 (close contacts) or 2 (close and secondary)")
	}
	if len(caseIDs) == 0 || len(caseIDs) > 10000 {
		return nil, health.Errorf(health.Invalid, "invalid_cases", "cases", "give 1 to 10000 case ids")
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	seeds := make([]trace.Seed, 0, len(caseIDs))
	isolated := map[uint32]time.Time{}
	for _, c := range n.cases {
		isolated[c.Person] = c.IsolatedAt
	}
	for i, id := range caseIDs {
		c, ok := n.cases[id]
		if !ok {
			return nil, health.Errorf(health.NotFound, "unknown_case", fmt.Sprintf("cases[%d]", i), "no case %s", id)
		}
		from, to := n.infectiousWindow(c)
		seeds = append(seeds, trace.Seed{Person: c.Person, From: from, To: to, Case: c.ID})
	}
	p := trace.Params{
		MinOverlap: func(place uint32) time.Duration {
			return n.rules.PlaceKinds[n.places[place].Kind].MinOverlap
		},
		QuarantineAt: func(person uint32) time.Time { return isolated[person] },
	}
	return n.visits.Trace(seeds, depth, p), nil
}
