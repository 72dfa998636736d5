package node

import (
	"context"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/sqlite"
)

// ErrStopped is returned by writes submitted after the node stopped.
var ErrStopped = &health.Error{Kind: health.Unavailable, Code: "stopping", Message: "the node is shutting down"}

// group is the transaction being assembled by the writer goroutine from one
// or more write requests (group commit). It overlays the uniqueness state
// that requests in the same group must see from each other.
type group struct {
	now        time.Time
	events     []health.Event
	ids        []sqlite.IdentityRow
	nextSeq    uint64
	nextPerson uint32
	nextPlace  uint32
	idHashes   map[[32]byte]uint32
	samples    map[sampleKey]sampleState
	audit      *auditJob // hashes the group's events as requests are prepared; nil until the first
}

func (g *group) add(e health.Event) uint64 {
	e.Seq = g.nextSeq
	g.nextSeq++
	if e.Recorded.IsZero() {
		e.Recorded = g.now
	}
	g.events = append(g.events, e)
	return e.Seq
}

// writeReq is one command for the writer. prepare runs on the writer
// goroutine with exclusive write access to the views; it validates against
// the current state and appends events to the group. It must return an
// error before adding anything, or add everything. done receives the
// outcome after the group is durable and applied.
type writeReq struct {
	// solo requests validate against views that the group's earlier events
	// would change (case numbers, trajectory versions, bindings, lifts): they
	// are prepared first in a group of their own, after everything before
	// them has been applied.
	solo    bool
	prepare func(g *group) error
	after   func() // runs on the writer after apply, before done (optional)
	done    chan error
}

// submit hands a request to the writer and waits for its outcome.
func (n *Node) submit(ctx context.Context, prepare func(g *group) error, after func()) error {
	return n.submitReq(ctx, &writeReq{prepare: prepare, after: after})
}

// submitSolo is submit for a request that must see every earlier write
// applied (see writeReq.solo).
func (n *Node) submitSolo(ctx context.Context, prepare func(g *group) error, after func()) error {
	return n.submitReq(ctx, &writeReq{solo: true, prepare: prepare, after: after})
}

func (n *Node) submitReq(ctx context.Context, req *writeReq) error {
	if n.stopping.Load() {
		return ErrStopped
	}
	req.done = make(chan error, 1)
	select {
	case n.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopped:
		return ErrStopped
	}
	select {
	case err := <-req.done:
		return err
	case <-n.stopped:
		// The writer finishes every request it took before it stops.
		select {
		case err := <-req.done:
			return err
		default:
			return ErrStopped
		}
	}
}

// Run is the writer: it takes write requests, commits them in groups, applies
// them to the views and re-evaluates affected codes, and runs scheduled
// re-evaluations. It returns when ctx is cancelled, after finishing the
// requests it has taken.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.resetTimer(timer)
		select {
		case <-ctx.Done():
			n.stopping.Store(true)
			// Drain what was queued before the stop so no caller hangs,
			// then sign a head of the final log.
			for {
				select {
				case req := <-n.writes:
					n.commitGroup([]*writeReq{req})
				default:
					n.audit.stop(context.Background())
					return nil
				}
			}
		case <-timer.C:
			n.runDue(n.now())
			n.escalateDue() // appeals past their deadline (appeals.go)
		case req := <-n.writes:
			reqs := []*writeReq{req}
		drain:
			for len(reqs) < 4096 {
				select {
				case r := <-n.writes:
					reqs = append(reqs, r)
				default:
					break drain
				}
			}
			n.commitGroup(reqs)
		}
	}
}

func (n *Node) resetTimer(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	d := time.Hour
	next, ok := n.nextDeadline() // of an appeal
	if n.due.Len() > 0 && (!ok || n.due[0].at.Before(next)) {
		next, ok = n.due[0].at, true
	}
	if ok {
		d = next.Sub(n.now())
		if d < 0 {
			d = 0
		}
		if d > time.Hour {
			d = time.Hour
		}
	}
	t.Reset(d)
}

