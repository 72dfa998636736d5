package sim

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// t0 is the start of the hand-made cities' first day.
var t0 = time.Date(2022, 6, 10, 0, 0, 0, 0, time.UTC)

// hm is day d, h:m after t0.
func hm(d, h, m int) time.Time {
	return t0.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// handCity is a city of n persons and places of the kinds, with visits
// given as (person, place, from, to).
func handCity(n int, kinds []string, visits ...Visit) *City {
	c := &City{Persons: make([]Person, n), Visits: visits}
	for _, k := range kinds {
		c.Places = append(c.Places, Place{Kind: k})
	}
	slices.SortStableFunc(c.Visits, func(a, b Visit) int { return a.At.Compare(b.At) })
	return c
}

func v(person, place int, from, to time.Time) Visit {
	return Visit{Person: person, Place: place, At: from, Until: to}
}

// window is a case of person whose infectious window is [from, to).
func window(person int, from, to time.Time) Case {
	return Case{Person: person, Classification: Asymptomatic, From: from, Until: to}
}

func TestContactsHandMade(t *testing.T) {
	const (
		restaurant = "restaurant" // min_overlap 15m
		pharmacy   = "pharmacy"   // 5m
	)
	tests := []struct {
		name  string
		n     int
		kinds []string
		cases []Case
		vs    []Visit
		want  []Contact
	}{
		{
			name: "min overlap at the second", n: 6, kinds: []string{restaurant, restaurant},
			cases: []Case{window(0, hm(0, 0, 0), hm(3, 0, 0))},
			vs: []Visit{
				v(0, 0, hm(0, 10, 0), hm(0, 11, 0)),
				v(1, 0, hm(0, 10, 45), hm(0, 11, 30)),                                 // 15m: close
				v(2, 0, hm(0, 10, 45).Add(time.Second), hm(0, 11, 30)),                // 15m - 1s: not
				v(3, 1, hm(0, 10, 0), hm(0, 11, 0)),                                   // another place
				v(4, 0, hm(0, 9, 0), hm(0, 10, 15)),                                   // 15m before: close
				v(5, 0, hm(0, 11, 0), hm(0, 12, 0)),                                   // touching: not
				v(5, 0, hm(0, 10, 59), hm(0, 10, 59).Add(30*time.Second)),             // 30s: not
				v(2, 1, hm(0, 10, 0).Add(-time.Hour), hm(0, 10, 0)),                   // nothing there
				v(3, 0, hm(0, 8, 0), hm(0, 10, 0).Add(14*time.Minute+59*time.Second)), // 14m59s: not
			},
			want: []Contact{
				{Person: 1, Degree: 1, SourceCase: 0, First: hm(0, 10, 45)},
				{Person: 4, Degree: 1, SourceCase: 0, First: hm(0, 10, 0)},
				{Person: 2, Degree: 2, SourceCase: 0, First: hm(0, 10, 45).Add(time.Second)}, // with 1
				{Person: 5, Degree: 2, SourceCase: 0, First: hm(0, 11, 0)},                   // with 1, 11:00 to 11:30
			},
		},
		{
			name: "kind's min overlap", n: 3, kinds: []string{pharmacy},
			cases: []Case{window(0, hm(0, 0, 0), hm(3, 0, 0))},
			vs: []Visit{
				v(0, 0, hm(0, 12, 0), hm(0, 12, 10)),
				v(1, 0, hm(0, 12, 5), hm(0, 12, 20)), // 5m: close
				v(2, 0, hm(0, 12, 6), hm(0, 12, 20)), // 4m: not
			},
			want: []Contact{
				{Person: 1, Degree: 1, SourceCase: 0, First: hm(0, 12, 5)},
				{Person: 2, Degree: 2, SourceCase: 0, First: hm(0, 12, 6)}, // 14m with 1
			},
		},
		{
			name: "clipped to the infectious window", n: 5, kinds: []string{restaurant},
			cases: []Case{window(0, hm(0, 10, 30), hm(0, 18, 0))},
			vs: []Visit{
				v(0, 0, hm(0, 10, 0), hm(0, 11, 0)),
				v(1, 0, hm(0, 10, 0), hm(0, 10, 40)), // 10m inside: not
				v(2, 0, hm(0, 10, 20), hm(0, 11, 0)), // 30m inside: close from 10:30
				v(0, 0, hm(0, 17, 50), hm(0, 19, 0)), // isolated at 18:00
				v(3, 0, hm(0, 17, 40), hm(0, 19, 0)), // 10m inside: not
				v(4, 0, hm(0, 18, 0), hm(0, 19, 0)),  // after isolation: not
			},
			want: []Contact{{Person: 2, Degree: 1, SourceCase: 0, First: hm(0, 10, 30)}},
		},
		{
			name: "cases are not contacts, the first exposure names the case", n: 4, kinds: []string{restaurant, restaurant},
			cases: []Case{window(0, hm(0, 0, 0), hm(3, 0, 0)), window(1, hm(0, 0, 0), hm(3, 0, 0))},
			vs: []Visit{
				v(0, 0, hm(0, 10, 0), hm(0, 11, 0)),
				v(1, 0, hm(0, 10, 0), hm(0, 11, 0)), // a case with a case
				v(2, 0, hm(0, 10, 30), hm(0, 11, 0)),
				v(1, 1, hm(0, 8, 0), hm(0, 9, 0)),
				v(2, 1, hm(0, 8, 0), hm(0, 9, 0)),    // earlier: case 1
				v(3, 0, hm(0, 10, 40), hm(0, 11, 0)), // 20m with both from 10:40: the lower case person
			},
			want: []Contact{{Person: 2, Degree: 1, SourceCase: 1, First: hm(0, 8, 0)}, {Person: 3, Degree: 1, SourceCase: 0, First: hm(0, 10, 40)}},
		},
		{
			name: "secondary from the first exposure on, no quarantine", n: 10, kinds: []string{restaurant, restaurant, restaurant},
			cases: []Case{window(0, hm(0, 0, 0), hm(0, 12, 0))},
			vs: []Visit{
				v(0, 0, hm(0, 10, 0), hm(0, 11, 0)),
				v(1, 0, hm(0, 10, 30), hm(0, 12, 0)), // close from 10:30
				v(2, 0, hm(0, 10, 0), hm(0, 10, 30)), // close from 10:00
				v(1, 1, hm(0, 9, 0), hm(0, 10, 0)),
				v(3, 1, hm(0, 9, 0), hm(0, 10, 0)), // before 1's exposure: not
				v(1, 1, hm(0, 10, 0), hm(0, 10, 40)),
				v(4, 1, hm(0, 10, 0), hm(0, 10, 40)), // 10m after 10:30: not
				v(1, 2, hm(0, 12, 30), hm(0, 13, 30)),
				v(2, 2, hm(0, 12, 30), hm(0, 13, 30)), // close contacts are not secondary
				v(5, 2, hm(0, 12, 30), hm(0, 13, 0)),  // secondary via 1 and 2
				v(0, 2, hm(0, 12, 30), hm(0, 13, 30)), // the case, isolated: exposes nobody
				v(1, 1, hm(5, 9, 0), hm(5, 10, 0)),
				v(6, 1, hm(5, 9, 30), hm(5, 10, 30)), // five days later: secondary
				v(6, 0, hm(5, 9, 30), hm(5, 10, 30)), // (no one there)
				v(7, 1, hm(5, 9, 50), hm(5, 10, 30)), // 10m: not
				v(8, 2, hm(0, 13, 15), hm(0, 14, 0)), // 15m with 1 and 2 (and the case): secondary
			},
			want: []Contact{
				{Person: 1, Degree: 1, SourceCase: 0, First: hm(0, 10, 30)},
				{Person: 2, Degree: 1, SourceCase: 0, First: hm(0, 10, 0)},
				{Person: 5, Degree: 2, SourceCase: 0, First: hm(0, 12, 30)},
				{Person: 6, Degree: 2, SourceCase: 0, First: hm(5, 9, 30)},
				{Person: 8, Degree: 2, SourceCase: 0, First: hm(0, 13, 15)},
			},
		},
		{
			name: "no cases", n: 2, kinds: []string{restaurant},
			vs: []Visit{v(0, 0, hm(0, 10, 0), hm(0, 11, 0)), v(1, 0, hm(0, 10, 0), hm(0, 11, 0))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Contacts(handCity(tt.n, tt.kinds, tt.vs...), tt.cases)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("contacts (-want +got):\n%s", diff)
			}
		})
	}
}

