package trace

import (
	"flag"
	"runtime"
	"sync"
	"testing"
	"time"

	"healthcode/internal/trace/tracegen"
)

// The trace benchmarks run at the scale of a city (tracegen): by default 1M
// persons, 20k places (one per 50 persons), 7 days, 3 visits per person per
// day: 21M visits. -trace.persons scales it down (places follow) for a quick
// run.
var benchPersons = flag.Int("trace.persons", 1_000_000, "persons in the trace benchmarks (places = persons/50)")

var (
	worldOnce sync.Once
	world     *tracegen.World
)

// benchWorld generates the world once.
func benchWorld() *tracegen.World {
	worldOnce.Do(func() { world = tracegen.Generate(*benchPersons) })
	return world
}

// buildIndex indexes the world's visits (seq = arrival order) and compacts.
func buildIndex(w *tracegen.World) *Index {
	x := New()
	for i := range w.Visits {
		x.Add(w.HealthVisit(i))
	}
	x.Compact()
	return x
}

// benchSeeds returns the world's seeds, all of case "C".
func benchSeeds(w *tracegen.World) []Seed {
	seeds := make([]Seed, len(w.Seeds))
	for i, s := range w.Seeds {
		seeds[i] = Seed{Person: s.Person, From: w.Time(s.From), To: w.Time(s.To), Case: "C"}
	}
	return seeds
}

var (
	benchIndexOnce sync.Once
	benchIndex     *Index
)

// BenchmarkTrace traces 100 seed persons with 7-day windows (no one
// quarantined: the secondary windows are open) in the 21M-visit index. It
// reports the wall and CPU time per trace (the CPU time is steadier on a
// shared machine) and the phases: ms-close (close contacts, built),
// ms-secondary (the secondary exposures found), ms-result (secondary
// contacts built).
func BenchmarkTrace(b *testing.B) {
	w := benchWorld()
	benchIndexOnce.Do(func() { benchIndex = buildIndex(w) })
	x := benchIndex
	seeds := benchSeeds(w)
	params := Params{MinOverlap: func(place uint32) time.Duration { return w.MinOverlap[place] }}
	for _, depth := range []int{1, 2} {
		b.Run("depth="+string(rune('0'+depth)), func(b *testing.B) {
			var cs []Contact
			phases := map[string]time.Duration{}
			last := time.Now()
			phaseHook = func(p string) {
				now := time.Now()
				phases[p] += now.Sub(last)
				last = now
			}
			defer func() { phaseHook = func(string) {} }()
			cpu0 := cpuTime()
			for b.Loop() {
				last = time.Now()
				cs = x.Trace(seeds, depth, params)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			for p, d := range phases {
				b.ReportMetric(float64(d.Microseconds())/1000/float64(b.N), "ms-"+p)
			}
			exps, byDeg := 0, [3]int{}
			for _, c := range cs {
				exps += len(c.Exposures)
				byDeg[c.Degree]++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(byDeg[1]), "close")
			b.ReportMetric(float64(byDeg[2]), "secondary")
			b.ReportMetric(float64(exps), "exposures")
		})
	}
}

// BenchmarkIndexBuild indexes the 21M visits (Add, then Compact) and
// reports the time and the bytes per visit before and after Compact.
func BenchmarkIndexBuild(b *testing.B) {
	w := benchWorld()
	runtime.GC()
	b.ResetTimer()
	var x *Index
	var addTime, compactTime time.Duration
	var before int
	for i := 0; i < b.N; i++ {
		x = nil
		runtime.GC()
		start := time.Now()
		x = New()
		for i := range w.Visits {
			x.Add(w.HealthVisit(i))
		}
		addTime += time.Since(start)
		before = x.MemBytes()
		start = time.Now()
		x.Compact()
		compactTime += time.Since(start)
	}
	n := float64(x.Len())
	// A periodic Compact: 1% more visits (the next day's first ones) into
	// the compacted index.
	const week = tracegen.Days * 24 * time.Hour
	for i := range len(w.Visits) / 100 {
		v := w.HealthVisit(i)
		v.Seq += uint64(len(w.Visits))
		v.From, v.To = v.From.Add(week), v.To.Add(week)
		x.Add(v)
	}
	start := time.Now()
	x.Compact()
	b.ReportMetric(time.Since(start).Seconds(), "s/recompact")
	b.ReportMetric((addTime+compactTime).Seconds()/float64(b.N), "s")
	b.ReportMetric(addTime.Seconds()/float64(b.N)*1e9/n, "ns/add")
	b.ReportMetric(compactTime.Seconds()/float64(b.N), "s/compact")
	b.ReportMetric(float64(before)/n, "bytes/visit-tail")
	b.ReportMetric(float64(x.MemBytes())/float64(x.Len()), "bytes/visit")
}
