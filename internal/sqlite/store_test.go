package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
)

func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ev(seq uint64, kind health.EventKind) health.Event {
	at := time.Date(2022, 6, 11, 8, 30, 0, 123e6, time.UTC)
	return health.Event{Seq: seq, Kind: kind, At: at, Recorded: at.Add(time.Second), Actor: "staff:admin", Batch: "b1"}
}

func TestAppendScanRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "s.db"))
	var want []health.Event
	for i := uint64(1); i <= 150; i++ { // crosses the 64- and 8-row statements
		e := ev(i, health.EvVisit)
		e.Person, e.Place, e.Region, e.Aux = uint32(i), uint32(i%7+1), 440106000, int64(i%3)
		e.Until = e.At.Add(time.Hour)
		if i%10 == 0 {
			e.Kind, e.Ref, e.Data = health.EvTestCorrected, i-1, []byte(`{"lab":"l","sample_id":"s"}`)
			e.Until = time.Time{}
		}
		want = append(want, e)
	}
	if err := db.Append(ctx, want, nil, nil); err != nil {
		t.Fatal(err)
	}
	var got []health.Event
	err := db.Scan(ctx, 0, func(e *health.Event) error {
		c := *e
		if e.Data != nil {
			c.Data = append([]byte(nil), e.Data...)
		}
		if len(c.Data) == 0 {
			c.Data = nil
		}
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("scan after append (-want +got):\n%s", d)
	}
	if last, _ := db.LastSeq(ctx); last != 150 {
		t.Errorf("LastSeq: got %d, want 150", last)
	}
	one, err := db.Event(ctx, 10)
	if err != nil || one.Kind != health.EvTestCorrected || one.Ref != 9 {
		t.Errorf("Event(10): got %+v, %v", one, err)
	}
	if _, err := db.Event(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Event(999): got %v, want ErrNotFound", err)
	}
}

