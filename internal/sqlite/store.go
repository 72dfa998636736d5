// Package sqlite is the embedded store: the append-only event log and the
// identity vault in one SQLite file (modernc.org/sqlite, no cgo), in WAL mode
// with full fsync on commit, so an acknowledged append survives kill -9 and
// power loss.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
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
//
// The event log is two tables: events, one row per event, and visit_blocks,
// one row per run of plain visits (see blocks.go). Every seq is in exactly
// one of them; reads merge the two by seq. The audit log's block hashes and
// heads are in audit_blocks and audit_heads (see audit.go).
type DB struct {
	w, r      *sql.DB // w is nil for a store opened with OpenReadOnly
	path      string
	ins       map[int]*sql.Stmt // multi-row insert statements by row count
	insBlock  *sql.Stmt         // insert one visit block
	insBlocks map[int]*sql.Stmt // insert audit_blocks rows, by row count
	taken     *sql.Stmt         // whether any seq in [?1, ?2] is already stored
	evAt      *sql.Stmt         // reader: the events row of seq ?
	blockAt   *sql.Stmt         // reader: the block that would hold seq ?
}

// errReadOnly is returned by writes to a store opened with OpenReadOnly.
var errReadOnly = errors.New("sqlite: the store is open read-only")

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
	db := &DB{w: w, r: r, path: path, ins: map[int]*sql.Stmt{}, insBlocks: map[int]*sql.Stmt{}}
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
	if db.insBlock, err = w.PrepareContext(ctx, `INSERT INTO visit_blocks(first_seq,n,recorded,actor,batch,data) VALUES (?,?,?,?,?,?)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: prepare insert: %w", err)
	}
	for _, n := range []int{1, 8, 64} {
		if db.insBlocks[n], err = w.PrepareContext(ctx, insertBlocksSQL(n)); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: prepare insert: %w", err)
		}
	}
	if db.taken, err = w.PrepareContext(ctx, takenSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: prepare insert: %w", err)
	}
	if err := db.prepareReads(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) prepareReads(ctx context.Context) error {
	var err error
	if db.evAt, err = db.r.PrepareContext(ctx, selectEvents+`WHERE seq = ?`); err != nil {
		return fmt.Errorf("sqlite: prepare read: %w", err)
	}
	if db.blockAt, err = db.r.PrepareContext(ctx, selectBlocks+`WHERE first_seq = (SELECT max(first_seq) FROM visit_blocks WHERE first_seq <= ?)`); err != nil {
		return fmt.Errorf("sqlite: prepare read: %w", err)
	}
	return nil
}

// OpenReadOnly opens an existing store for reading only: no migrations, no
// writer connection, the file opened read-only (mode=ro), so it can be read
// beside a running node (WAL readers do not block the writer) or after it
// stopped. It returns an error if the file does not exist or cannot be
// read. Writes return an error.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db := &DB{r: r, path: path}
	if err := db.prepareReads(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Path returns the store's file name, as given to Open. The node keeps its
// other files (keys) in the same directory.
func (db *DB) Path() string { return db.path }

// takenSQL tells whether a seq in [?1, ?2] is stored. Blocks do not overlap,
// so only the last block starting at or before ?2 can reach ?1.
const takenSQL = `SELECT EXISTS(SELECT 1 FROM events WHERE seq BETWEEN ?1 AND ?2)
	OR coalesce((SELECT first_seq + n - 1 FROM visit_blocks WHERE first_seq <= ?2 ORDER BY first_seq DESC LIMIT 1) >= ?1, 0)`

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
	for _, st := range db.insBlocks {
		st.Close()
	}
	for _, st := range []*sql.Stmt{db.insBlock, db.taken, db.evAt, db.blockAt} {
		if st != nil {
			st.Close()
		}
	}
	var err error
	if db.w != nil {
		err = db.w.Close()
	}
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

const lastSeqSQL = `SELECT max(coalesce((SELECT max(seq) FROM events), 0),
		coalesce((SELECT first_seq + n - 1 FROM visit_blocks ORDER BY first_seq DESC LIMIT 1), 0))`

// LastSeq returns the sequence number of the last event, or 0.
func (db *DB) LastSeq(ctx context.Context) (uint64, error) {
	var s int64
	q := db.w
	if q == nil {
		q = db.r
	}
	err := q.QueryRowContext(ctx, lastSeqSQL).Scan(&s)
	if err != nil {
		return 0, fmt.Errorf("sqlite: last seq: %w", err)
	}
	return uint64(s), nil
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

// Append writes events, identities and the events' audit block hashes in one
// transaction and returns after the commit is durable. Events must carry
// their sequence numbers, unique and not already stored (at most
// math.MaxInt64); they need not be in order. Runs of plain visits are
// stored as visit blocks (see blocks.go), the other events as events rows.
//
// audit, if not nil, is called inside the transaction once the events and
// identities are written, and returns the hashes of the audit blocks they
// complete (the caller may compute them meanwhile, on another goroutine);
// they must be those of exactly these events and continue the stored
// blocks (see AuditBlocks). An error from audit aborts the append. On
// error nothing is written.
func (db *DB) Append(ctx context.Context, events []health.Event, ids []IdentityRow, audit func() (*AuditBlocks, error)) error {
	if db.w == nil {
		return errReadOnly
	}
	ranges, err := seqRanges(events)
	if err != nil {
		return err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	// The primary keys catch a seq stored twice in one table only; this
	// catches one in both, or inside a block. The node appends one range.
	taken := tx.StmtContext(ctx, db.taken)
	for _, r := range ranges {
		var t bool
		if err := taken.QueryRowContext(ctx, int64(r[0]), int64(r[1])).Scan(&t); err != nil {
			return fmt.Errorf("sqlite: append events: check seqs: %w", err)
		}
		if t {
			return fmt.Errorf("sqlite: append events: a seq in %d..%d is already stored", r[0], r[1])
		}
	}
	var (
		plain []*health.Event
		buf   = make([]byte, 0, 1+16*min(len(events), maxBlock))
		ins   = tx.StmtContext(ctx, db.insBlock)
	)
	for i := 0; i < len(events); {
		if !plainVisit(&events[i]) {
			plain = append(plain, &events[i])
			i++
			continue
		}
		j := i + 1
		for j < len(events) && j-i < maxBlock && sameBlock(&events[j-1], &events[j]) {
			j++
		}
		run := events[i:j]
		buf = encodeVisits(buf[:0], run)
		if _, err := ins.ExecContext(ctx, int64(run[0].Seq), int64(len(run)), run[0].Recorded.UnixMilli(), run[0].Actor, run[0].Batch, buf); err != nil {
			return fmt.Errorf("sqlite: append visits: %w", err)
		}
		i = j
	}
	args := make([]any, 0, 64*eventCols)
	for len(plain) > 0 {
		n := 1
		for _, c := range []int{64, 8} {
			if len(plain) >= c {
				n = c
				break
			}
		}
		args = args[:0]
		for _, e := range plain[:n] {
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
		plain = plain[n:]
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `INSERT INTO identities(person, id_hash, sealed, created) VALUES (?, ?, ?, ?)`,
			int64(id.Person), id.IDHash[:], id.Sealed, id.Created.UnixMilli()); err != nil {
			return fmt.Errorf("sqlite: append identity: %w", err)
		}
	}
	if audit != nil {
		h, err := audit()
		if err != nil {
			return fmt.Errorf("sqlite: append: audit blocks: %w", err)
		}
		if h.N != len(events) || len(ranges) != 1 || ranges[0][0] != h.First+1 {
			return fmt.Errorf("sqlite: append: the audit blocks are not those of the %d events appended", len(events))
		}
		if err := db.insertAudit(ctx, tx, h); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// seqRanges returns the seqs of events as sorted maximal ranges of
// consecutive numbers, or an error if a seq repeats or exceeds MaxInt64.
func seqRanges(events []health.Event) ([][2]uint64, error) {
	var ranges [][2]uint64
	add := func(s uint64) error {
		if s > math.MaxInt64 {
			return fmt.Errorf("sqlite: append events: seq %d out of range", s)
		}
		if k := len(ranges) - 1; k >= 0 {
			if s <= ranges[k][1] {
				return fmt.Errorf("sqlite: append events: seq %d twice", s)
			}
			if s == ranges[k][1]+1 {
				ranges[k][1] = s
				return nil
			}
		}
		ranges = append(ranges, [2]uint64{s, s})
		return nil
	}
	sorted := slices.IsSortedFunc(events, func(a, b health.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	if sorted {
		for i := range events {
			if err := add(events[i].Seq); err != nil {
				return nil, err
			}
		}
		return ranges, nil
	}
	seqs := make([]uint64, len(events))
	for i := range events {
		seqs[i] = events[i].Seq
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return ranges, nil
}

// Scan calls fn for every event with seq > after, in order: events rows and
// the visits of visit blocks merged by seq, read in one transaction so both
// tables are the same snapshot. fn must not keep e or e.Data beyond the
// call. It stops at fn's first error and returns it. A damaged visit block
// ends the scan at the visit that cannot be decoded, with an error naming it,
// after fn has seen every event before that visit.
func (db *DB) Scan(ctx context.Context, after uint64, fn func(e *health.Event) error) error {
	return db.ScanRange(ctx, after, math.MaxInt64, fn)
}

// ScanRange is Scan of the events with seqs after+1 .. last only.
func (db *DB) ScanRange(ctx context.Context, after, last uint64, fn func(e *health.Event) error) error {
	s, err := db.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.ScanRange(ctx, after, last, fn)
}

// Snapshot is a consistent view of the store: every read through it sees
// the same committed state (one read transaction). Close it when done.
type Snapshot struct {
	tx *sql.Tx
}

// Snapshot starts a consistent read of the store.
func (db *DB) Snapshot(ctx context.Context) (*Snapshot, error) {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	return &Snapshot{tx: tx}, nil
}

// Close ends the snapshot.
func (s *Snapshot) Close() error { return s.tx.Rollback() }

// LastSeq returns the sequence number of the snapshot's last event, or 0.
func (s *Snapshot) LastSeq(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.tx.QueryRowContext(ctx, lastSeqSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: last seq: %w", err)
	}
	return uint64(n), nil
}

// Scan is DB.Scan on the snapshot.
func (s *Snapshot) Scan(ctx context.Context, after uint64, fn func(e *health.Event) error) error {
	return s.ScanRange(ctx, after, math.MaxInt64, fn)
}

// ScanRange is DB.ScanRange on the snapshot.
func (s *Snapshot) ScanRange(ctx context.Context, after, last uint64, fn func(e *health.Event) error) error {
	last = min(last, math.MaxInt64)
	if after >= last {
		return nil
	}
	tx := s.tx
	evs, err := eventsOf(tx.QueryContext(ctx, selectEvents+`WHERE seq > ? AND seq <= ? ORDER BY seq`, int64(after), int64(last)))
	if err != nil {
		return err
	}
	defer evs.rows.Close()
	// The block holding after+1 may start before it: begin at the last
	// block starting at or before after, and skip its visits up to after.
	vs, err := visitsOf(after + 1)(tx.QueryContext(ctx, selectBlocks+`WHERE first_seq >= coalesce((SELECT max(first_seq) FROM visit_blocks WHERE first_seq <= ?1), ?1) AND first_seq <= ?2 ORDER BY first_seq`, int64(after), int64(last)))
	if err != nil {
		return err
	}
	defer vs.rows.Close()
	okE, err := evs.next()
	if err != nil {
		return err
	}
	// A damaged visit block fails at one visit (failAt); the events before
	// it are still delivered, so a caller knows how far the log reads.
	var (
		blockErr error
		failAt   uint64 = math.MaxUint64
	)
	nextV := func() (bool, error) {
		ok, err := vs.next()
		if errors.Is(err, errBlock) {
			blockErr, failAt = err, vs.blk.seq
			return false, nil
		}
		return ok && err == nil && vs.e.Seq <= last, err
	}
	okV, err := nextV()
	if err != nil {
		return err
	}
	for (okE && evs.e.Seq < failAt) || okV {
		if okE && (!okV || evs.e.Seq <= vs.e.Seq) {
			if err := fn(&evs.e); err != nil {
				return err
			}
			okE, err = evs.next()
		} else {
			if err := fn(&vs.e); err != nil {
				return err
			}
			okV, err = nextV()
		}
		if err != nil {
			return err
		}
	}
	return blockErr
}

const (
	selectEvents = `SELECT seq,kind,at,until,recorded,person,place,region,ref,aux,actor,batch,data FROM events `
	selectBlocks = `SELECT first_seq,n,recorded,actor,batch,data FROM visit_blocks `
)

// eventRows reads events rows in seq order into one reused Event.
type eventRows struct {
	rows *sql.Rows
	e    health.Event
}

// eventsOf reads the rows of a selectEvents query ordered by seq.
func eventsOf(rows *sql.Rows, err error) (*eventRows, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: read events: %w", err)
	}
	return &eventRows{rows: rows}, nil
}

// next reads the next row into r.e; it returns false at the end.
func (r *eventRows) next() (bool, error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return false, fmt.Errorf("sqlite: read events: %w", err)
		}
		return false, nil
	}
	var (
		e                                       = &r.e
		seq, kind, at, recorded                 int64
		until, person, place, region, ref_, aux sql.NullInt64
	)
	e.Data = e.Data[:0]
	if err := r.rows.Scan(&seq, &kind, &at, &until, &recorded, &person, &place, &region, &ref_, &aux, &e.Actor, &e.Batch, &e.Data); err != nil {
		return false, fmt.Errorf("sqlite: read event: %w", err)
	}
	e.Seq, e.Kind = uint64(seq), health.EventKind(kind)
	e.At, e.Recorded = time.UnixMilli(at).UTC(), time.UnixMilli(recorded).UTC()
	e.Until = time.Time{}
	if until.Valid {
		e.Until = time.UnixMilli(until.Int64).UTC()
	}
	e.Person, e.Place, e.Region = uint32(person.Int64), uint32(place.Int64), uint32(region.Int64)
	e.Ref, e.Aux = uint64(ref_.Int64), aux.Int64
	return true, nil
}

// visitRows reads the visits of visit blocks in seq order into one reused
// Event, skipping visits before from.
type visitRows struct {
	rows *sql.Rows
	from uint64
	blk  blockReader
	data sql.RawBytes // valid until rows.Next; blk is done with it by then
	e    health.Event
}

// visitsOf returns a function that reads the visits with seq >= from of the
// rows of a selectBlocks query ordered by first_seq.
func visitsOf(from uint64) func(rows *sql.Rows, err error) (*visitRows, error) {
	return func(rows *sql.Rows, err error) (*visitRows, error) {
		if err != nil {
			return nil, fmt.Errorf("sqlite: read visit blocks: %w", err)
		}
		return &visitRows{rows: rows, from: from}, nil
	}
}

// next decodes the next visit into r.e; it returns false at the end.
func (r *visitRows) next() (bool, error) {
	for {
		ok, err := r.blk.next(&r.e)
		if err != nil {
			return false, err
		}
		if ok {
			if r.e.Seq < r.from {
				continue
			}
			return true, nil
		}
		if !r.rows.Next() {
			if err := r.rows.Err(); err != nil {
				return false, fmt.Errorf("sqlite: read visit blocks: %w", err)
			}
			return false, nil
		}
		var (
			first, n, recorded int64
			actor, batch       string
		)
		if err := r.rows.Scan(&first, &n, &recorded, &actor, &batch, &r.data); err != nil {
			return false, fmt.Errorf("sqlite: read visit block: %w", err)
		}
		if err := r.blk.reset(first, n, recorded, actor, batch, r.data); err != nil {
			return false, err
		}
		if uint64(first) < r.from {
			if err := r.blk.skip(int(min(r.from-uint64(first), uint64(n)))); err != nil {
				return false, err
			}
		}
	}
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

// Event returns one event by sequence number, or ErrNotFound. A visit in
// a block is found by decoding its block up to it.
func (db *DB) Event(ctx context.Context, seq uint64) (health.Event, error) {
	if seq > math.MaxInt64 {
		return health.Event{}, ErrNotFound
	}
	evs, err := eventsOf(db.evAt.QueryContext(ctx, int64(seq)))
	if err != nil {
		return health.Event{}, err
	}
	ok, err := evs.next()
	evs.rows.Close()
	if err != nil {
		return health.Event{}, err
	}
	if ok {
		out := evs.e
		out.Data = append([]byte(nil), evs.e.Data...)
		return out, nil
	}
	vs, err := visitsOf(seq)(db.blockAt.QueryContext(ctx, int64(seq)))
	if err != nil {
		return health.Event{}, err
	}
	defer vs.rows.Close()
	ok, err = vs.next()
	if err != nil {
		return health.Event{}, err
	}
	if !ok || vs.e.Seq != seq {
		return health.Event{}, ErrNotFound
	}
	return vs.e, nil
}
