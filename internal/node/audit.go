package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/audit"
	"healthcode/internal/health"
	"healthcode/internal/sqlite"
)

// The audit log (internal/audit, D42, D51): leaf i is the event with seq
// i+1. commitGroup hands each request's events to a hashing job as soon as
// the request is prepared (the leaf and block hashes are computed on other
// goroutines while the writer goes on), the store writes the hashes of the
// blocks of 256 events they complete in the events' transaction, and the
// in-memory tree (its frontier) and block hashes advance only after that
// commit. Heads are signed with the key in the data directory (audit.key)
// and stored before they are served.

const (
	// headEvery: after a commit, the writer signs and stores a head if the
	// last one is older than this (node clock), so a store always has a
	// recent head even if nobody asks for one.
	headEvery = 5 * time.Minute
	// headMinInterval: a request gets a new head at most this often (wall
	// clock); in between it gets the last one, at most this much behind.
	headMinInterval = time.Second
	// catchUpBlocks is how many blocks' hashes one catch-up transaction
	// writes.
	catchUpBlocks = 256
)

// auditLog is the node's side of the audit log.
type auditLog struct {
	off    bool // Config.NoAudit
	store  *sqlite.DB
	log    *slog.Logger
	now    func() time.Time
	origin string
	key    *audit.Key

	// Owned by the writer goroutine: the tree of the durable events, the
	// hashes of their complete blocks and of the subtrees above them, and
	// buffers that one group's hashing job at a time borrows.
	tree   audit.Tree
	blocks audit.Blocks
	run    audit.Run
	done   []tlog.Hash

	snap atomic.Pointer[auditView] // what readers see: a copy of tree and a snapshot of blocks

	mu        sync.Mutex // guards last and lastAsked; held while signing and storing a head
	last      audit.Head // the last head stored (Note nil: none)
	lastAsked time.Time  // wall clock: when a request last got a new head
}

// auditView is a consistent state of the durable log for readers: the
// tree and the blocks of the same events.
type auditView struct {
	tree   audit.Tree
	blocks audit.Blocks
}

// openAudit loads the audit state of the store: the block hashes, the tree
// they make, the events after the last stored block hashed again (the
// partial block, and events stored without the log, whose blocks it
// writes), and the last head. It returns an error if the stored blocks
// cover more events than the store has (events were removed) or are not
// dense, or the key or the store cannot be read.
func openAudit(ctx context.Context, n *Node) (*auditLog, error) {
	a := &auditLog{store: n.store, log: n.log, now: n.now}
	if n.cfg.NoAudit {
		a.off = true
		return a, nil
	}
	key, err := audit.LoadOrCreateKey(filepath.Dir(n.store.Path()), audit.KeyName(n.cfg.Region), n.cfg.AuditKey)
	if err != nil {
		return nil, fmt.Errorf("node: audit key: %w", err)
	}
	a.key, a.origin = key, audit.Origin(n.cfg.Region)
	blocks, err := n.store.AuditBlocks(ctx)
	if err != nil {
		return nil, fmt.Errorf("node: audit log: %w", err)
	}
	last, err := n.store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	if size := uint64(len(blocks)) * audit.BlockSize; size > last {
		return nil, fmt.Errorf("node: the audit log has blocks of seqs 1..%d but the store's last event is seq %d: events were removed (run healthcode audit verify)", size, last)
	}
	for _, h := range blocks {
		a.blocks.Append(h)
	}
	a.tree = a.blocks.Tree()
	start, missing := time.Now(), last/audit.BlockSize-uint64(len(blocks))
	if err := a.catchUp(ctx); err != nil {
		return nil, err
	}
	if missing > 0 {
		a.log.Info("audit log: blocks written for events stored without it", "from_seq", uint64(len(blocks))*audit.BlockSize+1, "to_seq", last/audit.BlockSize*audit.BlockSize,
			"blocks", missing, "took", time.Since(start).Round(time.Millisecond))
	}
	a.publish()
	sh, ok, err := n.store.LastAuditHead(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		h, err := audit.OpenHead(sh.Note, key.Verifier)
		switch {
		case err != nil:
			a.log.Error("audit: the last stored head does not verify with this node's audit key", "size", sh.Size, "err", err)
		case h.Size > a.tree.Size():
			a.log.Error("audit: the last stored head covers more events than the audit log", "head_size", h.Size, "log_size", a.tree.Size())
		default:
			if root, err := tlog.TreeHash(h.Size, a.reader(ctx, a.snap.Load())); err != nil || root != h.Root {
				a.log.Error("audit: the log does not match the last signed head (run healthcode audit verify)", "head_size", h.Size, "err", err)
			}
			a.last = h
		}
	}
	return a, nil
}

