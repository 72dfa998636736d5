package sim

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"healthcode/internal/health"
)

// This file is the ground truth of tracing: which persons of a city are the
// close and secondary contacts of its cases under the rules of DESIGN.md §5.
// It is a brute-force implementation of its own (it does not use
// internal/trace), so that the node's tracing can be checked against it.

// Case is a case as investigators open it for a city (as the demo does, see
// cmd/healthcode/investigate.go): one for every person with a positive
// result.
type Case struct {
	Person int
	// Classification is "confirmed" if the person is infected, not
	// asymptomatic, and had symptoms by the first positive sample; else
	// "asymptomatic".
	Classification string
	Onset          time.Time // confirmed cases only
	FirstPositive  time.Time // the first positive sample
	IsolatedAt     time.Time // FirstPositive + IsolationDelay, at most the cap given to Cases
	// From and Until are the infectious window [From, Until): from
	// InfectiousBefore before the onset (confirmed) or the first positive
	// (asymptomatic), until isolation.
	From, Until time.Time
}

// Contact is a close (Degree 1) or secondary (Degree 2) contact found by
// [Contacts].
type Contact struct {
	Person int
	Degree int
	// SourceCase is the person of the case at the root of the contact's
	// first exposure (for a secondary contact: the source case of the close
	// contact it met first). Ties between exposures starting at the same
	// second go to the lower place index, then the lower case person.
	SourceCase int
	// First is the start of the contact's first exposure.
	First time.Time
}

// IsolationDelay is how long after the first positive sample a case is
// isolated.
const IsolationDelay = 2 * time.Hour

// Case classifications.
const (
	Confirmed    = "confirmed"
	Asymptomatic = "asymptomatic"
)

var nationalRuleset = sync.OnceValues(health.NationalRuleset)

// InfectiousBefore returns how long before onset (or the first positive
// sample) a case is infectious: the national ruleset's infectious_before,
// 48 hours if it has none. It returns an error if the embedded ruleset does
// not parse.
func InfectiousBefore() (time.Duration, error) {
	rs, err := nationalRuleset()
	if err != nil {
		return 0, fmt.Errorf("sim: national ruleset: %w", err)
	}
	if v, ok := rs.Params["infectious_before"].(string); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d, nil
		}
	}
	return 48 * time.Hour, nil
}

// Cases returns the cases of a city given its results and infections: one
// for every person with a positive result, ordered by first positive sample,
// then person. Isolation is capped at isolateBy (the end of the period, or
// the node's time). It returns an error if the national ruleset does not
// parse.
func Cases(results []Result, infections []Infection, isolateBy time.Time) ([]Case, error) {
	before, err := InfectiousBefore()
	if err != nil {
		return nil, err
	}
	first := map[int]time.Time{}
	for _, r := range results {
		if t, ok := first[r.Person]; r.Result == "positive" && (!ok || r.SampledAt.Before(t)) {
			first[r.Person] = r.SampledAt
		}
	}
	infection := make(map[int]Infection, len(infections))
	for _, in := range infections {
		infection[in.Person] = in
	}
	out := make([]Case, 0, len(first))
	for p, pos := range first {
		c := Case{Person: p, FirstPositive: pos, IsolatedAt: pos.Add(IsolationDelay)}
		if !isolateBy.IsZero() && c.IsolatedAt.After(isolateBy) {
			c.IsolatedAt = isolateBy
		}
		start := pos
		if in, ok := infection[p]; ok && !in.Asymptomatic && !in.Onset.After(pos) {
			c.Classification, c.Onset, start = Confirmed, in.Onset, in.Onset
		} else {
			c.Classification = Asymptomatic
		}
		c.From, c.Until = start.Add(-before), c.IsolatedAt
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Case) int {
		return cmp.Or(a.FirstPositive.Compare(b.FirstPositive), cmp.Compare(a.Person, b.Person))
	})
	return out, nil
}

