package trace

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
)

// scenario is a hand-made trace with its ground truth. Places and their
// minimum overlaps: 1 restaurant (15m), 2 pharmacy (5m), 3 residence (30m),
// 4 supermarket (15m), 5 gym (15m). Every "to" is explicit, dwell defaults
// included (restaurant 90m, pharmacy 15m).
type scenario struct {
	visits []health.Visit
	seq    map[string]uint64 // visit name → seq
	seeds  []Seed
	params Params
}

func h(d float64) time.Duration { return time.Duration(d * float64(time.Hour)) }

func newScenario() *scenario {
	s := &scenario{seq: map[string]uint64{}}
	add := func(name string, person, place uint32, from, to time.Duration, unverified bool) {
		seq := uint64(1000 + 3*len(s.visits)) // gaps: one run per visit
		s.seq[name] = seq
		s.visits = append(s.visits, health.Visit{Seq: seq, Person: person, Place: place, From: t0.Add(from), To: t0.Add(to),
			Source: health.VisitSource(len(s.visits) % 4), Unverified: unverified})
	}
	m := time.Minute
	// Seed C1 (person 100, infectious [0h, 48h)) and C2 (person 200, [24h, 72h)).
	add("c1@1", 100, 1, 0, 90*m, false)              // restaurant, dwell default
	add("c1@2", 100, 2, 3*time.Hour, h(3.25), false) // pharmacy, dwell default
	add("c1@3", 100, 3, -10*time.Hour, -2*time.Hour, false)
	add("c1@4", 100, 4, -time.Hour, 30*m, false)                  // straddles the window start
	add("c2@2", 200, 2, 3*time.Hour+5*m, 3*time.Hour+20*m, false) // before C2's window
	add("c2@5", 200, 5, 25*time.Hour, 26*time.Hour, false)        // shared stop (lower seq than c1@5)
	add("c1@5", 100, 5, 25*time.Hour, 26*time.Hour, false)
	// Close contacts and non-contacts around the seeds.
	add("p1@1", 1, 1, 30*m, 2*time.Hour, false)                  // overlap 60m
	add("p2@1", 2, 1, 90*m, 3*time.Hour, false)                  // adjacent to c1@1
	add("p3@1", 3, 1, 75*m, 2*time.Hour, false)                  // overlap exactly 15m
	add("p4@1", 4, 1, 75*m+time.Second, 2*time.Hour, false)      // overlap 14m59s
	add("p10@1", 10, 1, time.Hour, 2*time.Hour, true)            // unverified, overlap 30m
	add("p5@2", 5, 2, 3*time.Hour+10*m, 3*time.Hour+25*m, false) // overlap exactly 5m (pharmacy)
	add("p6@3", 6, 3, -9*time.Hour, -3*time.Hour, false)         // overlaps c1@3, before the window
	add("p7@4", 7, 4, -time.Hour, 0, false)                      // overlaps c1@4 only before the window
	add("p8@4", 8, 4, 10*m, 40*m, false)                         // overlaps c1@4 clipped: 20m
	add("p1@5", 1, 5, 25*time.Hour, 25*time.Hour+20*m, false)
	add("p9@5", 9, 5, 25*time.Hour+30*m, 27*time.Hour, false)
	// The close contacts' later (and earlier) visits.
	add("p1@4a", 1, 4, -5*time.Hour, -4*time.Hour, false) // before p1's exposure
	add("p12@4", 12, 4, -5*time.Hour, -4*time.Hour, false)
	add("p1@3a", 1, 3, 10*time.Hour, 20*time.Hour, false)
	add("p13@3", 13, 3, 10*time.Hour, 22*time.Hour, false)
	add("p15@4", 15, 4, 29*time.Hour, 31*time.Hour, false)
	add("p1@4b", 1, 4, 29*time.Hour+45*m, 31*time.Hour, false) // straddles p1's quarantine (30h)
	add("p16@4", 16, 4, 29*time.Hour+50*m, 31*time.Hour, false)
	add("p1@3b", 1, 3, 31*time.Hour, 40*time.Hour, false) // after quarantine
	add("p14@3", 14, 3, 31*time.Hour, 40*time.Hour, false)
	add("p9@2", 9, 2, 50*time.Hour, 50*time.Hour+15*m, false)
	add("p17@2", 17, 2, 50*time.Hour+5*m, 50*time.Hour+20*m, false)

	s.seeds = []Seed{
		{Person: 100, From: t0, To: t0.Add(48 * time.Hour), Case: "C1"},
		{Person: 200, From: t0.Add(24 * time.Hour), To: t0.Add(72 * time.Hour), Case: "C2"},
	}
	minOv := map[uint32]time.Duration{1: 15 * m, 2: 5 * m, 3: 30 * m, 4: 15 * m, 5: 15 * m}
	s.params = Params{
		MinOverlap: func(place uint32) time.Duration { return minOv[place] },
		QuarantineAt: func(person uint32) time.Time {
			if person == 1 {
				return t0.Add(30 * time.Hour)
			}
			return time.Time{}
		},
	}
	return s
}

