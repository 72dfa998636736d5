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

// The audit log (internal/audit, D42): leaf i is the event with seq i+1.
// commitGroup hands each request's events to a hashing job as soon as the
// request is prepared (the hashes are computed on another goroutine while
// the writer goes on), the store writes the hashes in the events'
// transaction, and the in-memory tree (its frontier) advances only after
// that commit. Heads are
// signed with the key in the data directory (audit.key) and stored before
// they are served.

const (
	// headEvery: after a commit, the writer signs and stores a head if the
	// last one is older than this (node clock), so a store always has a
	// recent head even if nobody asks for one.
	headEvery = 5 * time.Minute
	// headMinInterval: a request gets a new head at most this often (wall
	// clock); in between it gets the last one, at most this much behind.
	headMinInterval = time.Second
	// catchUpChunk is how many events' hashes one catch-up transaction writes.
	catchUpChunk = 1 << 16
)

// auditLog is the node's side of the audit log.
type auditLog struct {
	off    bool // Config.NoAudit
	store  *sqlite.DB
	log    *slog.Logger
	now    func() time.Time
	origin string
	key    *audit.Key

	// Owned by the writer goroutine: the tree of the durable events, and
	// buffers that one group's hashing job at a time borrows.
	tree   audit.Tree
	hashes []byte
	leaves []tlog.Hash

	snap atomic.Pointer[audit.Tree] // a copy of tree for readers

	mu        sync.Mutex // guards last and lastAsked; held while signing and storing a head
	last      audit.Head // the last head stored (Note nil: none)
	lastAsked time.Time  // wall clock: when a request last got a new head
}

// openAudit loads the audit state of the store: the tree's frontier from
// the stored hashes, catching up events stored without hashes (a store
// from before the audit log, or written by a tool), and the last head. It
// returns an error if the stored hashes cover more events than the store
// has (events were removed), or the key or the store cannot be read.
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
	size, err := n.store.AuditSize(ctx)
	if err != nil {
		return nil, err
	}
	last, err := n.store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	if uint64(size) > last {
		return nil, fmt.Errorf("node: the audit log covers seqs 1..%d but the store's last event is seq %d: events were removed (run healthcode audit verify)", size, last)
	}
	r := n.store.AuditHashReader(ctx)
	if a.tree, err = audit.LoadTree(size, r); err != nil {
		return nil, fmt.Errorf("node: audit log: %w", err)
	}
	if uint64(size) < last {
		start := time.Now()
		if err := a.catchUp(ctx); err != nil {
			return nil, err
		}
		a.log.Info("audit log caught up with events stored without it", "from_seq", size+1, "to_seq", last, "took", time.Since(start).Round(time.Millisecond))
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
			if root, err := tlog.TreeHash(h.Size, r); err != nil || root != h.Root {
				a.log.Error("audit: the stored hashes do not match the last signed head (run healthcode audit verify)", "head_size", h.Size, "err", err)
			}
			a.last = h
		}
	}
	return a, nil
}

