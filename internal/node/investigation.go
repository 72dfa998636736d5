package node

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"healthcode/internal/chainviz"
	"healthcode/internal/health"
	"healthcode/internal/region"
)

type reviewData struct {
	CaseID  string `json:"case_id"`
	Version int    `json:"version"`
	Review
}

type assignData struct {
	CaseID string `json:"case_id"`
	Assignment
}

// RecordSelfStops records stops a person entered through their own token
// (or a contact's): self-reported visits, unverified, so that they take
// part in tracing (their exposures marked unverified) but never colour a
// code by themselves. They stay unconfirmed until an investigator confirms
// them into a case's trajectory. It returns the visit event ids.
func (n *Node) RecordSelfStops(ctx context.Context, actor string, person uint32, in []StopInput) ([]uint64, error) {
	if person == 0 || person > n.nPersons.Load() {
		return nil, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(person))
	}
	if len(in) == 0 || len(in) > 100 {
		return nil, health.Errorf(health.Invalid, "invalid_stops", "stops", "give 1 to 100 stops")
	}
	for i := range in {
		in[i].Home = false
	}
	if err := n.checkStops(in, n.now()); err != nil {
		return nil, err
	}
	var seqs []uint64
	err := n.submitSolo(ctx, func(g *group) error {
		b := batchID(g)
		pending := map[string]uint32{}
		for _, s := range in {
			place := s.Place
			if s.Transport != nil {
				tr, _ := parseTrip("", s.Transport)
				place = n.sectionPlace(g, pending, tr, actor, b)
			}
			seqs = append(seqs, g.add(health.Event{Kind: health.EvVisit, At: s.From.UTC(), Until: s.To.UTC(), Person: person, Place: place,
				Aux: int64(health.SourceSelfReport) | auxUnverified, Actor: actor, Batch: b}))
		}
		return nil
	}, nil)
	return seqs, err
}

// SelfStops returns a person's unconfirmed self-reported stops.
func (n *Node) SelfStops(p uint32) []health.Visit {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Clone(n.selfStops[p])
}

// selfStop finds a person's live self-reported visit.
func (n *Node) selfStop(p uint32, seq uint64) (health.Visit, bool) {
	for _, v := range n.selfStops[p] {
		if v.Seq == seq {
			return v, true
		}
	}
	return health.Visit{}, false
}

// ReviewStops records a human review of a case's current trajectory
// version: approved (its stops may be published) or returned (sent back
// to the investigator). The reviewer must not be the version's author,
// and a version is reviewed once.
func (n *Node) ReviewStops(ctx context.Context, actor, caseID string, version int, decision, comment string, findings []string) (Review, error) {
	if decision != Approved && decision != Returned {
		return Review{}, health.Errorf(health.Invalid, "invalid_decision", "decision", "must be approved or returned")
	}
	if utf8.RuneCountInString(comment) > 1000 {
		return Review{}, health.Errorf(health.Invalid, "invalid_comment", "comment", "must be at most 1000 characters")
	}
	if decision == Returned && strings.TrimSpace(comment) == "" {
		return Review{}, health.Errorf(health.Invalid, "missing_field", "comment", "say why the trajectory goes back")
	}
	var out Review
	err := n.submitSolo(ctx, func(g *group) error {
		c, ok := n.cases[caseID]
		switch {
		case !ok:
			return health.Errorf(health.NotFound, "unknown_case", "case_id", "no case %s", caseID)
		case len(c.Versions) == 0:
			return health.Errorf(health.Conflict, "no_trajectory", "version", "case %s has no trajectory yet", caseID)
		case version != len(c.Versions):
			return health.Errorf(health.Conflict, "stale_version", "version", "the current version is %d", len(c.Versions))
		}
		tr := &c.Versions[version-1]
		switch {
		case tr.Review != nil:
			return health.Errorf(health.Conflict, "already_reviewed", "version", "version %d was %s by %s", version, tr.Review.Decision, tr.Review.Actor)
		case tr.Actor == actor:
			return health.Errorf(health.Permission, "same_official", "", "a second official reviews: %s wrote version %d", actor, version)
		}
		r := Review{Decision: decision, Comment: comment, Findings: findings}
		data, err := json.Marshal(reviewData{CaseID: caseID, Version: version, Review: r})
		if err != nil {
			return err
		}
		r.Seq = g.add(health.Event{Kind: health.EvStopsReviewed, At: g.now, Person: c.Person, Ref: tr.Seq, Actor: actor, Batch: batchID(g), Data: data})
		r.Actor, r.At = actor, g.now
		out = r
		return nil
	}, nil)
	return out, err
}

