//go:build !duckdb

package tracepeer

import "context"

// OpenDuckDB returns ErrNoDuckDB: this build has no DuckDB (build with the
// duckdb tag for it).
func OpenDuckDB(ctx context.Context, prefix string) (*DB, error) {
	return nil, ErrNoDuckDB
}
