package audit

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/health"
)

// StoredBlocks is a cursor over a store's block hashes, by block number.
type StoredBlocks interface {
	// Next returns the next stored block: its number and hash (32 bytes if
	// the table is intact), valid until the next call. ok is false after
	// the last.
	Next() (block int64, hash []byte, ok bool, err error)
}

// Problem is one finding of a Checker.
type Problem struct {
	Seq uint64 // the first seq concerned; 0 if it is not about one (a bad signature)
	Msg string // one line

	block  int64 // a block whose stored hash differs from the recomputed one: its number + 1
	ranged bool  // somewhere in Seq.. (a head that does not match), not at Seq
}

// Result is what a Checker found.
type Result struct {
	Events        int64 // events read
	Blocks        int64 // stored block hashes compared
	Heads         int   // signed heads that matched the log
	LargestHead   int64 // size of the largest signed head that matched
	Problems      []Problem
	BlockMismatch []int64 // blocks whose stored hash differs from the recomputed one (the first 10)
	blockCount    int
}

// OK reports whether nothing was wrong.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// Err returns nil if r is OK, otherwise one line naming the first bad seq:
// the first problem by seq, then how many more there are.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	ps := slices.Clone(r.Problems)
	// Problems at a seq first, by seq; then those only bounded to a range
	// of seqs; then those about no seq.
	rank := func(p Problem) int {
		switch {
		case p.Seq == 0:
			return 2
		case p.ranged:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Seq, b.Seq))
	})
	var b strings.Builder
	b.WriteString(ps[0].Msg)
	if r.blockCount > 1 {
		fmt.Fprintf(&b, "; %d blocks differ from the audit log, at seqs %s", r.blockCount, blockList(r.BlockMismatch, r.blockCount))
	}
	heads, others, first := 0, 0, ""
	for _, p := range ps[1:] {
		switch {
		case r.blockCount > 1 && p.block > 0:
			// summarised above
		case p.ranged:
			heads++
		default:
			if first == "" {
				first = p.Msg
			}
			others++
		}
	}
	if heads > 0 {
		other := ""
		if ps[0].ranged {
			other = "other "
		}
		fmt.Fprintf(&b, "; %d %ssigned head(s) do not match the log", heads, other)
	}
	if others > 0 {
		fmt.Fprintf(&b, "; %d more problem(s), the next: %s", others, first)
	}
	return errors.New(b.String())
}

// blockSeqs names the seqs of block k: "257–512".
func blockSeqs(k int64) string {
	return strconv.FormatInt(k*BlockSize+1, 10) + "–" + strconv.FormatInt((k+1)*BlockSize, 10)
}

func blockList(blocks []int64, total int) string {
	s := make([]string, len(blocks))
	for i, k := range blocks {
		s[i] = blockSeqs(k)
	}
	out := strings.Join(s, ", ")
	if total > len(blocks) {
		out += ", …"
	}
	return out
}

// maxProblems bounds the problems a Checker keeps (edits of many events
// are summarised by count).
const maxProblems = 100

// checkHead is a signed head to compare with the recomputed log.
type checkHead struct {
	Head
	source string // "stored head", "--head FILE"
}

// Checker recomputes the audit log from the events, read in seq order, and
// compares it with the stored block hashes and with signed heads. It proves
// that no event covered by a head was edited, removed or reordered since
// the head was signed, and names the first seq, or the block of 256 seqs,
// where the log differs from what the node recorded. Add the heads, then
// every event with Add, then call Finish.
type Checker struct {
	v     note.Verifier
	tree  Tree
	leaf  []byte
	heads []checkHead
	nh    int // next head to compare

	stored     StoredBlocks
	next       int64 // the block number the next stored row should have
	row        []byte
	rowBlock   int64 // the block of row; -1: none read
	storedDone bool
	noStored   bool // reported: blocks missing from the table
	badTable   bool // reported: block numbers out of order
	stopped    bool // a gap: the tree cannot continue
	gapSeq     uint64
	res        Result
	lastGood   int64 // largest head size that matched
	sortedHead bool
}

// NewChecker returns a checker that verifies head signatures with v and
// compares with the stored block hashes that stored reads (nil: none are
// compared).
func NewChecker(v note.Verifier, stored StoredBlocks) *Checker {
	return &Checker{v: v, stored: stored, rowBlock: -1}
}

func (c *Checker) problem(seq uint64, format string, args ...any) {
	if len(c.res.Problems) < maxProblems {
		c.res.Problems = append(c.res.Problems, Problem{Seq: seq, Msg: fmt.Sprintf(format, args...)})
	}
}

// AddHead adds a signed head note to compare the log with; source says
// where it came from in messages. A note that does not verify with the
// checker's key is a problem.
func (c *Checker) AddHead(msg []byte, source string) {
	h, err := OpenHead(msg, c.v)
	if err != nil {
		c.problem(0, "%s: %v", source, err)
		return
	}
	c.heads = append(c.heads, checkHead{Head: h, source: source})
	c.sortedHead = false
}

func (h checkHead) String() string {
	return fmt.Sprintf("%s of size %d signed %s", h.source, h.Size, h.Time.Format("2006-01-02T15:04:05Z07:00"))
}

