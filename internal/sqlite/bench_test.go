package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"healthcode/internal/health"
)

// visitBatch returns n visits shaped like the node's visit command makes
// them (region of the place, until = at + dwell, aux = source), with seqs
// from first on, in one batch.
func visitBatch(rng *rand.Rand, first uint64, n int, now time.Time) []health.Event {
	out := make([]health.Event, n)
	batch := fmt.Sprintf("b%d", first)
	for i := range out {
		place := uint32(rng.IntN(20000)) + 1
		at := now.Add(-time.Duration(rng.Int64N(int64(7*24*time.Hour/time.Millisecond))) * time.Millisecond)
		out[i] = health.Event{Seq: first + uint64(i), Kind: health.EvVisit, At: at, Until: at.Add(time.Duration(place%4+1) * 30 * time.Minute),
			Recorded: now, Person: uint32(rng.IntN(1_000_000)) + 1, Place: place, Region: 440100000 + place%200*1000,
			Aux: int64(rng.IntN(4)), Actor: "staff:gateway", Batch: batch}
	}
	return out
}

// BenchmarkAppendVisits appends 10,000 visits per Append (one transaction)
// to a store in a temporary directory and reports visits/s. The sync=off
// variant turns off fsync on the writer connection to show the CPU cost.
func BenchmarkAppendVisits(b *testing.B) {
	for _, sync := range []string{"full", "off"} {
		b.Run("sync="+sync, func(b *testing.B) {
			const per = 10000
			ctx := context.Background()
			db, err := Open(ctx, filepath.Join(b.TempDir(), "b.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.w.ExecContext(ctx, "PRAGMA synchronous="+sync); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			now := time.Now().UTC().Truncate(time.Millisecond)
			batches := make([][]health.Event, 16)
			seq := uint64(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				evs := batches[i%len(batches)]
				if evs == nil {
					evs = visitBatch(rng, seq, per, now)
					batches[i%len(batches)] = evs
				}
				for j := range evs {
					evs[j].Seq = seq + uint64(j)
				}
				seq += per
				b.StartTimer()
				if err := db.Append(ctx, evs, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "visits/s")
		})
	}
}

// writeVisits stores n visits in batches of 10,000, as visit blocks or, for
// layout "rows", as events rows the way the store wrote them before blocks.
func writeVisits(b *testing.B, db *DB, layout string, n int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC().Truncate(time.Millisecond)
	for first := 1; first <= n; first += 10000 {
		evs := visitBatch(rng, uint64(first), min(10000, n-first+1), now)
		if layout == "blocks" {
			if err := db.Append(ctx, evs, nil, nil); err != nil {
				b.Fatal(err)
			}
			continue
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			_, err := tx.StmtContext(ctx, db.ins[1]).ExecContext(ctx, int64(e.Seq), int64(e.Kind), e.At.UnixMilli(), ms(e.Until),
				e.Recorded.UnixMilli(), nz(e.Person), nz(e.Place), nz(e.Region), nz(e.Ref), nz(e.Aux), e.Actor, e.Batch, nil)
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanVisits scans 100,000 visits stored as events rows (the
// layout before visit blocks) and as blocks.
func BenchmarkScanVisits(b *testing.B) {
	for _, layout := range []string{"rows", "blocks"} {
		b.Run("layout="+layout, func(b *testing.B) {
			const n = 100000
			db, err := Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			writeVisits(b, db, layout, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := 0
				if err := db.Scan(context.Background(), 0, func(*health.Event) error { k++; return nil }); err != nil || k != n {
					b.Fatalf("scan: %d events, %v", k, err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkEventVisit reads one visit from the middle of the log: a row, or
// the middle of a block.
func BenchmarkEventVisit(b *testing.B) {
	for _, layout := range []string{"rows", "blocks"} {
		b.Run("layout="+layout, func(b *testing.B) {
			db, err := Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			writeVisits(b, db, layout, 50000)
			seq := uint64(20000 + maxBlock/2)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if e, err := db.Event(context.Background(), seq); err != nil || e.Seq != seq {
					b.Fatalf("Event(%d): %+v, %v", seq, e, err)
				}
			}
		})
	}
}
