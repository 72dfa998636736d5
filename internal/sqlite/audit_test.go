package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/health"
)

func eventsFrom(first, n uint64) []health.Event {
	out := make([]health.Event, n)
	for i := range out {
		out[i] = ev(first+uint64(i), health.EvPersonEnrolled)
	}
	return out
}

func blockHashes(first, n int) []tlog.Hash {
	out := make([]tlog.Hash, n)
	for i := range out {
		out[i] = tlog.Hash{byte(first + i), 0xb1}
	}
	return out
}

// TestAppendAuditBlocks checks that an append's block hashes are written
// with its events, must be exactly the blocks its events complete and
// continue the stored ones, and that a refused append writes nothing.
func TestAppendAuditBlocks(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "s.db"))
	with := func(h AuditBlocks) func() (*AuditBlocks, error) {
		return func() (*AuditBlocks, error) { return &h, nil }
	}
	// Seqs 1..300 complete block 0.
	if err := db.Append(ctx, eventsFrom(1, 300), nil, with(AuditBlocks{First: 0, N: 300, Hashes: blockHashes(0, 1)})); err != nil {
		t.Fatal(err)
	}
	// Seqs 301..400 complete none; 401..1100 complete blocks 1 and 2
	// (seqs 257..768). Wrong counts or a wrong start are refused.
	for _, c := range []struct {
		name   string
		events []health.Event
		h      AuditBlocks
		want   string
	}{
		{"a block too many", eventsFrom(301, 100), AuditBlocks{First: 300, N: 100, Hashes: blockHashes(1, 1)}, "1 block hashes for the events of seqs 301..400, which complete 0 blocks"},
		{"a block too few", eventsFrom(301, 800), AuditBlocks{First: 300, N: 800, Hashes: blockHashes(1, 2)}, "which complete 3 blocks"},
		{"not these events", eventsFrom(301, 100), AuditBlocks{First: 301, N: 100}, "not those of the 100 events"},
	} {
		if err := db.Append(ctx, c.events, nil, with(c.h)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if last, _ := db.LastSeq(ctx); last != 300 {
		t.Fatalf("a refused append stored events: last seq %d", last)
	}
	if err := db.Append(ctx, eventsFrom(301, 100), nil, with(AuditBlocks{First: 300, N: 100})); err != nil {
		t.Fatal(err)
	}
	// 401..1100: 700 events complete blocks 1, 2, 3 (to seq 1024); by 64,
	// 8 and 1 rows with a long run below.
	if err := db.Append(ctx, eventsFrom(401, 700), nil, with(AuditBlocks{First: 400, N: 700, Hashes: blockHashes(1, 3)})); err != nil {
		t.Fatal(err)
	}
	// Events stored without blocks: the blocks must not skip them.
	if err := db.Append(ctx, eventsFrom(1101, 19000), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, eventsFrom(20101, 300), nil, with(AuditBlocks{First: 20100, N: 300, Hashes: blockHashes(78, 1)})); err == nil ||
		!strings.Contains(err.Error(), "continue block 78 but the audit log has 4 blocks (seqs 1..1024)") {
		t.Fatalf("blocks after a gap: got %v", err)
	}
	// The catch-up of the blocks of stored events, and not beyond them.
	if err := db.AppendAudit(ctx, AuditBlocks{First: 1024, N: 19200, Hashes: blockHashes(4, 75)}); err == nil || !strings.Contains(err.Error(), "the log ends at 20100") {
		t.Fatalf("catch-up beyond the events: got %v", err)
	}
	if err := db.AppendAudit(ctx, AuditBlocks{First: 1024, N: 18944, Hashes: blockHashes(4, 74)}); err != nil {
		t.Fatal(err)
	}
	got, err := db.AuditBlocks(ctx)
	if err != nil || len(got) != 78 {
		t.Fatalf("AuditBlocks: %d blocks, %v; want 78", len(got), err)
	}
	for k, h := range got {
		if h != (tlog.Hash{byte(k), 0xb1}) {
			t.Fatalf("block %d: %x", k, h[:2])
		}
	}
	// A snapshot's cursor sees the same blocks.
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := snap.AuditBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		k, h, ok, err := rows.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if k != int64(n) || tlog.Hash(h) != got[n] {
			t.Fatalf("cursor row %d: block %d", n, k)
		}
		n++
	}
	rows.Close()
	snap.Close()
	if n != 78 {
		t.Fatalf("cursor: %d blocks", n)
	}
	// A gap in the table is refused at load.
	if _, err := db.w.ExecContext(ctx, `DELETE FROM audit_blocks WHERE block = 40`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AuditBlocks(ctx); err == nil || !strings.Contains(err.Error(), "block 41 (32 bytes) where block 40 should follow") {
		t.Fatalf("AuditBlocks with block 40 deleted: got %v", err)
	}
}