// Contacts returns the close and secondary contacts of the cases over the
// city's visits and trips, ordered by degree, then person. The rules
// (DESIGN.md §5), with visits as intervals [At, Until) in whole seconds:
//
//   - A close contact has a visit to the same place as a case's visit
//     clipped to the case's infectious window, overlapping it by at least
//     the place kind's min_overlap (national ruleset) and at least one
//     second.
//   - A secondary contact has a visit overlapping, by the same rule, a close
//     contact's visit clipped to [the start of the close contact's first
//     exposure, +∞): nobody is quarantined.
//   - Cases are never contacts; close contacts are never secondary ones.
//   - A trip's section is a place, of the trip's mode as its kind, as on the
//     node (docs/decisions.md D31): a train's carriage, a flight's row, a
//     whole coach, keyed by the trip's Trip and the section. Each passenger
//     visits their section over the trip's [From, To). A flight's row is
//     also co-located with the rows of the same trip within the national
//     ruleset's flight_rows (3) of it.
//
// It returns an error if a place has a kind the national ruleset does not
// know, a visit or passenger names a person or place that is not in the
// city, or a trip is malformed (mode, interval, carriage or row).
//
// How: the visits are sorted by place, then start; each source visit (a
// case's or a close contact's, clipped) looks only at the visits of its
// place (and of the places near it) that start between its start +
// min_overlap − the longest visit there, and its end − min_overlap.
func Contacts(c *City, cases []Case) ([]Contact, error) {
	rs, err := nationalRuleset()
	if err != nil {
		return nil, fmt.Errorf("sim: national ruleset: %w", err)
	}
	np, n := len(c.Places), len(c.Persons)
	minOv := make([]int64, np)
	for i, p := range c.Places {
		k, ok := rs.PlaceKinds[p.Kind]
		if !ok {
			return nil, fmt.Errorf("sim: place %d has kind %q, which the national ruleset does not know", i, p.Kind)
		}
		minOv[i] = max(1, int64((k.MinOverlap+time.Second-1)/time.Second))
	}
	for i, v := range c.Visits {
		if v.Person < 0 || v.Person >= n || v.Place < 0 || v.Place >= np {
			return nil, fmt.Errorf("sim: visit %d names person %d at place %d, not in the city", i, v.Person, v.Place)
		}
	}
	for _, cs := range cases {
		if cs.Person < 0 || cs.Person >= n {
			return nil, fmt.Errorf("sim: case of person %d, not in the city", cs.Person)
		}
	}
	ts, err := tripSections(c, flightRowsNear())
	if err != nil {
		return nil, err
	}
	for _, k := range ts.kinds {
		minOv = append(minOv, max(1, int64((rs.PlaceKinds[k].MinOverlap+time.Second-1)/time.Second)))
	}
	x := newVisitIndex(c, ts)
	tr := &truthTracer{x: x, minOv: minOv, near: ts.near, excluded: make([]bool, n), best: make([]exposure, n)}
	for _, cs := range cases {
		tr.excluded[cs.Person] = true
	}

	// Close contacts: the cases' visits clipped to their windows.
	var srcs []source
	for _, cs := range cases {
		srcs = tr.sources(srcs, cs.Person, cs.From.Unix(), secOrMax(cs.Until), int32(cs.Person))
	}
	closeSet := tr.sweep(srcs)
	out := make([]Contact, 0, len(closeSet))
	for _, p := range closeSet {
		b := tr.best[p]
		out = append(out, Contact{Person: int(p), Degree: 1, SourceCase: int(b.root), First: time.Unix(b.from, 0).UTC()})
	}
	for _, p := range closeSet {
		tr.excluded[p] = true
	}

	// Secondary contacts: the close contacts' visits from their first
	// exposure on.
	srcs = srcs[:0]
	for _, p := range closeSet {
		b := tr.best[p]
		srcs = tr.sources(srcs, int(p), b.from, math.MaxInt64, b.root)
	}
	for _, p := range tr.sweep(srcs) {
		b := tr.best[p]
		out = append(out, Contact{Person: int(p), Degree: 2, SourceCase: int(b.root), First: time.Unix(b.from, 0).UTC()})
	}
	return out, nil
}

func secOrMax(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.Unix()
}

// sections are the sections of a city's trips as places of their own,
// numbered after the city's places, and the passengers' visits to them.
type sections struct {
	kinds  []string  // by section: its kind, the trip's mode
	near   [][]int32 // by place (the city's and the sections): the sections near it
	visits []Visit   // Place: len(City.Places) + section
}

