// Package audit is the tamper-evident log over a node's events (DESIGN.md
// invariant 3, decisions D42 and D51): an RFC 6962 Merkle tree whose leaf i
// is the canonical encoding of the event with seq i+1, hashed as
// golang.org/x/mod/sumdb/tlog hashes records, with tree heads signed as
// notes (golang.org/x/mod/sumdb/note) in the transparency-log checkpoint
// form. The store keeps one hash per complete block of 256 events (Blocks,
// BlockLevel); everything below a block is recomputed from the events.
//
// The package does no I/O except for the key file (LoadOrCreateKey): the
// node computes the block hashes of a group of events with a Run and a Tree
// before it appends them, the store writes them in the same transaction,
// and a Checker recomputes everything from the events for `healthcode
// audit verify`.
package audit

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"

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
	return sum256(buf)
}

// BlockLevel is the tree level of a block: a block is the complete, aligned
// subtree of BlockSize records k·BlockSize .. k·BlockSize+BlockSize-1 (the
// events with seqs k·256+1 .. k·256+256). The store keeps the hash of every
// complete block and nothing below it: leaf hashes and the levels inside a
// block are recomputed from the events when needed (D51).
const BlockLevel = 8

// BlockSize is the number of records in a block, 1<<BlockLevel.
const BlockSize = 1 << BlockLevel

// Tree is the appending state of a log: its size and the roots of the
// complete subtrees that make it up (its right frontier, at most 64
// hashes), which is all that appending and the root hash need. The zero
// Tree is the empty log. A Tree is a plain value: copy it, append to the
// copy, and keep the copy only once the new block hashes are durable.
type Tree struct {
	n        int64
	frontier [64]tlog.Hash // frontier[l]: the complete subtree at level l, where bit l of n is set
}

// Size returns the number of records (leaves) in the tree.
func (t *Tree) Size() int64 { return t.n }

// Append adds a record with leaf hash h (record number t.Size()). If the
// record completes a block, Append returns the block's hash and true.
func (t *Tree) Append(h tlog.Hash) (block tlog.Hash, completed bool) {
	n, l := t.n, 0
	for ; n&1 == 1; l++ {
		h = nodeHash(t.frontier[l], h)
		n >>= 1
		if l+1 == BlockLevel {
			block, completed = h, true
		}
	}
	t.frontier[l] = h
	t.n++
	return block, completed
}

// AppendSubtree adds 1<<level records at once, given the hash of the
// complete subtree they form. It is valid only when the size is a multiple
// of 1<<level (the subtree is aligned); otherwise it returns an error and
// t is unchanged.
func (t *Tree) AppendSubtree(level int, h tlog.Hash) error {
	if level < 0 || level > 62 {
		return fmt.Errorf("audit: subtree level %d out of range", level)
	}
	if t.n&(1<<level-1) != 0 {
		return fmt.Errorf("audit: a subtree of level %d cannot follow %d records (not aligned)", level, t.n)
	}
	n, l := t.n>>level, level
	for ; n&1 == 1; l++ {
		h = nodeHash(t.frontier[l], h)
		n >>= 1
	}
	t.frontier[l] = h
	t.n += 1 << level
	return nil
}

// AppendBlock adds a complete block of BlockSize records given its hash;
// the size must be a multiple of BlockSize.
func (t *Tree) AppendBlock(h tlog.Hash) error { return t.AppendSubtree(BlockLevel, h) }

