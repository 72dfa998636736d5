package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"healthcode/internal/health"
)

// Abuse detection (D45): when an override is requested, before anyone can
// approve it, five checks look for the signs of the June 2022 Zhengzhou
// case (1,317 bank depositors given red codes with no test, exposure or
// risk-area evidence, many never in the city). Each check that fires is an
// alert event addressed to the level above the requester; an override with
// alerts is held until an auditor there releases or refuses it.

// The abuse checks.
const (
	// AbuseNoEvidence: persons with no epidemic evidence at all: no
	// positive sample, no contact record, no case, no stay in a risk area,
	// and no referenced event that is evidence for them.
	AbuseNoEvidence = "no_epidemic_evidence"
	// AbuseSharedAttribute: most of the batch shares a non-health attribute
	// (who enrolled them and in which batch, the home county, the batch of
	// their visits) that is rare in the population, while sharing no
	// exposure (a common place at an overlapping time).
	AbuseSharedAttribute = "shared_attribute"
	// AbuseUnverifiedOnly: persons who live elsewhere and whose only link
	// to the requester's region is unverified presence.
	AbuseUnverifiedOnly = "unverified_presence_only"
	// AbuseDailyQuota: the account asked for more persons in 24 hours than
	// its level's quota times the factor.
	AbuseDailyQuota = "daily_quota"
	// AbuseFarFromCases: persons far from any case cluster: no open case in
	// their home county or city, and no verified visit to a place on an
	// open case's trajectory.
	AbuseFarFromCases = "far_from_cases"
)

// AbuseCheckTitle returns the zh and en titles of a check (nil if unknown).
func AbuseCheckTitle(check string) map[string]string {
	switch check {
	case AbuseNoEvidence:
		return map[string]string{"zh": "无流行病学证据", "en": "No epidemic evidence"}
	case AbuseSharedAttribute:
		return map[string]string{"zh": "批量人员共有非健康属性且无共同暴露", "en": "Batch shares a non-health attribute but no exposure"}
	case AbuseUnverifiedOnly:
		return map[string]string{"zh": "仅凭未核实的到访与本地关联", "en": "Linked to the region only by unverified presence"}
	case AbuseDailyQuota:
		return map[string]string{"zh": "账号超出每日赋码限额", "en": "Account exceeded its daily quota"}
	case AbuseFarFromCases:
		return map[string]string{"zh": "远离任何病例聚集", "en": "Far from any case cluster"}
	}
	return nil
}

// AbuseAlert is an alert raised on an override request, addressed to the
// level above the requester.
type AbuseAlert struct {
	Seq      uint64 // the abuse_alert event
	Override string // the request's id
	Request  uint64 // the request event
	Check    string // one of the Abuse* checks
	Flagged  int    // persons the check flagged (daily_quota: persons asked for in 24 hours)
	Batch    int    // persons in the request
	Sample   []uint32
	Counts   map[string]int
	Detail   string    // what the check found (English)
	Account  string    // the requester
	Region   string    // the requester's region
	Target   string    // the region the alert is addressed to (the level above; "000000": national)
	At       time.Time // when it was raised
}

// alertData is the abuse_alert event's data.
type alertData struct {
	Check   string         `json:"check"`
	Flagged int            `json:"flagged"`
	Sample  []uint32       `json:"sample,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`
	Detail  string         `json:"detail"`
}

// maxSample is how many persons an alert names.
const maxSample = 10

func sample(ps []uint32) []uint32 {
	s := slices.Clone(ps)
	slices.Sort(s)
	if len(s) > maxSample {
		s = s[:maxSample]
	}
	return s
}

