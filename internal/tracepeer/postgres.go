package tracepeer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// pgSettings are the session settings of the PostgreSQL peer: memory for
// the index builds and for the hash tables of the secondary trace (the
// defaults, 64 MB and 4 MB, make them spill to disk). JIT stays on (the
// default): the close contacts cost too little to be compiled, and it made
// the secondary ones 1.4× as fast.
var pgSettings = []string{
	"SET maintenance_work_mem = '1GB'",
	"SET work_mem = '256MB'",
}

// pgDialect has covering indexes: the trace reads them only (index-only
// scans, once VACUUM has set the visibility map), not the table, whose rows
// are in arrival order. With plain indexes the close contacts take ten times
// as long.
var pgDialect = dialect{
	greatest: "GREATEST", least: "LEAST",
	indexes: []string{
		"CREATE INDEX {visits}_person ON {visits} (person, from_s) INCLUDE (to_s, place)",
		"CREATE INDEX {visits}_place ON {visits} (place, from_s) INCLUDE (to_s, person)",
	},
	stats: "VACUUM ANALYZE {visits}",
}

// OpenPostgres connects to the PostgreSQL database at dsn. Its tables are
// prefix_visits, prefix_kinds and prefix_places. It returns the connection's
// error.
func OpenPostgres(ctx context.Context, dsn, prefix string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// A canceled context cancels the query on the server, and the
	// connection stays usable (by default pgx closes it).
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 30 * time.Second}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var version string
	if err := c.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("postgres: server_version: %w", err)
	}
	p := pgBackend{c}
	for _, q := range pgSettings {
		if err := p.exec(ctx, q); err != nil {
			c.Close(ctx)
			return nil, fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	return newDB("postgres", "PostgreSQL "+version, prefix, p, pgDialect), nil
}

// pgBackend is a PostgreSQL connection; it copies with COPY (binary).
type pgBackend struct{ c *pgx.Conn }

func (p pgBackend) exec(ctx context.Context, sql string) error {
	_, err := p.c.Exec(ctx, sql)
	return err
}

func (p pgBackend) copy(ctx context.Context, table string, cols []string, n int, row func(int, []any)) error {
	dst := make([]any, len(cols)) // CopyFrom encodes a row before it asks for the next
	_, err := p.c.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		row(i, dst)
		return dst, nil
	}))
	return err
}

func (p pgBackend) query(ctx context.Context, sql string, scan func(degree, person, exposures int64)) error {
	rows, err := p.c.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	var degree, person, exposures int64
	for rows.Next() {
		if err := rows.Scan(&degree, &person, &exposures); err != nil {
			return err
		}
		scan(degree, person, exposures)
	}
	return rows.Err()
}

func (p pgBackend) close(ctx context.Context) error { return p.c.Close(ctx) }