// catchUp computes and stores the hashes of the stored events after the
// tree's size, in transactions of catchUpChunk events.
func (a *auditLog) catchUp(ctx context.Context) error {
	t := a.tree
	first, k := t.Size(), 0
	var buf, leaf []byte
	flush := func() error {
		if k == 0 {
			return nil
		}
		if err := a.store.AppendAudit(ctx, sqlite.AuditHashes{First: uint64(first), N: k, Hashes: buf}); err != nil {
			return err
		}
		a.tree = t
		first, k, buf = t.Size(), 0, buf[:0]
		return nil
	}
	err := a.store.Scan(ctx, uint64(t.Size()), func(e *health.Event) error {
		if want := uint64(t.Size()) + 1; e.Seq != want {
			return fmt.Errorf("node: audit catch-up: seq %d follows seq %d: the log has a gap (run healthcode audit verify)", e.Seq, want-1)
		}
		var h tlog.Hash
		h, leaf = audit.LeafHash(leaf, e)
		buf = t.Append(h, buf)
		if k++; k == catchUpChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func (a *auditLog) publish() {
	t := a.tree
	a.snap.Store(&t)
}

// auditJob computes the stored hashes of a group's events on another
// goroutine while the writer assembles and writes the group: each request's
// events are handed to it as soon as the request is prepared, so hashing
// overlaps the preparation of the next requests and the store's writing of
// the events. It works on a copy of the node's tree, which is unchanged
// until committed.
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
	leaves []tlog.Hash
	hashes []byte
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
			in: make(chan []health.Event, 256), done: make(chan struct{}), leaves: a.leaves, hashes: a.hashes[:0]}
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

// run hashes the handed events in order: their leaf hashes (split between
// all the cores when there are many: the writer is writing the events
// meanwhile, then waits for the hashes), then the tree above them.
func (j *auditJob) run() {
	defer close(j.done)
	for evs := range j.in {
		if cap(j.leaves) < len(evs) {
			j.leaves = make([]tlog.Hash, len(evs))
		}
		leaves := j.leaves[:len(evs)]
		workers := max(1, min(runtime.GOMAXPROCS(0), len(evs)/2048))
		if workers == 1 {
			audit.LeafHashes(evs, leaves, nil)
		} else {
			var wg sync.WaitGroup
			for w := range workers {
				lo, hi := len(evs)*w/workers, len(evs)*(w+1)/workers
				wg.Go(func() { audit.LeafHashes(evs[lo:hi], leaves[lo:hi], nil) })
			}
			wg.Wait()
		}
		j.hashes = j.tree.AppendLeaves(leaves, j.hashes)
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
	j.a.leaves, j.a.hashes = j.leaves, j.hashes[:0]
}

// hashesFor is the store's audit callback: it joins the job and returns
// the stored hashes of every handed event, or the hand error.
func (j *auditJob) hashesFor() (*sqlite.AuditHashes, error) {
	j.join()
	if j.err != nil {
		return nil, j.err
	}
	return &sqlite.AuditHashes{First: uint64(j.first), N: int(j.next - 1 - uint64(j.first)), Hashes: j.hashes}, nil
}

// committed makes the tree of the job, joined, the node's: its hashes are
// durable. Every headEvery it also signs and stores a head.
func (a *auditLog) committed(ctx context.Context, j *auditJob) {
	if j == nil {
		return
	}
	a.tree = j.tree
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
	if a.last.Note == nil || a.last.Size != a.snap.Load().Size() {
		if _, err := a.signLocked(ctx); err != nil {
			a.log.Error("audit: head at stop", "err", err)
		}
	}
}

// signLocked signs a head of the current tree and stores it. a.mu is held.
func (a *auditLog) signLocked(ctx context.Context) (audit.Head, error) {
	t := a.snap.Load()
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
	if a.last.Note != nil && (a.last.Size == a.snap.Load().Size() || time.Since(a.lastAsked) < headMinInterval) {
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
	Leaf  tlog.Hash // the stored leaf hash of event Seq
	Proof tlog.RecordProof
}

// AuditConsistency proves that the log of Old events is a prefix of the log
// of Size events (tlog.CheckTree checks it).
type AuditConsistency struct {
	Old, Size     int64
	OldRoot, Root tlog.Hash
	Proof         tlog.TreeProof
}

// auditSize resolves a requested tree size (0: the current one). It
// returns an Invalid error for a size the log has not reached.
func (n *Node) auditSize(size int64) (int64, error) {
	cur := n.audit.snap.Load().Size()
	switch {
	case size == 0:
		return cur, nil
	case size < 0 || size > cur:
		return 0, health.Errorf(health.Invalid, "size_out_of_range", "size", "size must be between 1 and the log's current size %d", cur)
	}
	return size, nil
}

func (n *Node) auditRoot(ctx context.Context, size int64, r tlog.HashReader) (tlog.Hash, error) {
	if t := n.audit.snap.Load(); t.Size() == size {
		return t.Root(), nil
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
	size, err := n.auditSize(size)
	if err != nil {
		return AuditInclusion{}, err
	}
	if seq == 0 || seq > uint64(size) {
		return AuditInclusion{}, health.Errorf(health.Invalid, "seq_out_of_range", "seq", "seq must be between 1 and the tree size %d", size)
	}
	r := n.store.AuditHashReader(ctx)
	p := AuditInclusion{Seq: seq, Size: size}
	if p.Root, err = n.auditRoot(ctx, size, r); err != nil {
		return AuditInclusion{}, err
	}
	leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq)-1)})
	if err != nil {
		return AuditInclusion{}, fmt.Errorf("node: audit leaf: %w", err)
	}
	p.Leaf = leaf[0]
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
	size, err := n.auditSize(size)
	if err != nil {
		return AuditConsistency{}, err
	}
	if old < 1 || old > size {
		return AuditConsistency{}, health.Errorf(health.Invalid, "old_out_of_range", "old", "old must be between 1 and the tree size %d", size)
	}
	r := n.store.AuditHashReader(ctx)
	p := AuditConsistency{Old: old, Size: size}
	if p.Root, err = n.auditRoot(ctx, size, r); err != nil {
		return AuditConsistency{}, err
	}
	if p.OldRoot, err = n.auditRoot(ctx, old, r); err != nil {
		return AuditConsistency{}, err
	}
	if p.Proof, err = tlog.ProveTree(size, old, r); err != nil {
		return AuditConsistency{}, fmt.Errorf("node: audit consistency proof: %w", err)
	}
	return p, nil
}