// trip is a trip of the mode from..to with the passengers.
func trip(id, mode string, from, to time.Time, ps ...Passenger) Trip {
	return Trip{Trip: id, Mode: mode, From: from, To: to, Passengers: ps}
}

// TestContactsTrips: a trip's section is a place, as on the node: the same
// carriage, rows within 3 on a flight, the whole coach; a coach's stop at a
// service area is a visit like any other.
func TestContactsTrips(t *testing.T) {
	day3 := hm(3, 0, 0)
	tests := []struct {
		name  string
		n     int
		kinds []string
		cases []Case
		trips []Trip
		vs    []Visit
		want  []Contact
	}{
		{
			name: "same carriage close, other carriage and other train not", n: 5,
			cases: []Case{window(0, hm(0, 0, 0), day3)},
			trips: []Trip{
				trip("G1234 2022-06-10", ModeTrain, hm(0, 10, 0), hm(0, 13, 0),
					Passenger{Person: 0, Carriage: 5, Seat: "07F"},
					Passenger{Person: 1, Carriage: 5, Seat: "18A"}, // same carriage: close
					Passenger{Person: 2, Carriage: 6, Seat: "07F"}, // next carriage: not
				),
				trip("G1236 2022-06-10", ModeTrain, hm(0, 10, 0), hm(0, 13, 0),
					Passenger{Person: 3, Carriage: 5, Seat: "07F"}), // another train: not
				trip("G1234 2022-06-11", ModeTrain, hm(1, 10, 0), hm(1, 13, 0),
					Passenger{Person: 1, Carriage: 5, Seat: "01A"},
					Passenger{Person: 4, Carriage: 5, Seat: "01B"}), // with the close contact the next day: secondary
			},
			want: []Contact{
				{Person: 1, Degree: 1, SourceCase: 0, First: hm(0, 10, 0)},
				{Person: 4, Degree: 2, SourceCase: 0, First: hm(1, 10, 0)},
			},
		},
		{
			name: "flight rows within 3", n: 6,
			cases: []Case{window(0, hm(0, 0, 0), day3)},
			trips: []Trip{trip("CA1234 2022-06-10", ModeFlight, hm(0, 8, 0), hm(0, 10, 30),
				Passenger{Person: 0, Row: 12, Seat: "12C"},
				Passenger{Person: 1, Row: 15, Seat: "15A"}, // 3 rows behind: close
				Passenger{Person: 2, Row: 16, Seat: "16F"}, // 4 rows: not close; a row from 1: secondary
				Passenger{Person: 3, Row: 9, Seat: "9D"},   // 3 rows ahead: close
				Passenger{Person: 4, Row: 8, Seat: "8A"},   // 4 rows: secondary through 3
				Passenger{Person: 5, Row: 20, Seat: "20B"}, // 5 rows from 1, 8 from the case: nothing
			)},
			want: []Contact{
				{Person: 1, Degree: 1, SourceCase: 0, First: hm(0, 8, 0)},
				{Person: 3, Degree: 1, SourceCase: 0, First: hm(0, 8, 0)},
				{Person: 2, Degree: 2, SourceCase: 0, First: hm(0, 8, 0)},
				{Person: 4, Degree: 2, SourceCase: 0, First: hm(0, 8, 0)},
			},
		},
		{
			name: "a coach and its stop at a service area", n: 6, kinds: []string{"highway_service"}, // min_overlap 10m
			cases: []Case{window(0, hm(0, 0, 0), day3)},
			trips: []Trip{
				trip("粤A12345 2022-06-10", ModeBus, hm(0, 10, 0), hm(0, 13, 0),
					Passenger{Person: 0, Seat: "1"}, Passenger{Person: 1, Seat: "50"}), // the whole coach: close
				trip("粤A54321 2022-06-10", ModeBus, hm(0, 10, 30), hm(0, 14, 0), Passenger{Person: 2, Seat: "3"}),
			},
			vs: []Visit{
				v(0, 0, hm(0, 11, 0), hm(0, 11, 25)), // the stop
				v(1, 0, hm(0, 11, 0), hm(0, 11, 25)),
				v(2, 0, hm(0, 11, 15), hm(0, 11, 40)), // another coach's passenger, 10m with the case: close
				v(3, 0, hm(0, 11, 20), hm(0, 11, 35)), // 5m with the case and 1, 15m with 2: secondary
				v(4, 0, hm(0, 11, 31), hm(0, 11, 50)), // 9m with 2: not
			},
			want: []Contact{
				{Person: 1, Degree: 1, SourceCase: 0, First: hm(0, 10, 0)},
				{Person: 2, Degree: 1, SourceCase: 0, First: hm(0, 11, 15)},
				{Person: 3, Degree: 2, SourceCase: 0, First: hm(0, 11, 20)},
			},
		},
		{
			name: "a trip clipped to the infectious window", n: 4,
			cases: []Case{window(0, hm(0, 0, 0), hm(0, 10, 15)), window(1, hm(0, 12, 50), day3)},
			trips: []Trip{
				trip("G1234 2022-06-10", ModeTrain, hm(0, 10, 0), hm(0, 13, 0),
					Passenger{Person: 0, Carriage: 1, Seat: "01A"}, Passenger{Person: 2, Carriage: 1, Seat: "01B"}), // 15m: close
				trip("G1238 2022-06-10", ModeTrain, hm(0, 10, 0), hm(0, 13, 0),
					Passenger{Person: 1, Carriage: 1, Seat: "01A"}, Passenger{Person: 3, Carriage: 1, Seat: "01B"}), // 10m: not
			},
			want: []Contact{{Person: 2, Degree: 1, SourceCase: 0, First: hm(0, 10, 0)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := handCity(tt.n, tt.kinds, tt.vs...)
			c.Trips = tt.trips
			got, err := Contacts(c, tt.cases)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("contacts (-want +got):\n%s", diff)
			}
			if want := naiveContacts(t, c, tt.cases); len(want) != len(got) {
				t.Errorf("the naive search finds %v", want)
			}
		})
	}
}