func (s *scenario) want(depth int) []refContact {
	m := time.Minute
	e := func(place uint32, from, to time.Duration, cas string, via uint32, visit, src string, unverified bool) refExposure {
		return refExposure{Place: place, From: t0.Add(from), To: t0.Add(to), SourceCase: cas, Via: via,
			Visit: s.seq[visit], SourceVisit: s.seq[src], Unverified: unverified}
	}
	out := []refContact{
		{Person: 1, Degree: 1, Exposures: []refExposure{
			e(1, 30*m, 90*m, "C1", 0, "p1@1", "c1@1", false),
			e(5, 25*time.Hour, 25*time.Hour+20*m, "C2", 0, "p1@5", "c2@5", false),
			e(5, 25*time.Hour, 25*time.Hour+20*m, "C1", 0, "p1@5", "c1@5", false),
		}},
		{Person: 3, Degree: 1, Exposures: []refExposure{e(1, 75*m, 90*m, "C1", 0, "p3@1", "c1@1", false)}},
		{Person: 5, Degree: 1, Exposures: []refExposure{e(2, 3*time.Hour+10*m, h(3.25), "C1", 0, "p5@2", "c1@2", false)}},
		{Person: 8, Degree: 1, Exposures: []refExposure{e(4, 10*m, 30*m, "C1", 0, "p8@4", "c1@4", false)}},
		{Person: 9, Degree: 1, Exposures: []refExposure{
			e(5, 25*time.Hour+30*m, 26*time.Hour, "C2", 0, "p9@5", "c2@5", false),
			e(5, 25*time.Hour+30*m, 26*time.Hour, "C1", 0, "p9@5", "c1@5", false),
		}},
		{Person: 10, Degree: 1, Exposures: []refExposure{e(1, time.Hour, 90*m, "C1", 0, "p10@1", "c1@1", true)}},
	}
	if depth == 1 {
		return out
	}
	return append(out,
		refContact{Person: 2, Degree: 2, Exposures: []refExposure{
			e(1, 90*m, 2*time.Hour, "C1", 1, "p2@1", "p1@1", false),
			e(1, 90*m, 2*time.Hour, "C1", 3, "p2@1", "p3@1", false),
			e(1, 90*m, 2*time.Hour, "C1", 10, "p2@1", "p10@1", true),
		}},
		refContact{Person: 4, Degree: 2, Exposures: []refExposure{
			e(1, 75*m+time.Second, 2*time.Hour, "C1", 1, "p4@1", "p1@1", false),
			e(1, 75*m+time.Second, 2*time.Hour, "C1", 3, "p4@1", "p3@1", false),
			e(1, 75*m+time.Second, 2*time.Hour, "C1", 10, "p4@1", "p10@1", true),
		}},
		refContact{Person: 13, Degree: 2, Exposures: []refExposure{e(3, 10*time.Hour, 20*time.Hour, "C1", 1, "p13@3", "p1@3a", false)}},
		refContact{Person: 15, Degree: 2, Exposures: []refExposure{e(4, 29*time.Hour+45*m, 30*time.Hour, "C1", 1, "p15@4", "p1@4b", false)}},
		// p9's first exposure is from C2 (same start and place, lower seq).
		refContact{Person: 17, Degree: 2, Exposures: []refExposure{e(2, 50*time.Hour+5*m, 50*time.Hour+15*m, "C2", 9, "p17@2", "p9@2", false)}},
	)
}

