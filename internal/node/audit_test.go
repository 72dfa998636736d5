package node_test

import (
	"context"
	"database/sql"
	"flag"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/audit"
	"healthcode/internal/bench"
	"healthcode/internal/health"
	"healthcode/internal/httpapi"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
	"healthcode/internal/sqlite"
	"healthcode/internal/staff"
)

func enrolN(t testing.TB, n *node.Node, first, count int) {
	t.Helper()
	var in []node.Enrolment
	for i := first; i < first+count; i++ {
		in = append(in, node.Enrolment{IDNumber: nodetest.IDNumber(i), Name: "张三", Phone: "13800138000", HomeRegion: "440106"})
	}
	if _, err := n.Enrol(context.Background(), "staff:admin", in); err != nil {
		t.Fatal(err)
	}
}

// checkStore recomputes the audit log of a data directory's store and
// fails the test if it does not match the stored hashes and heads.
func checkStore(t *testing.T, dir string, wantEvents int64) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.OpenReadOnly(ctx, filepath.Join(dir, "healthcode.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vkey, err := audit.ReadVerifierKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	rows, err := snap.AuditRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	c := audit.NewChecker(v, rows)
	heads, err := snap.AuditHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		c.AddHead(h.Note, "stored head")
	}
	if err := snap.Scan(ctx, 0, c.Add); err != nil {
		t.Fatal(err)
	}
	res, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil || res.Events != wantEvents || res.Hashes != tlog.StoredHashCount(wantEvents) {
		t.Fatalf("audit check: %v; %d events, %d hashes; want OK with %d events", err, res.Events, res.Hashes, wantEvents)
	}
}

// TestAuditStateDoesNotAdvanceWhenAppendFails makes the audit hashes'
// insert fail inside the append transaction (a trigger): the write must be
// refused, nothing of it stored (events and hashes roll back together),
// the node's tree must stay where it was, and the next write must continue
// the log correctly.
func TestAuditStateDoesNotAdvanceWhenAppendFails(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	enrolN(t, n.Node, 0, 3)
	h, err := n.AuditHead(ctx)
	if err != nil || h.Size != 3 {
		t.Fatalf("head: %+v %v, want size 3", h, err)
	}
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(n.Dir, "healthcode.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_hashes BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	_, err = n.Enrol(ctx, "staff:admin", []node.Enrolment{{IDNumber: nodetest.IDNumber(3), Name: "李四", Phone: "13800138000", HomeRegion: "440106"}})
	if health.KindOf(err) != health.Unavailable {
		t.Fatalf("write with a failing audit insert: got %v, want an Unavailable error", err)
	}
	var events int
	if err := raw.QueryRow(`SELECT count(*) FROM events`).Scan(&events); err != nil || events != 3 {
		t.Fatalf("events stored after the failed append: %d %v, want 3 (the events went without their audit hashes)", events, err)
	}
	if _, err := n.AuditInclusion(ctx, 4, 0); health.KindOf(err) != health.Invalid {
		t.Fatalf("inclusion of seq 4 after the failed append: got %v, want seq_out_of_range (the tree advanced)", err)
	}
	if h2, err := n.AuditHead(ctx); err != nil || h2.Size != 3 || h2.Root != h.Root {
		t.Fatalf("head after the failed append: %+v %v, want the size-3 head", h2, err)
	}
	if _, err := raw.Exec(`DROP TRIGGER fail_audit`); err != nil {
		t.Fatal(err)
	}
	enrolN(t, n.Node, 3, 2)
	p, err := n.AuditInclusion(ctx, 5, 0)
	if err != nil || p.Size != 5 {
		t.Fatalf("inclusion of seq 5: %+v %v", p, err)
	}
	e, err := n.Event(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := audit.LeafHash(nil, &e)
	if p.Leaf != leaf {
		t.Fatal("the stored leaf of seq 5 is not the hash of event 5")
	}
	if err := tlog.CheckRecord(p.Proof, p.Size, p.Root, 4, leaf); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	c, err := n.AuditConsistency(ctx, 3, 5)
	if err != nil || c.OldRoot != h.Root {
		t.Fatalf("consistency 3 → 5: %+v %v; want the old root to be the size-3 head's", c, err)
	}
	if err := tlog.CheckTree(c.Proof, 5, c.Root, 3, h.Root); err != nil {
		t.Fatalf("consistency proof: %v", err)
	}
	n.Close()
	checkStore(t, n.Dir, 5)
}

// startNode opens a node on dir with the bench package's configuration
// (real store, keys, national ruleset) and runs its writer. stop stops the
// writer and closes the store; it also runs at cleanup.
func startNode(tb testing.TB, dir string, noAudit bool) (n *node.Node, stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := bench.NodeConfig(ctx, dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.NoAudit = noAudit
	n, err = node.Open(ctx, cfg)
	if err != nil {
		cfg.Store.Close()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("node.Run: %v", err)
			}
			cfg.Store.Close()
		})
	}
	tb.Cleanup(stop)
	return n, stop
}

