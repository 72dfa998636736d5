// Package sqlite is the embedded store: the append-only event log and the
// identity vault in one SQLite file (modernc.org/sqlite, no cgo), in WAL mode
// with full fsync on commit, so an acknowledged append survives kill -9 and
// power loss.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"healthcode/internal/health"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the embedded store. Appends go through one writer connection; reads
// use a separate pool.
type DB struct {
	w, r *sql.DB
	path string
	ins  map[int]*sql.Stmt // multi-row insert statements by row count
}

// IdentityRow is a sealed identity to write beside its enrolment event.
type IdentityRow struct {
	Person  uint32
	IDHash  [32]byte
	Sealed  []byte
	Created time.Time
}

// Open opens (creating if needed) the store at path and applies the embedded
// migrations. It returns an error if the file cannot be opened or a migration
// fails.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-262144)"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db := &DB{w: w, r: r, path: path, ins: map[int]*sql.Stmt{}}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	for _, n := range []int{1, 8, 64} {
		st, err := w.PrepareContext(ctx, insertSQL(n))
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: prepare insert: %w", err)
		}
		db.ins[n] = st
	}
	return db, nil
}

const eventCols = 13

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO events(seq,kind,at,until,recorded,person,place,region,ref,aux,actor,batch,data) VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// Close closes the store.
func (db *DB) Close() error {
	for _, st := range db.ins {
		st.Close()
	}
	err := db.w.Close()
	if e := db.r.Close(); err == nil {
		err = e
	}
	return err
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: name must start with a number", base)
		}
		var n int
		if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: read migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		src, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(src)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied) VALUES (?, ?)`, v, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: record migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: commit migration %s: %w", base, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// LastSeq returns the sequence number of the last event, or 0.
func (db *DB) LastSeq(ctx context.Context) (uint64, error) {
	var s sql.NullInt64
	if err := db.w.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&s); err != nil {
		return 0, fmt.Errorf("sqlite: last seq: %w", err)
	}
	return uint64(s.Int64), nil
}

func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func nz[T uint32 | uint64 | int64](v T) any {
	if v == 0 {
		return nil
	}
	return int64(v)
}

// Append writes events and identities in one transaction and returns after
// the commit is durable. Events must carry their sequence numbers. On error
// nothing is written.
func (db *DB) Append(ctx context.Context, events []health.Event, ids []IdentityRow) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	args := make([]any, 0, 64*eventCols)
	for len(events) > 0 {
		n := 1
		for _, c := range []int{64, 8} {
			if len(events) >= c {
				n = c
				break
			}
		}
		args = args[:0]
		for _, e := range events[:n] {
			var data any
			if e.Data != nil {
				data = e.Data
			}
			args = append(args, int64(e.Seq), int64(e.Kind), e.At.UnixMilli(), ms(e.Until), e.Recorded.UnixMilli(),
				nz(e.Person), nz(e.Place), nz(e.Region), nz(e.Ref), nz(e.Aux), e.Actor, e.Batch, data)
		}
		if _, err := tx.StmtContext(ctx, db.ins[n]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: append events: %w", err)
		}
		events = events[n:]
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `INSERT INTO identities(person, id_hash, sealed, created) VALUES (?, ?, ?, ?)`,
			int64(id.Person), id.IDHash[:], id.Sealed, id.Created.UnixMilli()); err != nil {
			return fmt.Errorf("sqlite: append identity: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// Scan calls fn for every event with seq > after, in order. fn must not keep
// e.Data beyond the call. It stops at fn's first error and returns it.
func (db *DB) Scan(ctx context.Context, after uint64, fn func(e *health.Event) error) error {
	return db.scan(ctx, `WHERE seq > ?`, []any{int64(after)}, fn)
}

const selectEvents = `SELECT seq,kind,at,until,recorded,person,place,region,ref,aux,actor,batch,data FROM events `

// scan runs a query over events (where is the WHERE clause) and calls fn for
// each row in seq order, reusing one Event.
func (db *DB) scan(ctx context.Context, where string, args []any, fn func(e *health.Event) error) error {
	rows, err := db.r.QueryContext(ctx, selectEvents+where+` ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: read events: %w", err)
	}
	defer rows.Close()
	var (
		e                                       health.Event
		seq, kind, at, recorded                 int64
		until, person, place, region, ref_, aux sql.NullInt64
	)
	for rows.Next() {
		e.Data = e.Data[:0]
		if err := rows.Scan(&seq, &kind, &at, &until, &recorded, &person, &place, &region, &ref_, &aux, &e.Actor, &e.Batch, &e.Data); err != nil {
			return fmt.Errorf("sqlite: read event: %w", err)
		}
		e.Seq, e.Kind = uint64(seq), health.EventKind(kind)
		e.At, e.Recorded = time.UnixMilli(at).UTC(), time.UnixMilli(recorded).UTC()
		e.Until = time.Time{}
		if until.Valid {
			e.Until = time.UnixMilli(until.Int64).UTC()
		}
		e.Person, e.Place, e.Region = uint32(person.Int64), uint32(place.Int64), uint32(region.Int64)
		e.Ref, e.Aux = uint64(ref_.Int64), aux.Int64
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Identities calls fn for every sealed identity's person index and ID hash.
func (db *DB) Identities(ctx context.Context, fn func(person uint32, idHash [32]byte) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT person, id_hash FROM identities ORDER BY person`)
	if err != nil {
		return fmt.Errorf("sqlite: scan identities: %w", err)
	}
	defer rows.Close()
	var (
		p int64
		h []byte
		k [32]byte
	)
	for rows.Next() {
		if err := rows.Scan(&p, &h); err != nil {
			return fmt.Errorf("sqlite: scan identity: %w", err)
		}
		copy(k[:], h)
		if err := fn(uint32(p), k); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("sqlite: not found")

// Identity returns the sealed identity of a person, or ErrNotFound.
func (db *DB) Identity(ctx context.Context, person uint32) (idHash [32]byte, sealed []byte, err error) {
	var h []byte
	err = db.r.QueryRowContext(ctx, `SELECT id_hash, sealed FROM identities WHERE person = ?`, int64(person)).Scan(&h, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return idHash, nil, ErrNotFound
	}
	if err != nil {
		return idHash, nil, fmt.Errorf("sqlite: read identity: %w", err)
	}
	copy(idHash[:], h)
	return idHash, sealed, nil
}

// Event returns one event by sequence number, or ErrNotFound.
func (db *DB) Event(ctx context.Context, seq uint64) (health.Event, error) {
	var out health.Event
	found := false
	err := db.scan(ctx, `WHERE seq = ?`, []any{int64(seq)}, func(e *health.Event) error {
		out = *e
		out.Data = append([]byte(nil), e.Data...)
		found = true
		return nil
	})
	if err != nil {
		return out, err
	}
	if !found {
		return out, ErrNotFound
	}
	return out, nil
}
