// Package audit is the tamper-evident log over a node's events (DESIGN.md
// invariant 3, decision D42): an RFC 6962 Merkle tree whose leaf i is the
// canonical encoding of the event with seq i+1, kept in the stored-hash
// layout of golang.org/x/mod/sumdb/tlog, with tree heads signed as notes
// (golang.org/x/mod/sumdb/note) in the transparency-log checkpoint form.
//
// The package does no I/O except for the key file (LoadOrCreateKey): the
// node computes the hashes of a group of events with a Tree before it
// appends them, the store writes them in the same transaction, and a
// Checker recomputes everything from the events for `healthcode audit
// verify`.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/health"
)

// LeafVersion is the format version of the leaf encoding, its first byte.
// A new version may only be introduced with a new log.
const LeafVersion = 1

// AppendLeaf appends the canonical encoding of e to dst and returns it.
// Every field of the event is in it, times at the millisecond precision
// the store keeps:
//
//	byte    version (1)
//	uvarint seq
//	uvarint kind
//	varint  at, unix ms
//	byte    1 if until is set (not the zero time), else 0
//	varint  until, unix ms (only if set)
//	varint  recorded, unix ms
//	uvarint person, place, region, ref
//	varint  aux
//	uvarint len(actor), actor bytes
//	uvarint len(batch), batch bytes
//	uvarint len(data), data bytes (nil and empty data are the same)
func AppendLeaf(dst []byte, e *health.Event) []byte {
	dst = append(dst, LeafVersion)
	dst = binary.AppendUvarint(dst, e.Seq)
	dst = binary.AppendUvarint(dst, uint64(e.Kind))
	dst = binary.AppendVarint(dst, e.At.UnixMilli())
	if e.Until.IsZero() {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = binary.AppendVarint(dst, e.Until.UnixMilli())
	}
	dst = binary.AppendVarint(dst, e.Recorded.UnixMilli())
	dst = binary.AppendUvarint(dst, uint64(e.Person))
	dst = binary.AppendUvarint(dst, uint64(e.Place))
	dst = binary.AppendUvarint(dst, uint64(e.Region))
	dst = binary.AppendUvarint(dst, e.Ref)
	dst = binary.AppendVarint(dst, e.Aux)
	dst = binary.AppendUvarint(dst, uint64(len(e.Actor)))
	dst = append(dst, e.Actor...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Batch)))
	dst = append(dst, e.Batch...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
	return append(dst, e.Data...)
}

// LeafHash returns the leaf hash of e, tlog.RecordHash(AppendLeaf(nil, e)),
// without allocating: buf is scratch space, returned grown for the next call.
func LeafHash(buf []byte, e *health.Event) (tlog.Hash, []byte) {
	buf = append(buf[:0], 0x00) // RFC 6962 leaf prefix, as in tlog.RecordHash
	buf = AppendLeaf(buf, e)
	return sha256.Sum256(buf), buf
}

// Tree is the appending state of a log: its size and the roots of the
// complete subtrees that make it up (its right frontier, at most 64
// hashes), which is all that appending and the root hash need. The zero
// Tree is the empty log. A Tree is a plain value: copy it, append to the
// copy, and keep the copy only once the new hashes are durable.
type Tree struct {
	n        int64
	frontier [64]tlog.Hash // frontier[l]: the complete subtree at level l, where bit l of n is set
}

// Size returns the number of records (leaves) in the tree.
func (t *Tree) Size() int64 { return t.n }

// Append adds a record with leaf hash h (record number t.Size()) and
// appends its stored hashes to dst, in the order and at the positions of
// tlog.StoredHashes: the leaf hash, then the hash of every subtree the leaf
// completes. The hashes go at stored-hash indexes tlog.StoredHashIndex(0, n)
// and on, where n is the size before the call.
func (t *Tree) Append(h tlog.Hash, dst []byte) []byte {
	dst = append(dst, h[:]...)
	n, l := t.n, 0
	for ; n&1 == 1; l++ {
		h = tlog.NodeHash(t.frontier[l], h)
		dst = append(dst, h[:]...)
		n >>= 1
	}
	t.frontier[l] = h
	t.n++
	return dst
}

