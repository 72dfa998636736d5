package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/audit"
)

func hashOf(t *testing.T, v any) tlog.Hash {
	t.Helper()
	s, _ := v.(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		t.Fatalf("not a base64 hash: %v", v)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func proofOf(t *testing.T, v any) []tlog.Hash {
	t.Helper()
	var out []tlog.Hash
	for _, x := range v.([]any) {
		out = append(out, hashOf(t, x))
	}
	return out
}

// TestAuditHeadAndProofs gets a signed head over HTTP, checks its
// signature with the served key, and verifies inclusion and consistency
// proofs against it; bad queries are 400.
func TestAuditHeadAndProofs(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.enrol(i)
	}
	r := e.do("GET", "/api/v1/audit/head", "", nil)
	if r.status != 200 {
		t.Fatalf("head: %d %s", r.status, r.body)
	}
	m := r.json(t)
	v, err := audit.NewVerifier(m["key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	h, err := audit.OpenHead([]byte(m["note"].(string)), v)
	if err != nil {
		t.Fatalf("the served head does not verify with the served key: %v", err)
	}
	if h.Size != 5 || float64(h.Size) != m["size"] || h.Root != hashOf(t, m["root"]) || !strings.HasPrefix(h.Origin, "healthcode/440000") {
		t.Fatalf("head: note %+v, JSON %v", h, m)
	}
	for seq := 1; seq <= 5; seq++ {
		p := e.do("GET", fmt.Sprintf("/api/v1/audit/proof?seq=%d&size=5&old=%d", seq, seq), "", nil)
		if p.status != 200 {
			t.Fatalf("proof: %d %s", p.status, p.body)
		}
		pm := p.json(t)
		in := pm["inclusion"].(map[string]any)
		if err := tlog.CheckRecord(proofOf(t, in["proof"]), 5, h.Root, int64(seq-1), hashOf(t, in["leaf"])); err != nil {
			t.Errorf("inclusion of seq %d: %v", seq, err)
		}
		c := pm["consistency"].(map[string]any)
		if err := tlog.CheckTree(proofOf(t, c["proof"]), 5, h.Root, int64(seq), hashOf(t, c["old_root"])); err != nil {
			t.Errorf("consistency %d → 5: %v", seq, err)
		}
	}
	// The same head while the log has not grown; a new one after a write.
	if r2 := e.do("GET", "/api/v1/audit/head", "", nil).json(t); r2["note"] != m["note"] {
		t.Errorf("a second head of an unchanged log differs")
	}
	for _, q := range []string{"", "?seq=0", "?seq=6", "?seq=1&size=9", "?old=6", "?seq=x"} {
		if p := e.do("GET", "/api/v1/audit/proof"+q, "", nil); p.status != 400 {
			t.Errorf("proof%s: got %d %s, want 400", q, p.status, p.body)
		}
	}
}