func TestAppendIsAtomic(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "s.db"))
	if err := db.Append(ctx, []health.Event{ev(1, health.EvVisit)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Seq 2 is new, seq 1 collides: the whole append must fail and leave seq 2 out.
	err := db.Append(ctx, []health.Event{ev(2, health.EvVisit), ev(1, health.EvVisit)}, nil, nil)
	if err == nil {
		t.Fatal("append with a duplicate seq: got nil error")
	}
	n := 0
	db.Scan(ctx, 0, func(*health.Event) error { n++; return nil })
	if n != 1 {
		t.Errorf("events after a failed append: got %d, want 1", n)
	}
	// A duplicate ID hash fails the identity insert and the events with it.
	id := IdentityRow{Person: 1, IDHash: [32]byte{1}, Sealed: []byte("x"), Created: time.Now()}
	if err := db.Append(ctx, []health.Event{ev(2, health.EvPersonEnrolled)}, []IdentityRow{id}, nil); err != nil {
		t.Fatal(err)
	}
	id.Person = 2
	if err := db.Append(ctx, []health.Event{ev(3, health.EvPersonEnrolled)}, []IdentityRow{id}, nil); err == nil {
		t.Fatal("duplicate ID hash: got nil error")
	}
	if last, _ := db.LastSeq(ctx); last != 2 {
		t.Errorf("LastSeq after failed identity append: got %d, want 2", last)
	}
}

func TestReopenKeepsDataAndMigrationsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	h := [32]byte{9, 9}
	if err := db.Append(ctx, []health.Event{ev(1, health.EvPersonEnrolled)}, []IdentityRow{{Person: 1, IDHash: h, Sealed: []byte("sealed"), Created: time.Now()}}, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2 := open(t, path)
	v, err := db2.SchemaVersion(ctx)
	if err != nil || v != 4 {
		t.Errorf("schema version: got %d %v, want 4", v, err)
	}
	gotH, sealed, err := db2.Identity(ctx, 1)
	if err != nil || gotH != h || string(sealed) != "sealed" {
		t.Errorf("identity after reopen: got %x %q %v", gotH[:2], sealed, err)
	}
	var persons []uint32
	db2.Identities(ctx, func(p uint32, hh [32]byte) error { persons = append(persons, p); return nil })
	if len(persons) != 1 || persons[0] != 1 {
		t.Errorf("Identities: got %v, want [1]", persons)
	}
	if _, _, err := db2.Identity(ctx, 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown identity: got %v, want ErrNotFound", err)
	}
}

// scanAll returns copies of the events Scan yields after after.
func scanAll(t *testing.T, db *DB, after uint64) []health.Event {
	t.Helper()
	var got []health.Event
	err := db.Scan(context.Background(), after, func(e *health.Event) error {
		c := *e
		c.Data = nil
		if len(e.Data) > 0 {
			c.Data = append([]byte(nil), e.Data...)
		}
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%d): %v", after, err)
	}
	return got
}

func count(t *testing.T, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.r.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// mixedLog returns a log of visits interleaved with other kinds, with the
// number of visit blocks and of visit rows in events it must be stored as.
func mixedLog() (events []health.Event, blocks, visitRows int) {
	t0 := time.Date(2022, 6, 11, 8, 30, 0, 123e6, time.UTC)
	rec := t0.Add(time.Hour)
	seq := uint64(0)
	add := func(e health.Event) *health.Event {
		seq++
		e.Seq = seq
		if e.Recorded.IsZero() {
			e.Recorded = rec
		}
		if e.Actor == "" {
			e.Actor = "staff:admin"
		}
		if e.Batch == "" {
			e.Batch = "b1"
		}
		events = append(events, e)
		return &events[len(events)-1]
	}
	visit := func(person, place uint32, at time.Time, until time.Duration, aux int64) health.Event {
		e := health.Event{Kind: health.EvVisit, At: at, Person: person, Place: place, Region: 440106000, Aux: aux}
		if until != 0 {
			e.Until = at.Add(until)
		}
		return e
	}
	add(health.Event{Kind: health.EvPersonEnrolled, At: t0, Person: 1, Region: 440106000})
	// Block 1: seqs 2-7, with and without until, extreme indexes and times
	// going backwards and before 1970.
	add(visit(1, 1, t0, time.Hour, 0))
	add(visit(math.MaxUint32, math.MaxUint32, t0.Add(-90*time.Minute), 0, 3))
	add(visit(2, 7, t0.Add(48*time.Hour), 72*time.Hour, 1<<40))
	e := add(visit(3, 1<<20, time.Date(1960, 1, 1, 0, 0, 0, 1e6, time.UTC), time.Millisecond, 2))
	e.Region = 0
	add(visit(0, 0, t0, 0, 0))
	add(visit(4, 2, t0.Add(time.Second), -time.Second, math.MaxInt64)) // until before at still round-trips
	blocks++
	// Visits with Data or Ref stay rows.
	e = add(visit(5, 5, t0, time.Hour, 1))
	e.Data = []byte(`{"note":"x"}`)
	e = add(visit(5, 6, t0, time.Hour, 1))
	e.Ref = 3
	visitRows += 2
	// Another actor, then another batch, in the same Append: blocks 2 and 3.
	for i := range 3 {
		e = add(visit(uint32(10+i), 3, t0.Add(time.Duration(i)*time.Minute), 30*time.Minute, 0))
		e.Actor = "staff:other"
	}
	for i := range 2 {
		e = add(visit(uint32(20+i), 3, t0, 30*time.Minute, 0))
		e.Actor, e.Batch = "staff:other", "b2"
	}
	blocks += 2
	for i := range 70 { // rows go in by 64, 8 and 1
		add(health.Event{Kind: health.EvTestResult, At: t0, Person: 10, Aux: int64(i % 3), Data: []byte(`{"lab":"l","sample_id":"s"}`)})
	}
	// A single visit is a block; so is one with another recorded time.
	add(visit(30, 4, t0, time.Hour, 1))
	e = add(visit(31, 4, t0, time.Hour, 1))
	e.Recorded = rec.Add(time.Millisecond)
	blocks += 2
	// A gap in seqs ends a block.
	add(visit(32, 4, t0, time.Hour, 1))
	seq++
	add(visit(33, 4, t0, time.Hour, 1))
	blocks += 2
	add(health.Event{Kind: health.EvRiskDeclared, At: t0, Until: t0.Add(24 * time.Hour), Region: 440106000})
	// A long run is cut at maxBlock.
	for i := range maxBlock + 10 {
		add(visit(uint32(100+i), uint32(i%50+1), t0.Add(time.Duration(i)*time.Second), time.Duration(i%3)*time.Hour, int64(i%4)))
	}
	blocks += 2
	return events, blocks, visitRows
}

func TestVisitBlocksRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	want, blocks, visitRows := mixedLog()
	if err := db.Append(ctx, want, nil, nil); err != nil {
		t.Fatal(err)
	}
	// The visits must be in blocks: this fails if blocks are not used.
	if got := count(t, db, `SELECT count(*) FROM visit_blocks`); got != blocks {
		t.Errorf("visit_blocks rows: got %d, want %d", got, blocks)
	}
	if got := count(t, db, `SELECT count(*) FROM events WHERE kind = ?`, int(health.EvVisit)); got != visitRows {
		t.Errorf("visit rows in events: got %d, want %d (the ones with data or ref)", got, visitRows)
	}
	if got := count(t, db, `SELECT coalesce(sum(n), 0) FROM visit_blocks`) + count(t, db, `SELECT count(*) FROM events`); got != len(want) {
		t.Errorf("stored events: got %d, want %d", got, len(want))
	}
	check := func(db *DB) {
		t.Helper()
		if d := cmp.Diff(want, scanAll(t, db, 0)); d != "" {
			t.Errorf("scan after append (-want +got):\n%s", d)
		}
		last := want[len(want)-1].Seq
		if got, err := db.LastSeq(ctx); err != nil || got != last {
			t.Errorf("LastSeq: got %d %v, want %d", got, err, last)
		}
		// Scan from every after in the small blocks, and from inside,
		// at the edge of and past the long run.
		afters := []uint64{last - maxBlock, last - maxBlock + 1, last - 5, last - 1, last, last + 1, 1 << 62, math.MaxUint64}
		for a := uint64(0); a <= 30; a++ {
			afters = append(afters, a)
		}
		for _, a := range afters {
			var w []health.Event
			for _, e := range want {
				if e.Seq > a {
					w = append(w, e)
				}
			}
			if d := cmp.Diff(w, scanAll(t, db, a)); d != "" {
				t.Errorf("Scan(%d) (-want +got):\n%s", a, d)
			}
		}
		// ScanRange stops at its last seq, inside a block or an events run.
		for _, r := range [][2]uint64{{0, 1}, {0, 4}, {2, 5}, {6, 8}, {1, 30}, {20, last - maxBlock + 3}, {last - 5, last - 2}, {last - 1, math.MaxUint64}, {5, 5}, {9, 3}} {
			var w []health.Event
			for _, e := range want {
				if e.Seq > r[0] && e.Seq <= r[1] {
					w = append(w, e)
				}
			}
			var got []health.Event
			err := db.ScanRange(ctx, r[0], r[1], func(e *health.Event) error {
				c := *e
				c.Data = nil
				if len(e.Data) > 0 {
					c.Data = append([]byte(nil), e.Data...)
				}
				got = append(got, c)
				return nil
			})
			if err != nil {
				t.Fatalf("ScanRange(%d, %d): %v", r[0], r[1], err)
			}
			if d := cmp.Diff(w, got); d != "" {
				t.Errorf("ScanRange(%d, %d) (-want +got):\n%s", r[0], r[1], d)
			}
		}
		// Event finds every event: first, middle and last visits of blocks included.
		for _, w := range want {
			got, err := db.Event(ctx, w.Seq)
			if err != nil {
				t.Fatalf("Event(%d): %v", w.Seq, err)
			}
			if d := cmp.Diff(w, got); d != "" {
				t.Errorf("Event(%d) (-want +got):\n%s", w.Seq, d)
			}
		}
		gap := uint64(0)
		for i := 1; i < len(want); i++ {
			if want[i].Seq != want[i-1].Seq+1 {
				gap = want[i-1].Seq + 1
			}
		}
		for _, s := range []uint64{0, gap, last + 1, math.MaxUint64} {
			if _, err := db.Event(ctx, s); !errors.Is(err, ErrNotFound) {
				t.Errorf("Event(%d): got %v, want ErrNotFound", s, err)
			}
		}
	}
	check(db)
	db.Close()
	check(open(t, path))
}

func TestAppendRejectsSeqsStoredInTheOtherTable(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "s.db"))
	var vs []health.Event
	for s := uint64(1); s <= 5; s++ {
		vs = append(vs, ev(s, health.EvVisit))
	}
	vs = append(vs, ev(6, health.EvTestResult))
	if err := db.Append(ctx, vs, nil, nil); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]health.Event{
		"row inside a block":       {ev(7, health.EvTestResult), ev(3, health.EvTestResult)},
		"block over a block":       {ev(5, health.EvVisit), ev(7, health.EvVisit)},
		"block over a row":         {ev(6, health.EvVisit), ev(7, health.EvVisit)},
		"twice in one append":      {ev(7, health.EvVisit), ev(8, health.EvVisit), ev(8, health.EvTestResult)},
		"twice, out of order":      {ev(9, health.EvVisit), ev(7, health.EvTestResult), ev(9, health.EvTestResult)},
		"seq beyond int64":         {ev(1<<63, health.EvVisit)},
		"block over a block start": {ev(0, health.EvVisit), ev(1, health.EvVisit)},
	} {
		if err := db.Append(ctx, bad, nil, nil); err == nil {
			t.Errorf("%s: got nil error", name)
		}
	}
	if got := scanAll(t, db, 0); len(got) != 6 {
		t.Errorf("events after failed appends: got %d, want 6", len(got))
	}
	// Out of order but distinct is fine, and the blocks follow the order given.
	if err := db.Append(ctx, []health.Event{ev(9, health.EvVisit), ev(7, health.EvVisit), ev(8, health.EvVisit)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, `SELECT count(*) FROM visit_blocks`); got != 3 {
		t.Errorf("visit_blocks rows: got %d, want 3", got)
	}
	got := scanAll(t, db, 0)
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("scan: event %d has seq %d", i, e.Seq)
		}
	}
	// A failed identity insert rolls the blocks back too.
	id := IdentityRow{Person: 1, IDHash: [32]byte{1}, Sealed: []byte("x"), Created: time.Now()}
	if err := db.Append(ctx, []health.Event{ev(10, health.EvPersonEnrolled)}, []IdentityRow{id}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, []health.Event{ev(11, health.EvVisit), ev(12, health.EvVisit)}, []IdentityRow{id}, nil); err == nil {
		t.Fatal("duplicate ID hash: got nil error")
	}
	if last, _ := db.LastSeq(ctx); last != 10 {
		t.Errorf("LastSeq after a failed append: got %d, want 10", last)
	}
}