// AppendEvents appends the leaves of events, whose seqs must be
// t.Size()+1, t.Size()+2, ... in order, and appends their stored hashes to
// dst. leaf is scratch space for LeafHash; both buffers are returned grown.
// It returns an error, with t unchanged, if a seq does not continue the log.
func (t *Tree) AppendEvents(events []health.Event, dst, leaf []byte) ([]byte, []byte, error) {
	if err := t.CheckSeqs(events); err != nil {
		return dst, leaf, err
	}
	for i := range events {
		var h tlog.Hash
		h, leaf = LeafHash(leaf, &events[i])
		dst = t.Append(h, dst)
	}
	return dst, leaf, nil
}

// CheckSeqs returns an error unless the seqs of events are t.Size()+1,
// t.Size()+2, ... in order: the events that can be appended next.
func (t *Tree) CheckSeqs(events []health.Event) error {
	for i := range events {
		if want := uint64(t.n) + 1 + uint64(i); events[i].Seq != want {
			return fmt.Errorf("audit: event %d of %d has seq %d, want %d (the log's leaves are the seqs 1, 2, ... in order)", i+1, len(events), events[i].Seq, want)
		}
	}
	return nil
}

// LeafHashes sets leaves[i] to the leaf hash of events[i] (leaves must be
// as long as events). buf is scratch space, returned grown. Different
// parts of a slice may be hashed at once by different goroutines.
func LeafHashes(events []health.Event, leaves []tlog.Hash, buf []byte) []byte {
	for i := range events {
		leaves[i], buf = LeafHash(buf, &events[i])
	}
	return buf
}

// AppendLeaves is Append for each leaf hash in turn.
func (t *Tree) AppendLeaves(leaves []tlog.Hash, dst []byte) []byte {
	for _, h := range leaves {
		dst = t.Append(h, dst)
	}
	return dst
}

// Root returns the tree hash of the log (RFC 6962 MTH; for the empty log,
// the hash of the empty string), computed by tlog.TreeHash from the
// frontier.
func (t *Tree) Root() tlog.Hash {
	h, err := tlog.TreeHash(t.n, t)
	if err != nil {
		panic("audit: tree hash from the frontier: " + err.Error()) // ReadHashes serves every index TreeHash asks for
	}
	return h
}

// ReadHashes implements tlog.HashReader for the frontier: the hashes of
// the complete subtrees that make up the tree, the only ones TreeHash of
// t.Size() and the next Append need. Other indexes are an error.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		l, ok := frontierLevel(t.n, x)
		if !ok {
			return nil, fmt.Errorf("audit: stored hash %d is not on the frontier of a tree of size %d", x, t.n)
		}
		out[i] = t.frontier[l]
	}
	return out, nil
}

// frontierLevel reports whether stored-hash index x is a frontier node of
// a tree of size n, and its level.
func frontierLevel(n, x int64) (level int, ok bool) {
	if x < 0 {
		return 0, false
	}
	level, k := tlog.SplitStoredHashIndex(x)
	return level, level < 63 && n>>level&1 == 1 && k == n>>level-1
}

// frontierIndexes returns the stored-hash indexes of the frontier of a tree
// of size n, by level.
func frontierIndexes(n int64) (levels []int, indexes []int64) {
	for l := 0; l < 63; l++ {
		if n>>l&1 == 1 {
			levels = append(levels, l)
			indexes = append(indexes, tlog.StoredHashIndex(l, n>>l-1))
		}
	}
	return levels, indexes
}

// LoadTree returns the tree of size n whose stored hashes r reads (a store
// of the hashes Append produced): it reads the frontier, one hash per set
// bit of n.
func LoadTree(n int64, r tlog.HashReader) (Tree, error) {
	t := Tree{n: n}
	if n < 0 {
		return Tree{}, fmt.Errorf("audit: negative tree size %d", n)
	}
	levels, idx := frontierIndexes(n)
	if len(idx) == 0 {
		return t, nil
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return Tree{}, fmt.Errorf("audit: read the frontier of a tree of size %d: %w", n, err)
	}
	if len(hs) != len(idx) {
		return Tree{}, fmt.Errorf("audit: read the frontier: got %d hashes, want %d", len(hs), len(idx))
	}
	for i, l := range levels {
		t.frontier[l] = hs[i]
	}
	return t, nil
}

// StoredHashes returns how many stored hashes records first .. first+n-1
// have (tlog.StoredHashIndex(0, first+n) - tlog.StoredHashIndex(0, first)).
func StoredHashes(first, n int64) int64 {
	return tlog.StoredHashIndex(0, first+n) - tlog.StoredHashIndex(0, first)
}