// layouts builds the same visits as an uncompacted index, a compacted one,
// and one compacted halfway with the rest in the tail.
func layouts(vs []health.Visit) map[string]*Index {
	out := map[string]*Index{"tail": New(), "compacted": New(), "half": New()}
	for i, v := range vs {
		for _, x := range out {
			x.Add(v)
		}
		if i == len(vs)/2 {
			out["half"].Compact()
		}
	}
	out["compacted"].Compact()
	return out
}

func TestTraceScenario(t *testing.T) {
	s := newScenario()
	for name, x := range layouts(s.visits) {
		for _, depth := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/depth=%d", name, depth), func(t *testing.T) {
				want := s.want(depth)
				got := traced(x, s.seeds, depth, s.params)
				if d := gocmp.Diff(want, got); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
				// Precision and recall over (person, degree, exposure).
				key := func(cs []refContact) map[string]bool {
					m := map[string]bool{}
					for _, c := range cs {
						for _, e := range c.Exposures {
							m[fmt.Sprintf("%d/%d/%+v", c.Person, c.Degree, e)] = true
						}
					}
					return m
				}
				w, g := key(want), key(got)
				tp := 0
				for k := range g {
					if w[k] {
						tp++
					}
				}
				if prec, rec := float64(tp)/float64(len(g)), float64(tp)/float64(len(w)); prec != 1 || rec != 1 {
					t.Errorf("precision %.3f, recall %.3f", prec, rec)
				}
				// The same seeds given twice change nothing.
				if d := gocmp.Diff(want, traced(x, append(slices.Clone(s.seeds), s.seeds...), depth, s.params)); d != "" {
					t.Errorf("duplicated seeds (-want +got):\n%s", d)
				}
			})
		}
	}
}

func TestTraceWithdraw(t *testing.T) {
	s := newScenario()
	for name, x := range layouts(s.visits) {
		t.Run(name, func(t *testing.T) {
			// Withdrawing p8's visit removes person 8; withdrawing c1@2
			// removes person 5. Withdrawing twice or an unknown seq is a no-op.
			for _, seq := range []uint64{s.seq["p8@4"], s.seq["c1@2"]} {
				if !x.Withdraw(seq) {
					t.Fatalf("Withdraw(%d) = false", seq)
				}
			}
			if x.Withdraw(s.seq["p8@4"]) || x.Withdraw(s.seq["p8@4"]+1) || x.Withdraw(1) || x.Withdraw(1<<40) {
				t.Error("Withdraw of a withdrawn or unknown seq reported true")
			}
			want := slices.DeleteFunc(s.want(1), func(c refContact) bool { return c.Person == 8 || c.Person == 5 })
			check := func(stage string) {
				if d := gocmp.Diff(want, traced(x, s.seeds, 1, s.params)); d != "" {
					t.Errorf("%s (-want +got):\n%s", stage, d)
				}
				if x.Len() != len(s.visits)-2 {
					t.Errorf("%s: Len %d, want %d", stage, x.Len(), len(s.visits)-2)
				}
				if got := x.ByPerson(8, t0.Add(-100*time.Hour), t0.Add(100*time.Hour)); len(got) != 0 {
					t.Errorf("%s: ByPerson(8) = %v", stage, got)
				}
			}
			check("before Compact")
			x.Compact()
			check("after Compact")
			if x.Withdraw(s.seq["p8@4"]) {
				t.Error("Withdraw after Compact of a dropped visit reported true")
			}
			// Seqs still resolve after the renumbering.
			if !x.Withdraw(s.seq["p17@2"]) || x.Len() != len(s.visits)-3 {
				t.Error("Withdraw after Compact failed")
			}
		})
	}
}