// A log written before visit blocks has visits as events rows; it reads the
// same, merged with visits appended since.
func TestOldVisitRowsStillRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := mixedLog()
	want = want[:100]
	var old, later []health.Event
	for i, e := range want {
		if i < 20 || e.Kind != health.EvVisit {
			old = append(old, e)
		} else {
			later = append(later, e)
		}
	}
	// Write old the way the store did before: one events row each.
	for _, e := range old {
		_, err := db.ins[1].ExecContext(ctx, int64(e.Seq), int64(e.Kind), e.At.UnixMilli(), ms(e.Until), e.Recorded.UnixMilli(),
			nz(e.Person), nz(e.Place), nz(e.Region), nz(e.Ref), nz(e.Aux), e.Actor, e.Batch, e.Data)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Append(ctx, later, nil, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, path)
	if n := count(t, db, `SELECT count(*) FROM visit_blocks`); n == 0 {
		t.Fatal("no visit blocks: the test does not mix layouts")
	}
	if d := cmp.Diff(want, scanAll(t, db, 0)); d != "" {
		t.Errorf("scan (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[15:], scanAll(t, db, want[14].Seq)); d != "" {
		t.Errorf("scan from the middle (-want +got):\n%s", d)
	}
	for _, w := range want {
		if got, err := db.Event(ctx, w.Seq); err != nil || !cmp.Equal(w, got) {
			t.Errorf("Event(%d): got %+v, %v; want %+v", w.Seq, got, err, w)
		}
	}
	if last, _ := db.LastSeq(ctx); last != want[len(want)-1].Seq {
		t.Errorf("LastSeq: got %d, want %d", last, want[len(want)-1].Seq)
	}
}

// decodeAll decodes a whole block.
func decodeAll(first, n int64, data []byte) ([]health.Event, error) {
	var r blockReader
	if err := r.reset(first, n, 0, "a", "b", data); err != nil {
		return nil, err
	}
	var out []health.Event
	for {
		var e health.Event
		ok, err := r.next(&e)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, e)
	}
}

