package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
// size, that the root is tlog.TreeHash's over tlog's stored hashes, and
// that every completed block's hash is tlog's stored hash of that subtree
// (level 8).
func TestTreeMatchesTlog(t *testing.T) {
	var (
		tree   Tree
		ref    memHashes
		blocks int64
	)
	for n := int64(0); n < 1100; n++ {
		e := testEvent(uint64(n + 1))
		data := AppendLeaf(nil, &e)
		h, _ := LeafHash(nil, &e)
		if want := tlog.RecordHash(data); h != want {
			t.Fatalf("leaf %d: LeafHash %x, tlog.RecordHash %x", n, h[:4], want[:4])
		}
		if got, want := tree.Root(), mustTreeHash(t, n, ref); got != want {
			t.Fatalf("size %d: root %x, tlog.TreeHash %x", n, got[:4], want[:4])
		}
		b, ok := tree.Append(h)
		hs, err := tlog.StoredHashes(n, data, ref)
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, hs...)
		if ok != ((n+1)%BlockSize == 0) {
			t.Fatalf("record %d: block completed %v", n, ok)
		}
		if ok {
			if want := ref[tlog.StoredHashIndex(BlockLevel, blocks)]; b != want {
				t.Fatalf("block %d: hash %x, tlog's stored hash %x", blocks, b[:4], want[:4])
			}
			blocks++
		}
	}
	if blocks != 1100/BlockSize {
		t.Fatalf("%d blocks completed", blocks)
	}
}

