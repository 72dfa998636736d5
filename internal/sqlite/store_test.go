package sqlite

import (
	"context"
	"errors"
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
	if err := db.Append(ctx, want, nil); err != nil {
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
	if err := db.Append(ctx, []health.Event{ev(1, health.EvVisit)}, nil); err != nil {
		t.Fatal(err)
	}
	// Seq 2 is new, seq 1 collides: the whole append must fail and leave seq 2 out.
	err := db.Append(ctx, []health.Event{ev(2, health.EvVisit), ev(1, health.EvVisit)}, nil)
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
	if err := db.Append(ctx, []health.Event{ev(2, health.EvPersonEnrolled)}, []IdentityRow{id}); err != nil {
		t.Fatal(err)
	}
	id.Person = 2
	if err := db.Append(ctx, []health.Event{ev(3, health.EvPersonEnrolled)}, []IdentityRow{id}); err == nil {
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
	if err := db.Append(ctx, []health.Event{ev(1, health.EvPersonEnrolled)}, []IdentityRow{{Person: 1, IDHash: h, Sealed: []byte("sealed"), Created: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2 := open(t, path)
	v, err := db2.SchemaVersion(ctx)
	if err != nil || v != 1 {
		t.Errorf("schema version: got %d %v, want 1", v, err)
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