// AbuseAlerts lists the alerts addressed to regions inside reg ("" or
// "000000": all), newest first.
func (n *Node) AbuseAlerts(reg string) []AbuseAlert {
	if reg == "" {
		reg = nationalRegion
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []AbuseAlert
	for i := len(n.ov.alerts) - 1; i >= 0; i-- {
		a := n.ov.alerts[i]
		if covers(reg, a.Target) {
			a.Sample = slices.Clone(a.Sample)
			a.Counts = cloneCounts(a.Counts)
			out = append(out, a)
		}
	}
	return out
}

func cloneCounts(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// alertsOf returns the alerts with the given event seqs, in that order.
func (n *Node) alertsOf(seqs []uint64) []AbuseAlert {
	if len(seqs) == 0 {
		return nil
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []AbuseAlert
	for _, s := range seqs {
		i, ok := slices.BinarySearchFunc(n.ov.alerts, s, func(a AbuseAlert, s uint64) int { return cmp.Compare(a.Seq, s) })
		if ok {
			a := n.ov.alerts[i]
			a.Sample = slices.Clone(a.Sample)
			a.Counts = cloneCounts(a.Counts)
			out = append(out, a)
		}
	}
	return out
}

// attributes are the non-health attributes of the population that the
// shared-attribute check compares: who enrolled persons (staff enrolments
// only: self-enrolment is nobody's batch) and the home counties. Persons
// of one enrolment request have consecutive indexes, so a run per request
// costs nothing per person.
type attributes struct {
	sources []enrolSource  // runs of persons enrolled by one staff request, by person index
	actors  map[string]int // persons enrolled by each staff actor
	homes   map[uint32]int // persons by home county (packed)
}

type enrolSource struct {
	first, last  uint32
	actor, batch string
}

func newAttributes() attributes {
	return attributes{actors: map[string]int{}, homes: map[uint32]int{}}
}

// selfActor is the actor of a person's own enrolment (httpapi).
const selfActor = "self"

// enrolled records a person_enrolled event.
func (a *attributes) enrolled(e *health.Event) {
	a.homes[e.Region-e.Region%1000]++ // the county of a street (packed codes keep digit prefixes)
	if e.Actor == selfActor || e.Actor == "" {
		return
	}
	a.actors[e.Actor]++
	if k := len(a.sources); k > 0 {
		if s := &a.sources[k-1]; s.batch == e.Batch && s.actor == e.Actor && s.last+1 == e.Person {
			s.last = e.Person
			return
		}
	}
	a.sources = append(a.sources, enrolSource{first: e.Person, last: e.Person, actor: e.Actor, batch: e.Batch})
}

// source returns the staff enrolment run of person p.
func (a *attributes) source(p uint32) (enrolSource, bool) {
	i := sort.Search(len(a.sources), func(i int) bool { return a.sources[i].last >= p })
	if i < len(a.sources) && a.sources[i].first <= p {
		return a.sources[i], true
	}
	return enrolSource{}, false
}

// personFacts is what the checks need of one person of a request.
type personFacts struct {
	p        uint32
	city     string // home city
	link     link   // to the requester's region
	evidence bool   // check 1: has epidemic evidence
	far      bool   // check 5: far from any case cluster
	visits   []health.Visit
	attrs    []string // check 2: attribute values ("kind value")
}

// scanRequest checks that the referenced events concern the batch (Invalid
// errors naming evidence[i]) and that the requester covers every person
// (Permission), then runs the abuse checks that need no writer state (all
// but the quota). It holds n.mu for reading while it reads the views, and
// reads the store without it.
func (n *Node) scanRequest(ctx context.Context, off Official, req *overrideRequest, now time.Time) ([]alertData, error) {
	c := &n.cfg.Overrides
	facts := make([]personFacts, len(req.persons))
	pop := map[string]int{}
	n.mu.RLock()
	err := n.factsLocked(off, req, now, facts, pop)
	n.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	var out []alertData
	var flagged []uint32
	// 1. No epidemic evidence.
	for _, f := range facts {
		if !f.evidence {
			flagged = append(flagged, f.p)
		}
	}
	if len(flagged) > 0 {
		out = append(out, alertData{Check: AbuseNoEvidence, Flagged: len(flagged), Sample: sample(flagged),
			Counts: map[string]int{"persons": len(facts), "without_evidence": len(flagged)},
			Detail: fmt.Sprintf("%d of %d persons have no positive sample, contact record, case, risk-area stay or referenced event that is evidence for them", len(flagged), len(facts))})
	}
	// 2. A shared, rare, non-health attribute without a shared exposure.
	if len(facts) >= c.MinSharedBatch {
		if err := n.visitBatches(ctx, facts); err != nil {
			return nil, err
		}
		if a, ok := n.sharedAttribute(ctx, facts, pop); ok {
			out = append(out, a)
		}
	}
	// 3. Linked to the region by unverified presence only.
	flagged = flagged[:0]
	for _, f := range facts {
		if f.link == linkUnverified {
			flagged = append(flagged, f.p)
		}
	}
	if len(flagged) > 0 {
		out = append(out, alertData{Check: AbuseUnverifiedOnly, Flagged: len(flagged), Sample: sample(flagged),
			Counts: map[string]int{"persons": len(facts), "unverified_only": len(flagged)},
			Detail: fmt.Sprintf("%d of %d persons live outside %s and were there only by unverified presence (a remote scan, impossible travel or a self-report)", len(flagged), len(facts), off.Region)})
	}
	// 5. Far from any case cluster.
	flagged = flagged[:0]
	for _, f := range facts {
		if f.far {
			flagged = append(flagged, f.p)
		}
	}
	if len(flagged) > 0 {
		out = append(out, alertData{Check: AbuseFarFromCases, Flagged: len(flagged), Sample: sample(flagged),
			Counts: map[string]int{"persons": len(facts), "far_from_cases": len(flagged)},
			Detail: fmt.Sprintf("%d of %d persons have no open case in their home county or city and no verified visit to a place on an open case's trajectory", len(flagged), len(facts))})
	}
	return out, nil
}

// factsLocked fills facts and the population counts of the attribute
// values; callers hold n.mu for reading.
func (n *Node) factsLocked(off Official, req *overrideRequest, now time.Time, facts []personFacts, pop map[string]int) error {
	c := &n.cfg.Overrides
	idx := make(map[uint32]int, len(req.persons))
	for i, p := range req.persons {
		idx[p] = i
		facts[i] = personFacts{p: p, city: n.cityOf(countyOf(n.home(p)))}
		facts[i].visits = n.visits.ByPerson(p, now.Add(-c.PresenceWindow), now.Add(n.cfg.ClockSkew))
	}
	// The references must concern the batch: its persons' own events, a
	// case, or a risk area one of them was in.
	var refCases []*Case
	for k, e := range req.refs {
		switch e.Kind {
		case health.EvVisit, health.EvTestResult, health.EvTestCorrected, health.EvContactTraced:
			i, ok := idx[e.Person]
			if !ok {
				return health.Errorf(health.Invalid, "evidence_unrelated", req.refField[k], "event %s is about %s, who is not in the request", health.EventID(e.Seq), health.PersonID(e.Person))
			}
			switch e.Kind {
			case health.EvContactTraced:
				facts[i].evidence = true
			case health.EvTestResult, health.EvTestCorrected:
				facts[i].evidence = facts[i].evidence || health.Result(e.Aux) == health.Positive
			}
		case health.EvCaseOpened, health.EvStopsReplaced:
			var d struct {
				CaseID string `json:"case_id"`
			}
			_ = json.Unmarshal(e.Data, &d)
			cs, ok := n.cases[d.CaseID]
			if !ok {
				return health.Errorf(health.Invalid, "evidence_unrelated", req.refField[k], "event %s names no case of this node", health.EventID(e.Seq))
			}
			refCases = append(refCases, cs)
		case health.EvRiskDeclared:
			var area *health.RiskArea
			for j := range n.areas {
				if n.areas[j].Seq == e.Seq {
					area = &n.areas[j]
				}
			}
			found := false
			for i, p := range req.persons {
				if area == nil {
					break
				}
				for _, v := range n.visits.ByPerson(p, area.From, area.Until) {
					if n.regions.Contains(area.Region, n.places[v.Place].Region) {
						found = true
						facts[i].evidence = facts[i].evidence || !v.Unverified
					}
				}
			}
			if !found {
				return health.Errorf(health.Invalid, "evidence_unrelated", req.refField[k], "risk area %s: none of the persons was in it while it was in force", health.EventID(e.Seq))
			}
		}
	}
	outside := false
	for i := range facts {
		facts[i].link = n.linkTo(off.Region, facts[i].p, now)
		outside = outside || facts[i].link == linkNone
	}
	if outside {
		return n.checkCoverage(off, req.persons, now)
	}
	// Open cases, their counties, cities and trajectory places.
	caseOf := map[uint32]bool{}
	caseCounties, caseCities, casePlaces := map[string]bool{}, map[string]bool{}, map[uint32]bool{}
	for _, cs := range n.cases {
		caseOf[cs.Person] = true
		if now.Sub(cs.IsolatedAt) > c.CaseWindow {
			continue
		}
		caseCounties[cs.Region] = true
		caseCities[n.cityOf(cs.Region)] = true
		if len(cs.Versions) > 0 {
			for _, s := range cs.Versions[len(cs.Versions)-1].Stops {
				casePlaces[s.Place] = true
			}
		}
	}
	placeRegion := func(i uint32) string { return n.places[i].Region }
	stayFrom := now.Add(-n.lookback())
	for i := range facts {
		f := &facts[i]
		p := f.p
		home := n.home(p)
		county := countyOf(home)
		// 1. Epidemic evidence.
		for _, t := range n.tests[p] {
			if t.Result == health.Positive && now.Sub(t.SampledAt) <= c.CaseWindow {
				f.evidence = true
			}
		}
		for _, r := range n.contacts[p] {
			if !r.Unverified {
				f.evidence = true
			}
		}
		if caseOf[p] {
			f.evidence = true
		}
		var verified []health.Visit
		for _, v := range f.visits {
			if !v.Unverified {
				verified = append(verified, v)
			}
		}
		if !f.evidence && len(n.areas) > 0 {
			var recent []health.Visit
			for _, v := range verified {
				if v.To.After(stayFrom) {
					recent = append(recent, v)
				}
			}
			f.evidence = len(health.JoinStays(recent, placeRegion, n.areas, n.regions.Contains)) > 0
		}
		// A referenced case is evidence for its own person and for persons
		// who live in its county or were seen there (verified) recently:
		// the reach of a phone investigation, not of a citation.
		for _, cs := range refCases {
			if cs.Person == p || county == cs.Region {
				f.evidence = true
			}
			for _, v := range verified {
				if covers(cs.Region, n.places[v.Place].Region) {
					f.evidence = true
				}
			}
		}
		// 5. Far from any case cluster.
		f.far = !caseCounties[county] && !caseCities[f.city]
		for _, v := range verified {
			if casePlaces[v.Place] {
				f.far = false
			}
		}
		// 2. Attributes held in the views.
		if s, ok := n.ov.attrs.source(p); ok {
			k := "enrolment " + s.actor + " " + s.batch
			f.attrs = append(f.attrs, k, "enrolled_by "+s.actor)
			pop[k] = int(s.last-s.first) + 1
			pop["enrolled_by "+s.actor] = n.ov.attrs.actors[s.actor]
		}
		k := "home " + county
		f.attrs = append(f.attrs, k)
		pop[k] = n.ov.attrs.homes[packedRegion(county)]
	}
	return nil
}

// Reads of visit events for their batches: at most maxVisitReads per
// person (the latest), and about maxVisitReadsAll for a whole request.
const (
	maxVisitReads    = 20
	maxVisitReadsAll = 20000
)

// visitBatches adds to each person's attributes the batches of their recent
// visits, read from the store (the visit index does not keep them).
func (n *Node) visitBatches(ctx context.Context, facts []personFacts) error {
	per := max(1, min(maxVisitReads, maxVisitReadsAll/len(facts)))
	for i := range facts {
		f := &facts[i]
		vs := f.visits
		if len(vs) > per {
			vs = vs[len(vs)-per:]
		}
		seen := map[string]bool{}
		for _, v := range vs {
			e, err := n.store.Event(ctx, v.Seq)
			if err != nil {
				return fmt.Errorf("node: abuse check: visit %s: %w", health.EventID(v.Seq), err)
			}
			if k := "visit_batch " + e.Batch; !seen[k] {
				seen[k] = true
				f.attrs = append(f.attrs, k)
			}
		}
	}
	return nil
}

// maxBatchScan bounds the events read to count the persons of a visit batch.
const maxBatchScan = 1 << 20

var errStopScan = errors.New("stop")

// batchPersons counts the distinct persons with a visit in batch b. A
// batch is the id of its request's first event ("b<seq>"), and a request's
// events are consecutive, so it reads from there until the batch changes.
// ok is false if b is not such an id.
func (n *Node) batchPersons(ctx context.Context, b string) (int, bool, error) {
	first, err := strconv.ParseUint(strings.TrimPrefix(b, "b"), 10, 64)
	if !strings.HasPrefix(b, "b") || err != nil || first == 0 {
		return 0, false, nil
	}
	persons := map[uint32]bool{}
	read := 0
	err = n.store.Scan(ctx, first-1, func(e *health.Event) error {
		if e.Batch != b || read >= maxBatchScan {
			return errStopScan
		}
		read++
		if e.Kind == health.EvVisit {
			persons[e.Person] = true
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return 0, false, fmt.Errorf("node: abuse check: batch %s: %w", b, err)
	}
	return len(persons), true, nil
}

// sharedAttribute runs check 2: an attribute value held by at least
// SharedMajority of the batch and by less than RareShare of the
// population, whose holders mostly (at least half) share no exposure with
// each other.
func (n *Node) sharedAttribute(ctx context.Context, facts []personFacts, pop map[string]int) (alertData, bool) {
	c := &n.cfg.Overrides
	holders := map[string][]int{}
	for i, f := range facts {
		for _, a := range f.attrs {
			holders[a] = append(holders[a], i)
		}
	}
	total := int(n.nPersons.Load())
	type hit struct {
		value            string
		holders          []int
		popCount, linked int
	}
	var hits []hit
	for v, hs := range holders {
		if float64(len(hs)) < c.SharedMajority*float64(len(facts)) {
			continue
		}
		if b, ok := strings.CutPrefix(v, "visit_batch "); ok {
			cnt, ok, err := n.batchPersons(ctx, b)
			if err != nil || !ok {
				continue // a batch we cannot count is not reported
			}
			pop[v] = cnt
		}
		if float64(pop[v]) >= c.RareShare*float64(total) {
			continue
		}
		linked := exposureLinked(facts, hs)
		if 2*linked >= len(hs) {
			continue // most holders share an exposure: a cluster, not a list
		}
		hits = append(hits, hit{value: v, holders: hs, popCount: pop[v], linked: linked})
	}
	if len(hits) == 0 {
		return alertData{}, false
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(len(b.holders), len(a.holders)), strings.Compare(a.value, b.value))
	})
	top := hits[0]
	ps := make([]uint32, len(top.holders))
	for i, h := range top.holders {
		ps[i] = facts[h].p
	}
	var values []string
	for _, h := range hits {
		values = append(values, fmt.Sprintf("%q (%d of %d in the batch, %d of %d persons)", h.value, len(h.holders), len(facts), h.popCount, total))
	}
	return alertData{Check: AbuseSharedAttribute, Flagged: len(top.holders), Sample: sample(ps),
		Counts: map[string]int{"persons": len(facts), "holders": len(top.holders), "population_holders": top.popCount,
			"population": total, "exposure_linked": top.linked, "values": len(hits)},
		Detail: fmt.Sprintf("the batch shares %s, rare in the population, and its holders share no exposure", strings.Join(values, "; "))}, true
}

// exposureLinked counts the holders (indexes into facts) who share an
// exposure with another holder: verified visits to one place at
// overlapping times.
func exposureLinked(facts []personFacts, holders []int) int {
	type iv struct {
		from, to time.Time
		h        int
	}
	byPlace := map[uint32][]iv{}
	for _, h := range holders {
		for _, v := range facts[h].visits {
			if !v.Unverified {
				byPlace[v.Place] = append(byPlace[v.Place], iv{v.From, v.To, h})
			}
		}
	}
	linked := map[int]bool{}
	for _, l := range byPlace {
		slices.SortFunc(l, func(a, b iv) int { return a.from.Compare(b.from) })
		for i := range l {
			for j := i + 1; j < len(l) && l[j].from.Before(l[i].to); j++ {
				if l[j].h != l[i].h {
					linked[l[i].h], linked[l[j].h] = true, true
				}
			}
		}
	}
	return len(linked)
}

// quotaFinding runs check 4 on the writer: the persons the account asked
// for in the last 24 hours, this request's persons included, against its
// level's quota times the factor. The sample is of this request.
func (n *Node) quotaFinding(off Official, lvl int, persons []uint32, now time.Time) (alertData, bool) {
	k := len(persons)
	sum := k
	for _, r := range n.ov.recent[off.Account] {
		if now.Sub(r.at) < 24*time.Hour {
			sum += r.persons
		}
	}
	q := n.cfg.Overrides.quota(lvl)
	if sum <= q {
		return alertData{}, false
	}
	return alertData{Check: AbuseDailyQuota, Flagged: sum, Sample: sample(persons), Counts: map[string]int{"requested_24h": sum, "this_request": k, "quota": q},
		Detail: fmt.Sprintf("account %s (%s level) asked for %d persons in 24 hours, this request's %d included; its quota is %d", off.Account, levelName(lvl), sum, k, q)}, true
}