// refTrace is the reference: the rules of Trace, spelt out in O(n²) over the
// live visits, in time.Time arithmetic.
func refTrace(vs []health.Visit, seeds []Seed, depth int, p Params) []refContact {
	inf := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	orInf := func(t time.Time) time.Time {
		if t.IsZero() {
			return inf
		}
		return t
	}
	clip := func(af, at, bf, bt time.Time) (time.Time, time.Time) {
		if bf.After(af) {
			af = bf
		}
		if bt.Before(at) {
			at = bt
		}
		return af, at
	}
	seed := map[uint32]bool{}
	for _, s := range seeds {
		seed[s.Person] = true
	}
	exps := map[uint32][]refExposure{}
	degree := map[uint32]int{}
	expose := func(src health.Visit, f, t time.Time, srcPerson uint32, cas string, via uint32, deg int, skip func(uint32) bool) {
		for _, b := range vs {
			if b.Place != src.Place && !slices.Contains(p.Near[src.Place], b.Place) || b.Person == srcPerson || skip(b.Person) {
				continue
			}
			of, ot := clip(f, t, b.From, b.To)
			if !ot.After(of) || ot.Sub(of) < p.MinOverlap(b.Place) {
				continue
			}
			degree[b.Person] = deg
			exps[b.Person] = append(exps[b.Person], refExposure{Place: b.Place, From: of, To: ot, SourceCase: cas, Via: via,
				Visit: b.Seq, SourceVisit: src.Seq, Unverified: src.Unverified || b.Unverified})
		}
	}
	order := func(es []refExposure) []refExposure {
		slices.SortFunc(es, func(a, b refExposure) int {
			return cmp.Or(a.From.Compare(b.From), cmp.Compare(a.Place, b.Place), cmp.Compare(a.SourceVisit, b.SourceVisit),
				cmp.Compare(a.Visit, b.Visit), strings.Compare(a.SourceCase, b.SourceCase), cmp.Compare(a.Via, b.Via), a.To.Compare(b.To))
		})
		return slices.CompactFunc(es, func(a, b refExposure) bool { return a == b })
	}
	for _, s := range seeds {
		for _, a := range vs {
			if a.Person == s.Person {
				f, t := clip(a.From, a.To, s.From, orInf(s.To))
				expose(a, f, t, s.Person, s.Case, 0, 1, func(q uint32) bool { return seed[q] })
			}
		}
	}
	var closeP []uint32
	for q := range exps {
		exps[q] = order(exps[q])
		closeP = append(closeP, q)
	}
	slices.Sort(closeP)
	if depth == 2 {
		isClose := func(q uint32) bool { return seed[q] || degree[q] == 1 }
		for _, c := range closeP {
			first := exps[c][0]
			q := inf
			if p.QuarantineAt != nil {
				q = orInf(p.QuarantineAt(c))
			}
			for _, a := range vs {
				if a.Person == c {
					f, t := clip(a.From, a.To, first.From, q)
					expose(a, f, t, c, first.SourceCase, c, 2, isClose)
				}
			}
		}
	}
	var out []refContact
	for _, deg := range []int{1, 2} {
		var ps []uint32
		for q, d := range degree {
			if d == deg {
				ps = append(ps, q)
			}
		}
		slices.Sort(ps)
		for _, q := range ps {
			out = append(out, refContact{Person: q, Degree: deg, Exposures: order(exps[q])})
		}
	}
	return out
}

// diffContacts is gocmp.Diff, with a fast path for equal results.
func diffContacts(want, got []refContact) string {
	same := slices.EqualFunc(want, got, func(a, b refContact) bool {
		return a.Person == b.Person && a.Degree == b.Degree && slices.EqualFunc(a.Exposures, b.Exposures, func(a, b refExposure) bool {
			return a.Place == b.Place && a.From.Equal(b.From) && a.To.Equal(b.To) && a.SourceCase == b.SourceCase &&
				a.Via == b.Via && a.Visit == b.Visit && a.SourceVisit == b.SourceVisit && a.Unverified == b.Unverified
		})
	})
	if same {
		return ""
	}
	return gocmp.Diff(want, got)
}

func TestTraceScenarioReference(t *testing.T) {
	s := newScenario()
	for _, depth := range []int{1, 2} {
		if d := gocmp.Diff(s.want(depth), refTrace(s.visits, s.seeds, depth, s.params)); d != "" {
			t.Errorf("depth %d: reference disagrees with the ground truth (-want +got):\n%s", depth, d)
		}
	}
}