// AssignCase hands a case to an investigator of a region (remote help).
// The investigator sees the case and its trajectory, and adds to it with
// SupplementStops.
func (n *Node) AssignCase(ctx context.Context, actor, caseID, reg, investigator string) (Assignment, error) {
	if _, err := n.validRegion("region", reg); err != nil {
		return Assignment{}, err
	}
	investigator = strings.TrimSpace(investigator)
	if investigator == "" || utf8.RuneCountInString(investigator) > 64 {
		return Assignment{}, health.Errorf(health.Invalid, "invalid_investigator", "investigator", "must be 1 to 64 characters")
	}
	var out Assignment
	err := n.submitSolo(ctx, func(g *group) error {
		c, ok := n.cases[caseID]
		if !ok {
			return health.Errorf(health.NotFound, "unknown_case", "case_id", "no case %s", caseID)
		}
		a := Assignment{Region: reg, Investigator: investigator}
		data, err := json.Marshal(assignData{CaseID: caseID, Assignment: a})
		if err != nil {
			return err
		}
		a.Seq = g.add(health.Event{Kind: health.EvCaseAssigned, At: g.now, Person: c.Person, Ref: c.Seq, Actor: actor, Batch: batchID(g), Data: data})
		a.Actor, a.At = actor, g.now
		out = a
		return nil
	}, nil)
	return out, err
}

// Alert tells two counties that their cases were at the same place at the
// same time: a trajectory entered in one overlaps a stop of the other's
// case.
type Alert struct {
	Seq      uint64 // the stops event that raised it
	Case     string // the case whose trajectory was entered
	Other    string // the other county's case
	Place    uint32
	From, To time.Time // the overlap
	Regions  [2]string // the counties of Case and Other
}

