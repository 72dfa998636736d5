package node_test

import (
	"context"
	"database/sql"
	"flag"
	"net/http/httptest"
	"path/filepath"
	"strings"
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
// fails the test if it does not match the stored block hashes and heads.
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
	blocks, err := snap.AuditBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocks.Close()
	c := audit.NewChecker(v, blocks)
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
	if err := res.Err(); err != nil || res.Events != wantEvents || res.Blocks != wantEvents/audit.BlockSize {
		t.Fatalf("audit check: %v; %d events, %d blocks; want OK with %d events", err, res.Events, res.Blocks, wantEvents)
	}
}

// refLog is the reference audit log of a node's events: every tlog stored
// hash, computed with tlog alone from the events the node serves.
type refLog []tlog.Hash

func (r refLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = r[x]
	}
	return out, nil
}

func refOf(t *testing.T, n *node.Node, size int64) (refLog, []tlog.Hash) {
	t.Helper()
	var r refLog
	var leaves []tlog.Hash
	for i := int64(0); i < size; i++ {
		e, err := n.Event(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		data := audit.AppendLeaf(nil, &e)
		hs, err := tlog.StoredHashes(i, data, r)
		if err != nil {
			t.Fatal(err)
		}
		r = append(r, hs...)
		leaves = append(leaves, tlog.RecordHash(data))
	}
	return r, leaves
}

// checkProofs checks the node's inclusion and consistency proofs, roots
// and leaves at sizes around the block boundaries against the reference.
func checkProofs(t *testing.T, n *node.Node, size int64) {
	t.Helper()
	ctx := context.Background()
	ref, leaves := refOf(t, n, size)
	root := func(s int64) tlog.Hash {
		h, err := tlog.TreeHash(s, ref)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	var sizes []int64
	for _, s := range []int64{1, 2, 5, 255, 256, 257, 300, 511, 512, 513, 1000, 1024, 1025, size - 1, size} {
		if s >= 1 && s <= size {
			sizes = append(sizes, s)
		}
	}
	for _, s := range sizes {
		for _, seq := range []int64{1, 2, s / 3, s/2 + 1, 256, 257, 512, 513, s - 1, s} {
			if seq < 1 || seq > s {
				continue
			}
			p, err := n.AuditInclusion(ctx, uint64(seq), s)
			if err != nil {
				t.Fatalf("inclusion of seq %d in size %d: %v", seq, s, err)
			}
			if p.Root != root(s) || p.Leaf != leaves[seq-1] {
				t.Fatalf("inclusion of seq %d in size %d: root or leaf differs from tlog's", seq, s)
			}
			if err := tlog.CheckRecord(p.Proof, s, p.Root, seq-1, leaves[seq-1]); err != nil {
				t.Fatalf("inclusion of seq %d in size %d: %v", seq, s, err)
			}
		}
		for _, old := range sizes {
			if old > s {
				break
			}
			c, err := n.AuditConsistency(ctx, old, s)
			if err != nil {
				t.Fatalf("consistency %d → %d: %v", old, s, err)
			}
			if c.OldRoot != root(old) || c.Root != root(s) {
				t.Fatalf("consistency %d → %d: roots differ from tlog's", old, s)
			}
			if err := tlog.CheckTree(c.Proof, s, c.Root, old, c.OldRoot); err != nil {
				t.Fatalf("consistency %d → %d: %v", old, s, err)
			}
		}
	}
	h, err := n.AuditHead(ctx)
	if err != nil || h.Size != size || h.Root != root(size) {
		t.Fatalf("head: %+v %v; want size %d and tlog's root", h, err, size)
	}
}

// TestAuditStateDoesNotAdvanceWhenAppendFails makes the block hashes'
// insert fail inside the append transaction (a trigger): the write that
// completes the first block must be refused, nothing of it stored (events
// and hashes roll back together), the node's tree must stay where it was,
// and the next writes must continue the log correctly.
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
	if _, err := raw.Exec(`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_blocks BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	var in []node.Enrolment
	for i := 3; i < 303; i++ {
		in = append(in, node.Enrolment{IDNumber: nodetest.IDNumber(i), Name: "李四", Phone: "13800138000", HomeRegion: "440106"})
	}
	_, err = n.Enrol(ctx, "staff:admin", in)
	if health.KindOf(err) != health.Unavailable {
		t.Fatalf("write with a failing block insert: got %v, want an Unavailable error", err)
	}
	var events int
	if err := raw.QueryRow(`SELECT count(*) FROM events`).Scan(&events); err != nil || events != 3 {
		t.Fatalf("events stored after the failed append: %d %v, want 3 (the events went without their block hash)", events, err)
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
	for i := 3; i < 303; i += 60 {
		enrolN(t, n.Node, i, 60)
	}
	c, err := n.AuditConsistency(ctx, 3, 303)
	if err != nil || c.OldRoot != h.Root {
		t.Fatalf("consistency 3 → 303: %+v %v; want the old root to be the size-3 head's", c, err)
	}
	if err := tlog.CheckTree(c.Proof, 303, c.Root, 3, h.Root); err != nil {
		t.Fatalf("consistency proof: %v", err)
	}
	checkProofs(t, n.Node, 303)
	n.Close()
	checkStore(t, n.Dir, 303)
}

// TestAuditProofsAcrossBlocks writes events in requests of many sizes from
// several goroutines at once (so groups hold several requests and blocks
// span requests and groups), then checks every kind of proof against a
// reference log computed with tlog alone, restarts the node (the tree is
// rebuilt from the stored blocks and the partial block's events) and
// checks again.
func TestAuditProofsAcrossBlocks(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNode(t, dir, false)
	sizes := []int{1, 37, 255, 256, 257, 3, 600, 19, 128, 5}
	var wg sync.WaitGroup
	first := 0
	for _, c := range sizes {
		from := first
		wg.Go(func() { enrolN(t, n, from, c) })
		first += c
	}
	wg.Wait()
	size := int64(first)
	checkProofs(t, n, size)
	stop()
	checkStore(t, dir, size)
	n2, stop2 := startNode(t, dir, false)
	checkProofs(t, n2, size)
	enrolN(t, n2, first, 300)
	checkProofs(t, n2, size+300)
	stop2()
	checkStore(t, dir, size+300)
}

// openErr opens a node on dir and returns the error of node.Open.
func openErr(t *testing.T, dir string) error {
	t.Helper()
	ctx := context.Background()
	cfg, err := bench.NodeConfig(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Store.Close()
	_, err = node.Open(ctx, cfg)
	return err
}

// TestAuditRefusesEventsRemoved deletes the events of the last complete
// block from the store: the node must refuse to start.
func TestAuditRefusesEventsRemoved(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNode(t, dir, false)
	enrolN(t, n, 0, 600)
	stop()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "healthcode.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM events WHERE seq > 500`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if err := openErr(t, dir); err == nil || !strings.Contains(err.Error(), "the audit log has blocks of seqs 1..512 but the store's last event is seq 500: events were removed") {
		t.Fatalf("start after events were removed: got %v", err)
	}
}

// TestAuditUpgradeFromStoredHashes turns a store back into the first
// layout of the audit log (schema 3: every tlog stored hash in
// audit_hashes; D42's first form): the migration drops that table, the node
// re-derives the block hashes from the events at start, and the heads
// signed before the upgrade still match.
func TestAuditUpgradeFromStoredHashes(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNode(t, dir, false)
	enrolN(t, n, 0, 700)
	stop()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "healthcode.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE audit_blocks`, `DELETE FROM schema_migrations WHERE version = 4`,
		`CREATE TABLE audit_hashes (first_index INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL) STRICT`,
		`INSERT INTO audit_hashes VALUES (0, 1, 1, zeroblob(32))`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	n2, stop2 := startNode(t, dir, false)
	checkProofs(t, n2, 700)
	stop2()
	checkStore(t, dir, 700)
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
// log on, then more with it off (as a benchmark does, or a store from
// before the audit log), restarts with it on, and checks that the node
// hashed them at start, wrote the blocks they complete, and continues the
// log.
func TestAuditCatchesUpEventsWrittenWithoutIt(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	on, stop := startNode(t, dir, false)
	enrolN(t, on, 0, 300)
	stop()
	off, stop2 := startNode(t, dir, true)
	enrolN(t, off, 300, 500)
	if _, err := off.AuditHead(ctx); health.KindOf(err) != health.Unavailable {
		t.Fatalf("head with the audit log off: got %v, want Unavailable", err)
	}
	stop2()
	on, stop3 := startNode(t, dir, false)
	enrolN(t, on, 800, 3)
	checkProofs(t, on, 803)
	stop3()
	checkStore(t, dir, 803)
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
