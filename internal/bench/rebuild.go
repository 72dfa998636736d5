package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"healthcode/internal/audit"
	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
)

// LogPlan is the mix of a synthetic event log for the rebuild measurement.
type LogPlan struct {
	Persons, Places, Visits int
}

// Events returns the total number of events.
func (p LogPlan) Events() int { return p.Persons + p.Places + p.Visits }

// PlanLog splits events like the brief's example: 2% enrolments (200,000
// of 10 million), places one per 500 events up to 20,000, the rest visits.
func PlanLog(events int) LogPlan {
	p := LogPlan{Persons: max(1, events/50), Places: max(1, min(20000, events/500))}
	p.Visits = max(0, events-p.Persons-p.Places)
	return p
}

// WriteLog writes the plan's events (with the enrolments' sealed identities)
// into the store with sqlite.Append in transactions of txEvents events:
// first the places, then the persons, then visits spread over the last seven
// days. progress receives the number of events written.
func WriteLog(ctx context.Context, cfg node.Config, plan LogPlan, progress func(int)) error {
	homes, err := homeRegions()
	if err != nil {
		return err
	}
	const txEvents = 100000
	now := time.Now().UTC().Truncate(time.Millisecond)
	rng := rand.New(rand.NewPCG(42, 42))
	var (
		seq    uint64
		events = make([]health.Event, 0, txEvents)
		ids    []sqlite.IdentityRow
		done   int
		batch  string
		tree   audit.Tree // the log's audit block hashes go with it, as the node writes them
		run    audit.Run
		blocks []tlog.Hash
	)
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		next, first := tree, tree.Size()
		if err := next.CheckSeqs(events); err != nil {
			return err
		}
		run.HashEvents(first, events, runtime.GOMAXPROCS(0))
		var err error
		if blocks, err = next.AppendRun(&run, blocks[:0]); err != nil {
			return err
		}
		ab := &sqlite.AuditBlocks{First: uint64(first), N: len(events), Hashes: blocks}
		if err := cfg.Store.Append(ctx, events, ids, func() (*sqlite.AuditBlocks, error) { return ab, nil }); err != nil {
			return err
		}
		tree = next
		done += len(events)
		if progress != nil {
			progress(done)
		}
		events, ids = events[:0], ids[:0]
		return nil
	}
	add := func(e health.Event) error {
		seq++
		if len(events) == 0 {
			batch = "b" + strconv.FormatUint(seq, 10)
		}
		e.Seq, e.Recorded, e.Actor, e.Batch = seq, now, "staff:admin", batch
		events = append(events, e)
		if len(events) >= txEvents {
			return flush()
		}
		return nil
	}
	placeRegion := make([]uint32, plan.Places+1)
	placeDwell := make([]time.Duration, plan.Places+1)
	for i := 1; i <= plan.Places; i++ {
		pl := health.Place{Name: "基准场所 " + strconv.Itoa(i), Kind: placeKinds[i%len(placeKinds)],
			Region: homes[(i*7)%len(homes)], Lat: 23 + float64(i%1000)/1000, Lng: 113 + float64(i%997)/1000}
		data, err := json.Marshal(pl)
		if err != nil {
			return err
		}
		reg, err := region.Pack(pl.Region)
		if err != nil {
			return err
		}
		placeRegion[i] = reg
		placeDwell[i] = cfg.Ruleset.PlaceKinds[pl.Kind].Dwell
		if err := add(health.Event{Kind: health.EvPlaceRegistered, At: now, Place: uint32(i), Region: reg, Data: data}); err != nil {
			return err
		}
	}
	for i := 1; i <= plan.Persons; i++ {
		id := IDNumber(i - 1)
		h := cfg.Vault.HashID(id)
		sealed, err := cfg.Vault.Seal(identity.Identity{IDNumber: id, Name: "测试" + strconv.Itoa(i%10000), Phone: "13800138000"}, h[:])
		if err != nil {
			return err
		}
		reg, _ := region.Pack(homes[i%len(homes)])
		ids = append(ids, sqlite.IdentityRow{Person: uint32(i), IDHash: h, Sealed: sealed, Created: now})
		if err := add(health.Event{Kind: health.EvPersonEnrolled, At: now, Person: uint32(i), Region: reg}); err != nil {
			return err
		}
	}
	span := int64(7 * 24 * time.Hour / time.Millisecond)
	for i := 0; i < plan.Visits; i++ {
		place := uint32(rng.IntN(plan.Places)) + 1
		at := now.Add(-time.Duration(rng.Int64N(span)) * time.Millisecond)
		if err := add(health.Event{Kind: health.EvVisit, At: at, Until: at.Add(placeDwell[place]),
			Person: uint32(rng.IntN(plan.Persons)) + 1, Place: place, Region: placeRegion[place]}); err != nil {
			return err
		}
	}
	return flush()
}

// RebuildResult is the outcome of timing node.Open over a written log.
type RebuildResult struct {
	Events     int
	Took       time.Duration
	HeapAfter  uint64 // HeapAlloc after GC with the node open
	HeapDelta  uint64 // HeapAlloc growth caused by the open node
	ScanEvents int
	ScanTook   time.Duration // peer: sqlite.Scan of the same log with no views
}

// TimeRebuild times node.Open (the replay into empty views) over cfg's store,
// then, as the floor it cannot beat, a bare sqlite.Scan of the same log.
func TimeRebuild(ctx context.Context, cfg node.Config) (RebuildResult, error) {
	var r RebuildResult
	before := HeapAlloc()
	start := time.Now()
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return r, fmt.Errorf("node.Open: %w", err)
	}
	r.Took = time.Since(start)
	r.Events = n.Stats().Events
	r.HeapAfter = HeapAlloc()
	if r.HeapAfter > before {
		r.HeapDelta = r.HeapAfter - before
	}
	runtime.KeepAlive(n)
	n = nil
	runtime.GC()
	start = time.Now()
	err = cfg.Store.Scan(ctx, 0, func(e *health.Event) error {
		r.ScanEvents++
		return nil
	})
	r.ScanTook = time.Since(start)
	if err != nil {
		return r, fmt.Errorf("sqlite.Scan: %w", err)
	}
	return r, nil
}

// HeapAlloc returns the live heap after two garbage collections.
func HeapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