// tripSections makes the sections of the city's trips: one per trip
// (Trip.Trip) and carriage, row or coach, as the node keys them ("05",
// "12", ""). On a flight, rows within near of each other are near.
func tripSections(c *City, near int) (*sections, error) {
	np, n := len(c.Places), len(c.Persons)
	ts := &sections{}
	type key struct{ trip, section string }
	index := map[key]int{}
	rows := map[string][]int{} // flight → its row sections
	var flights []string       // in order of appearance
	var secRow []int           // by section: the row of a flight's
	for ti, t := range c.Trips {
		if !t.To.After(t.From) {
			return nil, fmt.Errorf("sim: trip %d (%s) ends at %v, not after its start %v", ti, t.Trip, t.To, t.From)
		}
		for pi, p := range t.Passengers {
			if p.Person < 0 || p.Person >= n {
				return nil, fmt.Errorf("sim: trip %d (%s): passenger %d is person %d, not in the city", ti, t.Trip, pi, p.Person)
			}
			var sec string
			switch t.Mode {
			case ModeTrain:
				if p.Carriage < 1 || p.Carriage > 30 {
					return nil, fmt.Errorf("sim: trip %d (%s): passenger %d is in carriage %d, want 1 to 30", ti, t.Trip, pi, p.Carriage)
				}
				sec = fmt.Sprintf("%02d", p.Carriage)
			case ModeFlight:
				if p.Row < 1 || p.Row > 120 {
					return nil, fmt.Errorf("sim: trip %d (%s): passenger %d is in row %d, want 1 to 120", ti, t.Trip, pi, p.Row)
				}
				sec = strconv.Itoa(p.Row)
			case ModeBus:
			default:
				return nil, fmt.Errorf("sim: trip %d (%s) has mode %q, not train, flight or bus", ti, t.Trip, t.Mode)
			}
			k := key{t.Trip, sec}
			s, ok := index[k]
			if !ok {
				s = len(ts.kinds)
				index[k] = s
				ts.kinds = append(ts.kinds, t.Mode)
				secRow = append(secRow, p.Row)
				if t.Mode == ModeFlight {
					if len(rows[t.Trip]) == 0 {
						flights = append(flights, t.Trip)
					}
					rows[t.Trip] = append(rows[t.Trip], s)
				}
			}
			ts.visits = append(ts.visits, Visit{Person: p.Person, Place: np + s, At: t.From, Until: t.To})
		}
	}
	ts.near = make([][]int32, np+len(ts.kinds))
	if near > 0 {
		for _, f := range flights {
			secs := rows[f]
			for _, a := range secs {
				for _, b := range secs {
					if d := secRow[a] - secRow[b]; a != b && d <= near && -d <= near {
						ts.near[np+a] = append(ts.near[np+a], int32(np+b))
					}
				}
			}
		}
	}
	return ts, nil
}

// visitIndex holds a city's visits in seconds, by place (sorted by start)
// and by person.
type visitIndex struct {
	at, until []int64 // by visit, as in City.Visits
	person    []int32
	place     []int32
	placeOff  []int32 // byPlace[placeOff[p]:placeOff[p+1]] are place p's visits
	byPlace   []int32 // visit indexes
	placeAt   []int64 // the starts of byPlace, for binary search
	maxDur    []int64 // by place: the longest visit
	personOff []int32
	byPerson  []int32
}

