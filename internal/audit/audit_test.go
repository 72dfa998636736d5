package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/health"
)

// memHashes is a tlog.HashReader over all stored hashes in memory.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("index %d not stored (have %d)", x, len(m))
		}
		out[i] = m[x]
	}
	return out, nil
}

func toHashes(b []byte) []tlog.Hash {
	out := make([]tlog.Hash, len(b)/tlog.HashSize)
	for i := range out {
		copy(out[i][:], b[i*tlog.HashSize:])
	}
	return out
}

func testEvent(seq uint64) health.Event {
	at := time.Date(2022, 6, 11, 8, 30, 0, 123e6, time.UTC).Add(time.Duration(seq) * time.Minute)
	e := health.Event{Seq: seq, Kind: health.EvVisit, At: at, Until: at.Add(time.Hour), Recorded: at.Add(time.Second),
		Person: uint32(seq%97 + 1), Place: uint32(seq%13 + 1), Region: 440106000, Aux: int64(seq % 3), Actor: "staff:gateway", Batch: "b1"}
	if seq%5 == 0 {
		e.Kind, e.Ref, e.Data, e.Until = health.EvTestResult, seq-1, []byte(`{"lab":"l","sample_id":"s"}`), time.Time{}
	}
	return e
}

// TestTreeMatchesTlog appends leaves one at a time and checks, at every
// size, that the stored hashes are exactly tlog.StoredHashes' and the root
// is tlog.TreeHash's.
func TestTreeMatchesTlog(t *testing.T) {
	var (
		tree Tree
		ours []byte
		ref  memHashes
	)
	for n := int64(0); n < 300; n++ {
		e := testEvent(uint64(n + 1))
		data := AppendLeaf(nil, &e)
		h, _ := LeafHash(nil, &e)
		if want := tlog.RecordHash(data); h != want {
			t.Fatalf("leaf %d: LeafHash %x, tlog.RecordHash %x", n, h[:4], want[:4])
		}
		if got, want := tree.Root(), mustTreeHash(t, n, ref); got != want {
			t.Fatalf("size %d: root %x, tlog.TreeHash %x", n, got[:4], want[:4])
		}
		if x := tlog.StoredHashIndex(0, n); int64(len(ours)/tlog.HashSize) != x {
			t.Fatalf("record %d: %d hashes stored before it, want tlog.StoredHashIndex %d", n, len(ours)/tlog.HashSize, x)
		}
		ours = tree.Append(h, ours)
		hs, err := tlog.StoredHashes(n, data, ref)
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, hs...)
		if !bytes.Equal(ours, flatten(ref)) {
			t.Fatalf("record %d: stored hashes differ from tlog.StoredHashes", n)
		}
		if StoredHashes(0, n+1) != int64(len(ref)) || tlog.StoredHashCount(n+1) != int64(len(ref)) {
			t.Fatalf("record %d: StoredHashes(0, %d) = %d, want %d", n, n+1, StoredHashes(0, n+1), len(ref))
		}
	}
}