func TestBlockDecoderRejectsCorruption(t *testing.T) {
	log, _, _ := mixedLog()
	vs := log[1:7] // the first block
	for i := range vs {
		vs[i].Recorded, vs[i].Actor, vs[i].Batch = time.UnixMilli(0).UTC(), "a", "b"
	}
	data := encodeVisits(nil, vs)
	got, err := decodeAll(int64(vs[0].Seq), int64(len(vs)), data)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(vs, got); d != "" {
		t.Fatalf("decode (-want +got):\n%s", d)
	}
	n := int64(len(vs))
	for cut := range len(data) {
		if _, err := decodeAll(2, n, data[:cut]); !errors.Is(err, errBlock) {
			t.Errorf("truncated to %d bytes: got %v, want errBlock", cut, err)
		}
	}
	bad := map[string]struct {
		n    int64
		data []byte
	}{
		"trailing byte":    {n, append(append([]byte(nil), data...), 0)},
		"n too large":      {n + 1, data},
		"n too small":      {n - 1, data},
		"n zero":           {0, data},
		"unknown version":  {n, append([]byte{2}, data[1:]...)},
		"varint overflow":  {1, []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		"person too large": {1, append(binary.AppendUvarint([]byte{1}, 1<<34), 1, 1, 0, 0)},
	}
	for name, c := range bad {
		if _, err := decodeAll(2, c.n, c.data); !errors.Is(err, errBlock) {
			t.Errorf("%s: got %v, want errBlock", name, err)
		}
	}
	// Flipped bytes never panic.
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := append([]byte(nil), data...)
			c[i] ^= x
			decodeAll(2, n, c)
		}
	}
	// A corrupt block in the store is an error for Scan and Event.
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "s.db"))
	if err := db.Append(ctx, log[:7], nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `UPDATE visit_blocks SET data = substr(data, 1, 7)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Scan(ctx, 0, func(*health.Event) error { return nil }); !errors.Is(err, errBlock) {
		t.Errorf("Scan of a corrupt block: got %v, want errBlock", err)
	}
	if _, err := db.Event(ctx, 7); !errors.Is(err, errBlock) {
		t.Errorf("Event in a corrupt block: got %v, want errBlock", err)
	}
}

func FuzzBlockDecoder(f *testing.F) {
	log, _, _ := mixedLog()
	f.Add(int64(6), encodeVisits(nil, log[1:7]))
	f.Add(int64(1), []byte{1})
	f.Fuzz(func(t *testing.T, n int64, data []byte) {
		if n > 1<<16 {
			n = 1 << 16
		}
		vs, err := decodeAll(1, n, data)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a block that decodes to as many visits.
		for i := range vs {
			vs[i].Recorded, vs[i].Actor, vs[i].Batch = time.Time{}, "", ""
		}
		again, err := decodeAll(1, n, encodeVisits(nil, vs))
		if err != nil || len(again) != len(vs) {
			t.Fatalf("re-encoded block: %d visits, %v; want %d", len(again), err, len(vs))
		}
	})
}