func TestContactsErrors(t *testing.T) {
	c := handCity(2, []string{"spaceport"}, v(0, 0, hm(0, 1, 0), hm(0, 2, 0)))
	if _, err := Contacts(c, nil); err == nil {
		t.Error("an unknown place kind: got no error")
	}
	c = handCity(2, []string{"restaurant"}, v(2, 0, hm(0, 1, 0), hm(0, 2, 0)))
	if _, err := Contacts(c, nil); err == nil {
		t.Error("a visit of a person not in the city: got no error")
	}
	for _, tr := range []Trip{
		trip("X1 2022-06-10", "ship", hm(0, 1, 0), hm(0, 2, 0), Passenger{Person: 0}),
		trip("G1 2022-06-10", ModeTrain, hm(0, 1, 0), hm(0, 2, 0), Passenger{Person: 0}), // no carriage
		trip("CA1 2022-06-10", ModeFlight, hm(0, 1, 0), hm(0, 2, 0), Passenger{Person: 0, Row: 121}),
		trip("G1 2022-06-10", ModeTrain, hm(0, 1, 0), hm(0, 2, 0), Passenger{Person: 2, Carriage: 1}),
		trip("G1 2022-06-10", ModeTrain, hm(0, 2, 0), hm(0, 1, 0), Passenger{Person: 0, Carriage: 1}),
	} {
		c := handCity(2, nil)
		c.Trips = []Trip{tr}
		if _, err := Contacts(c, nil); err == nil {
			t.Errorf("trip %+v: got no error", tr)
		}
	}
}