// randomWorld makes a small random index's visits: coarse times (so that
// equal and adjacent ends are common), some out of order, some empty.
func randomWorld(rng *rand.Rand, n, persons, places int) []health.Visit {
	vs := make([]health.Visit, n)
	for i := range vs {
		from := t0.Add(time.Duration(rng.IntN(72*12)) * 5 * time.Minute)
		if rng.IntN(10) == 0 {
			from = from.Add(time.Duration(rng.IntN(60)) * time.Second)
		}
		dur := time.Duration(rng.IntN(36)) * 5 * time.Minute
		if rng.IntN(20) == 0 {
			dur = time.Duration(rng.IntN(3000)) * time.Second
		}
		vs[i] = health.Visit{Person: uint32(rng.IntN(persons + 1)), Place: uint32(rng.IntN(places) + 1),
			From: from, To: from.Add(dur), Source: health.VisitSource(rng.IntN(4)), Unverified: rng.IntN(8) == 0}
	}
	// Mostly in time order.
	slices.SortStableFunc(vs, func(a, b health.Visit) int { return cmp.Compare(a.From.Unix()/7200, b.From.Unix()/7200) })
	for i := range vs {
		vs[i].Seq = uint64(i)*2 + 1 - uint64(i%3/2)
	}
	return vs
}

func randomSeeds(rng *rand.Rand, persons int) []Seed {
	seeds := make([]Seed, 1+rng.IntN(4))
	for i := range seeds {
		f := t0.Add(time.Duration(rng.IntN(72)) * time.Hour)
		s := Seed{Person: uint32(rng.IntN(persons) + 1), From: f, To: f.Add(time.Duration(1+rng.IntN(48)) * time.Hour),
			Case: fmt.Sprintf("C%d", rng.IntN(3))}
		if rng.IntN(5) == 0 {
			s.To = time.Time{}
		}
		seeds[i] = s
	}
	if rng.IntN(5) == 0 {
		seeds = append(seeds, seeds[0])
	}
	return seeds
}

func randomParams(rng *rand.Rand, places, persons int) Params {
	choices := []time.Duration{0, time.Second, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, 10*time.Minute + 30500*time.Millisecond}
	minOv := make([]time.Duration, places+3) // Near may name places without visits
	for i := range minOv {
		minOv[i] = choices[rng.IntN(len(choices))]
	}
	p := Params{MinOverlap: func(place uint32) time.Duration { return minOv[place] }}
	if rng.IntN(4) > 0 {
		q := make([]time.Time, persons+1)
		for i := range q {
			if rng.IntN(2) == 0 {
				q[i] = t0.Add(time.Duration(rng.IntN(80)) * time.Hour)
			}
		}
		p.QuarantineAt = func(person uint32) time.Time { return q[person] }
	}
	if places > 1 && rng.IntN(3) == 0 {
		// Rows of a flight: some places are near others (not symmetric,
		// never themselves), and some near places have no visits.
		p.Near = map[uint32][]uint32{}
		for a := 1; a <= places; a++ {
			for b := 1; b <= places+2; b++ {
				if a != b && rng.IntN(3) == 0 {
					p.Near[uint32(a)] = append(p.Near[uint32(a)], uint32(b))
				}
			}
		}
	}
	return p
}

func TestTraceRandomized(t *testing.T) {
	defer func(h, c, s int, b uint) {
		parallelHits, parallelContacts, parallelSources, minBucketShift = h, c, s, b
	}(parallelHits, parallelContacts, parallelSources, minBucketShift)
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 300
	if raceEnabled {
		rounds = 60
	}
	for round := range rounds {
		// Exercise the parallel paths and many buckets in most rounds.
		if round%3 > 0 {
			parallelHits, parallelContacts, parallelSources, minBucketShift = 40, 3, 5, uint(round%3)
		} else {
			parallelHits, parallelContacts, parallelSources, minBucketShift = 1<<14, 512, 256, 6
		}
		persons, places := 5+rng.IntN(40), 1+rng.IntN(10)
		if round%5 == 0 {
			persons = 100 + rng.IntN(200) // several closeBits words
		}
		vs := randomWorld(rng, 50+rng.IntN(350), persons, places)
		// Withdraw a few visits (in every other round), some before and some
		// after a Compact.
		x := New()
		var live []health.Visit
		compactAt := rng.IntN(len(vs) + 1)
		gone := map[uint64]bool{}
		for i, v := range vs {
			if i == compactAt {
				x.Compact()
			}
			x.Add(v)
			if round%2 == 0 && rng.IntN(30) == 0 {
				w := vs[rng.IntN(i+1)].Seq
				if x.Withdraw(w) == gone[w] {
					t.Fatalf("round %d: Withdraw(%d) disagrees (already gone: %v)", round, w, gone[w])
				}
				gone[w] = true
			}
		}
		for _, v := range vs {
			if !gone[v.Seq] {
				live = append(live, v)
			}
		}
		if x.Len() != len(live) {
			t.Fatalf("round %d: Len %d, want %d", round, x.Len(), len(live))
		}
		for k := range 10 {
			seeds := randomSeeds(rng, persons)
			p := randomParams(rng, places, persons)
			depth := 1 + rng.IntN(2)
			want := refTrace(live, seeds, depth, p)
			got := traced(x, seeds, depth, p)
			if d := diffContacts(want, got); d != "" {
				t.Fatalf("round %d.%d (depth %d, seeds %+v): (-want +got):\n%s", round, k, depth, seeds, d)
			}
		}
	}
}

