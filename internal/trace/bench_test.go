package trace

import (
	"flag"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"healthcode/internal/health"
)

// The trace benchmarks run at the scale of a city: by default 1M persons,
// 20k places (one per 50 persons), 7 days, 3 visits per person per day: 21M
// visits. -trace.persons scales it down (places follow) for a quick run.
var benchPersons = flag.Int("trace.persons", 1_000_000, "persons in the trace benchmarks (places = persons/50)")

const (
	benchDays   = 7
	benchPerDay = 3
	benchSeeds  = 100
)

// benchKinds are the place kinds of the synthetic places (place i has kind
// i mod len), with national.yaml's dwell and min_overlap. The benchmark's
// visits are to public venues: random persons at a random office or
// residence all day long would make one huge mixing pool.
var benchKinds = []struct{ dwell, minOverlap time.Duration }{
	{90 * time.Minute, 15 * time.Minute},  // restaurant
	{60 * time.Minute, 15 * time.Minute},  // market
	{45 * time.Minute, 15 * time.Minute},  // supermarket
	{120 * time.Minute, 15 * time.Minute}, // mall
	{15 * time.Minute, 5 * time.Minute},   // pharmacy
	{90 * time.Minute, 15 * time.Minute},  // gym
	{150 * time.Minute, 15 * time.Minute}, // cinema
	{150 * time.Minute, 15 * time.Minute}, // bar
	{60 * time.Minute, 10 * time.Minute},  // clinic
	{120 * time.Minute, 10 * time.Minute}, // hospital
	{60 * time.Minute, 15 * time.Minute},  // transport_hub
	{60 * time.Minute, 15 * time.Minute},  // other
}

// benchStart is the start of the benchmark week (midnight CST).
var benchStart = time.Date(2022, 6, 6, 0, 0, 0, 0, health.CST)

// genVisit is a generated visit: seconds since benchStart.
type genVisit struct {
	person, place uint32
	from, dur     uint32
}

type benchWorld struct {
	persons, places int
	visits          []genVisit // in arrival order
	seeds           []Seed
	params          Params
}

var (
	worldOnce sync.Once
	world     *benchWorld
)

// benchWorldGen generates the visits once (fixed seed): each person makes 3
// visits a day, starting between 07:00 and 22:00, to a uniformly random
// place, staying the kind's dwell time (70%) or a checked-out 0.5×–1.5× of
// it. Visits arrive hour by hour, in random order within the hour (batched
// uploads: mostly but not strictly in time order).
func benchWorldGen() *benchWorld {
	worldOnce.Do(func() {
		rng := rand.New(rand.NewPCG(2022, 6))
		w := &benchWorld{persons: *benchPersons, places: max(*benchPersons/50, 1)}
		w.visits = make([]genVisit, 0, w.persons*benchDays*benchPerDay)
		day := make([]genVisit, 0, w.persons*benchPerDay)
		var perHour [24]int
		for d := range benchDays {
			day = day[:0]
			perHour = [24]int{}
			for p := 1; p <= w.persons; p++ {
				for range benchPerDay {
					place := uint32(rng.IntN(w.places) + 1)
					dwell := benchKinds[int(place)%len(benchKinds)].dwell
					dur := uint32(dwell / time.Second)
					if rng.IntN(10) >= 7 {
						dur = uint32(float64(dur)*(0.5+rng.Float64())) / 60 * 60
					}
					from := uint32(7*3600 + rng.IntN(15*3600))
					perHour[from/3600]++
					day = append(day, genVisit{person: uint32(p), place: place, from: uint32(d*86400) + from, dur: dur})
				}
			}
			// Counting sort by hour of arrival, random within the hour.
			rng.Shuffle(len(day), func(i, j int) { day[i], day[j] = day[j], day[i] })
			var start [25]int
			for h := range 24 {
				start[h+1] = start[h] + perHour[h]
			}
			base := len(w.visits)
			w.visits = w.visits[:base+len(day)]
			for _, v := range day {
				h := v.from % 86400 / 3600
				w.visits[base+start[h]] = v
				start[h]++
			}
		}
		for range benchSeeds {
			w.seeds = append(w.seeds, Seed{Person: uint32(rng.IntN(w.persons) + 1), From: benchStart, To: benchStart.Add(benchDays * 24 * time.Hour), Case: "C"})
		}
		minOv := make([]time.Duration, w.places+1)
		for i := range minOv {
			minOv[i] = benchKinds[i%len(benchKinds)].minOverlap
		}
		w.params = Params{MinOverlap: func(place uint32) time.Duration { return minOv[place] }}
		world = w
	})
	return world
}

// build indexes the world's visits (seq = arrival order) and compacts.
func (w *benchWorld) build() *Index {
	x := New()
	for i, g := range w.visits {
		from := benchStart.Add(time.Duration(g.from) * time.Second)
		x.Add(health.Visit{Seq: uint64(i + 1), Person: g.person, Place: g.place, From: from, To: from.Add(time.Duration(g.dur) * time.Second)})
	}
	x.Compact()
	return x
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
	w := benchWorldGen()
	benchIndexOnce.Do(func() { benchIndex = w.build() })
	x := benchIndex
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
				cs = x.Trace(w.seeds, depth, w.params)
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
	w := benchWorldGen()
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
		for i, g := range w.visits {
			from := benchStart.Add(time.Duration(g.from) * time.Second)
			x.Add(health.Visit{Seq: uint64(i + 1), Person: g.person, Place: g.place, From: from, To: from.Add(time.Duration(g.dur) * time.Second)})
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
	more := w.visits[:len(w.visits)/100]
	for i, g := range more {
		from := benchStart.Add(time.Duration(g.from+benchDays*86400) * time.Second)
		x.Add(health.Visit{Seq: uint64(len(w.visits) + i + 1), Person: g.person, Place: g.place, From: from, To: from.Add(time.Duration(g.dur) * time.Second)})
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