func flatten(hs []tlog.Hash) []byte {
	var b []byte
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func mustTreeHash(t *testing.T, n int64, r tlog.HashReader) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(n, r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestProofsVerify serves inclusion and consistency proofs from the stored
// hashes a Tree wrote and checks them against the Tree's roots.
func TestProofsVerify(t *testing.T) {
	var tree Tree
	var stored []byte
	var roots []tlog.Hash
	events := make([]health.Event, 100)
	for i := range events {
		events[i] = testEvent(uint64(i + 1))
	}
	roots = append(roots, tree.Root())
	for i := range events {
		var err error
		if stored, _, err = tree.AppendEvents(events[i:i+1], stored, nil); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, tree.Root())
	}
	r := memHashes(toHashes(stored))
	for size := int64(1); size <= 100; size++ {
		for i := int64(0); i < size; i++ {
			p, err := tlog.ProveRecord(size, i, r)
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := LeafHash(nil, &events[i])
			if err := tlog.CheckRecord(p, size, roots[size], i, leaf); err != nil {
				t.Fatalf("inclusion of seq %d in size %d: %v", i+1, size, err)
			}
			other, _ := LeafHash(nil, &events[(i+1)%size])
			if size > 1 && tlog.CheckRecord(p, size, roots[size], i, other) == nil {
				t.Fatalf("inclusion proof of seq %d in size %d accepts another event", i+1, size)
			}
		}
		for old := int64(1); old <= size; old++ {
			p, err := tlog.ProveTree(size, old, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, size, roots[size], old, roots[old]); err != nil {
				t.Fatalf("consistency %d → %d: %v", old, size, err)
			}
		}
	}
}

// TestLoadTreeContinues reloads the tree from stored hashes at every size
// and checks that it appends and hashes like the original.
func TestLoadTreeContinues(t *testing.T) {
	var tree Tree
	var stored []byte
	for n := int64(1); n <= 70; n++ {
		e := testEvent(uint64(n))
		h, _ := LeafHash(nil, &e)
		stored = tree.Append(h, stored)
		loaded, err := LoadTree(n, memHashes(toHashes(stored)))
		if err != nil {
			t.Fatal(err)
		}
		if loaded.Root() != tree.Root() {
			t.Fatalf("size %d: loaded root differs", n)
		}
		next := testEvent(uint64(n + 1))
		h2, _ := LeafHash(nil, &next)
		a, b := tree, loaded
		if !bytes.Equal(a.Append(h2, nil), b.Append(h2, nil)) || a.Root() != b.Root() {
			t.Fatalf("size %d: the loaded tree appends differently", n)
		}
	}
}

func TestAppendEventsChecksSeqs(t *testing.T) {
	var tree Tree
	if _, _, err := tree.AppendEvents([]health.Event{testEvent(1), testEvent(2)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	root := tree.Root()
	for name, evs := range map[string][]health.Event{
		"gap":       {testEvent(4)},
		"repeat":    {testEvent(2)},
		"unordered": {testEvent(4), testEvent(3)},
	} {
		if _, _, err := tree.AppendEvents(evs, nil, nil); err == nil {
			t.Errorf("%s: appended", name)
		}
		if tree.Size() != 2 || tree.Root() != root {
			t.Errorf("%s: a refused append changed the tree", name)
		}
	}
}

// TestLeafCoversEveryField changes each field of an event in turn: every
// change must change the leaf hash; a change below the millisecond (which
// the store does not keep) must not.
func TestLeafCoversEveryField(t *testing.T) {
	base := testEvent(5)
	h0, _ := LeafHash(nil, &base)
	changes := map[string]func(e *health.Event){
		"seq":         func(e *health.Event) { e.Seq++ },
		"kind":        func(e *health.Event) { e.Kind = health.EvTestCorrected },
		"at":          func(e *health.Event) { e.At = e.At.Add(time.Millisecond) },
		"until set":   func(e *health.Event) { e.Until = e.At },
		"recorded":    func(e *health.Event) { e.Recorded = e.Recorded.Add(time.Millisecond) },
		"person":      func(e *health.Event) { e.Person++ },
		"place":       func(e *health.Event) { e.Place++ },
		"region":      func(e *health.Event) { e.Region++ },
		"ref":         func(e *health.Event) { e.Ref++ },
		"aux":         func(e *health.Event) { e.Aux = -1 },
		"actor":       func(e *health.Event) { e.Actor += "x" },
		"batch":       func(e *health.Event) { e.Batch = "b2" },
		"data":        func(e *health.Event) { e.Data = []byte(`{"lab":"l","sample_id":"t"}`) },
		"actor→batch": func(e *health.Event) { e.Actor, e.Batch = e.Actor[:len(e.Actor)-1], e.Actor[len(e.Actor)-1:]+e.Batch },
	}
	for name, change := range changes {
		e := base
		change(&e)
		if h, _ := LeafHash(nil, &e); h == h0 {
			t.Errorf("changing %s does not change the leaf", name)
		}
	}
	e := base
	e.At, e.Recorded = e.At.Add(400*time.Microsecond), e.Recorded.Add(999*time.Microsecond)
	if h, _ := LeafHash(nil, &e); h != h0 {
		t.Error("a change below the millisecond changes the leaf; the store keeps milliseconds")
	}
	e = base
	e.Data = []byte{}
	f := base
	f.Data = nil
	if a, _ := LeafHash(nil, &e); a != func() tlog.Hash { h, _ := LeafHash(nil, &f); return h }() {
		t.Error("nil and empty data hash differently; the store does not tell them apart")
	}
}

func TestHeadSignAndOpen(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreateKey(dir, KeyName("440000"), "")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", st, err)
	}
	again, err := LoadOrCreateKey(dir, "ignored", "")
	if err != nil || again.VerifierKey != k.VerifierKey {
		t.Fatalf("reloaded key: %v, %v; want the same key", again, err)
	}
	if vk, err := ReadVerifierKey(dir); err != nil || vk != k.VerifierKey {
		t.Fatalf("ReadVerifierKey: %q %v", vk, err)
	}
	root := tlog.RecordHash([]byte("x"))
	at := time.Date(2022, 6, 11, 2, 0, 0, 500e6, time.UTC)
	h, err := SignHead(k.Signer, Origin("440000"), 42, root, at)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(h.Note), "healthcode/440000 audit\n42\n") {
		t.Errorf("note text: %q", h.Note)
	}
	got, err := OpenHead(h.Note, k.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 42 || got.Root != root || !got.Time.Equal(at.Truncate(time.Second)) || got.Origin != "healthcode/440000 audit" {
		t.Errorf("opened head: got %+v", got)
	}
	// A changed size, or another key, is refused.
	forged := bytes.Replace(h.Note, []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, err := OpenHead(forged, k.Verifier); err == nil {
		t.Error("a head with a changed size verified")
	}
	skey, _, _ := note.GenerateKey(nil, KeyName("440000"))
	other, err := ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenHead(h.Note, other.Verifier); err == nil {
		t.Error("a head verified with another key")
	}
	// A key file readable by others is refused.
	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir, "", ""); err == nil || !strings.Contains(err.Error(), "want 0600") {
		t.Errorf("world-readable key file: got %v", err)
	}
}

func TestParseKeyDerivesVerifier(t *testing.T) {
	for i := 0; i < 20; i++ { // base64 of some keys has '+'
		skey, vkey, err := note.GenerateKey(nil, "healthcode-440000-audit")
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseKey(skey)
		if err != nil {
			t.Fatal(err)
		}
		if k.VerifierKey != vkey {
			t.Fatalf("derived %q, want %q", k.VerifierKey, vkey)
		}
	}
}