// commitGroup prepares, commits and applies a group of requests. Requests
// whose prepare fails are answered at once and add nothing.
func (n *Node) commitGroup(reqs []*writeReq) {
	g := &group{now: n.now(), nextSeq: n.lastSeq + 1,
		nextPerson: uint32(len(n.persons)), nextPlace: uint32(len(n.places)),
		idHashes: map[[32]byte]uint32{}, samples: map[sampleKey]sampleState{}}
	ok := reqs[:0:0]
	next := len(reqs) // the first request left for the next group
	for i, r := range reqs {
		if r.solo && i > 0 {
			next = i
			break
		}
		mark, idMark, seqMark, pMark, plMark := len(g.events), len(g.ids), g.nextSeq, g.nextPerson, g.nextPlace
		if err := r.prepare(g); err != nil {
			g.events, g.ids, g.nextSeq, g.nextPerson, g.nextPlace = g.events[:mark], g.ids[:idMark], seqMark, pMark, plMark
			r.done <- err
			continue
		}
		ok = append(ok, r)
		g.audit = n.audit.hand(g.audit, g.events[mark:])
		if r.solo || len(g.events) >= n.cfg.MaxGroup {
			next = i + 1
			break
		}
	}
	// Requests left over by the size cap or a solo request go back to the
	// front of the next group.
	if rest := reqs[next:]; len(rest) > 0 {
		defer n.commitGroup(rest)
	}
	if len(ok) == 0 {
		return
	}
	if len(g.events) > 0 {
		start := time.Now()
		// The audit block hashes of the group, computed meanwhile on a
		// copy of the audit tree, are written in the events'
		// transaction; the node's tree advances only once both are
		// durable.
		if g.audit == nil {
			g.audit = n.audit.hand(nil, g.events) // every prepared request hands its events; this is a safety net
		}
		var hashes func() (*sqlite.AuditBlocks, error)
		if g.audit != nil {
			hashes = g.audit.hashesFor
		}
		err := n.store.Append(context.Background(), g.events, g.ids, hashes)
		if g.audit != nil {
			g.audit.join() // whether or not Append asked for the hashes
		}
		if err != nil {
			n.log.Error("group commit failed", "events", len(g.events), "err", err)
			e := &health.Error{Kind: health.Unavailable, Code: "store_unavailable", Message: "the write could not be made durable; nothing was recorded", Err: err}
			for _, r := range ok {
				r.done <- e
			}
			return
		}
		n.audit.committed(context.Background(), g.audit)
		n.m.commits.Observe(time.Since(start).Seconds())
		n.m.groupSize.Observe(float64(len(g.events)))
	}
	affected := map[uint32]struct{}{}
	n.mu.Lock()
	var applyErr error
	var perKind [256]int
	for i := range g.events {
		if err := n.apply(&g.events[i], affected); err != nil && applyErr == nil {
			applyErr = err
		}
		perKind[g.events[i].Kind]++
	}
	// Fold visits added since the last compaction into the compact layout
	// once they are more than a quarter of it (amortised; see trace.Index.Compact).
	if t := n.visits.TailLen(); t > 1<<16 && t > n.visits.Len()/4 {
		n.visits.Compact()
	}
	n.mu.Unlock()
	for k, c := range perKind {
		if c > 0 {
			n.m.events.WithLabelValues(health.EventKind(k).String()).Add(float64(c))
		}
	}
	if applyErr != nil {
		// The events are durable and will be replayed at the next start; the
		// views may lag until then. This indicates a bug, not bad input.
		n.log.Error("apply committed events", "err", applyErr)
	}
	now := n.now()
	for p := range affected {
		if err := n.evaluate(p, now); err != nil {
			n.log.Error("evaluate", "err", err)
		}
	}
	for _, r := range ok {
		if r.after != nil {
			r.after()
		}
		r.done <- nil
	}
	clear(n.areaAffectedN) // counts not taken by an after hook are stale now
}

// Reevaluate runs the scheduled re-evaluations that are due at the node's
// current time now, on the writer goroutine, then escalates the appeals
// past their deadline. (The writer also does this by itself on a timer;
// tests with an injected clock call it to step time.)
func (n *Node) Reevaluate(ctx context.Context) error {
	err := n.submit(ctx, func(g *group) error {
		n.runDue(g.now)
		return nil
	}, nil)
	if err != nil {
		return err
	}
	return n.submitSolo(ctx, n.prepareEscalations, nil)
}
