package publish

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Published is a stop a self-check matches against: a published window at a
// place, the region of the cases that were there and how many there were.
type Published struct {
	Place       PlaceID   `json:"place_id"`
	PlaceName   string    `json:"place_name"`
	PlaceRegion string    `json:"place_region"`
	From        time.Time `json:"from"` // floored to the hour
	To          time.Time `json:"to"`   // ceiled to the hour
	CaseRegion  string    `json:"case_region"`
	Cases       int       `json:"cases"`
}

// PublishedStops returns the stops of r's region groups (records and
// suppressed groups' aggregates alike), one per place, window and case
// region, sorted by place, then time. Chain groups repeat the same cases and
// are not counted again.
func PublishedStops(r Report) []Published {
	var ps []Published
	for _, g := range r.Regions {
		add := func(w Window, cases int) {
			ps = append(ps, Published{
				Place: w.Place, PlaceName: w.PlaceName, PlaceRegion: w.PlaceRegion,
				From: w.From, To: w.To, CaseRegion: g.Region, Cases: cases,
			})
		}
		for _, rec := range g.Records {
			for _, w := range rec.Stops {
				add(w, 1)
			}
		}
		for _, a := range g.Stops {
			add(a.Window, a.Cases)
		}
	}
	slices.SortFunc(ps, comparePublished)
	var out []Published
	for _, p := range ps {
		if n := len(out); n > 0 && comparePublished(out[n-1], p) == 0 {
			out[n-1].Cases += p.Cases
			continue
		}
		out = append(out, p)
	}
	return out
}

// comparePublished orders published stops by place, time and case region;
// it ignores the number of cases.
func comparePublished(a, b Published) int {
	return cmp.Or(
		cmp.Compare(a.Place, b.Place),
		a.From.Compare(b.From),
		a.To.Compare(b.To),
		strings.Compare(a.CaseRegion, b.CaseRegion),
		strings.Compare(a.PlaceName, b.PlaceName),
		strings.Compare(a.PlaceRegion, b.PlaceRegion),
	)
}

// Matcher answers self-checks against a fixed set of published stops. It is
// immutable and safe for concurrent use.
type Matcher struct {
	stops  []Published      // non-empty windows, sorted by comparePublished, then Cases
	maxTo  []time.Time      // maxTo[i]: the latest To of stops[lo..i] at the same place
	places map[PlaceID]span // each place's run in stops
}

// span is a half-open index range [lo, hi).
type span struct{ lo, hi int }

// NewMatcher indexes stops (typically [PublishedStops]) for [Matcher.Match].
// Stops with an empty window (To not after From) can never match and are
// left out. It does not keep or change stops.
func NewMatcher(stops []Published) *Matcher {
	s := slices.DeleteFunc(slices.Clone(stops), func(p Published) bool { return !p.From.Before(p.To) })
	slices.SortFunc(s, func(a, b Published) int {
		return cmp.Or(comparePublished(a, b), cmp.Compare(a.Cases, b.Cases))
	})
	m := &Matcher{stops: s, maxTo: make([]time.Time, len(s)), places: make(map[PlaceID]span)}
	for i, p := range s {
		sp, seen := m.places[p.Place]
		m.maxTo[i] = p.To
		if !seen {
			sp.lo = i
		} else if m.maxTo[i-1].After(p.To) {
			m.maxTo[i] = m.maxTo[i-1]
		}
		sp.hi = i + 1
		m.places[p.Place] = sp
	}
	return m
}

// Query is one stop of a citizen's own trajectory.
type Query struct {
	Place    uint32
	From, To time.Time
}

// Hit is a published stop that overlaps a citizen's stop.
type Hit struct {
	Query      int       `json:"query"` // index of the citizen's stop in the Match argument
	Place      PlaceID   `json:"place_id"`
	PlaceName  string    `json:"place_name"`
	From       time.Time `json:"from"` // the published window
	To         time.Time `json:"to"`
	CaseRegion string    `json:"case_region"`
	Cases      int       `json:"cases"`
}

// Match returns the published stops at the place of each query whose window
// overlaps the query's [From, To), ordered by query, then From. An empty
// query (To not after From) matches nothing; windows that only touch do not
// overlap. It returns nil if nothing matches.
func (m *Matcher) Match(qs []Query) []Hit {
	var hits []Hit
	for qi, q := range qs {
		sp, ok := m.places[PlaceID(q.Place)]
		if !ok || !q.From.Before(q.To) {
			continue
		}
		// Candidates start before q.To; from lo on, some stop up to each
		// index ends after q.From (maxTo is non-decreasing within a place).
		hi := sp.lo + sort.Search(sp.hi-sp.lo, func(i int) bool { return !m.stops[sp.lo+i].From.Before(q.To) })
		lo := sp.lo + sort.Search(hi-sp.lo, func(i int) bool { return m.maxTo[sp.lo+i].After(q.From) })
		for _, p := range m.stops[lo:hi] {
			if p.To.After(q.From) {
				hits = append(hits, Hit{
					Query: qi, Place: p.Place, PlaceName: p.PlaceName,
					From: p.From, To: p.To, CaseRegion: p.CaseRegion, Cases: p.Cases,
				})
			}
		}
	}
	return hits
}