// newVisitIndex indexes the city's visits, then the visits of the trips'
// sections ts.
func newVisitIndex(c *City, ts *sections) *visitIndex {
	nv := len(c.Visits) + len(ts.visits)
	np := len(c.Places) + len(ts.kinds)
	x := &visitIndex{at: make([]int64, 0, nv), until: make([]int64, 0, nv), person: make([]int32, 0, nv), place: make([]int32, 0, nv),
		maxDur: make([]int64, np)}
	for _, vs := range [][]Visit{c.Visits, ts.visits} {
		for _, v := range vs {
			at, until := v.At.Unix(), v.Until.Unix()
			x.at, x.until = append(x.at, at), append(x.until, until)
			x.person, x.place = append(x.person, int32(v.Person)), append(x.place, int32(v.Place))
			x.maxDur[v.Place] = max(x.maxDur[v.Place], until-at)
		}
	}
	x.placeOff, x.byPlace = group(x.place, np)
	x.personOff, x.byPerson = group(x.person, len(c.Persons))
	for p := range np {
		seg := x.byPlace[x.placeOff[p]:x.placeOff[p+1]]
		slices.SortStableFunc(seg, func(a, b int32) int { return cmp.Compare(x.at[a], x.at[b]) })
	}
	x.placeAt = make([]int64, nv)
	for i, v := range x.byPlace {
		x.placeAt[i] = x.at[v]
	}
	return x
}

// group is a counting sort of the indexes of keys by key (stable).
func group(keys []int32, n int) (off, idx []int32) {
	off = make([]int32, n+1)
	for _, k := range keys {
		off[k+1]++
	}
	for i := 1; i <= n; i++ {
		off[i] += off[i-1]
	}
	fill := slices.Clone(off[:n])
	idx = make([]int32, len(keys))
	for i, k := range keys {
		idx[fill[k]] = int32(i)
		fill[k]++
	}
	return off, idx
}

// source is a visit that can expose others: [lo, hi) at place, rooted at
// the case person root.
type source struct {
	place   int32
	root    int32
	lo, hi  int64
	visitor int32
}

// exposure is a contact's best (first) exposure so far; root < 0: none.
type exposure struct {
	from  int64
	place int32
	root  int32
}

type truthTracer struct {
	x        *visitIndex
	minOv    []int64   // by place
	near     [][]int32 // by place: the places whose visitors are co-located with its visitors too
	excluded []bool
	best     []exposure
}

// sources appends person's visits clipped to [from, to) that are long
// enough to expose anyone at their place.
func (t *truthTracer) sources(srcs []source, person int, from, to int64, root int32) []source {
	x := t.x
	for _, v := range x.byPerson[x.personOff[person]:x.personOff[person+1]] {
		lo, hi := max(x.at[v], from), min(x.until[v], to)
		if pl := x.place[v]; hi-lo >= t.minOv[pl] {
			srcs = append(srcs, source{place: pl, root: root, lo: lo, hi: hi, visitor: int32(person)})
		}
	}
	return srcs
}

// sweep finds the persons not excluded that are exposed by srcs, records
// their first exposure in t.best, and returns them in order.
func (t *truthTracer) sweep(srcs []source) []int32 {
	for i := range t.best {
		t.best[i] = exposure{root: -1}
	}
	var found []int32
	for _, s := range srcs {
		found = t.sweepPlace(found, s, s.place)
		for _, pl := range t.near[s.place] {
			found = t.sweepPlace(found, s, pl)
		}
	}
	slices.Sort(found)
	return found
}

// sweepPlace records the exposures by s of the visitors of place pl (s's
// place or one near it), appending the persons exposed for the first time
// to found.
func (t *truthTracer) sweepPlace(found []int32, s source, pl int32) []int32 {
	x := t.x
	m := t.minOv[pl]
	segLo, segHi := int(x.placeOff[pl]), int(x.placeOff[pl+1])
	starts := x.placeAt[segLo:segHi]
	// A visit overlapping [lo, hi) by m starts in [lo+m-maxDur, hi-m].
	first := sort.Search(len(starts), func(i int) bool { return starts[i] >= s.lo+m-x.maxDur[pl] })
	for j := segLo + first; j < segHi && x.placeAt[j] <= s.hi-m; j++ {
		v := x.byPlace[j]
		p := x.person[v]
		if t.excluded[p] || p == s.visitor {
			continue
		}
		from := max(s.lo, x.at[v])
		if min(s.hi, x.until[v])-from < m {
			continue
		}
		b := &t.best[p]
		switch {
		case b.root < 0:
			found = append(found, p)
		case from > b.from || from == b.from && (pl > b.place || pl == b.place && s.root >= b.root):
			continue
		}
		*b = exposure{from: from, place: pl, root: s.root}
	}
	return found
}
