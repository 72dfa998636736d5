package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"healthcode/internal/trace"
	"healthcode/internal/trace/tracegen"
	"healthcode/internal/tracepeer"
)

// Tracing goals (issue 4).
const (
	GoalTraceVsPeers   = 20   // close contacts at least 20× faster than the fastest peer
	GoalTraceDepth2    = 1.0  // close + secondary contacts under 1 s
	GoalTraceVisitSize = 24.0 // bytes per visit in the index
	traceRuns          = 5    // timed runs of each trace (after a warm-up), the median reported
	peerTraceTimeout   = 5 * time.Minute
)

// tracing measures contact tracing on the tracegen world of
// cfg.TracePersons persons: the index build and its bytes per visit, close
// contacts and close + secondary contacts of 100 cases, and the same
// queries in SQL on PostgreSQL, SQLite and DuckDB (when built with the
// duckdb tag), each checked to return the same contact set first.
func (r *runner) tracing(ctx context.Context) error {
	n := r.cfg.TracePersons
	r.phase("tracing: generating %d persons, 7 days, 3 visits a day", n)
	w := tracegen.Generate(n)
	runtime.GC()
	r.phase("tracing: indexing %d visits", len(w.Visits))
	start := time.Now()
	x := trace.New()
	for i := range w.Visits {
		x.Add(w.HealthVisit(i))
	}
	x.Compact()
	build := time.Since(start)
	perVisit := float64(x.MemBytes()) / float64(x.Len())
	visits := groupThousands(fmt.Sprint(len(w.Visits)))
	r.rep.add("trace index build, "+visits+" visits (Add + Compact)", "s", build.Seconds(), "none", -1, nil)
	r.rep.add("trace index bytes per visit", "B/visit", perVisit, "none", -1, nil)
	r.rep.Goals = append(r.rep.Goals, Goal{Text: "trace index ≤ 24 B/visit", Value: fmt.Sprintf("%.1f B/visit", perVisit), Met: perVisit <= GoalTraceVisitSize})

	seeds := make([]trace.Seed, len(w.Seeds))
	for i, s := range w.Seeds {
		seeds[i] = trace.Seed{Person: s.Person, From: w.Time(s.From), To: w.Time(s.To), Case: "C"}
	}
	params := trace.Params{MinOverlap: func(p uint32) time.Duration { return w.MinOverlap[p] }}
	ours := [3][]tracepeer.Contact{}
	ourMS := [3]float64{}
	for _, depth := range []int{1, 2} {
		var cs []trace.Contact
		ourMS[depth] = medianMS(traceRuns, func() { cs = x.Trace(seeds, depth, params) })
		for _, c := range cs {
			ours[depth] = append(ours[depth], tracepeer.Contact{Person: c.Person, Degree: c.Degree, Exposures: len(c.Exposures)})
		}
	}
	r.rep.note("tracing: %d cases; close contacts %d, close + secondary %d (healthcode, checked against each peer)", len(seeds), len(ours[1]), len(ours[2]))
	if r.cfg.SkipPeers {
		for _, depth := range []int{1, 2} {
			r.rep.add(traceRowName(depth, visits), "ms", ourMS[depth], "peers skipped (--skip-peers)", -1, nil)
		}
		r.traceGoal(ourMS, 0, false)
		r.rep.Goals = append(r.rep.Goals, Goal{Text: "close + secondary contacts < 1 s", Value: fmt.Sprintf("%.0f ms", ourMS[2]), Met: ourMS[2] < GoalTraceDepth2*1000})
		return nil
	}
	// The peers as the tracing issue states them (indexes on (person,
	// time) and (place, time)), on which its goal is judged; then, with
	// TraceCovering, PostgreSQL and SQLite with covering indexes, the
	// strongest form of the same SQL we found (close contacts only: their
	// depth-2 queries take minutes and have no goal against peers).
	prefix := fmt.Sprintf("hcbench_%d", os.Getpid()) // concurrent runs do not share tables
	type peerOpen struct {
		name string
		open func() (*tracepeer.DB, error)
	}
	peers := []peerOpen{
		{"postgres", func() (*tracepeer.DB, error) { return tracepeer.OpenPostgres(ctx, r.cfg.PG, prefix) }},
		{"sqlite", func() (*tracepeer.DB, error) {
			return tracepeer.OpenSQLite(ctx, filepath.Join(r.tmp, "tracepeer.db"), prefix)
		}},
		{"duckdb", func() (*tracepeer.DB, error) { return tracepeer.OpenDuckDB(ctx, prefix) }},
	}
	configs := []bool{false}
	if r.cfg.TraceCovering {
		configs = append(configs, true)
	}
	for _, covering := range configs {
		fastest := 0.0
		for _, p := range peers {
			if covering && p.name == "duckdb" {
				continue // DuckDB's indexes (ART) are the same in both configurations
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			db, err := p.open()
			if err != nil {
				why := err.Error()
				if errors.Is(err, tracepeer.ErrNoDuckDB) {
					why = "DuckDB not run: " + why
				}
				r.rep.add(traceRowName(1, visits), "ms", ourMS[1], why, -1, nil)
				continue
			}
			db.PlainIndexes = !covering
			depths := []int{1, 2}
			if covering {
				depths = []int{1}
			}
			ms := r.tracePeer(ctx, db, w, ours, ourMS, visits, depths)
			if ms > 0 && (fastest == 0 || ms < fastest) {
				fastest = ms
			}
			if err := db.Close(ctx); err != nil {
				r.rep.note("tracing: closing %s: %v", db.Name, err)
			}
		}
		r.traceGoal(ourMS, fastest, covering)
	}
	r.rep.Goals = append(r.rep.Goals, Goal{Text: "close + secondary contacts < 1 s", Value: fmt.Sprintf("%.0f ms", ourMS[2]), Met: ourMS[2] < GoalTraceDepth2*1000})
	return nil
}

// tracePeer loads the world into db and times its depth-1 and depth-2
// queries, after checking that each returns our contact set. It returns
// the peer's depth-1 time in ms, or 0 if it did not give our answer.
func (r *runner) tracePeer(ctx context.Context, db *tracepeer.DB, w *tracegen.World, ours [3][]tracepeer.Contact, ourMS [3]float64, visits string, depths []int) float64 {
	r.phase("tracing: loading %s visits into %s %s", visits, db.Name, db.Version)
	if err := db.Load(ctx, w); err != nil {
		r.rep.fail("tracing peer "+db.Name, err)
		return 0
	}
	peer := fmt.Sprintf("%s %s, equivalent SQL, indexes (person, time) and (place, time)", db.Name, db.Version)
	if !db.PlainIndexes && db.Name != "duckdb" {
		peer = fmt.Sprintf("%s %s, equivalent SQL, covering indexes (place, time) INCLUDE (to, person) and (person, time) INCLUDE (to, place)", db.Name, db.Version)
	}
	r.rep.note("tracing: %s load %s (copy %s, indexes %s)", db.Name, (db.Copy + db.Index).Round(time.Millisecond), db.Copy.Round(time.Millisecond), db.Index.Round(time.Millisecond))
	depth1 := 0.0
	for _, depth := range depths {
		r.phase("tracing: %s depth %d", db.Name, depth)
		qctx, cancel := context.WithTimeout(ctx, peerTraceTimeout)
		got, err := db.Trace(qctx, w.Seeds, depth) // the answer check, also a warm-up
		cancel()
		if err != nil {
			name := peer
			if errors.Is(err, context.DeadlineExceeded) {
				name = fmt.Sprintf("%s: over %s, stopped", db.Name, peerTraceTimeout)
			} else {
				r.rep.fail(fmt.Sprintf("tracing peer %s depth %d", db.Name, depth), err)
			}
			r.rep.add(traceRowName(depth, visits), "ms", ourMS[depth], name, -1, nil)
			continue
		}
		same := sameContacts(got, ours[depth])
		ms := -1.0
		if same {
			runs := traceRuns
			if depth == 2 {
				runs = 1 // minutes per run on a peer
			}
			ms = timedMS(runs, func() {
				qctx, cancel := context.WithTimeout(ctx, peerTraceTimeout)
				defer cancel()
				if _, err := db.Trace(qctx, w.Seeds, depth); err != nil {
					r.rep.note("tracing: %s depth %d: %v", db.Name, depth, err)
				}
			})
		} else {
			r.rep.note("tracing: %s depth %d returned %d contacts, healthcode %d: no speed reported", db.Name, depth, len(got), len(ours[depth]))
		}
		r.rep.add(traceRowName(depth, visits), "ms", ourMS[depth], peer, ms, ptr(same))
		if depth == 1 && same {
			depth1 = ms
		}
	}
	return depth1
}

// traceGoal adds the close-contact goal against the fastest peer of one
// index configuration.
func (r *runner) traceGoal(ourMS [3]float64, fastest float64, covering bool) {
	g := Goal{Text: "close contacts ≥ 20× faster than the fastest SQL peer (indexes as the issue states)"}
	if covering {
		g.Text = "close contacts ≥ 20× faster than PostgreSQL/SQLite with covering indexes (stronger than the issue asks)"
	}
	if fastest > 0 {
		ratio := fastest / ourMS[1]
		g.Value, g.Met = fmt.Sprintf("%.1f× (healthcode %.2f ms, fastest peer %.1f ms)", ratio, ourMS[1], fastest), ratio >= GoalTraceVsPeers
	} else {
		g.Reason = "no peer gave the same answer"
	}
	r.rep.Goals = append(r.rep.Goals, g)
}

func traceRowName(depth int, visits string) string {
	if depth == 1 {
		return "close contacts of 100 cases over " + visits + " visits"
	}
	return "close + secondary contacts of 100 cases over " + visits + " visits"
}

// medianMS runs fn once to warm up, then runs times, and returns the
// median time in milliseconds.
func medianMS(runs int, fn func()) float64 {
	fn()
	return timedMS(runs, fn)
}

// sameContacts reports whether two contact lists hold the same persons
// with the same degrees and exposure counts, in any order.
func sameContacts(a, b []tracepeer.Contact) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(c tracepeer.Contact) [3]int { return [3]int{int(c.Person), c.Degree, c.Exposures} }
	ka, kb := make([][3]int, len(a)), make([][3]int, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	cmp3 := func(x, y [3]int) int { return slices.Compare(x[:], y[:]) }
	slices.SortFunc(ka, cmp3)
	slices.SortFunc(kb, cmp3)
	return slices.Equal(ka, kb)
}

// timedMS runs fn runs times (no warm-up: the caller ran it already) and
// returns the median time in milliseconds.
func timedMS(runs int, fn func()) float64 {
	ts := make([]float64, runs)
	for i := range ts {
		start := time.Now()
		fn()
		ts[i] = float64(time.Since(start).Microseconds()) / 1000
	}
	slices.Sort(ts)
	return ts[len(ts)/2]
}
