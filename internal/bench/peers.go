package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// BareServer is peer A of the code lookup: a plain net/http server that
// returns pre-built JSON bodies from a map keyed by person id, with the same
// route pattern, headers and server timeouts as the node's API, and no work
// beyond that (no authentication, no code view, no JSON building).
type BareServer struct {
	Addr string
	srv  *http.Server
	done chan error
}

// StartBare starts a bare server on 127.0.0.1:0.
func StartBare(bodies map[string][]byte) (*BareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/persons/{id}/code", BareHandler(bodies))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	b := &BareServer{Addr: ln.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		b.done <- err
	}()
	return b, nil
}

// BareHandler returns the stored body for the {id} path value.
func BareHandler(bodies map[string][]byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.PathValue("id")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

// Close stops the server.
func (b *BareServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	if e := <-b.done; err == nil {
		err = e
	}
	return err
}

// RedisValueSize is the size of the values peer B reads.
const RedisValueSize = 200

// RunRedisGet is peer B of the code lookup: unpipelined GETs of 200-byte
// values with go-redis, one goroutine per pooled connection, closed loop, for
// the same window. It writes its keys first and deletes them after.
func RunRedisGet(ctx context.Context, addr string, conns int, dur, warmup time.Duration, tick func(time.Duration)) (LoadResult, error) {
	rdb := redis.NewClient(&redis.Options{
		Addr: addr, Protocol: 2, DisableIdentity: true,
		PoolSize: conns, MinIdleConns: conns, PoolTimeout: 5 * time.Second,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		return LoadResult{}, fmt.Errorf("redis at %s: %w", addr, err)
	}
	const nKeys = 10000
	prefix := fmt.Sprintf("healthcode-bench:%d:", time.Now().UnixNano())
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	val := make([]byte, RedisValueSize)
	for i := range val {
		val[i] = 'a' + byte(i%26)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 0; i < nKeys; i += 1000 {
			rdb.Del(dctx, keys[i:min(i+1000, nKeys)]...)
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	for i := 0; i < nKeys; i += 1000 {
		pipe := rdb.Pipeline()
		for _, k := range keys[i:min(i+1000, nKeys)] {
			pipe.Set(sctx, k, val, 10*time.Minute)
		}
		if _, err := pipe.Exec(sctx); err != nil {
			cancel()
			return LoadResult{}, fmt.Errorf("redis: write keys: %w", err)
		}
	}
	cancel()
	// Warm the pool so the window does not include dials.
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); rdb.Get(ctx, keys[0]) }()
	}
	wg.Wait()
	lctx, cancel := context.WithTimeout(ctx, warmup+dur+30*time.Second)
	defer cancel()
	return runClosedLoop(lctx, conns, dur, warmup, tick, func(int) (func(*rand.Rand) error, func()) {
		return func(rng *rand.Rand) error {
			v, err := rdb.Get(lctx, keys[rng.IntN(nKeys)]).Bytes()
			if err != nil {
				return err
			}
			if len(v) != RedisValueSize {
				return &StatusError{Status: 0, Body: fmt.Sprintf("redis value of %d bytes, want %d", len(v), RedisValueSize)}
			}
			return nil
		}, func() {}
	}, 7)
}

// VisitRow is one visit as the PostgreSQL peer stores it.
type VisitRow struct {
	Person, Place uint32
	At, Until     int64 // unix seconds
}

// PGResult is the outcome of the PostgreSQL COPY peer.
type PGResult struct {
	Rows       int64 // rows acknowledged by COPY
	Elapsed    time.Duration
	Counted    int64 // count(*) after the load
	SyncCommit string
	Fsync      string
	Version    string
}

// Rate returns rows per second.
func (r PGResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Rows) / r.Elapsed.Seconds()
}

const pgTable = "healthcode_bench_visits"

// RunPGCopy is the peer of visit ingest: the same rows COPYed (pgx CopyFrom,
// binary) into a table with indexes on (person, at) and (place, at), in
// batches of batch rows, each batch its own transaction, over conns
// connections at once. The table is created fresh and dropped afterwards.
func RunPGCopy(ctx context.Context, dsn string, rows []VisitRow, batch, conns int, progress func(n int)) (PGResult, error) {
	var res PGResult
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	admin, err := pgx.Connect(cctx, dsn)
	ccancel()
	if err != nil {
		return res, fmt.Errorf("postgres: %w", err)
	}
	defer admin.Close(context.Background())
	for q, dst := range map[string]*string{"SHOW synchronous_commit": &res.SyncCommit, "SHOW fsync": &res.Fsync, "SHOW server_version": &res.Version} {
		if err := admin.QueryRow(ctx, q).Scan(dst); err != nil {
			return res, fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + pgTable,
		"CREATE TABLE " + pgTable + " (person int NOT NULL, place int NOT NULL, at timestamptz NOT NULL, until timestamptz NOT NULL)",
		"CREATE INDEX ON " + pgTable + " (person, at)",
		"CREATE INDEX ON " + pgTable + " (place, at)",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			return res, fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	defer admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgTable)
	cs := make([]*pgx.Conn, conns)
	for i := range cs {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := pgx.Connect(cctx, dsn)
		ccancel()
		if err != nil {
			for _, c := range cs[:i] {
				c.Close(context.Background())
			}
			return res, fmt.Errorf("postgres: %w", err)
		}
		cs[i] = c
	}
	defer func() {
		for _, c := range cs {
			c.Close(context.Background())
		}
	}()
	nBatches := (len(rows) + batch - 1) / batch
	var (
		next, copied atomic.Int64
		wg           sync.WaitGroup
		mu           sync.Mutex
		firstErr     error
	)
	cols := []string{"person", "place", "at", "until"}
	start := time.Now()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= nBatches || ctx.Err() != nil {
					return
				}
				part := rows[b*batch : min((b+1)*batch, len(rows))]
				n, err := c.CopyFrom(ctx, pgx.Identifier{pgTable}, cols, pgx.CopyFromSlice(len(part), func(i int) ([]any, error) {
					r := &part[i]
					return []any{int32(r.Person), int32(r.Place), time.Unix(r.At, 0), time.Unix(r.Until, 0)}, nil
				}))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				if progress != nil {
					progress(int(copied.Add(n)))
				} else {
					copied.Add(n)
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Rows = copied.Load()
	if firstErr != nil {
		return res, fmt.Errorf("postgres: copy: %w", firstErr)
	}
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM "+pgTable).Scan(&res.Counted); err != nil {
		return res, fmt.Errorf("postgres: count: %w", err)
	}
	return res, nil
}
