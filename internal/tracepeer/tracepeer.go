// Package tracepeer is the peer of the contact trace benchmark: it loads a
// tracegen world into a SQL database (PostgreSQL, SQLite, or DuckDB when
// built with the duckdb tag) and finds the close and secondary contacts of
// the world's seeds with one SQL query, by the rules of trace.Index.Trace.
//
// The schema, for a table prefix P:
//
//	P_visits (person, place, from_s, to_s)     visits [from_s, to_s), seconds since the world's start;
//	                                           indexes (person, from_s) and (place, from_s), covering
//	                                           (the other two columns) in PostgreSQL and SQLite
//	P_kinds  (kind, min_overlap_s)             the place kinds; place p has kind p % len(tracegen.Kinds())
//	P_places (place, m_s, max_dur_s)           per visited place: the minimum overlap max(1, min_overlap_s)
//	                                           and the longest visit, derived from the two tables above
//
// The seeds are a list of VALUES in the query, (person, f, t) for a person
// infectious in [f, t).
//
// P_places.max_dur_s gives the query the same bound as trace's index: a
// visit overlapping [f, t) by m starts at or after f + m - max_dur_s, so
// the (place, from_s) index is scanned over a window, not from the start of
// the place's history.
package tracepeer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"healthcode/internal/trace/tracegen"
)

// ErrNoDuckDB is OpenDuckDB's error in a build without the duckdb tag.
var ErrNoDuckDB = errors.New("duckdb: not built in (build with -tags duckdb; needs cgo)")

// Contact is a contact found by a peer: the person, the degree (1 close, 2
// secondary) and the number of exposures (qualifying pairs of overlapping
// visits), as len(trace.Contact.Exposures).
type Contact struct {
	Person    uint32
	Degree    int
	Exposures int
}

// DB is a peer database. It is not safe for concurrent use.
type DB struct {
	Name    string        // "postgres", "sqlite" or "duckdb"
	Version string        // the server's or library's version
	Copy    time.Duration // Load: the time to copy the visits in
	Index   time.Duration // Load: the time to build the indexes, the places table and the statistics
	// PlainIndexes makes Load build the indexes exactly as the tracing
	// issue states them, (person, from_s) and (place, from_s), instead of
	// the covering ones of PostgreSQL and SQLite (set before Load).
	PlainIndexes bool

	b backend
	d dialect
	r *strings.Replacer // table names and functions
}

// dialect is what differs in the SQL of the databases.
type dialect struct {
	greatest, least string   // the functions GREATEST and LEAST
	indexes         []string // the indexes on {visits} (person, from_s) and (place, from_s)
	stats           string   // updates the statistics of {visits}
}

// backend is one database: statements, a bulk copy and queries.
type backend interface {
	exec(ctx context.Context, sql string) error
	// copy appends n rows to table; row(i, dst) sets row i's values
	// (int32s) in dst, one per column.
	copy(ctx context.Context, table string, cols []string, n int, row func(i int, dst []any)) error
	// query runs sql, which returns rows (degree, person, exposures).
	query(ctx context.Context, sql string, scan func(degree, person, exposures int64)) error
	close(ctx context.Context) error
}

// newDB returns a DB over b, in dialect d, whose tables are named
// prefix_*.
func newDB(name, version, prefix string, b backend, d dialect) *DB {
	return &DB{Name: name, Version: version, b: b, d: d, r: strings.NewReplacer(
		"{visits}", prefix+"_visits", "{kinds}", prefix+"_kinds",
		"{places}", prefix+"_places",
		"GREATEST(", d.greatest+"(", "LEAST(", d.least+"(",
	)}
}

// The load statements. The visits are copied between createSQL and the
// dialect's indexes, followed by placesSQL and the dialect's stats.
var (
	createSQL = []string{
		"DROP TABLE IF EXISTS {visits}",
		"DROP TABLE IF EXISTS {kinds}",
		"DROP TABLE IF EXISTS {places}",
		"CREATE TABLE {visits} (person integer NOT NULL, place integer NOT NULL, from_s integer NOT NULL, to_s integer NOT NULL)",
		"CREATE TABLE {kinds} (kind integer NOT NULL, min_overlap_s integer NOT NULL)",
	}
	placesSQL = []string{
		fmt.Sprintf(`CREATE TABLE {places} AS
SELECT v.place, GREATEST(1, k.min_overlap_s) AS m_s, max(v.to_s - v.from_s) AS max_dur_s
FROM {visits} v JOIN {kinds} k ON k.kind = v.place %% %d
GROUP BY v.place, k.min_overlap_s`, len(tracegen.Kinds())),
		"CREATE UNIQUE INDEX {places}_place ON {places} (place)",
		"ANALYZE {places}",
	}
	dropSQL = []string{
		"DROP TABLE IF EXISTS {visits}",
		"DROP TABLE IF EXISTS {kinds}",
		"DROP TABLE IF EXISTS {places}",
	}
)

// closeSQL defines the close contacts (cc): the persons with a visit
// overlapping a seed's visit, clipped to the seed's window, at the same
// place by at least m_s seconds; first_s is the start of their earliest
// exposure.
const closeSQL = `WITH seed_list (person, f, t) AS (VALUES {seed_rows}),
seeds AS (SELECT DISTINCT person, f, t FROM seed_list),
src1 AS (
  SELECT v.place, GREATEST(v.from_s, s.f) AS f, LEAST(v.to_s, s.t) AS t
  FROM seeds s
  JOIN {visits} v ON v.person = s.person AND v.from_s < s.t AND v.to_s > s.f
),
cc AS (
  SELECT c.person, min(GREATEST(c.from_s, s.f)) AS first_s, count(*) AS exposures
  FROM src1 s
  JOIN {places} p ON p.place = s.place
  JOIN {visits} c ON c.place = s.place
    AND c.from_s BETWEEN s.f + p.m_s - p.max_dur_s AND s.t - p.m_s
    AND LEAST(c.to_s, s.t) - GREATEST(c.from_s, s.f) >= p.m_s
  WHERE c.person NOT IN (SELECT person FROM seeds)
  GROUP BY c.person
)`

