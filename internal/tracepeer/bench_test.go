package tracepeer_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"healthcode/internal/trace"
	"healthcode/internal/trace/tracegen"
	"healthcode/internal/tracepeer"
)

var benchPersons = flag.Int("tracepeer.persons", 1_000_000, "persons in BenchmarkTracePeers (places = persons/50)")

var benchPlain = flag.Bool("tracepeer.plain", false, "index the peers' visits on (person, from) and (place, from) only, as the tracing issue states, not with covering indexes")

// peerTimeout bounds one query of a peer: a slower peer is stopped.
const peerTimeout = 5 * time.Minute

// BenchmarkTracePeers traces the 100 seeds of a tracegen world (by default
// 1M persons, 20k places, 21M visits) to depth 1 (close contacts) and 2
// (close and secondary contacts), with trace.Index and with the same rules
// in SQL on PostgreSQL, SQLite and (built with -tags duckdb) DuckDB, loaded
// with the same visits. Every peer's contacts, with their exposure counts,
// must equal Trace's. Each query runs once before it is timed. It prints
// the index build time and size, the peers' load times, the SQL, and the
// ratio of the fastest peer's time to healthcode's (b.Logf would need -v for
// a benchmark with sub-benchmarks, and cuts long output).
func BenchmarkTracePeers(b *testing.B) {
	ctx := b.Context()
	w := tracegen.Generate(*benchPersons)
	printf("world: %d persons, %d places, %d visits, %d seeds infectious all week; GOMAXPROCS %d",
		w.Persons, w.Places, len(w.Visits), len(w.Seeds), runtime.GOMAXPROCS(0))

	runtime.GC()
	start := time.Now()
	x := buildIndex(w)
	printf("healthcode: index build %.2f s (Add and Compact), %.2f bytes/visit (MemBytes %d, %d visits)",
		time.Since(start).Seconds(), float64(x.MemBytes())/float64(x.Len()), x.MemBytes(), x.Len())
	seeds, params := traceSeeds(w, w.Seeds), traceParams(w)
	want := map[int][]tracepeer.Contact{}
	for _, depth := range []int{1, 2} {
		want[depth] = fromTrace(x.Trace(seeds, depth, params))
	}

	msPerOp := map[string]float64{} // "postgres/depth=1" → ms/op
	b.Run("healthcode", func(b *testing.B) {
		for _, depth := range []int{1, 2} {
			b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
				x.Trace(seeds, depth, params) // warm
				var cs []trace.Contact
				for b.Loop() {
					cs = x.Trace(seeds, depth, params)
				}
				got := fromTrace(cs)
				if err := diffContacts(want[depth], got); err != nil {
					b.Fatal(err)
				}
				msPerOp[b.Name()[len("BenchmarkTracePeers/"):]] = report(b, got)
			})
		}
	})

	// Tables of this process only: runs at the same time on one PostgreSQL
	// server must not drop each other's.
	prefix := fmt.Sprintf("tracepeer_bench_%d", os.Getpid())
	open := []struct {
		name string
		open func() (*tracepeer.DB, error)
	}{
		{"postgres", func() (*tracepeer.DB, error) { return tracepeer.OpenPostgres(ctx, pgDSN(), prefix) }},
		{"sqlite", func() (*tracepeer.DB, error) {
			return tracepeer.OpenSQLite(ctx, filepath.Join(b.TempDir(), "trace.db"), prefix)
		}},
		{"duckdb", func() (*tracepeer.DB, error) { return tracepeer.OpenDuckDB(ctx, prefix) }},
	}
	for i, p := range open {
		b.Run(p.name, func(b *testing.B) {
			db, err := p.open()
			if errors.Is(err, tracepeer.ErrNoDuckDB) {
				printf("%s: %v", p.name, err)
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := db.Close(context.Background()); err != nil {
					b.Error(err)
				}
			}()
			db.PlainIndexes = *benchPlain
			if err := db.Load(ctx, w); err != nil {
				b.Fatal(err)
			}
			printf("%s (%s, plain indexes %v): load %.1f s: copy %.1f s, indexes, places table and statistics %.1f s",
				db.Name, db.Version, db.PlainIndexes, (db.Copy + db.Index).Seconds(), db.Copy.Seconds(), db.Index.Seconds())
			if i == 0 {
				printf("%s SQL, depth 1:\n%s", db.Name, db.SQL(w.Seeds, 1))
				printf("%s SQL, depth 2:\n%s", db.Name, db.SQL(w.Seeds, 2))
			}
			for _, depth := range []int{1, 2} {
				b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
					run := func() []tracepeer.Contact {
						qctx, cancel := context.WithTimeout(ctx, peerTimeout)
						defer cancel()
						got, err := db.Trace(qctx, w.Seeds, depth)
						if err != nil && errors.Is(qctx.Err(), context.DeadlineExceeded) {
							// The error is the database's (PostgreSQL: query canceled).
							printf("%s: > %v (stopped)", b.Name(), peerTimeout)
							b.Skipf("> %v (stopped)", peerTimeout)
						}
						if err != nil {
							b.Fatal(err)
						}
						return got
					}
					if err := diffContacts(want[depth], run()); err != nil { // warm
						b.Fatal(err)
					}
					var got []tracepeer.Contact
					for b.Loop() {
						got = run()
					}
					if err := diffContacts(want[depth], got); err != nil {
						b.Fatal(err)
					}
					msPerOp[b.Name()[len("BenchmarkTracePeers/"):]] = report(b, got)
				})
			}
		})
	}

	for _, depth := range []int{1, 2} {
		d := fmt.Sprintf("depth=%d", depth)
		hc, ok := msPerOp["healthcode/"+d]
		if !ok {
			continue
		}
		fastest, peerMs := "", 0.0
		var all []string
		for _, p := range open {
			if ms, ok := msPerOp[p.name+"/"+d]; ok {
				all = append(all, fmt.Sprintf("%s %.1f ms (%.1f×)", p.name, ms, ms/hc))
				if fastest == "" || ms < peerMs {
					fastest, peerMs = p.name, ms
				}
			}
		}
		if fastest != "" {
			printf("%s: fastest peer %s %.1f ms / healthcode %.2f ms = %.1f× [%s]", d, fastest, peerMs, hc, peerMs/hc, strings.Join(all, ", "))
		}
	}
}

// printf prints a line of the benchmark's output.
func printf(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}

// report reports ms/op and the contacts, close and secondary, of cs, and
// returns the ms/op.
func report(b *testing.B, cs []tracepeer.Contact) float64 {
	var byDeg [3]int
	exps := 0
	for _, c := range cs {
		byDeg[c.Degree]++
		exps += c.Exposures
	}
	ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "ms/op")
	b.ReportMetric(float64(len(cs)), "contacts")
	b.ReportMetric(float64(byDeg[1]), "close")
	b.ReportMetric(float64(byDeg[2]), "secondary")
	b.ReportMetric(float64(exps), "exposures")
	return ms
}
