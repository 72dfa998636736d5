package tracepeer

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqlitePragmas are the SQLite peer's settings: no rollback journal and no
// fsync (the load is one transaction that may be lost), a 1 GiB page cache
// and temporary b-trees in memory.
var sqlitePragmas = []string{"journal_mode(OFF)", "synchronous(OFF)", "cache_size(-1048576)", "temp_store(MEMORY)"}

// sqliteDialect has no GREATEST and LEAST (its max and min of several
// arguments are the same functions), and covering indexes: the trace reads
// the indexes only, not the table, whose rows are in arrival order.
var sqliteDialect = dialect{
	greatest: "max", least: "min",
	indexes: []string{
		"CREATE INDEX {visits}_person ON {visits} (person, from_s, to_s, place)",
		"CREATE INDEX {visits}_place ON {visits} (place, from_s, to_s, person)",
	},
	stats: "ANALYZE {visits}",
}

// OpenSQLite opens (or creates) the SQLite database file at path
// (modernc.org/sqlite). Its tables are prefix_visits, prefix_kinds and
// prefix_places. It returns the driver's error.
func OpenSQLite(ctx context.Context, path, prefix string) (*DB, error) {
	q := url.Values{"_pragma": sqlitePragmas}
	db, c, err := openSQL(ctx, "sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var version string
	if err := c.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version); err != nil {
		c.Close()
		db.Close()
		return nil, fmt.Errorf("sqlite: version: %w", err)
	}
	return newDB("sqlite", "SQLite "+version, prefix, &sqlBackend{db: db, c: c, bulk: sqliteCopy}, sqliteDialect), nil
}

// sqliteCopy inserts the rows in one transaction, 256 rows a statement.
func sqliteCopy(ctx context.Context, c *sql.Conn, table string, cols []string, n int, row func(int, []any)) error {
	const batch = 256
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var full *sql.Stmt // the statement of a full batch
	args := make([]any, batch*len(cols))
	for i := 0; i < n; i += batch {
		m := min(batch, n-i)
		a := args[:m*len(cols)]
		for j := range m {
			row(i+j, a[j*len(cols):(j+1)*len(cols)])
		}
		switch {
		case m < batch:
			_, err = tx.ExecContext(ctx, insertSQL(table, cols, m), a...)
		case full == nil:
			if full, err = tx.PrepareContext(ctx, insertSQL(table, cols, m)); err == nil {
				_, err = full.ExecContext(ctx, a...)
			}
		default:
			_, err = full.ExecContext(ctx, a...)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// insertSQL returns an INSERT of rows rows into table's cols, with
// positional parameters.
func insertSQL(table string, cols []string, rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	return b.String()
}