// AppendEvents appends the leaves of events, whose seqs must be
// t.Size()+1, t.Size()+2, ... in order, one after the other on this
// goroutine, and appends the hashes of the blocks they complete to blocks.
// leaf is scratch space for LeafHash; both are returned grown. It returns
// an error, with t unchanged, if a seq does not continue the log.
func (t *Tree) AppendEvents(events []health.Event, blocks []tlog.Hash, leaf []byte) ([]tlog.Hash, []byte, error) {
	if err := t.CheckSeqs(events); err != nil {
		return blocks, leaf, err
	}
	for i := range events {
		var h tlog.Hash
		h, leaf = LeafHash(leaf, &events[i])
		if b, ok := t.Append(h); ok {
			blocks = append(blocks, b)
		}
	}
	return blocks, leaf, nil
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

// SubtreeHash returns the hash of the complete subtree whose leaf hashes
// are leaves; len(leaves) must be a power of two (at most 1<<62).
func SubtreeHash(leaves []tlog.Hash) (tlog.Hash, error) {
	n := len(leaves)
	if n == 0 || n&(n-1) != 0 {
		return tlog.Hash{}, fmt.Errorf("audit: a subtree of %d leaves (not a power of two)", n)
	}
	var t Tree
	for _, h := range leaves {
		t.Append(h)
	}
	return t.frontier[bits.TrailingZeros(uint(n))], nil
}

// Run is what a Tree needs to append a run of consecutive records: the leaf
// hashes of the records before the first block boundary (Head), the hash of
// every complete block after it (Blocks), and the leaf hashes of the
// records after the last complete block (Tail). Run.HashEvents computes it
// on several cores; Tree.AppendRun appends it, on one.
type Run struct {
	First  int64       // record number of the first record
	Head   []tlog.Hash // at most BlockSize-1, up to the first multiple of BlockSize
	Blocks []tlog.Hash
	Tail   []tlog.Hash // at most BlockSize-1, after the last complete block
}

// Len returns the number of records of the run.
func (r *Run) Len() int64 {
	return int64(len(r.Head)) + int64(len(r.Blocks))*BlockSize + int64(len(r.Tail))
}

// headLen is how many of n records from record first come before the first
// block boundary.
func headLen(first, n int64) int64 {
	return min(n, (BlockSize-first%BlockSize)%BlockSize)
}

// HashEvents sets r to the run of events as records first, first+1, ...
// (their seqs are not checked: Tree.CheckSeqs does that). With workers > 1
// the records are split at block boundaries between that many goroutines,
// each hashing the leaves of its part and the blocks complete in it; it
// returns when all are done. r's slices are reused.
func (r *Run) HashEvents(first int64, events []health.Event, workers int) {
	n := int64(len(events))
	h := headLen(first, n)
	nb := (n - h) / BlockSize
	t := (n - h) % BlockSize
	r.First = first
	r.Head = grow(r.Head, int(h))
	r.Blocks = grow(r.Blocks, int(nb))
	r.Tail = grow(r.Tail, int(t))
	workers = int(max(1, min(int64(workers), nb)))
	// Worker w hashes blocks [nb·w/W, nb·(w+1)/W); the first also the head,
	// the last also the tail.
	part := func(w int) {
		var (
			buf    []byte
			leaves [BlockSize]tlog.Hash
		)
		if w == 0 {
			buf = LeafHashes(events[:h], r.Head, buf)
		}
		lo, hi := nb*int64(w)/int64(workers), nb*int64(w+1)/int64(workers)
		for b := lo; b < hi; b++ {
			at := h + b*BlockSize
			buf = LeafHashes(events[at:at+BlockSize], leaves[:], buf)
			r.Blocks[b], _ = SubtreeHash(leaves[:])
		}
		if w == workers-1 {
			LeafHashes(events[n-t:], r.Tail, buf)
		}
	}
	if workers == 1 {
		part(0)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { part(w) })
	}
	wg.Wait()
}

func grow(s []tlog.Hash, n int) []tlog.Hash {
	if cap(s) < n {
		return make([]tlog.Hash, n)
	}
	return s[:n]
}

