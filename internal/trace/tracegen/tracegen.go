// Package tracegen generates the synthetic city that the trace benchmarks
// run on: persons visiting public venues for a week, and the cases to trace.
// The world is a pure function of its size (a fixed random seed), so every
// benchmark, and every peer database loaded with it, sees the same visits.
//
// The package returns plain data and does not import the trace package, so
// that trace's own benchmarks can use it.
package tracegen

import (
	"math/rand/v2"
	"time"

	"healthcode/internal/health"
)

// The shape of a world.
const (
	Days            = 7   // days of visits
	VisitsPerDay    = 3   // visits per person per day
	Cases           = 100 // seeds to trace
	PersonsPerPlace = 50
)

// Kind is a place kind with national.yaml's dwell and min_overlap.
type Kind struct {
	Name       string
	Dwell      time.Duration
	MinOverlap time.Duration
}

// kinds are the kinds of the synthetic places. The visits are to public
// venues: random persons at a random office or residence all day long would
// make one huge mixing pool.
var kinds = [...]Kind{
	{"restaurant", 90 * time.Minute, 15 * time.Minute},
	{"market", 60 * time.Minute, 15 * time.Minute},
	{"supermarket", 45 * time.Minute, 15 * time.Minute},
	{"mall", 120 * time.Minute, 15 * time.Minute},
	{"pharmacy", 15 * time.Minute, 5 * time.Minute},
	{"gym", 90 * time.Minute, 15 * time.Minute},
	{"cinema", 150 * time.Minute, 15 * time.Minute},
	{"bar", 150 * time.Minute, 15 * time.Minute},
	{"clinic", 60 * time.Minute, 10 * time.Minute},
	{"hospital", 120 * time.Minute, 10 * time.Minute},
	{"transport_hub", 60 * time.Minute, 15 * time.Minute},
	{"other", 60 * time.Minute, 15 * time.Minute},
}

// Kinds returns the place kinds: place p has kind Kinds()[p % len(Kinds())].
func Kinds() []Kind { return append([]Kind(nil), kinds[:]...) }

// Visit is a generated visit [From, From+Dur), in seconds since the
// world's Start.
type Visit struct {
	Person, Place uint32
	From, Dur     uint32
}

// Seed is a case to trace: Person, infectious in [From, To), in seconds
// since the world's Start.
type Seed struct {
	Person   uint32
	From, To uint32
}

// World is a generated city.
type World struct {
	Persons, Places int             // persons are 1..Persons, places 1..Places
	Start           time.Time       // the start of the week (midnight CST)
	Visits          []Visit         // in arrival order: visit i has Seq i+1
	Seeds           []Seed          // may repeat a person
	MinOverlap      []time.Duration // per place, 0..Places
}

// Generate returns the world of persons persons (persons must be positive)
// and persons/50 places (at least one). Each person makes 3 visits a day
// for 7 days, starting between 07:00 and 22:00, to a uniformly random
// place, staying the kind's dwell time (70%) or a checked-out 0.5×–1.5× of
// it. Visits arrive hour by hour, in random order within the hour (batched
// uploads: mostly but not strictly in time order). The 100 seeds are random
// persons infectious all week.
func Generate(persons int) *World {
	rng := rand.New(rand.NewPCG(2022, 6))
	w := &World{
		Persons: persons,
		Places:  max(persons/PersonsPerPlace, 1),
		Start:   time.Date(2022, 6, 6, 0, 0, 0, 0, health.CST),
	}
	w.Visits = make([]Visit, 0, w.Persons*Days*VisitsPerDay)
	day := make([]Visit, 0, w.Persons*VisitsPerDay)
	var perHour [24]int
	for d := range Days {
		day = day[:0]
		perHour = [24]int{}
		for p := 1; p <= w.Persons; p++ {
			for range VisitsPerDay {
				place := uint32(rng.IntN(w.Places) + 1)
				dur := uint32(kinds[int(place)%len(kinds)].Dwell / time.Second)
				if rng.IntN(10) >= 7 {
					dur = uint32(float64(dur)*(0.5+rng.Float64())) / 60 * 60
				}
				from := uint32(7*3600 + rng.IntN(15*3600))
				perHour[from/3600]++
				day = append(day, Visit{Person: uint32(p), Place: place, From: uint32(d*86400) + from, Dur: dur})
			}
		}
		// Counting sort by hour of arrival, random within the hour.
		rng.Shuffle(len(day), func(i, j int) { day[i], day[j] = day[j], day[i] })
		var start [25]int
		for h := range 24 {
			start[h+1] = start[h] + perHour[h]
		}
		base := len(w.Visits)
		w.Visits = w.Visits[:base+len(day)]
		for _, v := range day {
			h := v.From % 86400 / 3600
			w.Visits[base+start[h]] = v
			start[h]++
		}
	}
	for range Cases {
		w.Seeds = append(w.Seeds, Seed{Person: uint32(rng.IntN(w.Persons) + 1), From: 0, To: Days * 86400})
	}
	w.MinOverlap = make([]time.Duration, w.Places+1)
	for i := range w.MinOverlap {
		w.MinOverlap[i] = kinds[i%len(kinds)].MinOverlap
	}
	return w
}

// Time returns the instant s seconds after the world's Start.
func (w *World) Time(s uint32) time.Time {
	return w.Start.Add(time.Duration(s) * time.Second)
}

// HealthVisit returns visit i as the node records it (Seq i+1).
func (w *World) HealthVisit(i int) health.Visit {
	v := w.Visits[i]
	return health.Visit{Seq: uint64(i + 1), Person: v.Person, Place: v.Place, From: w.Time(v.From), To: w.Time(v.From + v.Dur)}
}
