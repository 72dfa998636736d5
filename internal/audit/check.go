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

// StoredRows is a cursor over a store's audit hashes in stored-hash index
// order, as rows of consecutive hashes.
type StoredRows interface {
	// Next returns the next row: the stored-hash index of its first hash
	// and its hashes, 32 bytes each, valid until the next call. ok is false
	// after the last row.
	Next() (first int64, hashes []byte, ok bool, err error)
}

// Problem is one finding of a Checker.
type Problem struct {
	Seq uint64 // the first seq concerned; 0 if it is not about one (a bad signature)
	Msg string // one line

	leaf   bool // an event differs from its stored leaf
	ranged bool // somewhere in Seq.. (a head that does not match), not at Seq
}

// Result is what a Checker found.
type Result struct {
	Events       int64 // events read
	Hashes       int64 // stored hashes compared
	Heads        int   // signed heads that matched the log
	LargestHead  int64 // size of the largest signed head that matched
	Problems     []Problem
	LeafMismatch []uint64 // seqs whose event differs from its stored leaf (the first 10)
	leafCount    int
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
	if r.leafCount > 1 {
		fmt.Fprintf(&b, "; %d events differ from the audit log, at seqs %s", r.leafCount, seqList(r.LeafMismatch, r.leafCount))
	}
	heads, others, first := 0, 0, ""
	for _, p := range ps[1:] {
		switch {
		case r.leafCount > 1 && p.leaf:
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

func seqList(seqs []uint64, total int) string {
	s := make([]string, len(seqs))
	for i, q := range seqs {
		s[i] = strconv.FormatUint(q, 10)
	}
	out := strings.Join(s, ", ")
	if total > len(seqs) {
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
// compares it with the stored hashes and with signed heads. It proves that
// no event covered by a head was edited, removed or reordered since the
// head was signed, and names the first seq where the log differs from what
// the node recorded. Add the heads, then every event with Add, then call
// Finish.
type Checker struct {
	v     note.Verifier
	tree  Tree
	leaf  []byte
	buf   []byte
	heads []checkHead
	nh    int // next head to compare

	rows       StoredRows
	row        []byte // the current row's hashes
	rowStart   int64  // stored-hash index of row[0]
	rowEnd     int64
	rowsDone   bool
	pos        int64 // stored-hash index of the next recomputed hash
	noStored   bool  // reported: hashes missing from the table
	badStored  bool  // reported: an interior hash differs
	stopped    bool  // a gap: the tree cannot continue
	gapSeq     uint64
	res        Result
	lastGood   int64 // largest head size that matched
	sortedHead bool
}

// NewChecker returns a checker that verifies head signatures with v and
// compares with the stored hashes that rows reads (nil: none are compared).
func NewChecker(v note.Verifier, rows StoredRows) *Checker {
	return &Checker{v: v, rows: rows}
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
// stored hashes fails.
func (c *Checker) Add(e *health.Event) error {
	if !c.sortedHead {
		slices.SortStableFunc(c.heads[c.nh:], func(a, b checkHead) int { return cmp.Compare(a.Size, b.Size) })
		c.sortedHead = true
		if err := c.compareHeads(); err != nil {
			return err
		}
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
	c.buf = c.tree.Append(h, c.buf[:0])
	for k := 0; k < len(c.buf); k += tlog.HashSize {
		idx := c.pos + int64(k/tlog.HashSize)
		got, ok, err := c.stored(idx)
		if err != nil {
			return err
		}
		if !ok {
			if !c.noStored && c.rows != nil {
				c.noStored = true
				c.problem(e.Seq, "seq %d has no stored audit hash: the audit log ends before it or rows were deleted (%s)", e.Seq, c.storedEnd())
			}
			continue
		}
		c.res.Hashes++
		if bytes.Equal(got, c.buf[k:k+tlog.HashSize]) {
			continue
		}
		if k == 0 {
			c.res.leafCount++
			if len(c.res.LeafMismatch) < 10 {
				c.res.LeafMismatch = append(c.res.LeafMismatch, e.Seq)
			}
			if len(c.res.Problems) < maxProblems {
				c.res.Problems = append(c.res.Problems, Problem{Seq: e.Seq, leaf: true,
					Msg: fmt.Sprintf("seq %d: the event differs from the one the audit log recorded (edited, or moved from another seq)", e.Seq)})
			}
		} else if c.res.leafCount == 0 && !c.badStored {
			c.badStored = true
			c.problem(e.Seq, "seq %d: stored audit hash %d (a subtree ending at seq %d) differs from the recomputed one: the audit table was changed", e.Seq, idx, e.Seq)
		}
	}
	c.pos += int64(len(c.buf) / tlog.HashSize)
	return c.compareHeads()
}

// compareHeads compares the heads of the tree's current size.
func (c *Checker) compareHeads() error {
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
	return nil
}

// stored returns the stored hash at index idx, if the table has it.
func (c *Checker) stored(idx int64) ([]byte, bool, error) {
	if c.rows == nil {
		return nil, false, nil
	}
	for idx >= c.rowEnd && !c.rowsDone {
		first, data, ok, err := c.rows.Next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			c.rowsDone = true
			break
		}
		if len(data)%tlog.HashSize != 0 || len(data) == 0 {
			c.problem(0, "stored audit hashes at index %d: a row of %d bytes is not a whole number of hashes (the audit table was changed)", first, len(data))
			continue
		}
		if first < c.rowEnd {
			c.problem(0, "stored audit hashes at index %d overlap the row before (the audit table was changed)", first)
		}
		c.row, c.rowStart, c.rowEnd = data, first, first+int64(len(data)/tlog.HashSize)
	}
	if idx < c.rowStart || idx >= c.rowEnd {
		return nil, false, nil
	}
	o := (idx - c.rowStart) * tlog.HashSize
	return c.row[o : o+tlog.HashSize], true, nil
}

func (c *Checker) storedEnd() string {
	if c.rowEnd == 0 {
		return "the audit table is empty"
	}
	// The record that wrote the last stored hash: the leaf of the level-0
	// index at or before it.
	level, k := tlog.SplitStoredHashIndex(c.rowEnd - 1)
	return fmt.Sprintf("its last stored hash is of seq %d", (k+1)<<level)
}

// Finish ends the check after the last event and returns what it found.
// It returns an error only if reading the stored hashes fails.
func (c *Checker) Finish() (*Result, error) {
	if !c.sortedHead {
		slices.SortStableFunc(c.heads[c.nh:], func(a, b checkHead) int { return cmp.Compare(a.Size, b.Size) })
		if err := c.compareHeads(); err != nil {
			return nil, err
		}
	}
	n := c.tree.n
	for _, h := range c.heads[c.nh:] {
		if c.stopped {
			c.problem(c.gapSeq, "the %s could not be checked: seq %d is missing", h, c.gapSeq)
			continue
		}
		c.problem(uint64(n)+1, "seq %d is missing: the log ends at seq %d but the %s covers %d events (deleted)", n+1, n, h, h.Size)
	}
	if !c.stopped && c.rows != nil {
		if _, ok, err := c.stored(c.pos); err != nil {
			return nil, err
		} else if ok {
			c.problem(uint64(n)+1, "seq %d is missing: the log ends at seq %d but the audit log recorded more events (deleted)", n+1, n)
		}
	}
	r := c.res
	return &r, nil
}