func TestCases(t *testing.T) {
	pos := hm(2, 10, 0)
	results := []Result{
		{Person: 0, SampledAt: hm(2, 9, 0), Result: "negative"},
		{Person: 0, SampledAt: pos, Result: "positive"},
		{Person: 0, SampledAt: hm(3, 9, 0), Result: "positive"}, // later: not the first
		{Person: 1, SampledAt: hm(1, 8, 0), Result: "positive"},
		{Person: 2, SampledAt: hm(1, 8, 0), Result: "invalid"}, // not a case
		{Person: 3, SampledAt: hm(3, 23, 0), Result: "positive"},
		{Person: 4, SampledAt: hm(1, 8, 0), Result: "positive"},
	}
	infections := []Infection{
		{Person: 0, Onset: hm(2, 6, 0)},                     // symptoms before the positive: confirmed
		{Person: 1, Onset: hm(2, 6, 0)},                     // after: asymptomatic (so far)
		{Person: 3, Onset: hm(3, 6, 0), Asymptomatic: true}, // asymptomatic
	} // person 4 has no infection (a false positive): asymptomatic
	end := hm(4, 0, 0)
	got, err := Cases(results, infections, end)
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{Person: 1, Classification: Asymptomatic, FirstPositive: hm(1, 8, 0), IsolatedAt: hm(1, 10, 0), From: hm(-1, 8, 0), Until: hm(1, 10, 0)},
		{Person: 4, Classification: Asymptomatic, FirstPositive: hm(1, 8, 0), IsolatedAt: hm(1, 10, 0), From: hm(-1, 8, 0), Until: hm(1, 10, 0)},
		{Person: 0, Classification: Confirmed, Onset: hm(2, 6, 0), FirstPositive: pos, IsolatedAt: hm(2, 12, 0), From: hm(0, 6, 0), Until: hm(2, 12, 0)},
		{Person: 3, Classification: Asymptomatic, FirstPositive: hm(3, 23, 0), IsolatedAt: end, From: hm(1, 23, 0), Until: end}, // capped
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cases (-want +got):\n%s", diff)
	}
}