// TestCompactQueries checks every query against a reference over the live
// visits, on an index compacted at random points, with visits added and
// withdrawn between compactions.
func TestCompactQueries(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rounds := 100
	if raceEnabled {
		rounds = 20
	}
	for round := range rounds {
		persons, places := 5+rng.IntN(30), 1+rng.IntN(8)
		vs := randomWorld(rng, 20+rng.IntN(300), persons, places)
		x, plain := New(), New()
		var live []health.Visit
		added := 0
		gone := map[uint64]bool{}
		check := func(stage string) {
			t.Helper()
			live = live[:0]
			for _, v := range vs[:added] {
				if !gone[v.Seq] {
					live = append(live, v)
				}
			}
			if x.Len() != len(live) {
				t.Fatalf("round %d %s: Len %d, want %d", round, stage, x.Len(), len(live))
			}
			for range 20 {
				from := t0.Add(time.Duration(rng.IntN(80)-4) * time.Hour)
				to := from.Add(time.Duration(rng.IntN(30*60)) * time.Minute)
				person, place := uint32(rng.IntN(persons+2)), uint32(rng.IntN(places+2))
				var wantP, wantL []health.Visit
				var wantPersons []uint32
				for _, v := range live {
					if v.To.Unix() > from.Unix() && v.From.Unix() < to.Unix() {
						if v.Person == person {
							wantP = append(wantP, v)
						}
						if v.Place == place {
							wantL = append(wantL, v)
							wantPersons = append(wantPersons, v.Person)
						}
					}
				}
				if d := gocmp.Diff(wantP, x.ByPerson(person, from, to)); d != "" {
					t.Fatalf("round %d %s: ByPerson(%d, %v, %v) (-want +got):\n%s", round, stage, person, from, to, d)
				}
				if d := gocmp.Diff(wantL, x.ByPlace(place, from, to)); d != "" {
					t.Fatalf("round %d %s: ByPlace(%d, %v, %v) (-want +got):\n%s", round, stage, place, from, to, d)
				}
				var gotPersons []uint32
				x.PersonsAtPlace(place, from, to, func(p uint32) { gotPersons = append(gotPersons, p) })
				slices.Sort(wantPersons)
				slices.Sort(gotPersons)
				if d := gocmp.Diff(wantPersons, gotPersons); d != "" {
					t.Fatalf("round %d %s: PersonsAtPlace (-want +got):\n%s", round, stage, d)
				}
			}
			seeds, p := randomSeeds(rng, persons), randomParams(rng, places, persons)
			if d := diffContacts(traced(plain, seeds, 2, p), traced(x, seeds, 2, p)); d != "" {
				t.Fatalf("round %d %s: Trace differs from the uncompacted index (-want +got):\n%s", round, stage, d)
			}
		}
		for i, v := range vs {
			x.Add(v)
			plain.Add(v)
			added++
			if rng.IntN(20) == 0 {
				w := vs[rng.IntN(i+1)].Seq
				x.Withdraw(w)
				plain.Withdraw(w)
				gone[w] = true
			}
			switch rng.IntN(40) {
			case 0:
				check("before Compact")
				x.Compact()
				check("after Compact")
				x.Compact() // a no-op
				check("after a second Compact")
			case 1:
				check("tail")
			}
		}
		check("end")
		x.Compact()
		check("end, compacted")
	}
}

func TestCompactMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := New()
	const n = 200000
	for i := range n {
		from := t0.Add(time.Duration(i) * 3 * time.Second)
		x.Add(health.Visit{Seq: uint64(i + 1), Person: uint32(rng.IntN(10000) + 1), Place: uint32(rng.IntN(500) + 1), From: from, To: from.Add(time.Hour)})
	}
	before := x.MemBytes()
	x.Compact()
	after := x.MemBytes()
	// 20 bytes per visit, 4 per person, 8 per place, a few runs.
	if limit := 20*n + 4*10002 + 8*502 + 1024; after > limit {
		t.Errorf("MemBytes after Compact = %d, want ≤ %d (before: %d)", after, limit, before)
	}
	t.Logf("bytes/visit: %.1f before Compact, %.1f after", float64(before)/n, float64(after)/n)
}

// TestTraceConcurrent runs traces at once on one index (a read each), in
// parallel mode, for the race detector.
func TestTraceConcurrent(t *testing.T) {
	defer func(h, c, s int) { parallelHits, parallelContacts, parallelSources = h, c, s }(parallelHits, parallelContacts, parallelSources)
	parallelHits, parallelContacts, parallelSources = 10, 2, 2
	rng := rand.New(rand.NewPCG(7, 8))
	vs := randomWorld(rng, 400, 40, 6)
	x := New()
	for i, v := range vs {
		x.Add(v)
		if i == 200 {
			x.Compact()
		}
	}
	type q struct {
		seeds []Seed
		p     Params
		want  []refContact
	}
	qs := make([]q, 8)
	for i := range qs {
		qs[i].seeds, qs[i].p = randomSeeds(rng, 40), randomParams(rng, 6, 40)
		qs[i].want = refTrace(vs, qs[i].seeds, 2, qs[i].p)
	}
	var wg sync.WaitGroup
	for i := range qs {
		wg.Go(func() {
			for range 20 {
				if d := diffContacts(qs[i].want, traced(x, qs[i].seeds, 2, qs[i].p)); d != "" {
					t.Errorf("query %d (-want +got):\n%s", i, d)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestTraceEmpty(t *testing.T) {
	x := New()
	p := Params{MinOverlap: func(uint32) time.Duration { return time.Minute }}
	if got := traced(x, []Seed{{Person: 1, From: t0, To: t0.Add(time.Hour)}}, 2, p); got != nil {
		t.Errorf("empty index: %v", got)
	}
	x.Add(v(1, 1, 1, 0, time.Hour))
	x.Add(v(2, 2, 1, 0, time.Hour))
	if got := traced(x, nil, 2, p); got != nil {
		t.Errorf("no seeds: %v", got)
	}
	// A seed with no visits, one beyond every list, an empty window.
	if got := traced(x, []Seed{{Person: 7, From: t0, To: t0.Add(time.Hour)}, {Person: 1 << 30, From: t0}, {Person: 1, From: t0, To: t0}}, 2, p); got != nil {
		t.Errorf("seeds without visits: %v", got)
	}
}

// refExposure is an exposure as the tests write it: with times and the case.
type refExposure struct {
	Place       uint32
	From, To    time.Time
	SourceCase  string
	Via         uint32
	Visit       uint64
	SourceVisit uint64
	Unverified  bool
}

// refContact is a contact with refExposures.
type refContact struct {
	Person    uint32
	Degree    int
	Exposures []refExposure
}

// traced runs x.Trace and returns its contacts as refContacts (nil for none).
func traced(x *Index, seeds []Seed, depth int, p Params) []refContact {
	cs := x.Trace(seeds, depth, p)
	if cs == nil {
		return nil
	}
	r := Result{Contacts: cs, Seeds: seeds}
	out := make([]refContact, len(cs))
	for i, c := range cs {
		out[i] = refContact{Person: c.Person, Degree: c.Degree, Exposures: make([]refExposure, len(c.Exposures))}
		for k := range c.Exposures {
			e := &c.Exposures[k]
			out[i].Exposures[k] = refExposure{Place: e.Place, From: e.FromTime(), To: e.ToTime(), SourceCase: r.Case(e), Via: e.Via,
				Visit: e.Visit, SourceVisit: e.SourceVisit, Unverified: e.Unverified}
		}
	}
	return out
}