func mustTreeHash(t *testing.T, n int64, r tlog.HashReader) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(n, r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func leafHashes(events []health.Event) []tlog.Hash {
	out := make([]tlog.Hash, len(events))
	LeafHashes(events, out, nil)
	return out
}

func eventsUpTo(n int) []health.Event {
	events := make([]health.Event, n)
	for i := range events {
		events[i] = testEvent(uint64(i + 1))
	}
	return events
}

// TestAppendSubtree builds trees from aligned subtrees and checks them
// against leaf-by-leaf appends; an unaligned subtree is refused.
func TestAppendSubtree(t *testing.T) {
	leaves := leafHashes(eventsUpTo(1024))
	var ref Tree
	for _, h := range leaves {
		ref.Append(h)
	}
	for _, split := range [][]int{{10}, {9, 8, 7, 0, 0, 1}, {8, 8, 8, 8}, {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}} {
		var tree Tree
		for _, level := range split {
			lo := tree.Size()
			h, err := SubtreeHash(leaves[lo : lo+1<<level])
			if err != nil {
				t.Fatal(err)
			}
			if err := tree.AppendSubtree(level, h); err != nil {
				t.Fatalf("split %v: %v", split, err)
			}
		}
		want := Tree{}
		for _, h := range leaves[:tree.Size()] {
			want.Append(h)
		}
		if tree.Root() != want.Root() {
			t.Fatalf("split %v: root differs", split)
		}
	}
	var tree Tree
	tree.Append(leaves[0])
	root := tree.Root()
	if err := tree.AppendBlock(leaves[1]); err == nil || tree.Size() != 1 || tree.Root() != root {
		t.Fatalf("a block after 1 record: %v, size %d; want an error and the tree unchanged", err, tree.Size())
	}
	if _, err := SubtreeHash(leaves[:3]); err == nil {
		t.Fatal("SubtreeHash of 3 leaves did not fail")
	}
}

// TestRunMatchesAppend hashes runs of events with HashEvents on 1 to 4
// goroutines, starting and ending at every kind of position relative to
// the block boundaries, and checks that AppendRun gives the tree and the
// completed blocks that appending the leaves one by one gives.
func TestRunMatchesAppend(t *testing.T) {
	events := eventsUpTo(3000)
	for _, c := range []struct{ first, n int }{
		{0, 0}, {0, 1}, {0, 255}, {0, 256}, {0, 257}, {0, 3000}, {1, 254}, {1, 255}, {1, 256},
		{100, 156}, {100, 157}, {100, 2000}, {255, 1}, {255, 2}, {256, 1024}, {300, 2700}, {511, 1025},
	} {
		for workers := 1; workers <= 4; workers++ {
			var want Tree
			wantBlocks, _, err := want.AppendEvents(events[:c.first], nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := want
			nBefore := len(wantBlocks)
			wantBlocks, _, err = want.AppendEvents(events[c.first:c.first+c.n], wantBlocks, nil)
			if err != nil {
				t.Fatal(err)
			}
			var r Run
			r.HashEvents(int64(c.first), events[c.first:c.first+c.n], workers)
			if r.Len() != int64(c.n) {
				t.Fatalf("%+v: run of %d records", c, r.Len())
			}
			blocks, err := got.AppendRun(&r, nil)
			if err != nil {
				t.Fatalf("%+v, %d workers: %v", c, workers, err)
			}
			if got.Size() != want.Size() || got.Root() != want.Root() {
				t.Fatalf("%+v, %d workers: tree of size %d differs from the one appended leaf by leaf", c, workers, got.Size())
			}
			if !slices.Equal(blocks, wantBlocks[nBefore:]) {
				t.Fatalf("%+v, %d workers: %d blocks completed, want %d (or their hashes differ)", c, workers, len(blocks), len(wantBlocks)-nBefore)
			}
		}
	}
	// A run that does not start at the tree's size, or is not split at
	// the block boundaries, is refused.
	var tree Tree
	var r Run
	r.HashEvents(1, events[1:600], 2)
	if _, err := tree.AppendRun(&r, nil); err == nil || tree.Size() != 0 {
		t.Fatalf("a run from record 1 on an empty tree: %v", err)
	}
	r.HashEvents(0, events[:600], 2)
	r.Head = append(r.Head, r.Tail[0])
	if _, err := tree.AppendRun(&r, nil); err == nil || tree.Size() != 0 {
		t.Fatalf("a run with a head past the block boundary: %v", err)
	}
}

// TestBlocksServeSubtrees checks the in-memory block hashes against tlog's
// stored hashes at every level at and above a block, the tree they make
// against the tree appended leaf by leaf, and that a snapshot does not see
// later blocks.
func TestBlocksServeSubtrees(t *testing.T) {
	events := eventsUpTo(BlockSize*13 + 7)
	var (
		tree Tree
		ref  memHashes
		bl   Blocks
	)
	for i := range events {
		data := AppendLeaf(nil, &events[i])
		hs, err := tlog.StoredHashes(int64(i), data, ref)
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, hs...)
		if b, ok := tree.Append(tlog.RecordHash(data)); ok {
			bl.Append(b)
		}
		if tree.Size()%BlockSize != 0 {
			continue
		}
		bt := bl.Tree()
		if bt.Size() != tree.Size() || bt.Root() != tree.Root() {
			t.Fatalf("size %d: the tree of the blocks differs", tree.Size())
		}
		for level := BlockLevel; level < BlockLevel+5; level++ {
			for k := int64(0); (k+1)<<level <= tree.Size(); k++ {
				h, ok := bl.Subtree(level, k)
				if !ok || h != ref[tlog.StoredHashIndex(level, k)] {
					t.Fatalf("size %d: subtree (%d, %d): %v, differs from tlog's", tree.Size(), level, k, ok)
				}
			}
			if _, ok := bl.Subtree(level, tree.Size()>>level); ok {
				t.Fatalf("size %d: an incomplete subtree at level %d is served", tree.Size(), level)
			}
		}
	}
	snap := bl.Snapshot()
	n := snap.Len()
	for range 40 {
		bl.Append(tlog.Hash{1})
	}
	if snap.Len() != n || bl.Len() != n+40 {
		t.Fatalf("snapshot has %d blocks after 40 appends, want %d", snap.Len(), n)
	}
	if _, ok := snap.Subtree(BlockLevel, n); ok {
		t.Fatal("the snapshot serves a later block")
	}
}

// blockReader is the reader a node serves proofs from: blocks in memory,
// leaves recomputed from the events.
func blockReader(events []health.Event, size int64, bl Blocks, reads *int) *HashReader {
	return &HashReader{Size: size, Blocks: bl, Leaves: func(k int64, n int) ([]tlog.Hash, error) {
		*reads++
		return leafHashes(events[k*BlockSize : k*BlockSize+int64(n)]), nil
	}}
}

// TestProofsVerify serves inclusion and consistency proofs from a
// HashReader over the blocks and the events, at every size across a few
// blocks, and checks them against the roots of the tree appended leaf by
// leaf; every block's leaves are read at most once per call.
func TestProofsVerify(t *testing.T) {
	const N = 3*BlockSize + 40
	events := eventsUpTo(N)
	var (
		tree  Tree
		bl    Blocks
		roots []tlog.Hash
	)
	roots = append(roots, tree.Root())
	for i := range events {
		h, _ := LeafHash(nil, &events[i])
		if b, ok := tree.Append(h); ok {
			bl.Append(b)
		}
		roots = append(roots, tree.Root())
	}
	leaves := leafHashes(events)
	sizes := []int64{1, 2, 3, 100, 255, 256, 257, 300, 511, 512, 513, 700, 767, 768, 769, N}
	for _, size := range sizes {
		reads := 0
		r := blockReader(events, size, bl, &reads)
		if h, err := tlog.TreeHash(size, r); err != nil || h != roots[size] {
			t.Fatalf("tree hash of size %d: %v, or it differs", size, err)
		}
		for i := int64(0); i < size; i += max(1, size/37) {
			reads = 0
			p, err := tlog.ProveRecord(size, i, r)
			if err != nil {
				t.Fatal(err)
			}
			if reads > 2 {
				t.Fatalf("inclusion of seq %d in size %d read %d blocks of events", i+1, size, reads)
			}
			if err := tlog.CheckRecord(p, size, roots[size], i, leaves[i]); err != nil {
				t.Fatalf("inclusion of seq %d in size %d: %v", i+1, size, err)
			}
			if size > 1 && tlog.CheckRecord(p, size, roots[size], i, leaves[(i+1)%size]) == nil {
				t.Fatalf("inclusion proof of seq %d in size %d accepts another event", i+1, size)
			}
		}
		for _, old := range sizes {
			if old > size {
				break
			}
			p, err := tlog.ProveTree(size, old, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, size, roots[size], old, roots[old]); err != nil {
				t.Fatalf("consistency %d → %d: %v", old, size, err)
			}
			if old < size && roots[old] != roots[size] && tlog.CheckTree(p, size, roots[size], old, roots[size]) == nil {
				t.Fatalf("consistency proof %d → %d accepts another old root", old, size)
			}
		}
	}
	// A subtree beyond the size, or blocks that end before it, is an error.
	r := blockReader(events, 300, bl, new(int))
	if _, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, 300)}); err == nil {
		t.Error("record 300 of a tree of 300 was served")
	}
	r = blockReader(events, N, Blocks{}, new(int))
	if _, err := r.ReadHashes([]int64{tlog.StoredHashIndex(BlockLevel, 0)}); err == nil {
		t.Error("a block hash was served without blocks")
	}
}

// TestBlocksTreeContinues rebuilds the tree from the block hashes plus the
// trailing leaves at every size, as a node does at start, and checks that
// it appends and hashes like the original.
func TestBlocksTreeContinues(t *testing.T) {
	events := eventsUpTo(2*BlockSize + 20)
	leaves := leafHashes(events)
	var (
		tree Tree
		bl   Blocks
	)
	for n := range len(events) - 1 {
		if b, ok := tree.Append(leaves[n]); ok {
			bl.Append(b)
		}
		loaded := bl.Tree()
		for _, h := range leaves[loaded.Size() : n+1] {
			loaded.Append(h)
		}
		if loaded.Size() != tree.Size() || loaded.Root() != tree.Root() {
			t.Fatalf("size %d: the rebuilt tree differs", n+1)
		}
		a, b := tree, loaded
		ba, oka := a.Append(leaves[n+1])
		bb, okb := b.Append(leaves[n+1])
		if ba != bb || oka != okb || a.Root() != b.Root() {
			t.Fatalf("size %d: the rebuilt tree appends differently", n+1)
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
