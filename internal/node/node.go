// Package node is the service layer of one healthcode node: it validates
// commands, appends their events to the store (group commit, durable before
// acknowledgement), keeps the in-memory views current (persons, places, the
// visit index, test results, risk areas, codes) and re-evaluates codes when
// evidence or time changes them. Every backend goes through it, so the
// business rules live in one place.
package node

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"healthcode/internal/codesign"
	"healthcode/internal/gazetteer"
	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
	"healthcode/internal/staff"
	"healthcode/internal/trace"
)

// Config configures a node. Zero values take the documented defaults.
type Config struct {
	Store    *sqlite.DB
	Vault    *identity.Vault
	Regions  *region.Table
	Ruleset  *health.Ruleset
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger     // default slog.Default()
	Registry prometheus.Registerer

	// Signing: the keystore (see OpenKeys), the node's id (the region it
	// serves, the issuer of its codes), the lifetimes of screen and paper
	// tokens, and the trust lists of other nodes whose codes it accepts.
	Keys      *codesign.Keystore
	Region    string // default "440000"
	ScreenTTL time.Duration
	PaperTTL  time.Duration
	// ScreenReuse: a signed screen token is handed out again for this long
	// while its claims are unchanged (D50); default 30s, at most half the
	// screen TTL; negative: every view signs a new token.
	ScreenReuse time.Duration
	Trust       []*codesign.TrustList

	Staff staff.Config // staff logins: password hashing, sessions, lockout (accounts.go); zero: defaults

	CodeTTL       time.Duration // how long a displayed code stays valid at most; default 24h
	ClockSkew     time.Duration // how far in the future a visit or sample may be; default 5m
	MaxGroup      int           // most events in one group commit; default 20000
	QueueCapacity int           // write requests waiting; default 4096

	Overrides OverrideConfig // manual code changes and abuse detection (overrides.go); zero: defaults

	// AuditKey is the audit log's signing key, a note private key; default:
	// the file audit.key beside the store, created at first start (D42).
	AuditKey string
	// NoAudit turns the audit log off. For benchmarks only: it measures
	// what the log costs. Events written without it are hashed at the next
	// start with it.
	NoAudit bool
}

// Node is one running node. Create it with Open; call Run to start the
// writer, and Close after Run returns.
type Node struct {
	cfg     Config
	store   *sqlite.DB
	vault   *identity.Vault
	regions *region.Table
	rules   *health.Ruleset
	log     *slog.Logger
	now     func() time.Time

	writes   chan *writeReq
	stopping atomic.Bool // set when Run is told to stop; new writes are refused
	stopped  chan struct{}

	// The views. mu guards everything below except codes (lock-free reads)
	// and the atomic counters. Only the writer goroutine mutates them.
	mu       sync.RWMutex
	persons  []personView // by person index; [0] unused
	byIDHash map[[32]byte]uint32
	places   []health.Place // by place index; [0] unused
	visits   *trace.Index
	tests    map[uint32][]health.TestResult
	samples  map[sampleKey]sampleState
	areas    []health.RiskArea
	lastSeq  uint64
	// proxy bindings: holder → the dependants whose codes they hold
	dependants map[uint32][]Binding
	// investigation cases by id, and cases per site-day
	cases       map[string]*Case
	casesPerDay map[string]int
	// trip sections by trip|section, and the row places of each flight
	sections   map[string]uint32
	flightRows map[string][]uint32
	// contacts in force by person (one record per case), referrals to
	// other counties, self-reported stops not yet confirmed, and the
	// cross-region alerts
	contacts      map[uint32][]ContactRecord
	referrals     []*Referral
	referralBySeq map[uint64]*Referral
	referralOf    map[referralKey]*Referral
	selfStops     map[uint32][]health.Visit
	alerts        []Alert
	// published data, rebuilt on read after any review
	pub pubCache
	// the gazetteer: every place, searchable by name, alias, pinyin, nearby
	gaz *gazetteer.Index

	nPersons atomic.Uint32
	nPlaces  atomic.Uint32
	nEvents  atomic.Uint64
	nTests   atomic.Uint64

	// Area indexes, owned by the writer goroutine: packed regions of places
	// and areas (parallel to places and areas), and, filled lazily and
	// cleared whenever an area is declared, the areas containing each place
	// and the areas related to each city (inside it or containing it).
	placeReg, placeCity []uint32
	areaReg             []uint32
	areasAtPlace        map[uint32][]int32
	areasOfCity         map[uint32][]int32
	areaAffectedN       map[uint64]int // codes re-evaluated per area event, for the command's answer

	codes *codeView
	due   dueHeap // owned by the writer goroutine

	acc *accounts // staff accounts, API keys, sessions (accounts.go)

	lookbackDur, starWindow time.Duration // from the ruleset's params

	sign *signing

	ov *overrideState // manual code changes and abuse alerts (overrides.go, abuse.go); guarded by mu

	audit *auditLog // the tamper-evident log (audit.go)

	// rollbacks and voided events, appeals, notices, the access log
	// (rollback.go, appeals.go, accesslog.go); guarded by mu. The views
	// that events feed are emptied by resetViews and replayed without the
	// voided events after a rollback.
	rc *recourse

	m metrics
}

