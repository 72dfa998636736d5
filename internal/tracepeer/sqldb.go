package tracepeer

import (
	"context"
	"database/sql"
)

// sqlBackend is one connection of a database/sql database (SQLite, DuckDB),
// with the database's bulk copy.
type sqlBackend struct {
	db   *sql.DB
	c    *sql.Conn
	bulk func(ctx context.Context, c *sql.Conn, table string, cols []string, n int, row func(int, []any)) error
}

// openSQL opens dsn with driver and takes one connection from it. It
// returns the driver's error.
func openSQL(ctx context.Context, driver, dsn string) (*sql.DB, *sql.Conn, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, err
	}
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, c, nil
}

func (s *sqlBackend) exec(ctx context.Context, q string) error {
	_, err := s.c.ExecContext(ctx, q)
	return err
}

func (s *sqlBackend) copy(ctx context.Context, table string, cols []string, n int, row func(int, []any)) error {
	return s.bulk(ctx, s.c, table, cols, n, row)
}

func (s *sqlBackend) query(ctx context.Context, q string, scan func(degree, person, exposures int64)) error {
	rows, err := s.c.QueryContext(ctx, q)
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

func (s *sqlBackend) close(context.Context) error {
	err := s.c.Close()
	if e := s.db.Close(); err == nil {
		err = e
	}
	return err
}
