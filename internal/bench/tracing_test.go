package bench

import (
	"context"
	"io"
	"strings"
	"testing"
)

// The tracing section checks each SQL peer's contact set against the
// index before it reports a time: PostgreSQL and SQLite give the same
// answer at depth 1 and 2, DuckDB says why it did not run (default build),
// and the goals are judged. It needs the local PostgreSQL (CI starts it)
// and fails without it. With TraceCovering, PostgreSQL and SQLite run a
// second time with covering indexes, close contacts only.
func TestTracingRows(t *testing.T) {
	r := &runner{cfg: Config{TracePersons: 3000, TraceCovering: true, PG: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"},
		rep: &Report{}, stderr: io.Discard, tmp: t.TempDir()}
	if err := r.tracing(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.rep.Failures) > 0 {
		t.Fatalf("failures: %v", r.rep.Failures)
	}
	same := map[string]int{}
	for _, row := range r.rep.Rows {
		if !strings.Contains(row.Name, "contacts of 100 cases") {
			continue
		}
		switch {
		case strings.HasPrefix(row.Peer, "postgres"), strings.HasPrefix(row.Peer, "sqlite"):
			if row.SameAnswer == nil || !*row.SameAnswer || row.PeerValue == nil || *row.PeerValue <= 0 || row.Project <= 0 {
				t.Errorf("%+v: want the same answer and both times", row)
			}
			key := strings.Fields(row.Peer)[0]
			if strings.Contains(row.Peer, "covering") {
				key += "+covering"
			}
			same[key]++
		case strings.Contains(row.Peer, "DuckDB"):
			if row.PeerValue != nil {
				t.Errorf("%+v: DuckDB is not built in by default", row)
			}
		default:
			t.Errorf("unexpected row %+v", row)
		}
	}
	if same["postgres"] != 2 || same["sqlite"] != 2 || same["postgres+covering"] != 1 || same["sqlite+covering"] != 1 {
		t.Errorf("same-answer rows by peer: %v, want 2 each with the issue's indexes (depth 1 and 2), 1 each with covering indexes", same)
	}
	goals := map[string]bool{}
	for _, g := range r.rep.Goals {
		goals[g.Text] = g.Reason == "" && g.Value != ""
	}
	for _, g := range []string{"trace index ≤ 24 B/visit", "close contacts ≥ 20× faster than the fastest SQL peer (indexes as the issue states)",
		"close contacts ≥ 20× faster than PostgreSQL/SQLite with covering indexes (stronger than the issue asks)", "close + secondary contacts < 1 s"} {
		if !goals[g] {
			t.Errorf("goal %q not judged: %+v", g, r.rep.Goals)
		}
	}
}