// Add reads the next event of the log. Events must come in seq order, as
// the store's Scan gives them. It returns an error only if reading the
// stored block hashes fails.
func (c *Checker) Add(e *health.Event) error {
	if !c.sortedHead {
		slices.SortStableFunc(c.heads[c.nh:], func(a, b checkHead) int { return cmp.Compare(a.Size, b.Size) })
		c.sortedHead = true
		c.compareHeads()
	}
	c.res.Events++
	if c.stopped {
		return nil
	}
	want := uint64(c.tree.n) + 1
	if e.Seq != want {
		if e.Seq > want {
			c.problem(want, "seq %d is missing: the log goes from seq %d to seq %d (deleted)", want, want-1, e.Seq)
		} else {
			c.problem(e.Seq, "seq %d appears again after seq %d (duplicated or reordered)", e.Seq, want-1)
		}
		c.stopped, c.gapSeq = true, want
		return nil
	}
	var h tlog.Hash
	h, c.leaf = LeafHash(c.leaf, e)
	if b, ok := c.tree.Append(h); ok {
		if err := c.compareBlock(c.tree.n/BlockSize-1, b); err != nil {
			return err
		}
	}
	c.compareHeads()
	return nil
}

// compareBlock compares the recomputed hash of block k with the stored one.
func (c *Checker) compareBlock(k int64, h tlog.Hash) error {
	got, ok, err := c.storedBlock(k)
	if err != nil || c.stored == nil {
		return err
	}
	if !ok {
		if !c.noStored {
			c.noStored = true
			c.problem(uint64(k*BlockSize+1), "seqs %s: no stored block hash: the audit table ends before them or rows were deleted (%s)", blockSeqs(k), c.storedEnd())
		}
		return nil
	}
	c.res.Blocks++
	if bytes.Equal(got, h[:]) {
		return nil
	}
	c.res.blockCount++
	if len(c.res.BlockMismatch) < 10 {
		c.res.BlockMismatch = append(c.res.BlockMismatch, k)
	}
	if len(c.res.Problems) < maxProblems {
		c.res.Problems = append(c.res.Problems, Problem{Seq: uint64(k*BlockSize + 1), block: k + 1,
			Msg: fmt.Sprintf("seqs %s: block hash differs: an event in it was edited, removed or reordered", blockSeqs(k))})
	}
	return nil
}

// storedBlock returns the stored hash of block k, if the table has it.
// Blocks are asked for in order.
func (c *Checker) storedBlock(k int64) ([]byte, bool, error) {
	if c.stored == nil {
		return nil, false, nil
	}
	for c.rowBlock < k && !c.storedDone {
		b, h, ok, err := c.stored.Next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			c.storedDone = true
			break
		}
		if b != c.next && !c.badTable {
			c.badTable = true
			c.problem(0, "the audit table has block %d where block %d should follow (rows were deleted, added or renumbered: the audit table was changed)", b, c.next)
		}
		if len(h) != tlog.HashSize && !c.badTable {
			c.badTable = true
			c.problem(uint64(b*BlockSize+1), "seqs %s: the stored block hash has %d bytes, not %d (the audit table was changed)", blockSeqs(b), len(h), tlog.HashSize)
		}
		c.next = b + 1
		c.row, c.rowBlock = h, b
	}
	if c.rowBlock != k {
		return nil, false, nil
	}
	return c.row, true, nil
}

// storedEnd says where the stored blocks went on, for a missing block.
func (c *Checker) storedEnd() string {
	switch {
	case c.rowBlock < 0:
		return "the audit table is empty"
	case c.storedDone:
		return fmt.Sprintf("its last block is of seqs %s", blockSeqs(c.rowBlock))
	}
	return fmt.Sprintf("the next stored block is of seqs %s", blockSeqs(c.rowBlock))
}

// compareHeads compares the heads of the tree's current size.
func (c *Checker) compareHeads() {
	for c.nh < len(c.heads) && c.heads[c.nh].Size <= c.tree.n {
		h := c.heads[c.nh]
		c.nh++
		if h.Size < c.tree.n {
			continue // only when heads were added late; not compared
		}
		if root := c.tree.Root(); root != h.Root {
			if len(c.res.Problems) < maxProblems {
				c.res.Problems = append(c.res.Problems, Problem{Seq: uint64(c.lastGood) + 1, ranged: true,
					Msg: fmt.Sprintf("the log does not match the %s: an event among seqs %d..%d was edited, removed or reordered since it was signed", h, c.lastGood+1, h.Size)})
			}
			continue
		}
		c.res.Heads++
		c.lastGood = max(c.lastGood, h.Size)
		c.res.LargestHead = c.lastGood
	}
}

// Finish ends the check after the last event and returns what it found.
// It returns an error only if reading the stored block hashes fails.
func (c *Checker) Finish() (*Result, error) {
	if !c.sortedHead {
		slices.SortStableFunc(c.heads[c.nh:], func(a, b checkHead) int { return cmp.Compare(a.Size, b.Size) })
		c.compareHeads()
	}
	n := c.tree.n
	for _, h := range c.heads[c.nh:] {
		if c.stopped {
			c.problem(c.gapSeq, "the %s could not be checked: seq %d is missing", h, c.gapSeq)
			continue
		}
		c.problem(uint64(n)+1, "seq %d is missing: the log ends at seq %d but the %s covers %d events (deleted)", n+1, n, h, h.Size)
	}
	if !c.stopped && c.stored != nil {
		// A stored block beyond the complete blocks of the events.
		if _, ok, err := c.storedBlock(n / BlockSize); err != nil {
			return nil, err
		} else if ok {
			c.problem(uint64(n)+1, "seq %d is missing: the log ends at seq %d but the audit log recorded a block of seqs %s (deleted)", n+1, n, blockSeqs(n/BlockSize))
		}
	}
	// A block that differs inside a signed head that matches: the events
	// are those signed, so the stored hash is what changed.
	for i, p := range c.res.Problems {
		if k := p.block - 1; p.block > 0 && (k+1)*BlockSize <= c.lastGood {
			c.res.Problems[i].Msg = fmt.Sprintf("seqs %s: the stored block hash differs from the recomputed one, but the events match the signed head of size %d: the audit table was changed", blockSeqs(k), c.lastGood)
		}
	}
	r := c.res
	return &r, nil
}
