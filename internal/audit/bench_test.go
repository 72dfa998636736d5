package audit

import (
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/health"
)

// BenchmarkLeafHash is the cost per event of its leaf: encoding and hash.
func BenchmarkLeafHash(b *testing.B) {
	e := testEvent(12345)
	e.Data = nil
	var buf []byte
	for b.Loop() {
		_, buf = LeafHash(buf, &e)
	}
}

// BenchmarkTreeAppend is the cost per event of the tree above the leaves
// (about one interior hash per event) and of writing its stored hashes.
func BenchmarkTreeAppend(b *testing.B) {
	var t Tree
	h := tlog.RecordHash([]byte("x"))
	buf := make([]byte, 0, 1<<20)
	for b.Loop() {
		if len(buf) > 1<<20-64*64 {
			buf = buf[:0]
		}
		buf = t.Append(h, buf)
	}
}

// BenchmarkAppendEvents is both, for a group of 10,000 visits.
func BenchmarkAppendEvents(b *testing.B) {
	evs := make([]health.Event, 10000)
	for i := range evs {
		evs[i] = testEvent(uint64(i + 1))
		evs[i].Data = nil
	}
	var dst, leaf []byte
	for b.Loop() {
		var t Tree
		var err error
		if dst, leaf, err = t.AppendEvents(evs, dst[:0], leaf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