// naiveContacts is Contacts the slow way: every source against every visit
// co-located with it (the same place; on a trip, the same trip and section,
// or flight rows within 3).
func naiveContacts(t *testing.T, c *City, cases []Case) map[int]int {
	t.Helper()
	rs, _ := nationalRuleset()
	minOv := func(kind string) int64 { return max(1, int64(math.Ceil(rs.PlaceKinds[kind].MinOverlap.Seconds()))) }
	// nv is a visit to a place (trip "") or a trip's section.
	type nv struct {
		person, place  int
		trip, mode     string
		carriage, row  int
		at, until, min int64
	}
	var all []nv
	for _, x := range c.Visits {
		all = append(all, nv{person: x.Person, place: x.Place, at: x.At.Unix(), until: x.Until.Unix(), min: minOv(c.Places[x.Place].Kind)})
	}
	for _, tr := range c.Trips {
		for _, p := range tr.Passengers {
			all = append(all, nv{person: p.Person, place: -1, trip: tr.Trip, mode: tr.Mode, carriage: p.Carriage, row: p.Row,
				at: tr.From.Unix(), until: tr.To.Unix(), min: minOv(tr.Mode)})
		}
	}
	// key is where a visit is: a place, or a trip's carriage, row or coach.
	key := func(x nv, row int) string {
		switch {
		case x.trip == "":
			return fmt.Sprint("place ", x.place)
		case x.mode == ModeTrain:
			return fmt.Sprint(x.trip, " carriage ", x.carriage)
		case x.mode == ModeFlight:
			return fmt.Sprint(x.trip, " row ", row)
		}
		return x.trip
	}
	// colocated lists the keys of the visits co-located with x.
	colocated := func(x nv) []string {
		if x.mode != ModeFlight {
			return []string{key(x, 0)}
		}
		var out []string
		for r := x.row - 3; r <= x.row+3; r++ {
			out = append(out, key(x, r))
		}
		return out
	}
	byPerson := map[int][]nv{}
	byKey := map[string][]nv{}
	for _, x := range all {
		byPerson[x.person] = append(byPerson[x.person], x)
		byKey[key(x, x.row)] = append(byKey[key(x, x.row)], x)
	}
	degree := map[int]int{}
	excluded := map[int]bool{}
	for _, cs := range cases {
		excluded[cs.Person] = true
	}
	type src struct {
		v      nv
		lo, hi int64
	}
	exposed := func(srcs []src) map[int]int64 {
		first := map[int]int64{}
		for _, s := range srcs {
			for _, k := range colocated(s.v) {
				for _, w := range byKey[k] {
					lo, hi := max(s.lo, w.at), min(s.hi, w.until)
					if excluded[w.person] || w.person == s.v.person || hi-lo < w.min {
						continue
					}
					if f, ok := first[w.person]; !ok || lo < f {
						first[w.person] = lo
					}
				}
			}
		}
		return first
	}
	var srcs []src
	for _, cs := range cases {
		for _, x := range byPerson[cs.Person] {
			srcs = append(srcs, src{x, max(x.at, cs.From.Unix()), min(x.until, cs.Until.Unix())})
		}
	}
	close1 := exposed(srcs)
	for p := range close1 {
		degree[p] = 1
		excluded[p] = true
	}
	srcs = srcs[:0]
	for p, f := range close1 {
		for _, x := range byPerson[p] {
			srcs = append(srcs, src{x, max(x.at, f), x.until})
		}
	}
	for p := range exposed(srcs) {
		degree[p] = 2
	}
	return degree
}