// depth1SQL returns the close contacts.
const depth1SQL = closeSQL + `
SELECT 1 AS degree, person, exposures FROM cc`

// depth2SQL returns the close contacts and the secondary ones: the persons,
// neither seeds nor close contacts, with a visit overlapping a close
// contact's visit clipped to [first_s, +inf) (no one is quarantined) by the
// same rule.
const depth2SQL = closeSQL + `,
src2 AS (
  SELECT v.place, GREATEST(v.from_s, cc.first_s) AS f, v.to_s AS t
  FROM cc
  JOIN {visits} v ON v.person = cc.person AND v.to_s > cc.first_s
)
SELECT 1 AS degree, person, exposures FROM cc
UNION ALL
SELECT 2, c.person, count(*)
FROM src2 s
JOIN {places} p ON p.place = s.place
JOIN {visits} c ON c.place = s.place
  AND c.from_s BETWEEN s.f + p.m_s - p.max_dur_s AND s.t - p.m_s
  AND LEAST(c.to_s, s.t) - GREATEST(c.from_s, s.f) >= p.m_s
WHERE c.person NOT IN (SELECT person FROM seeds)
  AND c.person NOT IN (SELECT person FROM cc)
GROUP BY c.person`

// SQL returns the query Trace runs for seeds (at least one) and depth (2,
// or else 1), in db's dialect and table names.
func (db *DB) SQL(seeds []tracegen.Seed, depth int) string {
	q := depth1SQL
	if depth == 2 {
		q = depth2SQL
	}
	var rows strings.Builder
	for i, s := range seeds {
		if i > 0 {
			rows.WriteString(", ")
		}
		fmt.Fprintf(&rows, "(%d, %d, %d)", s.Person, s.From, s.To)
	}
	return strings.Replace(db.r.Replace(q), "{seed_rows}", rows.String(), 1)
}

// plainIndexes are the indexes as the tracing issue states them.
var plainIndexes = []string{
	"CREATE INDEX {visits}_person ON {visits} (person, from_s)",
	"CREATE INDEX {visits}_place ON {visits} (place, from_s)",
}

// Load replaces db's tables with w's visits and place kinds, and builds the
// indexes, the places table and the planner's statistics. It records the
// times in db.Copy and db.Index. It returns the database's error.
func (db *DB) Load(ctx context.Context, w *tracegen.World) error {
	start := time.Now()
	if err := db.execAll(ctx, createSQL); err != nil {
		return err
	}
	err := db.b.copy(ctx, db.r.Replace("{visits}"), []string{"person", "place", "from_s", "to_s"}, len(w.Visits), func(i int, dst []any) {
		v := &w.Visits[i]
		dst[0], dst[1], dst[2], dst[3] = int32(v.Person), int32(v.Place), int32(v.From), int32(v.From+v.Dur)
	})
	if err != nil {
		return fmt.Errorf("%s: copy visits: %w", db.Name, err)
	}
	kinds := tracegen.Kinds()
	err = db.b.copy(ctx, db.r.Replace("{kinds}"), []string{"kind", "min_overlap_s"}, len(kinds), func(i int, dst []any) {
		dst[0], dst[1] = int32(i), int32((kinds[i].MinOverlap+time.Second-1)/time.Second)
	})
	if err != nil {
		return fmt.Errorf("%s: copy kinds: %w", db.Name, err)
	}
	db.Copy = time.Since(start)
	start = time.Now()
	indexes := db.d.indexes
	if db.PlainIndexes {
		indexes = plainIndexes
	}
	if err := db.execAll(ctx, slices.Concat(indexes, placesSQL, []string{db.d.stats})); err != nil {
		return err
	}
	db.Index = time.Since(start)
	return nil
}

// Trace returns the close contacts (depth 1) or the close and secondary
// contacts (depth 2) of seeds, unordered, with SQL(seeds, depth). It
// returns the database's error; when ctx ends, the query is canceled and the
// error is the database's or ctx's (see ctx.Err()).
func (db *DB) Trace(ctx context.Context, seeds []tracegen.Seed, depth int) ([]Contact, error) {
	if len(seeds) == 0 {
		return nil, nil
	}
	var out []Contact
	err := db.b.query(ctx, db.SQL(seeds, depth), func(degree, person, exposures int64) {
		out = append(out, Contact{Person: uint32(person), Degree: int(degree), Exposures: int(exposures)})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: trace depth %d: %w", db.Name, depth, err)
	}
	return out, nil
}

// Close drops db's tables and closes it. It returns the first error.
func (db *DB) Close(ctx context.Context) error {
	err := db.execAll(ctx, dropSQL)
	if e := db.b.close(ctx); err == nil {
		err = e
	}
	return err
}

// execAll runs the statements in order, with db's table names, and returns
// the first error.
func (db *DB) execAll(ctx context.Context, stmts []string) error {
	for _, q := range stmts {
		q = db.r.Replace(q)
		if err := db.b.exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %s: %w", db.Name, firstLine(q), err)
		}
	}
	return nil
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
