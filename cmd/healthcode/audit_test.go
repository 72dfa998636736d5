package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"healthcode/internal/bench"
	"healthcode/internal/health"
	"healthcode/internal/node"
)

// auditFixture is a data directory written by a real node, with a head
// saved from the API, and the seqs of some of its events.
type auditFixture struct {
	dir, head string
	results   []uint64 // test-result events (events rows): 6 in the first block (seqs 1–256), the last 2 after the last complete block
	enrols    []uint64 // enrolment events (events rows), in the first block
	last      uint64
}

// writeAuditFixture starts a node on a temp data directory, writes
// enrolments, places, test results, a batch of 600 visits (stored as visit
// blocks) and two more results through the node's API — 631 events: two
// complete audit blocks (seqs 1–256, 257–512) and a partial one — saves the
// signed head from GET /api/v1/audit/head, and stops the node.
func writeAuditFixture(t *testing.T) auditFixture {
	t.Helper()
	f := auditFixture{dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().UTC()
	rn, err := startNode(ctx, serveConfig{Addr: "127.0.0.1:0", Data: f.dir, Region: defaultNodeRegion,
		ScreenTTL: 5 * time.Minute, PaperTTL: 24 * time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	n := rn.Node
	var in []node.Enrolment
	for i := 0; i < 20; i++ {
		in = append(in, node.Enrolment{IDNumber: idNum(i), Name: "张三", Phone: "13800138000", HomeRegion: "440106"})
	}
	enrolled, err := n.Enrol(ctx, "staff:admin", in)
	if err != nil {
		t.Fatal(err)
	}
	var places []uint32
	for i := 0; i < 3; i++ {
		p, err := n.RegisterPlace(ctx, "staff:admin", node.PlaceInput{Name: fmt.Sprintf("审计场所 %d", i), Kind: "restaurant", Region: "440106", Lat: 23.1, Lng: 113.3})
		if err != nil {
			t.Fatal(err)
		}
		places = append(places, p)
	}
	result := func(i int) {
		if _, err := n.UploadResults(ctx, "lab:l1", "l1", []node.ResultInput{{SampleID: fmt.Sprintf("S%d", i), Person: enrolled[i].Person,
			SampledAt: now.Add(-time.Hour), Result: health.Negative}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 6; i++ {
		result(i)
	}
	var visits []node.VisitInput
	for i := 0; i < 600; i++ {
		at := now.Add(-time.Duration(i%40+2)*time.Hour - time.Duration(i/40)*time.Minute).Truncate(time.Second)
		visits = append(visits, node.VisitInput{Person: enrolled[i%20].Person, PlaceCode: health.PlaceCode(places[i%3]), At: at, Until: at.Add(time.Hour), Trusted: true})
	}
	if _, err := n.RecordVisits(ctx, "staff:admin", visits); err != nil {
		t.Fatal(err)
	}
	result(6)
	result(7)
	f.head = filepath.Join(t.TempDir(), "head.json")
	if err := os.WriteFile(f.head, get(t, "http://"+rn.Addr+"/api/v1/audit/head", ""), 0o600); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := rn.Wait(); err != nil {
		t.Fatal(err)
	}
	db := openRaw(t, f.dir)
	defer db.Close()
	rows, err := db.Query(`SELECT seq, kind FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var kind int
		if err := rows.Scan(&seq, &kind); err != nil {
			t.Fatal(err)
		}
		switch health.EventKind(kind) {
		case health.EvTestResult:
			f.results = append(f.results, seq)
		case health.EvPersonEnrolled:
			f.enrols = append(f.enrols, seq)
		}
		f.last = max(f.last, seq)
	}
	if len(f.results) != 8 || len(f.enrols) != 20 || f.last != f.results[7] || f.results[5] > 256 || f.results[6] <= 512 {
		t.Fatalf("fixture: results %v, enrolments %v, last %d", f.results, f.enrols, f.last)
	}
	return f
}

// openRaw opens a data directory's SQLite file directly, as someone with
// access to the disk would.
func openRaw(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "healthcode.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// copyDir copies the files of a data directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func execSQL(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db := openRaw(t, dir)
	defer db.Close()
	for _, s := range stmts {
		res, err := db.Exec(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if n, _ := res.RowsAffected(); n == 0 && !strings.HasPrefix(s, "CREATE") && !strings.HasPrefix(s, "DROP") {
			t.Fatalf("%s changed nothing", s)
		}
	}
}

// blockRanges returns the seq ranges of the blocks a verify error names as
// differing ("seqs 257–512: block hash differs", and the list of "N blocks
// differ from the audit log, at seqs 1–256, 257–512").
func blockRanges(msg string) [][2]uint64 {
	var out [][2]uint64
	for _, m := range blockRangeRE.FindAllStringSubmatch(msg, -1) {
		lo, _ := strconv.ParseUint(m[1], 10, 64)
		hi, _ := strconv.ParseUint(m[2], 10, 64)
		out = append(out, [2]uint64{lo, hi})
	}
	return out
}

var blockRangeRE = regexp.MustCompile(`(\d+)–(\d+)`)

// wantBlocks checks that err names a block whose hash differs and that the
// blocks it names contain every tampered seq.
func wantBlocks(t *testing.T, err error, seqs ...uint64) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "block hash differs") {
		t.Fatalf("got %v; want a block whose hash differs", err)
	}
	rs := blockRanges(err.Error())
	for _, s := range seqs {
		in := false
		for _, r := range rs {
			in = in || r[0] <= s && s <= r[1]
		}
		if !in {
			t.Fatalf("got %q; want the blocks it names (%v) to contain seq %d", err, rs, s)
		}
	}
}

// TestAuditVerifyCatchesTampering edits, deletes and swaps rows directly in
// the database of a real node's data directory, each in a fresh copy, and
// checks that `healthcode audit verify` fails naming the first bad seq, or
// the block of seqs holding the edit, and that the untouched directory
// verifies.
func TestAuditVerifyCatchesTampering(t *testing.T) {
	f := writeAuditFixture(t)
	out, err := run("audit", "verify", "--data", f.dir, "--head", f.head, "--quiet")
	if err != nil || !strings.Contains(out, "audit verify: ok: "+fmt.Sprint(f.last)+" events, 2 block hashes and ") {
		t.Fatalf("untouched store: got %q, %v; want ok for %d events and 2 blocks", out, err, f.last)
	}
	var blockSeq uint64
	var blockData []byte
	{
		db := openRaw(t, f.dir)
		if err := db.QueryRow(`SELECT first_seq, data FROM visit_blocks ORDER BY first_seq LIMIT 1`).Scan(&blockSeq, &blockData); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	// The place of the block's first visit, one byte after the version and
	// the person's varint: change it to another one-byte place index.
	_, k := binary.Uvarint(blockData[1:])
	placeAt := 1 + k
	if blockData[placeAt] >= 0x7f {
		t.Fatalf("place byte %#x is not a one-byte varint below 127", blockData[placeAt])
	}
	a, b := f.enrols[3], f.enrols[7]
	cols := "kind, at, until, recorded, person, place, region, ref, aux, actor, batch, data"
	swap := func(x, y uint64) string {
		return fmt.Sprintf(`UPDATE events SET (%s) = (SELECT %s FROM tmp WHERE seq = %d) WHERE seq = %d`, cols, cols, y, x)
	}
	tail := f.results[6] // after the last complete block
	cases := []struct {
		name   string
		sql    []string
		flags  []string
		want   string   // a substring of the error
		blocks []uint64 // or: the error names differing blocks that contain these seqs
	}{
		{name: "edited result", sql: []string{fmt.Sprintf(`UPDATE events SET aux = aux + 7 WHERE seq = %d`, f.results[2])},
			blocks: []uint64{f.results[2]}},
		{name: "edited actor", sql: []string{fmt.Sprintf(`UPDATE events SET actor = 'staff:someone-else' WHERE seq = %d`, f.enrols[0])},
			blocks: []uint64{f.enrols[0]}},
		{name: "deleted", sql: []string{fmt.Sprintf(`DELETE FROM events WHERE seq = %d`, f.enrols[5])},
			want: fmt.Sprintf("seq %d is missing", f.enrols[5])},
		{name: "deleted last, with its heads", sql: []string{fmt.Sprintf(`DELETE FROM events WHERE seq = %d`, f.last),
			fmt.Sprintf(`DELETE FROM audit_heads WHERE size >= %d`, f.last)}, flags: []string{"--head", f.head},
			want: fmt.Sprintf("seq %d is missing", f.last)},
		{name: "swapped", sql: []string{fmt.Sprintf(`CREATE TEMP TABLE tmp AS SELECT * FROM events WHERE seq IN (%d, %d)`, a, b), swap(a, b), swap(b, a)},
			blocks: []uint64{a, b}},
		{name: "visit block edited", sql: []string{fmt.Sprintf(`UPDATE visit_blocks SET data = CAST(substr(data, 1, %d) || X'%02x' || substr(data, %d) AS BLOB) WHERE first_seq = %d`,
			placeAt, blockData[placeAt]+1, placeAt+2, blockSeq)},
			blocks: []uint64{blockSeq}},
		{name: "visit block truncated", sql: []string{fmt.Sprintf(`UPDATE visit_blocks SET data = substr(data, 1, 3) WHERE first_seq = %d`, blockSeq)},
			want: fmt.Sprintf("visit %d in a block", blockSeq)},
		{name: "visit block truncated, what was read", sql: []string{fmt.Sprintf(`UPDATE visit_blocks SET data = substr(data, 1, 3) WHERE first_seq = %d`, blockSeq)},
			want: fmt.Sprintf("(the events up to seq %d were read)", blockSeq-1)},
		{name: "stored block hash edited", sql: []string{`UPDATE audit_blocks SET hash = randomblob(32) WHERE block = 1`},
			want: fmt.Sprintf("seqs 257–512: the stored block hash differs from the recomputed one, but the events match the signed head of size %d: the audit table was changed", f.last)},
		{name: "stored block hash edited, heads deleted", sql: []string{`UPDATE audit_blocks SET hash = randomblob(32) WHERE block = 1`, `DELETE FROM audit_heads`},
			want: "seqs 257–512: block hash differs"},
		{name: "stored block deleted", sql: []string{`DELETE FROM audit_blocks WHERE block = 0`},
			want: "seqs 1–256: no stored block hash"},
		{name: "edited after the last complete block", sql: []string{fmt.Sprintf(`UPDATE events SET aux = aux + 7 WHERE seq = %d`, tail)},
			want: fmt.Sprintf("the log does not match the stored head of size %d", f.last)},
		{name: "edited after the last complete block, saved head", sql: []string{fmt.Sprintf(`UPDATE events SET person = person + 1 WHERE seq = %d`, tail), `DELETE FROM audit_heads`},
			flags: []string{"--head", f.head}, want: fmt.Sprintf("the log does not match the head head.json of size %d", f.last)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, f.dir)
			execSQL(t, dir, c.sql...)
			out, err := run(append([]string{"audit", "verify", "--data", dir, "--quiet"}, c.flags...)...)
			if c.blocks != nil {
				wantBlocks(t, err, c.blocks...)
			} else if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %q, %v; want an error containing %q", out, err, c.want)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") || exitCode(err) != 1 {
				t.Errorf("want a one-line error and exit code 1, got %q (exit %d)", err, exitCode(err))
			}
		})
	}
}

// TestAuditHeadsCatchRewrittenHashes edits an event and deletes the whole
// block table, so that the node, at its next start, rebuilds the block
// hashes from the edited events: the stored blocks then agree with the
// events, and only the signed heads (stored, and the one saved from the
// API) show that the log changed.
func TestAuditHeadsCatchRewrittenHashes(t *testing.T) {
	f := writeAuditFixture(t)
	dir := copyDir(t, f.dir)
	execSQL(t, dir, fmt.Sprintf(`UPDATE events SET person = person + 1 WHERE seq = %d`, f.results[1]), `DELETE FROM audit_blocks`)
	ctx, cancel := context.WithCancel(context.Background())
	rn, err := startNode(ctx, serveConfig{Addr: "127.0.0.1:0", Data: dir, Region: defaultNodeRegion,
		ScreenTTL: 5 * time.Minute, PaperTTL: 24 * time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := rn.Wait(); err != nil {
		t.Fatal(err)
	}
	// The saved head alone, checked against a key given as an outside
	// auditor would (not read from the directory).
	dir2 := copyDir(t, dir)
	execSQL(t, dir2, `DELETE FROM audit_heads`)
	vkey := headKey(t, f.head)
	for _, c := range []struct {
		name, dir string
		flags     []string
		want      string
	}{
		{"stored heads", dir, nil, "does not match the stored head of size"},
		{"saved head", dir2, []string{"--head", f.head, "--key", vkey}, "does not match the head head.json of size " + fmt.Sprint(f.last)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(append([]string{"audit", "verify", "--data", c.dir, "--quiet"}, c.flags...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %q, %v; want an error containing %q", out, err, c.want)
			}
		})
	}
}

func headKey(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), `"key":"`)
	if i < 0 {
		t.Fatalf("no key in %s", b)
	}
	rest := string(b[i+7:])
	return rest[:strings.IndexByte(rest, '"')]
}

// TestAuditHeadCommand prints the stored head and checks that it verifies
// the untouched store when saved to a file.
func TestAuditHeadCommand(t *testing.T) {
	f := writeAuditFixture(t)
	out, err := run("audit", "head", "--data", f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "healthcode/440000 audit\n"+fmt.Sprint(f.last)+"\n") {
		t.Fatalf("head: got %q, want the note of the final log (%d events)", out, f.last)
	}
	saved := filepath.Join(t.TempDir(), "head.note")
	if err := os.WriteFile(saved, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := copyDir(t, f.dir)
	if out, err := run("audit", "verify", "--data", dir, "--head", saved, "--quiet"); err != nil {
		t.Fatalf("verify with the printed head: %q %v", out, err)
	}
	execSQL(t, dir, fmt.Sprintf(`UPDATE events SET at = at + 1 WHERE seq = %d`, f.results[0]))
	_, err = run("audit", "verify", "--data", dir, "--head", saved, "--quiet")
	wantBlocks(t, err, f.results[0])
}

// writeBenchLog writes a log of events with bench.WriteLog (with their
// block hashes), has a real node open it and stop (it signs a head), and
// returns the data directory.
func writeBenchLog(tb testing.TB, events int) (string, bench.LogPlan) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	cfg, err := bench.NodeConfig(ctx, dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	plan := bench.PlanLog(events)
	if err := bench.WriteLog(ctx, cfg, plan, nil); err != nil {
		tb.Fatal(err)
	}
	n, err := node.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	stop()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	cfg.Store.Close()
	return dir, plan
}

// TestAuditVerifyLargeLog verifies a log of many read batches (verify reads
// on one goroutine and hashes on another) and catches a visit edited and a
// visit block deleted deep in it.
func TestAuditVerifyLargeLog(t *testing.T) {
	dir, plan := writeBenchLog(t, 30000)
	out, err := run("audit", "verify", "--data", dir, "--quiet")
	if err != nil || !strings.Contains(out, fmt.Sprintf("ok: %d events, %d block hashes and 1 signed heads match", plan.Events(), plan.Events()/256)) {
		t.Fatalf("verify: %q %v", out, err)
	}
	var blockSeq uint64
	var blockData []byte
	{
		db := openRaw(t, dir)
		if err := db.QueryRow(`SELECT first_seq, data FROM visit_blocks WHERE first_seq > 20000 ORDER BY first_seq LIMIT 1`).Scan(&blockSeq, &blockData); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	_, k := binary.Uvarint(blockData[1:])
	placeAt := 1 + k
	if blockData[placeAt] >= 0x7f {
		t.Fatalf("place byte %#x is not a one-byte varint below 127", blockData[placeAt])
	}
	edited := copyDir(t, dir)
	execSQL(t, edited, fmt.Sprintf(`UPDATE visit_blocks SET data = CAST(substr(data, 1, %d) || X'%02x' || substr(data, %d) AS BLOB) WHERE first_seq = %d`,
		placeAt, blockData[placeAt]^1, placeAt+2, blockSeq))
	_, err = run("audit", "verify", "--data", edited, "--quiet")
	wantBlocks(t, err, blockSeq)
	deleted := copyDir(t, dir)
	execSQL(t, deleted, fmt.Sprintf(`DELETE FROM visit_blocks WHERE first_seq = %d`, blockSeq))
	if _, err := run("audit", "verify", "--data", deleted, "--quiet"); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("seq %d is missing", blockSeq)) {
		t.Fatalf("verify with a visit block deleted: got %v, want seq %d missing", err, blockSeq)
	}
}

var auditEvents = flag.Int("audit-events", 1_000_000, "BenchmarkAuditVerify: events in the log it verifies")

// BenchmarkAuditVerify runs `healthcode audit verify` over a log of
// -audit-events events (bench.WriteLog's mix: 2% enrolments, places, the
// rest visits in blocks, with their audit block hashes), after a real node has
// opened it and signed a head at stop. It reports ns per event, so the time
// for 10M can be read off (or measured with -audit-events 10000000).
func BenchmarkAuditVerify(b *testing.B) {
	dir, plan := writeBenchLog(b, *auditEvents)
	b.ResetTimer()
	for range b.N {
		out, err := run("audit", "verify", "--data", dir, "--quiet")
		if err != nil || !strings.Contains(out, fmt.Sprintf("ok: %d events", plan.Events())) {
			b.Fatalf("verify: %q %v", out, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*plan.Events()), "ns/event")
	b.ReportMetric(float64(plan.Events()), "events")
}