// TestContactsMatchNaive compares the sweep with the naive search on
// generated cities (with and without the risk areas' measures).
func TestContactsMatchNaive(t *testing.T) {
	for _, cfg := range []Config{
		{Persons: 3000, Days: 5, Seed: 3, End: testEnd},
		{Persons: 2000, Days: 7, Seed: 5, City: "441900", End: testEnd},
	} {
		c := generate(t, cfg)
		cases, err := Cases(c.Results, c.Infections, PeriodEnd(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if len(cases) == 0 {
			t.Fatalf("%+v: no cases; pick a seed with some", cfg)
		}
		got, err := Contacts(c, cases)
		if err != nil {
			t.Fatal(err)
		}
		gotDeg := map[int]int{}
		for _, ct := range got {
			gotDeg[ct.Person] = ct.Degree
		}
		want := naiveContacts(t, c, cases)
		if diff := cmp.Diff(want, gotDeg); diff != "" {
			t.Errorf("%+v: contacts by degree (-naive +sweep):\n%s", cfg, diff)
		}
		n1, n2 := 0, 0
		for _, d := range gotDeg {
			if d == 1 {
				n1++
			} else {
				n2++
			}
		}
		t.Logf("%+v: %d cases, %d close, %d secondary contacts", cfg, len(cases), n1, n2)
		if n1 == 0 || n2 == 0 {
			t.Errorf("%+v: want close and secondary contacts, got %d and %d", cfg, n1, n2)
		}
	}
}
