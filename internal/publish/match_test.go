package publish

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

func TestMatch(t *testing.T) {
	pub := func(place uint32, fh, th int, region string) Published {
		return Published{Place: PlaceID(place), PlaceName: "p", From: hour(fh), To: hour(th), CaseRegion: region, Cases: 1}
	}
	m := NewMatcher([]Published{
		pub(1, 9, 10, "440106"),
		pub(1, 12, 14, "440106"),
		pub(1, 8, 20, "440104"), // long: must be found though it starts first
		pub(1, 12, 14, "440104"),
		pub(2, 9, 10, "440106"),
		pub(3, 9, 9, "440106"), // empty: never matches
	})
	hit := func(q int, p Published) Hit {
		return Hit{Query: q, Place: p.Place, PlaceName: p.PlaceName, From: p.From, To: p.To, CaseRegion: p.CaseRegion, Cases: p.Cases}
	}
	tests := []struct {
		name string
		q    Query
		want []Hit
	}{
		{"touching before", Query{Place: 2, From: at(8, 0), To: at(9, 0)}, nil},
		{"touching after", Query{Place: 2, From: at(10, 0), To: at(11, 0)}, nil},
		{"one nanosecond", Query{Place: 2, From: at(9, 59).Add(59*time.Second + 999999999), To: at(11, 0)}, []Hit{hit(0, pub(2, 9, 10, "440106"))}},
		{"inside", Query{Place: 2, From: at(9, 10), To: at(9, 20)}, []Hit{hit(0, pub(2, 9, 10, "440106"))}},
		{"empty query", Query{Place: 2, From: at(9, 30), To: at(9, 30)}, nil},
		{"reversed query", Query{Place: 2, From: at(9, 40), To: at(9, 30)}, nil},
		{"unknown place", Query{Place: 99, From: at(0, 0), To: at(23, 0)}, nil},
		{"empty published window", Query{Place: 3, From: at(0, 0), To: at(23, 0)}, nil},
		{"ordered by from", Query{Place: 1, From: at(9, 30), To: at(12, 30)}, []Hit{
			hit(0, pub(1, 8, 20, "440104")),
			hit(0, pub(1, 9, 10, "440106")),
			hit(0, pub(1, 12, 14, "440104")),
			hit(0, pub(1, 12, 14, "440106")),
		}},
		{"long window only", Query{Place: 1, From: at(16, 0), To: at(17, 0)}, []Hit{hit(0, pub(1, 8, 20, "440104"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := gocmp.Diff(tt.want, m.Match([]Query{tt.q})); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
		})
	}

	got := m.Match([]Query{{Place: 2, From: at(9, 0), To: at(10, 0)}, {Place: 99}, {Place: 1, From: at(9, 0), To: at(9, 30)}})
	want := []Hit{hit(0, pub(2, 9, 10, "440106")), hit(2, pub(1, 8, 20, "440104")), hit(2, pub(1, 9, 10, "440106"))}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("several queries (-want +got):\n%s", diff)
	}
}

// bruteForce is the reference self-check: every published stop against every
// query, sorted by query, then window, case region and name.
func bruteForce(stops []Published, qs []Query) []Hit {
	var hits []Hit
	for i, q := range qs {
		for _, p := range stops {
			from, to := p.From, p.To
			if q.From.After(from) {
				from = q.From
			}
			if q.To.Before(to) {
				to = q.To
			}
			if uint32(p.Place) == q.Place && from.Before(to) {
				hits = append(hits, Hit{Query: i, Place: p.Place, PlaceName: p.PlaceName, From: p.From, To: p.To, CaseRegion: p.CaseRegion, Cases: p.Cases})
			}
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		return cmp.Or(
			cmp.Compare(a.Query, b.Query),
			a.From.Compare(b.From),
			a.To.Compare(b.To),
			strings.Compare(a.CaseRegion, b.CaseRegion),
			strings.Compare(a.PlaceName, b.PlaceName),
			cmp.Compare(a.Cases, b.Cases),
		)
	})
	return hits
}

func TestMatchAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// Times on a coarse grid so that touching and equal ends are common.
	tick := func() time.Time { return day0.Add(time.Duration(rng.IntN(48)) * 30 * time.Minute) }
	for round := range 2000 {
		places := 1 + rng.IntN(10)
		stops := make([]Published, rng.IntN(60))
		for i := range stops {
			from := tick()
			stops[i] = Published{
				Place:      PlaceID(rng.IntN(places)),
				PlaceName:  []string{"a", "b"}[rng.IntN(2)],
				From:       from,
				To:         from.Add(time.Duration(rng.IntN(12)-1) * time.Hour),
				CaseRegion: []string{"440106", "440104"}[rng.IntN(2)],
				Cases:      1 + rng.IntN(3),
			}
		}
		qs := make([]Query, rng.IntN(20))
		for i := range qs {
			from := tick()
			qs[i] = Query{Place: uint32(rng.IntN(places + 1)), From: from, To: from.Add(time.Duration(rng.IntN(10)-1) * 20 * time.Minute)}
		}
		want := bruteForce(stops, qs)
		got := NewMatcher(stops).Match(qs)
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: Match differs from brute force (-want +got):\n%s", round, diff)
		}
	}
}

func TestNewMatcherKeepsInput(t *testing.T) {
	stops := []Published{
		{Place: 2, From: hour(9), To: hour(10)},
		{Place: 1, From: hour(9), To: hour(9)},
	}
	orig := slices.Clone(stops)
	NewMatcher(stops)
	if diff := gocmp.Diff(orig, stops); diff != "" {
		t.Errorf("NewMatcher changed its input (-before +after):\n%s", diff)
	}
}
