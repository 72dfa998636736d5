//go:build duckdb

package tracepeer

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/duckdb/duckdb-go/v2"
)

// duckdbDialect has plain (ART) indexes: DuckDB scans and hash-joins the
// columns for this query, and cannot include columns in an index.
var duckdbDialect = dialect{
	greatest: "GREATEST", least: "LEAST",
	indexes: []string{
		"CREATE INDEX {visits}_person ON {visits} (person, from_s)",
		"CREATE INDEX {visits}_place ON {visits} (place, from_s)",
	},
	stats: "ANALYZE {visits}",
}

// OpenDuckDB opens an in-memory DuckDB database (github.com/duckdb/duckdb-go,
// cgo; built with the duckdb tag only). Its tables are prefix_visits,
// prefix_kinds and prefix_places. It returns the library's error.
func OpenDuckDB(ctx context.Context, prefix string) (*DB, error) {
	db, c, err := openSQL(ctx, "duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	var version string
	if err := c.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		c.Close()
		db.Close()
		return nil, fmt.Errorf("duckdb: version: %w", err)
	}
	return newDB("duckdb", "DuckDB "+version, prefix, &sqlBackend{db: db, c: c, bulk: duckdbCopy}, duckdbDialect), nil
}

// duckdbCopy appends the rows with DuckDB's Appender.
func duckdbCopy(ctx context.Context, c *sql.Conn, table string, cols []string, n int, row func(int, []any)) error {
	return c.Raw(func(dc any) error {
		dconn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("connection of type %T", dc)
		}
		a, err := duckdb.NewAppenderFromConn(dconn, "", table)
		if err != nil {
			return err
		}
		vals := make([]any, len(cols))
		dvals := make([]driver.Value, len(cols))
		for i := range n {
			if i%(1<<16) == 0 && ctx.Err() != nil {
				return errors.Join(ctx.Err(), a.Close())
			}
			row(i, vals)
			for j, v := range vals {
				dvals[j] = v
			}
			if err := a.AppendRow(dvals...); err != nil {
				return errors.Join(err, a.Close())
			}
		}
		return a.Close()
	})
}