// alertOverlaps raises the alerts for case c's new trajectory (stops event
// seq): its stops that overlap a current stop of a case investigated by
// another county. An overlap already alerted is not alerted again.
func (n *Node) alertOverlaps(c *Case, seq uint64) {
	stops := c.Versions[len(c.Versions)-1].Stops
	byPlace := map[uint32][]Stop{}
	for _, s := range stops {
		byPlace[s.Place] = append(byPlace[s.Place], s)
	}
	for _, o := range n.cases {
		if o == c || o.Region == c.Region || len(o.Versions) == 0 {
			continue
		}
		for _, os := range o.Versions[len(o.Versions)-1].Stops {
			for _, s := range byPlace[os.Place] {
				f, t := maxTime(s.From, os.From), minTime(s.To, os.To)
				if !t.After(f) {
					continue
				}
				dup := slices.ContainsFunc(n.alerts, func(a Alert) bool {
					return a.Place == s.Place && a.From.Equal(f) && a.To.Equal(t) &&
						(a.Case == c.ID && a.Other == o.ID || a.Case == o.ID && a.Other == c.ID)
				})
				if !dup {
					n.alerts = append(n.alerts, Alert{Seq: seq, Case: c.ID, Other: o.ID, Place: s.Place, From: f, To: t, Regions: [2]string{c.Region, o.Region}})
				}
			}
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Alerts lists the cross-region alerts for counties inside region (either
// side), oldest first.
func (n *Node) Alerts(reg string) []Alert {
	n.mu.RLock()
	defer n.mu.RUnlock()
	prefix := region.Prefix(reg)
	var out []Alert
	for _, a := range n.alerts {
		if strings.HasPrefix(a.Regions[0], prefix) || strings.HasPrefix(a.Regions[1], prefix) {
			out = append(out, a)
		}
	}
	return out
}

// SharedStop is a stop a case shares with another case of its chain.
type SharedStop struct {
	Place       uint32
	Other       string    // the other case
	From, To    time.Time // the overlap
	LowPriority bool      // before this case's infection + min_incubation: it cannot have spread here
	Home        bool      // the home address of either case (never published)
}

// ChainMember is a case of a chain of transmission.
type ChainMember struct {
	Case      string
	Region    string
	Start     time.Time // onset, or first positive sample
	Infection time.Time // the inferred time of infection
	// Basis: "shared_stop" (the earliest overlap with a case whose start
	// came first) or "incubation" (start minus min_incubation: no earlier
	// case shares a stop).
	Basis  string
	Shared []SharedStop
}

// Chain is the cases linked to a case by shared stops, directly or
// through each other, in the inferred order of infection.
type Chain struct {
	Case    string
	Members []ChainMember
}

// Chain finds the chain of a case: the cases that share overlapping stops
// with it (current trajectories, reviewed or not), transitively, each with
// the stops it shares, ordered by the inferred infection time.
func (n *Node) Chain(caseID string) (Chain, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	root, ok := n.cases[caseID]
	if !ok {
		return Chain{}, health.Errorf(health.NotFound, "unknown_case", "id", "no case %s", caseID)
	}
	near := n.nearPlaces()
	// Stops of all cases by place (a flight row also lists the rows near it).
	type ref struct {
		c *Case
		s Stop
	}
	byPlace := map[uint32][]ref{}
	for _, c := range n.cases {
		if len(c.Versions) == 0 {
			continue
		}
		for _, s := range c.Versions[len(c.Versions)-1].Stops {
			byPlace[s.Place] = append(byPlace[s.Place], ref{c, s})
			for _, p := range near[s.Place] {
				byPlace[p] = append(byPlace[p], ref{c, s})
			}
		}
	}
	shared := func(c *Case) []SharedStop {
		var out []SharedStop
		if len(c.Versions) == 0 {
			return nil
		}
		for _, s := range c.Versions[len(c.Versions)-1].Stops {
			for _, r := range byPlace[s.Place] {
				if r.c == c {
					continue
				}
				if f, t := maxTime(s.From, r.s.From), minTime(s.To, r.s.To); t.After(f) {
					out = append(out, SharedStop{Place: s.Place, Other: r.c.ID, From: f, To: t, Home: s.Home || r.s.Home})
				}
			}
		}
		return out
	}
	// The component of the root.
	members := map[string][]SharedStop{root.ID: shared(root)}
	queue := []string{root.ID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, s := range members[id] {
			if _, ok := members[s.Other]; !ok {
				members[s.Other] = shared(n.cases[s.Other])
				queue = append(queue, s.Other)
			}
		}
	}
	incubation := n.paramDuration("min_incubation", 48*time.Hour)
	out := Chain{Case: caseID}
	for id, ss := range members {
		c := n.cases[id]
		start := c.Onset
		if c.Classification == Asymptomatic {
			start = c.FirstPositive
		}
		m := ChainMember{Case: id, Region: c.Region, Start: start, Infection: start.Add(-incubation), Basis: "incubation"}
		for _, s := range ss {
			o := n.cases[s.Other]
			ostart := o.Onset
			if o.Classification == Asymptomatic {
				ostart = o.FirstPositive
			}
			if ostart.Before(start) && (m.Basis == "incubation" || s.From.Before(m.Infection)) {
				m.Infection, m.Basis = s.From, "shared_stop"
			}
		}
		for i := range ss {
			ss[i].LowPriority = ss[i].To.Before(m.Infection.Add(incubation))
		}
		slices.SortFunc(ss, func(a, b SharedStop) int {
			return cmp.Or(a.From.Compare(b.From), cmp.Compare(a.Place, b.Place), strings.Compare(a.Other, b.Other))
		})
		m.Shared = ss
		out.Members = append(out.Members, m)
	}
	slices.SortFunc(out.Members, func(a, b ChainMember) int {
		return cmp.Or(a.Infection.Compare(b.Infection), a.Start.Compare(b.Start), strings.Compare(a.Case, b.Case))
	})
	return out, nil
}

// stopLowPriority reports, for each stop of a trajectory, whether it lies
// before the case's infection (as the chain infers it) plus min_incubation.
func (n *Node) stopLowPriority(ch Chain, stops []Stop) []bool {
	var inf time.Time
	for _, m := range ch.Members {
		if m.Case == ch.Case {
			inf = m.Infection
		}
	}
	edge := inf.Add(n.paramDuration("min_incubation", 48*time.Hour))
	out := make([]bool, len(stops))
	for i, s := range stops {
		out[i] = s.To.Before(edge)
	}
	return out
}

// ChainSVG draws the chain of a case (Chain) as an SVG picture, in
// Chinese or, with lang "en", English. A shared stop becomes an arrow from
// the member whose onset came first when it is the later member's inferred
// infection, an undirected link otherwise. A home address is not named.
func (n *Node) ChainSVG(caseID, lang string) ([]byte, error) {
	ch, err := n.Chain(caseID)
	if err != nil {
		return nil, err
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	pic := chainviz.Chain{Title: caseID}
	for _, m := range ch.Members {
		name := m.Region
		if r, ok := n.regions.Lookup(m.Region); ok {
			name = r.Name
		}
		pic.Members = append(pic.Members, chainviz.Member{Case: m.Case, Region: m.Region, RegionName: name, Start: m.Start,
			Infection: m.Infection, Basis: m.Basis, Focus: m.Case == caseID})
		for _, s := range m.Shared {
			place := n.places[s.Place].Name
			if s.Home {
				place = map[bool]string{true: "home", false: "住址"}[lang == "en"]
			}
			l := chainviz.Link{From: s.Other, To: m.Case, Place: place, At: s.From, LowPriority: s.LowPriority}
			l.Directed = m.Basis == "shared_stop" && s.From.Equal(m.Infection)
			pic.Links = append(pic.Links, l)
		}
	}
	return chainviz.SVG(pic, chainviz.Options{Lang: lang}), nil
}