// catchUp hashes the stored events after the tree's size (the events of
// the partial block after the last stored one, and any stored without the
// log) and writes the hashes of the blocks they complete, catchUpBlocks
// blocks a transaction.
func (a *auditLog) catchUp(ctx context.Context) error {
	t := a.tree
	var (
		done []tlog.Hash
		leaf []byte
	)
	flush := func() error {
		if len(done) == 0 {
			return nil
		}
		first := uint64(a.blocks.Len()) * audit.BlockSize
		if err := a.store.AppendAudit(ctx, sqlite.AuditBlocks{First: first, N: len(done) * audit.BlockSize, Hashes: done}); err != nil {
			return err
		}
		for _, h := range done {
			a.blocks.Append(h)
		}
		done = done[:0]
		return nil
	}
	err := a.store.Scan(ctx, uint64(t.Size()), func(e *health.Event) error {
		if want := uint64(t.Size()) + 1; e.Seq != want {
			return fmt.Errorf("node: audit catch-up: seq %d follows seq %d: the log has a gap (run healthcode audit verify)", e.Seq, want-1)
		}
		var h tlog.Hash
		h, leaf = audit.LeafHash(leaf, e)
		if b, ok := t.Append(h); ok {
			if done = append(done, b); len(done) == catchUpBlocks {
				return flush()
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	a.tree = t
	return nil
}

func (a *auditLog) publish() {
	a.snap.Store(&auditView{tree: a.tree, blocks: a.blocks.Snapshot()})
}

// reader returns a tlog.HashReader over the log of v: hashes at and above
// a block from v's blocks, those below recomputed from a block's events.
func (a *auditLog) reader(ctx context.Context, v *auditView) tlog.HashReader {
	return &audit.HashReader{Size: v.tree.Size(), Blocks: v.blocks, Leaves: func(k int64, n int) ([]tlog.Hash, error) {
		first := uint64(k) * audit.BlockSize
		leaves := make([]tlog.Hash, 0, n)
		var buf []byte
		err := a.store.ScanRange(ctx, first, first+uint64(n), func(e *health.Event) error {
			if want := first + uint64(len(leaves)) + 1; e.Seq != want {
				return fmt.Errorf("node: audit: seq %d is missing from the store (run healthcode audit verify)", want)
			}
			var h tlog.Hash
			h, buf = audit.LeafHash(buf, e)
			leaves = append(leaves, h)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(leaves) != n {
			return nil, fmt.Errorf("node: audit: seq %d is missing from the store (run healthcode audit verify)", first+uint64(len(leaves))+1)
		}
		return leaves, nil
	}}
}

// auditJob computes the block hashes of a group's events on other
// goroutines while the writer assembles and writes the group: each
// request's events are handed to it as soon as the request is prepared, so
// hashing overlaps the preparation of the next requests and the store's
// writing of the events. It works on a copy of the node's tree, which is
// unchanged until committed.
type auditJob struct {
	a     *auditLog
	first int64  // the tree size before the group
	next  uint64 // writer: the seq the next handed event must have
	err   error  // writer: a handed event did not continue the log
	in    chan []health.Event
	done  chan struct{} // closed when run has hashed everything handed
	ended bool          // writer: in is closed

	// Owned by run until done is closed.
	tree   audit.Tree
	hashes audit.Run
	blocks []tlog.Hash // the blocks the handed events complete
}

// hand gives the job of a group (nil: none yet, started here) the events a
// request added; they must follow the ones handed before. The events must
// not change until the job is joined. With the audit log off it does
// nothing and returns nil.
func (a *auditLog) hand(j *auditJob, events []health.Event) *auditJob {
	if a.off || len(events) == 0 {
		return j
	}
	if j == nil {
		j = &auditJob{a: a, first: a.tree.Size(), next: uint64(a.tree.Size()) + 1, tree: a.tree,
			in: make(chan []health.Event, 256), done: make(chan struct{}), hashes: a.run, blocks: a.done[:0]}
		go j.run()
	}
	if j.err != nil {
		return j
	}
	for i := range events {
		if events[i].Seq != j.next+uint64(i) {
			j.err = fmt.Errorf("node: audit: event seq %d handed where seq %d follows (the log's leaves are the seqs in order)", events[i].Seq, j.next+uint64(i))
			return j
		}
	}
	j.next += uint64(len(events))
	j.in <- events
	return j
}

// run hashes the handed events in order: their leaf hashes and the hashes
// of the blocks complete in them (split at block boundaries between all
// the cores when there are many: the writer is writing the events
// meanwhile, then waits for the hashes), then appends them to the tree:
// the leaves around the blocks one by one, each block as one subtree.
func (j *auditJob) run() {
	defer close(j.done)
	for evs := range j.in {
		workers := max(1, min(runtime.GOMAXPROCS(0), len(evs)/2048))
		j.hashes.HashEvents(j.tree.Size(), evs, workers)
		var err error
		if j.blocks, err = j.tree.AppendRun(&j.hashes, j.blocks); err != nil {
			panic(err) // HashEvents split the run from the tree's size
		}
	}
}

// join waits until everything handed is hashed. The job's buffers go back
// to the auditLog for the next group's job.
func (j *auditJob) join() {
	if !j.ended {
		close(j.in)
		j.ended = true
	}
	<-j.done
	j.a.run = j.hashes
}

// hashesFor is the store's audit callback: it joins the job and returns
// the hashes of the blocks the handed events complete, or the hand error.
func (j *auditJob) hashesFor() (*sqlite.AuditBlocks, error) {
	j.join()
	if j.err != nil {
		return nil, j.err
	}
	return &sqlite.AuditBlocks{First: uint64(j.first), N: int(j.next - 1 - uint64(j.first)), Hashes: j.blocks}, nil
}

// committed makes the tree and blocks of the job, joined, the node's: its
// block hashes are durable. Every headEvery it also signs and stores a
// head.
func (a *auditLog) committed(ctx context.Context, j *auditJob) {
	if j == nil {
		return
	}
	a.tree = j.tree
	for _, h := range j.blocks {
		a.blocks.Append(h)
	}
	a.done = j.blocks[:0]
	a.publish()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last.Note == nil || a.now().Sub(a.last.Time) >= headEvery {
		if _, err := a.signLocked(ctx); err != nil {
			a.log.Error("audit: periodic head", "err", err)
		}
	}
}

// stop signs and stores a head of the final log if it grew since the last.
func (a *auditLog) stop(ctx context.Context) {
	if a.off {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last.Note == nil || a.last.Size != a.snap.Load().tree.Size() {
		if _, err := a.signLocked(ctx); err != nil {
			a.log.Error("audit: head at stop", "err", err)
		}
	}
}

// signLocked signs a head of the current tree and stores it. a.mu is held.
func (a *auditLog) signLocked(ctx context.Context) (audit.Head, error) {
	t := a.snap.Load().tree
	h, err := audit.SignHead(a.key.Signer, a.origin, t.Size(), t.Root(), a.now())
	if err != nil {
		return audit.Head{}, err
	}
	if err := a.store.AddAuditHead(ctx, sqlite.AuditHead{Size: h.Size, Root: h.Root, Time: h.Time, Note: h.Note}); err != nil {
		return audit.Head{}, err
	}
	a.last = h
	return h, nil
}

var errAuditOff = &health.Error{Kind: health.Unavailable, Code: "audit_off", Message: "this node runs without the audit log"}

// AuditHead returns a signed head of the audit log as it is now: a new one
// if the log grew since the last head, unless a request got a new head less
// than a second ago (then the last one, at most that much behind). A new head is stored before it is returned. It
// returns an Unavailable error if the audit log is off or the head cannot
// be stored.
func (n *Node) AuditHead(ctx context.Context) (audit.Head, error) {
	a := n.audit
	if a.off {
		return audit.Head{}, errAuditOff
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last.Note != nil && (a.last.Size == a.snap.Load().tree.Size() || time.Since(a.lastAsked) < headMinInterval) {
		return a.last, nil
	}
	h, err := a.signLocked(ctx)
	if err != nil {
		return audit.Head{}, &health.Error{Kind: health.Unavailable, Code: "store_unavailable", Message: "the head could not be stored", Err: err}
	}
	a.lastAsked = time.Now()
	return h, nil
}

// AuditKey returns the note verifier key of the node's audit heads, or ""
// if the audit log is off.
func (n *Node) AuditKey() string {
	if n.audit.off {
		return ""
	}
	return n.audit.key.VerifierKey
}

// AuditInclusion proves that event Seq is leaf Seq-1 of the log of Size
// events (RFC 6962 inclusion proof, tlog.CheckRecord checks it).
type AuditInclusion struct {
	Seq   uint64
	Size  int64
	Root  tlog.Hash // tree hash of the first Size events
	Leaf  tlog.Hash // the leaf hash of event Seq, computed from the stored event
	Proof tlog.RecordProof
}

// AuditConsistency proves that the log of Old events is a prefix of the log
// of Size events (tlog.CheckTree checks it).
type AuditConsistency struct {
	Old, Size     int64
	OldRoot, Root tlog.Hash
	Proof         tlog.TreeProof
}

// auditSize resolves a requested tree size (0: the size of v). It returns
// an Invalid error for a size the log has not reached.
func auditSize(v *auditView, size int64) (int64, error) {
	cur := v.tree.Size()
	switch {
	case size == 0:
		return cur, nil
	case size < 0 || size > cur:
		return 0, health.Errorf(health.Invalid, "size_out_of_range", "size", "size must be between 1 and the log's current size %d", cur)
	}
	return size, nil
}

func auditRoot(v *auditView, size int64, r tlog.HashReader) (tlog.Hash, error) {
	if v.tree.Size() == size {
		return v.tree.Root(), nil
	}
	h, err := tlog.TreeHash(size, r)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("node: audit tree hash: %w", err)
	}
	return h, nil
}

// AuditInclusion returns the inclusion proof of event seq in the log of
// size events (0: the current size). It returns an Invalid error for a seq
// or size outside the log, Unavailable if the audit log is off.
func (n *Node) AuditInclusion(ctx context.Context, seq uint64, size int64) (AuditInclusion, error) {
	if n.audit.off {
		return AuditInclusion{}, errAuditOff
	}
	v := n.audit.snap.Load()
	size, err := auditSize(v, size)
	if err != nil {
		return AuditInclusion{}, err
	}
	if seq == 0 || seq > uint64(size) {
		return AuditInclusion{}, health.Errorf(health.Invalid, "seq_out_of_range", "seq", "seq must be between 1 and the tree size %d", size)
	}
	r := n.audit.reader(ctx, v)
	p := AuditInclusion{Seq: seq, Size: size}
	if p.Root, err = auditRoot(v, size, r); err != nil {
		return AuditInclusion{}, err
	}
	e, err := n.store.Event(ctx, seq)
	if err != nil {
		return AuditInclusion{}, fmt.Errorf("node: audit leaf: %w", err)
	}
	p.Leaf, _ = audit.LeafHash(nil, &e)
	if p.Proof, err = tlog.ProveRecord(size, int64(seq)-1, r); err != nil {
		return AuditInclusion{}, fmt.Errorf("node: audit inclusion proof: %w", err)
	}
	return p, nil
}

// AuditConsistency returns the consistency proof between the logs of old
// and size events (size 0: the current size). It returns an Invalid error
// unless 1 <= old <= size <= the current size, Unavailable if the audit log
// is off.
func (n *Node) AuditConsistency(ctx context.Context, old, size int64) (AuditConsistency, error) {
	if n.audit.off {
		return AuditConsistency{}, errAuditOff
	}
	v := n.audit.snap.Load()
	size, err := auditSize(v, size)
	if err != nil {
		return AuditConsistency{}, err
	}
	if old < 1 || old > size {
		return AuditConsistency{}, health.Errorf(health.Invalid, "old_out_of_range", "old", "old must be between 1 and the tree size %d", size)
	}
	r := n.audit.reader(ctx, v)
	p := AuditConsistency{Old: old, Size: size}
	if p.Root, err = auditRoot(v, size, r); err != nil {
		return AuditConsistency{}, err
	}
	if p.OldRoot, err = auditRoot(v, old, r); err != nil {
		return AuditConsistency{}, err
	}
	if p.Proof, err = tlog.ProveTree(size, old, r); err != nil {
		return AuditConsistency{}, fmt.Errorf("node: audit consistency proof: %w", err)
	}
	return p, nil
}