// TestAuditCatchesUpEventsWrittenWithoutIt writes events with the audit
// log off (as a benchmark does, or a store from before the audit log),
// restarts with it on, and checks that the node hashed them at start and
// continues the log.
func TestAuditCatchesUpEventsWrittenWithoutIt(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	off, stop := startNode(t, dir, true)
	enrolN(t, off, 0, 4)
	if _, err := off.AuditHead(ctx); health.KindOf(err) != health.Unavailable {
		t.Fatalf("head with the audit log off: got %v, want Unavailable", err)
	}
	stop()
	on, stop2 := startNode(t, dir, false)
	enrolN(t, on, 4, 3)
	h, err := on.AuditHead(ctx)
	if err != nil || h.Size != 7 {
		t.Fatalf("head after catch-up: %+v %v, want size 7", h, err)
	}
	stop2()
	checkStore(t, dir, 7)
}

var ingestPersons = flag.Int("ingest-persons", 10000, "BenchmarkIngestAudit: persons enrolled in each node (healthcode bench uses 1000000)")

// BenchmarkIngestAudit measures durable visit ingest with the audit log on
// and off in the same run: two nodes, one with Config.NoAudit, fed the
// same batches in alternation (each round: every client sends one batch of
// 10,000 visits to the node without the log, then to the node with it), so
// that load from elsewhere on the machine falls on both. layer=node calls
// node.RecordVisits; layer=http POSTs /api/v1/visits through the API
// server, as `healthcode bench` measures ingest (4 clients, 10,000 a batch).
// It reports visits/s of each and the log's cost in percent of the rate
// without it.
func BenchmarkIngestAudit(b *testing.B) {
	const batch, clients = 10000, 4
	persons, places := *ingestPersons, min(2000, max(10, *ingestPersons/50)) // as healthcode bench's ingest
	for _, layer := range []string{"node", "http"} {
		b.Run("layer="+layer, func(b *testing.B) {
			ctx := context.Background()
			type target struct {
				n    *node.Node
				send func() error
				took time.Duration
			}
			var ts [2]*target // [0]: audit off, [1]: on
			for i := range ts {
				n, _ := startNode(b, b.TempDir(), i == 0)
				if err := bench.EnrolPersons(ctx, n, 0, persons, nil); err != nil {
					b.Fatal(err)
				}
				if err := bench.RegisterPlaces(ctx, n, places, nil); err != nil {
					b.Fatal(err)
				}
				rows := bench.GenVisits(batch*clients, persons, places, n.Now(), 1)
				t := &target{n: n}
				switch layer {
				case "node":
					var ins [clients][]node.VisitInput
					for k, r := range rows {
						ins[k/batch] = append(ins[k/batch], node.VisitInput{Person: r.Person, PlaceCode: health.PlaceCode(r.Place), Trusted: true,
							At: time.Unix(r.At, 0), Until: time.Unix(r.Until, 0)})
					}
					t.send = func() error {
						var g errgroup
						for c := range ins {
							g.Go(func() error {
								_, err := n.RecordVisits(ctx, "staff:gateway", ins[c])
								return err
							})
						}
						return g.Wait()
					}
				case "http":
					srv := httptest.NewServer(httpapi.New(httpapi.Config{Node: n}))
					b.Cleanup(srv.Close)
					key := ingestKey(b, n)
					bodies := bench.EncodeVisitBatches(rows, batch)
					per := []int{batch, batch, batch, batch}
					t.send = func() error {
						_, err := bench.PostVisits(ctx, srv.URL, key, bodies, per, clients, nil)
						return err
					}
				}
				ts[i] = t
			}
			b.ResetTimer()
			for range b.N {
				for _, t := range ts {
					start := time.Now()
					if err := t.send(); err != nil {
						b.Fatal(err)
					}
					t.took += time.Since(start)
				}
			}
			visits := float64(b.N * batch * clients)
			off, on := visits/ts[0].took.Seconds(), visits/ts[1].took.Seconds()
			b.ReportMetric(off, "visits/s-off")
			b.ReportMetric(on, "visits/s-on")
			b.ReportMetric(100*(1-on/off), "%cost")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// ingestKey makes a national investigator account (who may record visits
// in staff batches) and returns an API key of it.
func ingestKey(tb testing.TB, n *node.Node) string {
	tb.Helper()
	ctx := context.Background()
	if _, _, err := n.AddAccount(ctx, "system:bench", node.AccountInput{Username: "bench.ingest", Roles: staff.RolesOf(staff.Investigator),
		Region: staff.NationalRegion, Password: "bench-ingest-password-2022"}); err != nil {
		tb.Fatal(err)
	}
	key, _, err := n.IssueAPIKey(ctx, "system:bench", "bench.ingest", "ingest benchmark")
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// errgroup runs functions at once and returns the first error.
type errgroup struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (g *errgroup) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
		}
	})
}

func (g *errgroup) Wait() error {
	g.wg.Wait()
	return g.err
}
