package audit

import (
	"runtime"
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
// when they are appended one by one (about one interior hash per event).
func BenchmarkTreeAppend(b *testing.B) {
	var t Tree
	h := tlog.RecordHash([]byte("x"))
	for b.Loop() {
		t.Append(h)
	}
}

func benchVisits() []health.Event {
	evs := make([]health.Event, 10000)
	for i := range evs {
		evs[i] = testEvent(uint64(i + 1))
		evs[i].Data = nil
	}
	return evs
}

// BenchmarkAppendEvents is both, one by one on one goroutine, for a group
// of 10,000 visits.
func BenchmarkAppendEvents(b *testing.B) {
	evs := benchVisits()
	var blocks []tlog.Hash
	var leaf []byte
	for b.Loop() {
		var t Tree
		var err error
		if blocks, leaf, err = t.AppendEvents(evs, blocks[:0], leaf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// BenchmarkHashRun is the node's way for the same group: leaves and block
// hashes on every core (Run.HashEvents), then the tree above the blocks
// (AppendRun, one hash per block). The group starts 100 records into a
// block, as groups do.
func BenchmarkHashRun(b *testing.B) {
	evs := benchVisits()
	var (
		r      Run
		blocks []tlog.Hash
	)
	var base Tree
	for range 100 {
		base.Append(tlog.Hash{})
	}
	for b.Loop() {
		t := base
		r.HashEvents(t.Size(), evs, runtime.GOMAXPROCS(0))
		var err error
		if blocks, err = t.AppendRun(&r, blocks[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