type personView struct {
	home uint32 // packed region
}

type sampleKey struct{ lab, sample string }

type sampleState struct {
	seq     uint64
	person  uint32
	at      int64 // unix ms
	result  health.Result
	history int // number of versions
}

// Open builds a node over an open store: it replays every event into the
// views and evaluates every code that has evidence. It returns an error if
// the store cannot be read or an event cannot be applied.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Store == nil || cfg.Vault == nil || cfg.Regions == nil || cfg.Ruleset == nil || cfg.Keys == nil {
		return nil, errors.New("node: Store, Vault, Regions, Ruleset and Keys are required")
	}
	if cfg.Region == "" {
		cfg.Region = "440000"
	}
	if err := cfg.Regions.Validate(cfg.Region); err != nil {
		return nil, fmt.Errorf("node: region: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = 24 * time.Hour
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = 5 * time.Minute
	}
	if cfg.MaxGroup <= 0 {
		cfg.MaxGroup = 20000
	}
	if cfg.QueueCapacity <= 0 {
		cfg.QueueCapacity = 4096
	}
	n := &Node{
		cfg: cfg, store: cfg.Store, vault: cfg.Vault, regions: cfg.Regions, rules: cfg.Ruleset,
		log: cfg.Logger, now: cfg.Now,
		writes:   make(chan *writeReq, cfg.QueueCapacity),
		stopped:  make(chan struct{}),
		persons:  make([]personView, 1),
		byIDHash: map[[32]byte]uint32{},
		places:   make([]health.Place, 1),
		placeReg: make([]uint32, 1), placeCity: make([]uint32, 1),
		sections: map[string]uint32{}, flightRows: map[string][]uint32{}, gaz: gazetteer.New(),
		codes: newCodeView(),
		rc:    newRecourse(),
	}
	n.resetViews() // the views the replayed events feed (rollback.go)
	n.lookbackDur, n.starWindow = windows(cfg.Ruleset)
	n.cfg.Overrides = cfg.Overrides.withDefaults()
	var err error
	if n.sign, err = newSigning(&n.cfg, cfg.Now()); err != nil {
		return nil, err
	}
	if n.acc, err = newAccounts(cfg.Staff, cfg.Vault); err != nil {
		return nil, err
	}
	n.m = newMetrics(cfg.Registry, n)
	start := time.Now()
	if err := n.rebuild(ctx); err != nil {
		return nil, err
	}
	if n.audit, err = openAudit(ctx, n); err != nil {
		return nil, err
	}
	n.visits.Compact()
	n.log.Info("views rebuilt", "events", n.nEvents.Load(), "persons", n.nPersons.Load(),
		"places", n.nPlaces.Load(), "visits", n.visits.Len(), "took", time.Since(start).Round(time.Millisecond))
	return n, nil
}

