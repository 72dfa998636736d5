package trace

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
)

var t0 = time.Date(2022, 6, 11, 8, 0, 0, 0, time.UTC)

func v(seq uint64, person, place uint32, from, to time.Duration) health.Visit {
	return health.Visit{Seq: seq, Person: person, Place: place, From: t0.Add(from), To: t0.Add(to)}
}

func TestIndexQueries(t *testing.T) {
	x := New()
	visits := []health.Visit{
		v(10, 1, 5, 0, time.Hour),
		v(11, 2, 5, 30*time.Minute, 2*time.Hour),
		v(12, 1, 6, 3*time.Hour, 4*time.Hour),
		v(20, 3, 5, time.Hour, 90*time.Minute), // a gap in seq numbers (another event came between)
	}
	visits[3].Unverified = true
	visits[3].Source = health.SourceSelfReport
	for _, vi := range visits {
		x.Add(vi)
	}
	cases := []struct {
		name string
		got  []health.Visit
		want []health.Visit
	}{
		{"person 1 all day", x.ByPerson(1, t0.Add(-time.Hour), t0.Add(24*time.Hour)), []health.Visit{visits[0], visits[2]}},
		{"person 1 window", x.ByPerson(1, t0.Add(2*time.Hour), t0.Add(5*time.Hour)), []health.Visit{visits[2]}},
		{"adjacent does not overlap", x.ByPlace(5, t0.Add(2*time.Hour), t0.Add(3*time.Hour)), nil},
		{"place 5 at 01:00", x.ByPlace(5, t0.Add(time.Hour), t0.Add(time.Hour+time.Minute)), []health.Visit{visits[1], visits[3]}},
		{"unknown person", x.ByPerson(99, t0, t0.Add(time.Hour)), nil},
		{"unknown place", x.ByPlace(99, t0, t0.Add(time.Hour)), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, c.got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	var persons []uint32
	x.PersonsAtPlace(5, t0, t0.Add(time.Hour), func(p uint32) { persons = append(persons, p) })
	if d := cmp.Diff([]uint32{1, 2}, persons); d != "" {
		t.Errorf("PersonsAtPlace (-want +got):\n%s", d)
	}
	if x.Len() != 4 {
		t.Errorf("Len: got %d, want 4", x.Len())
	}
}

// BenchmarkIndexAdd reports the time to index a visit and the memory the
// index holds per visit, before (in the tail) and after Compact.
func BenchmarkIndexAdd(b *testing.B) {
	x := New()
	for i := 0; i < b.N; i++ {
		x.Add(v(uint64(i+1), uint32(i%50000+1), uint32(i%2000+1), time.Duration(i)*time.Second, time.Duration(i)*time.Second+time.Hour))
	}
	b.StopTimer()
	b.ReportMetric(float64(x.MemBytes())/float64(b.N), "bytes/visit")
	x.Compact()
	b.ReportMetric(float64(x.MemBytes())/float64(b.N), "bytes/visit-compacted")
}
