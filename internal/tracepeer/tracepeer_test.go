package tracepeer_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"healthcode/internal/trace"
	"healthcode/internal/trace/tracegen"
	"healthcode/internal/tracepeer"
)

// pgDSN is the PostgreSQL peer's database: $HEALTHCODE_PG, or the local
// default of `healthcode bench`.
func pgDSN() string {
	if dsn := os.Getenv("HEALTHCODE_PG"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// buildIndex indexes w's visits (seq = arrival order) and compacts.
func buildIndex(w *tracegen.World) *trace.Index {
	x := trace.New()
	for i := range w.Visits {
		x.Add(w.HealthVisit(i))
	}
	x.Compact()
	return x
}

// traceSeeds returns seeds as trace seeds, all of case "C".
func traceSeeds(w *tracegen.World, seeds []tracegen.Seed) []trace.Seed {
	out := make([]trace.Seed, len(seeds))
	for i, s := range seeds {
		out[i] = trace.Seed{Person: s.Person, From: w.Time(s.From), To: w.Time(s.To), Case: "C"}
	}
	return out
}

// traceParams returns w's minimum overlaps; no one is quarantined.
func traceParams(w *tracegen.World) trace.Params {
	return trace.Params{MinOverlap: func(place uint32) time.Duration { return w.MinOverlap[place] }}
}

// fromTrace returns cs as a peer returns them.
func fromTrace(cs []trace.Contact) []tracepeer.Contact {
	out := make([]tracepeer.Contact, len(cs))
	for i, c := range cs {
		out[i] = tracepeer.Contact{Person: c.Person, Degree: c.Degree, Exposures: len(c.Exposures)}
	}
	return out
}

// diffContacts returns an error listing how got (in any order) differs
// from want (ordered by degree, then person, as Trace returns them), or nil.
func diffContacts(want, got []tracepeer.Contact) error {
	got = slices.Clone(got)
	slices.SortFunc(got, func(a, b tracepeer.Contact) int {
		return cmp.Or(cmp.Compare(a.Degree, b.Degree), cmp.Compare(a.Person, b.Person))
	})
	if slices.Equal(got, want) {
		return nil
	}
	var diffs []string
	i, j := 0, 0
	for (i < len(want) || j < len(got)) && len(diffs) < 5 {
		switch {
		case j == len(got) || i < len(want) && cmp.Or(cmp.Compare(want[i].Degree, got[j].Degree), cmp.Compare(want[i].Person, got[j].Person)) < 0:
			diffs = append(diffs, fmt.Sprintf("missing %+v", want[i]))
			i++
		case i == len(want) || want[i].Degree != got[j].Degree || want[i].Person != got[j].Person:
			diffs = append(diffs, fmt.Sprintf("extra %+v", got[j]))
			j++
		default:
			if want[i] != got[j] {
				diffs = append(diffs, fmt.Sprintf("got %+v, want %+v", got[j], want[i]))
			}
			i, j = i+1, j+1
		}
	}
	return fmt.Errorf("got %d contacts, want %d; first differences: %v", len(got), len(want), diffs)
}

// world is a world to trace and the seeds to trace in it.
type world struct {
	name  string
	w     *tracegen.World
	seeds []tracegen.Seed
}

// city returns a city of 20,000 persons (tracegen) with seeds whose windows
// are on the last day only (a full week reaches most of a small city at
// depth 2), one seed twice (Trace drops the duplicate), and a window that
// cuts a visit: its middle third.
func city(t *testing.T) world {
	w := tracegen.Generate(20_000)
	const lastDay = (tracegen.Days - 1) * 86400
	seed0 := w.Seeds[0]
	seed0.From = lastDay
	cut := w.Seeds[1]
	for _, v := range w.Visits {
		if v.Person == cut.Person && v.From >= lastDay {
			cut.From, cut.To = v.From+v.Dur/3, v.From+2*v.Dur/3
			break
		}
	}
	x := buildIndex(w)
	uncut := cut
	uncut.From, uncut.To = 0, tracegen.Days*86400
	if a, b := x.Trace(traceSeeds(w, []tracegen.Seed{cut}), 1, traceParams(w)), x.Trace(traceSeeds(w, []tracegen.Seed{uncut}), 1, traceParams(w)); slices.EqualFunc(a, b, func(a, b trace.Contact) bool {
		return a.Person == b.Person && len(a.Exposures) == len(b.Exposures)
	}) {
		t.Fatal("city: the cut window changes no contact: the test would not check the clipping")
	}
	return world{"city", w, []tracegen.Seed{seed0, seed0, cut}}
}

// edges returns a hand-made world of overlaps at the limits. Place 1 is a
// market (min overlap 900 s), places 4, 16 and 28 pharmacies (300 s). The
// seed, person 1, is infectious in [10000, 14000).
func edges() world {
	w := &tracegen.World{Persons: 13, Places: 30, Start: time.Date(2022, 6, 6, 0, 0, 0, 0, time.UTC)}
	for p := range w.Places + 1 {
		k := tracegen.Kinds()
		w.MinOverlap = append(w.MinOverlap, k[p%len(k)].MinOverlap)
	}
	w.Visits = []tracegen.Visit{
		{Person: 1, Place: 1, From: 10000, Dur: 3600},  // the seed: source [10000, 13600)
		{Person: 1, Place: 4, From: 13000, Dur: 3600},  // the seed: clipped to [13000, 14000)
		{Person: 2, Place: 1, From: 12700, Dur: 3600},  // overlap 900: close, first exposure at 12700 (the seed overlaps 2's sources: never a contact)
		{Person: 3, Place: 1, From: 12701, Dur: 3600},  // overlap 899: secondary (via 2 and 6)
		{Person: 4, Place: 1, From: 8000, Dur: 2900},   // overlap 900 at the start: close
		{Person: 5, Place: 1, From: 13600, Dur: 600},   // touching: none
		{Person: 6, Place: 1, From: 0, Dur: 20000},     // the longest visit: close
		{Person: 12, Place: 4, From: 13700, Dur: 600},  // overlap 300 with the clipped source: close
		{Person: 13, Place: 4, From: 13800, Dur: 1000}, // overlap 200 clipped (800 unclipped): secondary via 12
		{Person: 2, Place: 16, From: 12000, Dur: 1300}, // a source clipped to [12700, 13300)
		{Person: 7, Place: 16, From: 13000, Dur: 300},  // overlap 300: secondary (via 2 and 4)
		{Person: 8, Place: 16, From: 13001, Dur: 300},  // overlap 299: none
		{Person: 9, Place: 16, From: 12000, Dur: 600},  // before 2's first exposure: none
		{Person: 10, Place: 16, From: 12400, Dur: 600}, // overlap 300 after it: secondary
		{Person: 4, Place: 16, From: 13000, Dur: 300},  // a close contact: never secondary
		{Person: 4, Place: 28, From: 20000, Dur: 600},  // a source after 4's first exposure
		{Person: 11, Place: 28, From: 20300, Dur: 600}, // overlap 300: secondary via 4
	}
	return world{"edges", w, []tracegen.Seed{{Person: 1, From: 10000, To: 14000}}}
}

// persons returns the persons of cs of degree deg.
func persons(cs []tracepeer.Contact, deg int) []uint32 {
	var out []uint32
	for _, c := range cs {
		if c.Degree == deg {
			out = append(out, c.Person)
		}
	}
	return out
}

// TestPeersAgree checks that the SQL of PostgreSQL and SQLite finds the
// contacts that trace.Index.Trace finds, with as many exposures, at depth 1
// and 2, in a small city and at the limits of the rules. PostgreSQL is
// required: the test fails without it.
func TestPeersAgree(t *testing.T) {
	ctx := t.Context()
	worlds := []world{city(t), edges()}
	want := map[string]map[int][]tracepeer.Contact{}
	for _, w := range worlds {
		x := buildIndex(w.w)
		want[w.name] = map[int][]tracepeer.Contact{}
		for _, depth := range []int{1, 2} {
			want[w.name][depth] = fromTrace(x.Trace(traceSeeds(w.w, w.seeds), depth, traceParams(w.w)))
		}
	}
	// The worlds test what they should.
	if c, s := persons(want["city"][2], 1), persons(want["city"][2], 2); len(c) < 20 || len(s) < 200 || len(c)+len(s) > 20_000/2 {
		t.Fatalf("city: %d close and %d secondary contacts: the test needs more, or fewer", len(c), len(s))
	}
	if c, s := persons(want["edges"][2], 1), persons(want["edges"][2], 2); !slices.Equal(c, []uint32{2, 4, 6, 12}) || !slices.Equal(s, []uint32{3, 7, 10, 11, 13}) {
		t.Fatalf("edges: close contacts %v, secondary %v; want [2 4 6 12], [3 7 10 11 13]", c, s)
	}

	prefix := fmt.Sprintf("tracepeer_test_%d", os.Getpid()) // runs at the same time do not share tables
	open := map[string]func() (*tracepeer.DB, error){
		"postgres": func() (*tracepeer.DB, error) { return tracepeer.OpenPostgres(ctx, pgDSN(), prefix) },
		"sqlite": func() (*tracepeer.DB, error) {
			return tracepeer.OpenSQLite(ctx, filepath.Join(t.TempDir(), "trace.db"), prefix)
		},
	}
	for name, open := range open {
		t.Run(name, func(t *testing.T) {
			db, err := open()
			if err != nil {
				t.Fatal(err) // PostgreSQL too: CI provides it
			}
			t.Cleanup(func() {
				if err := db.Close(context.Background()); err != nil {
					t.Error(err)
				}
			})
			for _, w := range worlds {
				if err := db.Load(ctx, w.w); err != nil {
					t.Fatal(err)
				}
				for _, depth := range []int{1, 2} {
					got, err := db.Trace(ctx, w.seeds, depth)
					if err != nil {
						t.Fatal(err)
					}
					if err := diffContacts(want[w.name][depth], got); err != nil {
						t.Errorf("%s, depth %d: %v", w.name, depth, err)
					}
				}
			}
		})
	}
}