// rebuild replays the event log into empty views, then evaluates the codes
// of every person with evidence. A first pass reads the rollbacks, so the
// replay skips the events they voided (rollback.go).
func (n *Node) rebuild(ctx context.Context) error {
	err := n.store.Identities(ctx, func(p uint32, h [32]byte) error {
		n.byIDHash[h] = p
		return nil
	})
	if err != nil {
		return err
	}
	if err := n.loadVoided(ctx); err != nil {
		return err
	}
	err = n.store.Scan(ctx, 0, func(e *health.Event) error {
		if skip, err := n.skipVoided(e); skip || err != nil {
			return err
		}
		if err := n.apply(e, nil); err != nil {
			return fmt.Errorf("node: replay event %d: %w", e.Seq, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := n.now()
	affected := n.evidenceHolders(now)
	for p := range affected {
		if err := n.evaluate(p, now); err != nil {
			return err
		}
	}
	return nil
}

// applyView folds one event into the views other than the accountability
// views (see apply, which calls it; a replay after a rollback calls it
// alone). If affected is not nil, persons whose code may change are added
// to it.
func (n *Node) applyView(e *health.Event, affected map[uint32]struct{}) error {
	switch e.Kind {
	case health.EvPersonEnrolled:
		if int(e.Person) != len(n.persons) {
			return fmt.Errorf("person index %d out of order (next is %d)", e.Person, len(n.persons))
		}
		n.persons = append(n.persons, personView{home: e.Region})
		n.ov.attrs.enrolled(e)
		n.codes.ensure(e.Person)
		n.codes.counts[health.Green].Add(1)
		n.nPersons.Store(e.Person)
	case health.EvPlaceRegistered:
		if int(e.Place) != len(n.places) {
			return fmt.Errorf("place index %d out of order (next is %d)", e.Place, len(n.places))
		}
		var pl health.Place
		if err := json.Unmarshal(e.Data, &pl); err != nil {
			return fmt.Errorf("place data: %w", err)
		}
		pl.Index, pl.Registered, pl.Seq = e.Place, e.At, e.Seq
		n.places = append(n.places, pl)
		n.placeReg = append(n.placeReg, packedRegion(pl.Region))
		n.placeCity = append(n.placeCity, packedRegion(n.cityOf(pl.Region)))
		n.nPlaces.Store(e.Place)
		n.applySection(&n.places[e.Place])
		n.gaz.Add(gazetteerPlace(&n.places[e.Place]))
	case health.EvVisit:
		v := health.Visit{Seq: e.Seq, Person: e.Person, Place: e.Place, From: e.At, To: e.Until,
			Source: health.VisitSource(e.Aux & 3), Unverified: e.Aux&auxUnverified != 0}
		n.visits.Add(v)
		if v.Source == health.SourceSelfReport {
			n.selfStops[v.Person] = append(n.selfStops[v.Person], v)
		}
		if affected != nil && len(n.areas) > 0 && n.visitMayMatter(v, n.now()) {
			affected[e.Person] = struct{}{}
		}
	case health.EvTestResult, health.EvTestCorrected:
		var d testData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("test data: %w", err)
		}
		k := sampleKey{d.Lab, d.Sample}
		prev, had := n.samples[k]
		t := health.TestResult{Seq: e.Seq, Lab: d.Lab, SampleID: d.Sample, Person: e.Person, SampledAt: e.At,
			Result: health.Result(e.Aux), Corrects: e.Ref}
		if had {
			// A correction replaces the sample's earlier version (kept in the log).
			list := n.tests[prev.person]
			for i := range list {
				if list[i].Seq == prev.seq {
					list = append(list[:i], list[i+1:]...)
					break
				}
			}
			n.tests[prev.person] = list
			if len(list) == 0 {
				delete(n.tests, prev.person)
			}
			if affected != nil {
				affected[prev.person] = struct{}{}
			}
		}
		n.tests[e.Person] = append(n.tests[e.Person], t)
		n.samples[k] = sampleState{seq: e.Seq, person: e.Person, at: e.At.UnixMilli(), result: t.Result, history: prev.history + 1}
		n.nTests.Add(1)
		if affected != nil {
			affected[e.Person] = struct{}{}
		}
	case health.EvRiskDeclared:
		a := health.RiskArea{Seq: e.Seq, Region: region.Unpack(e.Region), Level: health.RiskLevel(e.Aux), From: e.At, Until: e.Until}
		n.areas = append(n.areas, a)
		n.areaReg = append(n.areaReg, e.Region)
		clear(n.areasAtPlace)
		clear(n.areasOfCity)
		if affected != nil {
			n.areaAffectedN[e.Seq] = n.areaAffected(len(n.areas)-1, n.now(), affected, true)
		}
	case health.EvRiskLifted:
		for i := range n.areas {
			if n.areas[i].Seq == e.Ref {
				if e.At.Before(n.areas[i].Until) {
					n.areas[i].Until = e.At
				}
				n.areas[i].Lifted = e.Seq
				if affected != nil {
					n.areaAffectedN[e.Seq] = n.areaAffected(i, n.now(), affected, false)
				}
			}
		}
	case health.EvDependantBound:
		var d bindingData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("binding data: %w", err)
		}
		n.dependants[e.Person] = append(n.dependants[e.Person], Binding{Holder: e.Person, Dependant: uint32(e.Aux), Relation: d.Relation, Basis: d.Basis, Seq: e.Seq})
	case health.EvIDLookup:
		// Logged for accountability; no view changes.
	case health.EvCaseOpened, health.EvStopsReplaced, health.EvVisitWithdrawn, health.EvStopsReviewed, health.EvCaseAssigned:
		if err := n.applyCase(e, affected); err != nil {
			return err
		}
	case health.EvContactTraced, health.EvReferralAcked:
		if err := n.applyContact(e, affected); err != nil {
			return err
		}
	case health.EvOverrideRequested, health.EvOverrideApproved, health.EvOverrideRefused, health.EvOverrideRevoked, health.EvOverrideCleared, health.EvAbuseAlert:
		if err := n.applyOverride(e, affected); err != nil {
			return err
		}
	case health.EvAccountCreated, health.EvPasswordChanged, health.EvAccountSuspended, health.EvAccountReinstated, health.EvAPIKeyIssued, health.EvAPIKeyRevoked:
		if err := n.applyAccount(e); err != nil {
			return err
		}
	case health.EvRolledBack, health.EvDataRead, health.EvAppealEscalated, health.EvAppealFiled, health.EvAppealResolved:
		// The accountability views only (noteEvent).
	default:
		return fmt.Errorf("unknown event kind %d", e.Kind)
	}
	n.lastSeq = e.Seq
	n.nEvents.Add(1)
	return nil
}

type testData struct {
	Lab    string `json:"lab"`
	Sample string `json:"sample_id"`
}

// windows reads how far back visits can matter (the longest of the stay and
// star windows, at least 7 days) and the star window from the ruleset.
func windows(rs *health.Ruleset) (lookback, star time.Duration) {
	lookback, star = 7*24*time.Hour, 7*24*time.Hour
	for _, k := range []string{"stay_window", "star_window"} {
		v, ok := rs.Params[k].(string)
		if !ok {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			continue
		}
		if d > lookback {
			lookback = d
		}
		if k == "star_window" {
			star = d
		}
	}
	return lookback, star
}

func (n *Node) lookback() time.Duration { return n.lookbackDur }

// visitMayMatter reports whether a new visit could change its person's code:
// an area related to the place's city is in force or ended within the
// look-back window (a late-recorded visit may fall inside it).
func (n *Node) visitMayMatter(v health.Visit, now time.Time) bool {
	after := now.Add(-n.lookback())
	for _, i := range n.cityAreas(n.placeCity[v.Place]) {
		if n.areas[i].Until.After(after) {
			return true
		}
	}
	return false
}

func (n *Node) cityOf(code string) string {
	if r, ok := n.regions.CityOf(code); ok {
		return r.Code
	}
	return code
}

// areasAt returns the indexes of the areas whose region contains the place.
func (n *Node) areasAt(place uint32) []int32 {
	if l, ok := n.areasAtPlace[place]; ok {
		return l
	}
	var l []int32
	pr := n.placeReg[place]
	for i, ar := range n.areaReg {
		if n.regions.ContainsPacked(ar, pr) {
			l = append(l, int32(i))
		}
	}
	n.areasAtPlace[place] = l
	return l
}

// cityAreas returns the indexes of the areas inside the city or containing it.
func (n *Node) cityAreas(city uint32) []int32 {
	if l, ok := n.areasOfCity[city]; ok {
		return l
	}
	var l []int32
	for i, ar := range n.areaReg {
		if n.regions.ContainsPacked(city, ar) || n.regions.ContainsPacked(ar, city) {
			l = append(l, int32(i))
		}
	}
	n.areasOfCity[city] = l
	return l
}

// areaAffected adds to out every person whose code area i may change, and
// returns how many it found (some may already have been in out):
//   - stays: persons with a visit at a place inside the area that overlaps
//     the area's interval within the look-back window;
//   - stars: persons who visited a related city within the star window.
//
// When incremental is set, area i was just declared (it has the highest
// seq), and the star part is narrowed to the persons whose star it extends:
// by JoinCityStays' citation rule, a person whose star already ends (visit +
// window) before the city's other areas end keeps the same star item. Lifts
// and the start-up rebuild pass incremental = false.
func (n *Node) areaAffected(i int, now time.Time, out map[uint32]struct{}, incremental bool) int {
	a, areaP := n.areas[i], n.areaReg[i]
	found := map[uint32]struct{}{}
	add := func(p uint32) { found[p] = struct{}{} }
	stayFrom := now.Add(-n.lookback())
	if a.From.After(stayFrom) {
		stayFrom = a.From
	}
	starFrom := map[uint32]time.Time{} // by city; zero = the area changes no star there
	starOf := func(city uint32) time.Time {
		if t, ok := starFrom[city]; ok {
			return t
		}
		t := now.Add(-n.starWindow)
		if incremental {
			var maxOld time.Time
			for _, j := range n.cityAreas(city) {
				if o := n.areas[j]; int(j) != i && o.Active(now) && o.Until.After(maxOld) {
					maxOld = o.Until
				}
			}
			switch {
			case !a.Active(now) || !a.Until.After(maxOld):
				t = time.Time{}
			case maxOld.Add(-n.starWindow).After(t):
				t = maxOld.Add(-n.starWindow)
			}
		}
		starFrom[city] = t
		return t
	}
	far := now.Add(366 * 24 * time.Hour)
	for pl := 1; pl < len(n.places); pl++ {
		pr, pc := n.placeReg[pl], n.placeCity[pl]
		if n.regions.ContainsPacked(areaP, pr) && stayFrom.Before(a.Until) {
			n.visits.PersonsAtPlace(uint32(pl), stayFrom, a.Until, add)
		}
		if n.regions.ContainsPacked(areaP, pc) || n.regions.ContainsPacked(pc, areaP) {
			if from := starOf(pc); !from.IsZero() {
				n.visits.PersonsAtPlace(uint32(pl), from, far, add)
			}
		}
	}
	for p := range found {
		out[p] = struct{}{}
	}
	return len(found)
}

// evidence gathers a person's evidence at now. Only the writer goroutine
// calls it (it fills the area caches). The joins get only the areas that can
// match: those containing a visited place (stays) and those related to a
// visited city (stars).
func (n *Node) evidence(p uint32, now time.Time) *health.Evidence {
	ev := &health.Evidence{Tests: n.tests[p], Contacts: n.contactItems(p), Overrides: n.overrideItems(p, now)}
	if len(n.areas) == 0 {
		return ev
	}
	vs := n.visits.ByPerson(p, now.Add(-n.lookback()), now.Add(366*24*time.Hour))
	if len(vs) == 0 {
		return ev
	}
	var stayIdx, cityIdx []int32
	var lastPlace, lastCity uint32
	for k, v := range vs {
		if k == 0 || v.Place != lastPlace {
			stayIdx = append(stayIdx, n.areasAt(v.Place)...)
			lastPlace = v.Place
		}
		if c := n.placeCity[v.Place]; k == 0 || c != lastCity {
			cityIdx = append(cityIdx, n.cityAreas(c)...)
			lastCity = c
		}
	}
	if len(cityIdx) == 0 {
		return ev
	}
	placeRegion := func(i uint32) string { return n.places[i].Region }
	ev.Stays = health.JoinStays(vs, placeRegion, n.areaSubset(stayIdx), n.regions.Contains)
	ev.CityStays = health.JoinCityStays(vs, placeRegion, n.cityOf, n.areaSubset(cityIdx), n.regions.Contains, now, n.starWindow)
	return ev
}

// areaSubset returns the areas at the given indexes, once each, in index order.
func (n *Node) areaSubset(idx []int32) []health.RiskArea {
	if len(idx) == 0 {
		return nil
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	out := make([]health.RiskArea, len(idx))
	for k, i := range idx {
		out[k] = n.areas[i]
	}
	return out
}

// evaluate recomputes one person's code and schedules its next change.
// Only the writer goroutine (or rebuild, before Run) calls it.
func (n *Node) evaluate(p uint32, now time.Time) error {
	ev := n.evidence(p, now)
	code, err := n.rules.Evaluate(ev, now)
	if err != nil {
		return fmt.Errorf("node: evaluate %s: %w", health.PersonID(p), err)
	}
	var lastRes health.Result
	var lastAt time.Time
	for _, t := range ev.Tests {
		if t.SampledAt.After(lastAt) {
			lastAt, lastRes = t.SampledAt, t.Result
		}
	}
	n.codes.set(p, &code, lastRes, lastAt)
	n.m.evaluations.Inc()
	if !code.NextEval.IsZero() {
		heap.Push(&n.due, dueItem{at: code.NextEval, person: p})
	}
	return nil
}

// dueItem is a scheduled re-evaluation.
type dueItem struct {
	at     time.Time
	person uint32
}

type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// runDue re-evaluates every person whose scheduled time has come. Entries
// made stale by a later evaluation are skipped.
func (n *Node) runDue(now time.Time) {
	for n.due.Len() > 0 && !n.due[0].at.After(now) {
		it := heap.Pop(&n.due).(dueItem)
		st := n.codes.load(it.person)
		if next := st.nextEval(); next.IsZero() || next.After(now) {
			continue // re-evaluated since; a newer entry exists or none is needed
		}
		if err := n.evaluate(it.person, now); err != nil {
			n.log.Error("scheduled re-evaluation", "person", health.PersonID(it.person), "err", err)
		}
		n.m.scheduled.Inc()
	}
}