// AppendRun appends the records of r, which must start at t.Size() and be
// split as HashEvents splits, and appends the hashes of the blocks they
// complete to blocks (the block the head completes, then r.Blocks). It
// returns an error, with t unchanged, if r does not fit.
func (t *Tree) AppendRun(r *Run, blocks []tlog.Hash) ([]tlog.Hash, error) {
	if r.First != t.n {
		return blocks, fmt.Errorf("audit: a run of records from %d cannot follow %d records", r.First, t.n)
	}
	if n := r.Len(); int64(len(r.Head)) != headLen(r.First, n) || len(r.Tail) >= BlockSize {
		return blocks, fmt.Errorf("audit: a run of %d records from %d is not split at block boundaries (head %d, tail %d)", n, r.First, len(r.Head), len(r.Tail))
	}
	for _, h := range r.Head {
		if b, ok := t.Append(h); ok {
			blocks = append(blocks, b)
		}
	}
	for _, b := range r.Blocks {
		if err := t.AppendBlock(b); err != nil {
			panic(err) // the head ends at a block boundary: checked above
		}
	}
	blocks = append(blocks, r.Blocks...)
	for _, h := range r.Tail {
		t.Append(h)
	}
	return blocks, nil
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
// t.Size() needs. Other indexes are an error.
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

// Blocks holds the hashes of a log's complete blocks and of every complete
// subtree above them (levels BlockLevel and up: about two hashes a block,
// 64 B per 256 records), from which the subtree hashes that proofs and old
// tree hashes need at those levels are read. It only grows. A Blocks value
// got from Snapshot is a consistent view that later appends do not change,
// and may be read while the original is appended to.
type Blocks struct {
	levels [][]tlog.Hash // levels[j][k]: the subtree at tree level BlockLevel+j, number k
}

// Append adds the hash of the next block.
func (b *Blocks) Append(h tlog.Hash) {
	for j := 0; ; j++ {
		if j == len(b.levels) {
			b.levels = append(b.levels, nil)
		}
		b.levels[j] = append(b.levels[j], h)
		if len(b.levels[j])%2 == 1 {
			return
		}
		h = nodeHash(b.levels[j][len(b.levels[j])-2], h)
	}
}

// Len returns the number of blocks.
func (b *Blocks) Len() int64 {
	if len(b.levels) == 0 {
		return 0
	}
	return int64(len(b.levels[0]))
}

// Block returns the hash of block k (k < Len()).
func (b *Blocks) Block(k int64) tlog.Hash { return b.levels[0][k] }

// Snapshot returns a view of b as it is now, safe to read on another
// goroutine while b is appended to.
func (b *Blocks) Snapshot() Blocks { return Blocks{levels: slices.Clone(b.levels)} }

// Subtree returns the hash of complete subtree k at a level of BlockLevel
// or above (records k<<level .. (k+1)<<level - 1), if all its blocks are in b.
func (b *Blocks) Subtree(level int, k int64) (tlog.Hash, bool) {
	j := level - BlockLevel
	if j < 0 || j >= len(b.levels) || k < 0 || k >= int64(len(b.levels[j])) {
		return tlog.Hash{}, false
	}
	return b.levels[j][k], true
}

// Tree returns the tree of the blocks' records (Len()·BlockSize).
func (b *Blocks) Tree() Tree {
	var t Tree
	for j := len(b.levels) - 1; j >= 0; j-- {
		if len(b.levels[j])%2 == 1 {
			t.frontier[BlockLevel+j] = b.levels[j][len(b.levels[j])-1]
			t.n += 1 << (BlockLevel + j)
		}
	}
	return t
}

// HashReader is a tlog.HashReader over a tree of Size records whose
// complete blocks are in Blocks, for tree hashes of earlier sizes and
// proofs (tlog.TreeHash, ProveRecord, ProveTree). A hash at BlockLevel or
// above comes from Blocks; one below is computed from the leaf hashes of
// its block, which Leaves returns: the first n records of block k (n is
// BlockSize, or fewer for the last, partial block), recomputed from the
// events. Leaves is called at most once per block per ReadHashes call.
type HashReader struct {
	Size   int64
	Blocks Blocks
	Leaves func(k int64, n int) ([]tlog.Hash, error)
}

// ReadHashes returns the hashes at the stored-hash indexes (tlog's
// numbering: level and number of a complete subtree). An index of a subtree
// that is not complete in the tree of r.Size records is an error.
func (r *HashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	read := map[int64][]tlog.Hash{} // leaves by block, read in this call
	for i, x := range indexes {
		if x < 0 {
			return nil, fmt.Errorf("audit: stored hash index %d is negative", x)
		}
		level, k := tlog.SplitStoredHashIndex(x)
		if level > 62 || k > r.Size>>level || (k+1)<<level > r.Size {
			return nil, fmt.Errorf("audit: hash %d (level %d, number %d) is not of a complete subtree of the tree of size %d", x, level, k, r.Size)
		}
		if level >= BlockLevel {
			h, ok := r.Blocks.Subtree(level, k)
			if !ok {
				return nil, fmt.Errorf("audit: hash %d (level %d, number %d): the blocks of the tree of size %d end before it (%d blocks)", x, level, k, r.Size, r.Blocks.Len())
			}
			out[i] = h
			continue
		}
		lo := k << level
		b := lo / BlockSize
		leaves, ok := read[b]
		if !ok {
			n := int(min(BlockSize, r.Size-b*BlockSize))
			var err error
			if leaves, err = r.Leaves(b, n); err != nil {
				return nil, err
			}
			if len(leaves) != n {
				return nil, fmt.Errorf("audit: block %d: got %d leaves, want %d", b, len(leaves), n)
			}
			read[b] = leaves
		}
		off := lo - b*BlockSize
		h, err := SubtreeHash(leaves[off : off+1<<level])
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}
