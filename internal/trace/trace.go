package trace

import (
	"cmp"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"healthcode/internal/health"
)

// Seed is a person whose visits in [From, To) can infect others: a case in
// its infectious period. A zero To means the window is still open.
type Seed struct {
	Person   uint32
	From, To time.Time
	Case     string // the case id, carried into exposures
}

// Exposure is one overlap that makes a contact. It holds no pointers and
// times as seconds (health.Sec): a large trace builds millions of them.
type Exposure struct {
	Place       uint32
	From, To    uint32 // the overlap of the two visits (clipped to the source's window), health.Sec seconds
	Seed        uint32 // the seed at the root of the chain: an index into the seeds given to Trace (the first with its Case)
	Via         uint32 // 0 for a close contact; the close contact for a secondary one
	Visit       uint64 // the contact's visit event
	SourceVisit uint64 // the case's (or close contact's) visit event
	Unverified  bool   // either visit is unverified presence
}

// FromTime is From as a time.
func (e *Exposure) FromTime() time.Time { return health.FromSec(e.From) }

// ToTime is To as a time.
func (e *Exposure) ToTime() time.Time { return health.FromSec(e.To) }

// Result is a trace's contacts with the seeds their exposures index.
type Result struct {
	Contacts []Contact
	Seeds    []Seed
}

// Case returns the case at the root of e's chain.
func (r *Result) Case(e *Exposure) string { return r.Seeds[e.Seed].Case }

// Contact is a person found by tracing.
type Contact struct {
	Person    uint32
	Degree    int        // 1 close, 2 secondary
	Exposures []Exposure // ordered by From, then Place, then SourceVisit
}

// Params tune a trace.
type Params struct {
	MinOverlap   func(place uint32) time.Duration // per place kind; required
	QuarantineAt func(person uint32) time.Time    // nil or zero: not quarantined (secondary exposure window open to +inf)
	// Near lists, for a place, the other places whose visitors count as
	// co-located with its visitors: the rows within reach on a flight. A
	// source visit at a place is swept at each of them too (the exposure
	// names the contact's place). Read concurrently; nil means none.
	Near map[uint32][]uint32
}

// Trace finds the close contacts (depth 1) or close and secondary contacts
// (depth 2) of the seeds. Result ordered by degree, then person.
//
// The rules (DESIGN.md §5), with visits as intervals [from, to) in whole
// seconds:
//   - A close contact has a visit to the same place as a seed's visit
//     clipped to the seed's window, overlapping it by at least
//     MinOverlap(place), and at least one second.
//   - A secondary contact has a visit overlapping, by the same rule, a close
//     contact's visit clipped to [the close contact's earliest exposure
//     start, QuarantineAt(close contact)). Its exposures carry the
//     Seed of the close contact's first exposure.
//   - Seeds are never contacts, and close contacts are never secondary
//     ones. A contact lists every qualifying exposure (identical exposures,
//     e.g. from duplicated seeds, once), ordered by From, Place,
//     SourceVisit, then Visit, the seed's Case and Via. An exposure's Seed
//     is the first of the seeds with the Case of its root.
//   - Withdrawn visits take no part; unverified ones do, and mark their
//     exposures Unverified.
//
// Depth other than 2 is taken as 1. Trace is a read: it may run concurrently
// with other reads of the index. It calls p.MinOverlap and p.QuarantineAt
// from the calling goroutine only; a large trace uses all CPUs.
//
// How: each degree gathers its sources (the seeds' or close contacts'
// visits, clipped to their windows), groups them by place, and sweeps each
// place's records once in time order (the records of a place are sorted by
// start); the hits go to buckets by contact, and each bucket (a range of
// persons) is sorted and built into contacts on its own.
func (x *Index) Trace(seeds []Seed, depth int, p Params) []Contact {
	if len(seeds) == 0 || x.live == 0 {
		return nil
	}
	t := x.getTracer()
	t.p = p

	// Deduplicate the seeds; seeds are never contacts.
	var seen map[Seed]bool
	var firstOf map[string]int
	if len(seeds) > 32 {
		seen = make(map[Seed]bool, len(seeds))
	}
	for i, s := range seeds {
		if seen != nil && !seen[s] || seen == nil && !slices.Contains(t.seeds, s) {
			t.seeds = append(t.seeds, s)
			if seen != nil {
				seen[s] = true
			}
			// The exposures name the first seed of the same case.
			first, ok := i, false
			if seen != nil {
				if firstOf == nil {
					firstOf = map[string]int{}
				}
				if first, ok = firstOf[s.Case]; !ok {
					first = i
					firstOf[s.Case] = i
				}
			} else if j := slices.IndexFunc(seeds[:i], func(o Seed) bool { return o.Case == s.Case }); j >= 0 {
				first = j
			}
			t.seedIdx = append(t.seedIdx, uint32(first))
		}
		t.setClose(s.Person)
	}

	// Close contacts.
	w := t.ws[0]
	for si, s := range t.seeds {
		if f, to := health.Sec(s.From), secOrInf(s.To); f < to {
			w.gather(source{root: uint32(si)}, s.Person, f, to)
		}
	}
	t.sweep()
	out := t.build(1, 0)
	phaseHook("close")

	// Secondary contacts.
	if depth == 2 && len(t.contacts) > 0 {
		t.quar = t.quar[:0]
		for _, c := range t.contacts {
			q := uint32(1<<32 - 1)
			if p.QuarantineAt != nil {
				q = secOrInf(p.QuarantineAt(c.person))
			}
			t.quar = append(t.quar, q)
		}
		t.next.Store(0)
		t.parallel(len(t.contacts) >= parallelContacts, func(w *worker) {
			for {
				i := int(t.next.Add(contactBlock)) - contactBlock
				if i >= len(t.contacts) {
					return
				}
				for ci := i; ci < min(i+contactBlock, len(t.contacts)); ci++ {
					if c := &t.contacts[ci]; c.first < t.quar[ci] {
						w.gather(source{root: c.root, via: c.person}, c.person, c.first, t.quar[ci])
					}
				}
			}
		})
		t.sweep()
		phaseHook("secondary")
		all := t.build(2, len(out))
		copy(all, out)
		out = all
	}
	if len(out) == 0 {
		out = nil
	}
	phaseHook("result")
	// Back to the pool only now: after a panic (in a callback), t may hold
	// state, and is dropped.
	x.putTracer(t)
	return out
}

// phaseHook is called at the end of each phase of a trace (benchmarks
// time the phases with it).
var phaseHook = func(phase string) {}

// secOrInf is health.Sec, with the zero time as +inf.
func secOrInf(t time.Time) uint32 {
	if t.IsZero() {
		return 1<<32 - 1
	}
	return health.Sec(t)
}

// source is a seed's or close contact's visit, clipped to their window.
type source struct {
	place uint32
	f, to uint32
	meta  uint32 // the visit: slot<<3 | flags
	root  uint32 // the seed at the root of the chain, in tracer.seeds
	via   uint32 // the close contact (degree 2), or 0
}

// hit is an exposure in compact form (20 bytes: the hits of a large trace
// are written once and read three times).
type hit struct {
	person uint32 // the contact
	from   uint32
	to     uint32
	meta   uint32 // the contact's visit
	si     uint32 // the source, in tracer.srcs
}

// tcontact is a close contact while tracing.
type tcontact struct {
	person uint32
	first  uint32 // the start of the first exposure
	root   uint32 // the seed of the first exposure
}

// Tuning. The vars are changed by tests to exercise the parallel paths.
const (
	contactBlock = 16   // close contacts a worker gathers at a time
	placeBlock   = 16   // places a worker sweeps at a time
	maxChunk     = 4096 // hits per chunk, at most
)

var (
	minBucketShift   = uint(6) // at least 64 persons per bucket
	maxBucketShift   = uint(12)
	parallelContacts = 512     // close contacts from which gathering uses all CPUs
	parallelSources  = 256     // sources from which sweeping uses all CPUs
	parallelHits     = 1 << 14 // hits from which building uses all CPUs
)

// tracer is the scratch space of one Trace call, pooled per index.
type tracer struct {
	x         *Index
	p         Params
	closeBits []uint64 // per person: a seed or a close contact
	minOv     []uint32 // per place: min overlap in seconds + 1, 0 unknown
	places    int      // the index's places (minOv may be longer)
	seeds     []Seed
	seedIdx   []uint32   // per seed: the first caller's seed of its case
	contacts  []tcontact // close contacts, by person
	quar      []uint32   // per close contact: quarantine, in seconds
	srcs      []source   // the sources, by place
	srcOff    []uint32   // per place: the end of its sources in srcs
	shift     uint       // a hit's bucket is person >> shift
	ws        []*worker
	next      atomic.Int64
}

// worker holds one goroutine's sources and hits and its scratch space.
type worker struct {
	t       *tracer
	srcs    []source
	buckets []chunks // hits, by bucket
	seen    []uint64 // per person: has hits in buckets
	loc     []int32  // person - bucket start → local contact index
	persons []uint32 // the bucket's contacts, by person
	cnt     []int
	buf     []hit
}

func (t *tracer) setClose(p uint32) {
	if int(p>>6) < len(t.closeBits) {
		t.closeBits[p>>6] |= 1 << (p & 63)
	}
}

// chunks is a list of hits; chunks are reused across traces.
type chunks struct {
	cur []hit   // the chunk being filled, c[n-1] once sealed
	c   [][]hit // the chunks, the first n in use
	n   int
}

// add appends h (the fast path is inlined).
func (c *chunks) add(h hit) {
	if len(c.cur) == cap(c.cur) {
		c.next()
	}
	c.cur = c.cur[:len(c.cur)+1]
	c.cur[len(c.cur)-1] = h
}

// next starts a new chunk, twice as large as the last, up to maxChunk.
func (c *chunks) next() {
	c.seal()
	if c.n == len(c.c) {
		size := 64
		if c.n > 0 {
			size = min(2*cap(c.c[c.n-1]), maxChunk)
		}
		c.c = append(c.c, make([]hit, 0, size))
	}
	c.cur = c.c[c.n][:0]
	c.n++
}

// seal stores the chunk being filled in c.
func (c *chunks) seal() {
	if c.n > 0 {
		c.c[c.n-1] = c.cur
	}
}

// all returns the chunks in use (sealed).
func (c *chunks) all() [][]hit { return c.c[:c.n] }

func (c *chunks) len() int {
	n := 0
	for _, l := range c.all() {
		n += len(l)
	}
	return n
}

func (c *chunks) reset() {
	for i := range c.n {
		c.c[i] = c.c[i][:0]
	}
	c.n, c.cur = 0, nil
}

func (x *Index) getTracer() *tracer {
	t, _ := x.scratch.Get().(*tracer)
	if t == nil {
		t = &tracer{}
	}
	t.x = x
	persons := max(x.frozenPersons(), len(x.tailPerson))
	if n := persons/64 + 1; len(t.closeBits) < n {
		t.closeBits = make([]uint64, n)
		t.ws = nil
	}
	t.places = max(x.frozenPlaces(), len(x.tailPlace))
	if len(t.minOv) < t.places {
		t.minOv = make([]uint32, t.places)
	}
	// Buckets of 64 to 4096 persons, at most 256 of them if that allows.
	shift := minBucketShift
	for persons>>shift > 256 && shift < maxBucketShift {
		shift++
	}
	nb := persons>>shift + 1
	if w := max(1, min(runtime.GOMAXPROCS(0), 8)); len(t.ws) != w || t.shift != shift || len(t.ws[0].buckets) != nb {
		// (Re)build the workers for this many CPUs and persons.
		t.shift = shift
		t.ws = make([]*worker, w)
		for i := range t.ws {
			t.ws[i] = &worker{t: t, buckets: make([]chunks, nb), seen: make([]uint64, len(t.closeBits))}
		}
	}
	return t
}

// putTracer resets t and returns it to the pool (which the GC empties: the
// buffers of a large trace do not stay pinned for long).
func (x *Index) putTracer(t *tracer) {
	clear(t.closeBits)
	clear(t.minOv)
	t.p = Params{}
	t.x = nil
	clear(t.seeds)
	t.seeds, t.seedIdx, t.contacts = t.seeds[:0], t.seedIdx[:0], t.contacts[:0]
	for _, w := range t.ws {
		w.srcs = w.srcs[:0]
		for b := range w.buckets {
			w.buckets[b].reset()
		}
	}
	x.scratch.Put(t)
}

// parallel runs fn on every worker at once, or on the first one only.
func (t *tracer) parallel(all bool, fn func(w *worker)) {
	if !all || len(t.ws) == 1 {
		fn(t.ws[0])
		return
	}
	var wg sync.WaitGroup
	for _, w := range t.ws {
		wg.Go(func() { fn(w) })
	}
	wg.Wait()
}

// minOverlap returns the minimum overlap at place in whole seconds (≥ 1).
// Only the calling goroutine fills the cache.
func (t *tracer) minOverlap(place uint32) uint32 {
	if v := t.minOv[place]; v != 0 {
		return v - 1
	}
	d := t.p.MinOverlap(place)
	m := uint32(1)
	if d > time.Second {
		s := (d + time.Second - 1) / time.Second
		m = uint32(min(s, 1<<32-2))
	}
	t.minOv[place] = m + 1
	return m
}

// gather appends to w.srcs the live visits of person that overlap [f, q),
// clipped to it, as sources like src.
func (w *worker) gather(src source, person, f, q uint32) {
	x := w.t.x
	// Load a batch of records first (the loads overlap), then use them.
	var batch [16]crec
	var bpos [16]uint32
	for seg := x.personSeg(person); len(seg) > 0; {
		n := 0
		for _, pos := range seg[:min(len(seg), len(batch))] {
			if c := x.recs[pos]; c.to > f && c.from < q {
				batch[n], bpos[n] = c, pos
				n++
			}
		}
		seg = seg[min(len(seg), len(batch)):]
		for i, c := range batch[:n] {
			if !x.gone(c.meta >> 3) {
				src.place, src.f, src.to, src.meta = x.placeOfPos(bpos[i]), max(f, c.from), min(q, c.to), c.meta
				w.addSource(src)
			}
		}
	}
	for _, i := range x.tailPersonList(person) {
		r := x.tail[i]
		if slot := x.tailBase + i; r.to > f && r.from < q && !x.gone(slot) {
			src.place, src.f, src.to, src.meta = r.place&placeMask, max(f, r.from), min(q, r.to), metaOf(slot, r.place)
			w.addSource(src)
		}
	}
}

// addSource appends src, and a copy of it at each place near its place.
func (w *worker) addSource(src source) {
	w.srcs = append(w.srcs, src)
	for _, p := range w.t.p.Near[src.place] {
		if int(p) < w.t.places {
			src.place = p
			w.srcs = append(w.srcs, src)
		}
	}
}

// sweep groups the workers' sources by place and sweeps the places, in
// parallel for many sources.
func (t *tracer) sweep() {
	nPlaces := len(t.minOv)
	t.srcOff = slices.Grow(t.srcOff[:0], nPlaces+1)[:nPlaces+1]
	clear(t.srcOff)
	n := 0
	for _, w := range t.ws {
		for _, s := range w.srcs {
			t.srcOff[s.place+1]++
		}
		n += len(w.srcs)
	}
	for p := range nPlaces {
		if t.srcOff[p+1] > 0 {
			t.minOverlap(uint32(p)) // fill the cache: workers only read it
		}
		t.srcOff[p+1] += t.srcOff[p]
	}
	t.srcs = slices.Grow(t.srcs[:0], n)[:n]
	for _, w := range t.ws {
		for _, s := range w.srcs {
			t.srcs[t.srcOff[s.place]] = s
			t.srcOff[s.place]++
		}
		w.srcs = w.srcs[:0]
	}
	// Now srcOff[p] is the end of place p's sources (the start of p+1's).
	t.next.Store(0)
	t.parallel(n >= parallelSources, func(w *worker) {
		for {
			p0 := int(t.next.Add(placeBlock)) - placeBlock
			if p0 >= nPlaces {
				return
			}
			for p := p0; p < min(p0+placeBlock, nPlaces); p++ {
				start := uint32(0)
				if p > 0 {
					start = t.srcOff[p-1]
				}
				if end := t.srcOff[p]; start < end {
					w.sweepPlace(uint32(p), start, t.srcs[start:end])
				}
			}
		}
	})
}

// sweepPlace records the exposures at place to its sources, in time order:
// the scan of the place's records only moves forward and stays in cache.
// srcs are t.srcs[base:].
func (w *worker) sweepPlace(place, base uint32, srcs []source) {
	t := w.t
	x := t.x
	if len(srcs) > 1 {
		slices.SortFunc(srcs, func(a, b source) int { return cmp.Compare(a.f, b.f) })
	}
	m := t.minOv[place] - 1
	seg := x.placeSeg(place)
	l := x.tailPlaceList(place)
	check := len(x.withdrawn) > 0
	i := 0
	for si, s := range srcs {
		f, to := s.f, s.to
		if to-f < m {
			continue
		}
		si := base + uint32(si)
		// A visit overlapping [f, to) by m starts in [f+m-maxDur, to-m];
		// lo grows with f.
		lo, hi := x.earliest(place, f+m), to-m
		i += segFrom(seg[i:], lo)
		for j := i; j < len(seg); j++ {
			r := &seg[j]
			if r.from > hi {
				break
			}
			if p := r.person; min(to, r.to) >= max(f, r.from)+m && t.closeBits[p>>6]&(1<<(p&63)) == 0 {
				if check && x.gone(r.meta>>3) {
					continue
				}
				w.seen[p>>6] |= 1 << (p & 63)
				w.buckets[p>>t.shift].add(hit{person: p, from: max(f, r.from), to: min(to, r.to), meta: r.meta, si: si})
			}
		}
		for k := tailFrom(l, lo); k < len(l) && l[k].from <= hi; k++ {
			r := &x.tail[l[k].i]
			if p, meta := r.person, metaOf(x.tailBase+l[k].i, r.place); min(to, r.to) >= max(f, r.from)+m &&
				t.closeBits[p>>6]&(1<<(p&63)) == 0 && !x.gone(meta>>3) {
				w.seen[p>>6] |= 1 << (p & 63)
				w.buckets[p>>t.shift].add(hit{person: p, from: max(f, r.from), to: min(to, r.to), meta: meta, si: si})
			}
		}
	}
}

// cmpHit orders the hits of one contact as their exposures are ordered.
func (t *tracer) cmpHit(a, b *hit) int {
	if a.from != b.from {
		return cmp.Compare(a.from, b.from)
	}
	if a.si == b.si {
		if a.meta>>3 != b.meta>>3 {
			return cmp.Compare(a.meta>>3, b.meta>>3)
		}
		return cmp.Compare(a.to, b.to)
	}
	sa, sb := &t.srcs[a.si], &t.srcs[b.si]
	switch {
	case sa.place != sb.place:
		return cmp.Compare(sa.place, sb.place)
	case sa.meta>>3 != sb.meta>>3:
		return cmp.Compare(sa.meta>>3, sb.meta>>3)
	case a.meta>>3 != b.meta>>3:
		return cmp.Compare(a.meta>>3, b.meta>>3)
	case sa.root == sb.root && sa.via == sb.via:
		return cmp.Compare(a.to, b.to)
	}
	if c := strings.Compare(t.seeds[sa.root].Case, t.seeds[sb.root].Case); c != 0 {
		return c
	}
	if c := cmp.Compare(sa.via, sb.via); c != 0 {
		return c
	}
	return cmp.Compare(a.to, b.to)
}

// sortHits sorts one contact's hits. The start decides most comparisons,
// and is compared inline.
func (t *tracer) sortHits(hs []hit) {
	if len(hs) > 16 {
		slices.SortFunc(hs, func(a, b hit) int {
			if a.from != b.from {
				return cmp.Compare(a.from, b.from)
			}
			return t.cmpHit(&a, &b)
		})
		return
	}
	for i := 1; i < len(hs); i++ {
		h := hs[i]
		j := i
		for ; j > 0; j-- {
			if f := hs[j-1].from; f < h.from || f == h.from && t.cmpHit(&hs[j-1], &h) <= 0 {
				break
			}
			hs[j] = hs[j-1]
		}
		hs[j] = h
	}
}

// build turns the workers' hits into contacts of degree deg, bucket by
// bucket (in parallel for many hits), and empties the buckets. It returns
// them by person, after skip zero Contacts (room for the caller's). For
// degree 1 it also sets t.contacts and marks the close contacts in
// closeBits.
func (t *tracer) build(deg, skip int) []Contact {
	nb := len(t.ws[0].buckets)
	for _, w := range t.ws {
		for b := range w.buckets {
			w.buckets[b].seal()
		}
	}
	// Per bucket: its hits, and its first contact in the result.
	hits := make([]int, nb)
	off := make([]int, nb+1)
	off[0] = skip
	total := 0
	for b := range nb {
		for _, w := range t.ws {
			hits[b] += w.buckets[b].len()
		}
		total += hits[b]
		off[b+1] = off[b]
		if hits[b] > 0 {
			off[b+1] += t.bucketCount(b)
		}
	}
	out := make([]Contact, off[nb])
	if deg == 1 {
		t.contacts = slices.Grow(t.contacts[:0], off[nb])[:off[nb]]
	}
	t.next.Store(0)
	t.parallel(total >= parallelHits, func(w *worker) {
		for {
			b := int(t.next.Add(1)) - 1
			if b >= nb {
				return
			}
			if hits[b] > 0 {
				w.bucket(b, hits[b], deg, out, off[b])
			}
		}
	})
	for _, w := range t.ws {
		for b := range w.buckets {
			w.buckets[b].reset()
		}
		clear(w.seen)
	}
	if deg == 1 {
		for _, c := range t.contacts {
			t.setClose(c.person)
		}
	}
	return out
}

// bucketWords calls fn with each word of the union of the workers' seen
// bits over bucket b, masked to the bucket, and the number of its first
// person.
func (t *tracer) bucketWords(b int, fn func(word uint64, base uint32)) {
	p0 := uint32(b) << t.shift
	p1 := min(p0+1<<t.shift, uint32(len(t.closeBits)*64))
	for i := p0 >> 6; i <= (p1-1)>>6; i++ {
		var word uint64
		for _, w := range t.ws {
			word |= w.seen[i]
		}
		// Keep the bits of [p0, p1) only (a bucket can be under 64 persons).
		if lo := p0 - i*64; p0 > i*64 {
			word &^= 1<<lo - 1
		}
		if hi := p1 - i*64; hi < 64 {
			word &= 1<<hi - 1
		}
		if word != 0 {
			fn(word, i*64)
		}
	}
}

// bucketCount returns the number of persons in bucket b with hits.
func (t *tracer) bucketCount(b int) int {
	n := 0
	t.bucketWords(b, func(word uint64, _ uint32) { n += bits.OnesCount64(word) })
	return n
}

// bucketPersons calls fn with every person in bucket b with hits, in order.
func (t *tracer) bucketPersons(b int, fn func(p uint32)) {
	t.bucketWords(b, func(word uint64, base uint32) {
		for word != 0 {
			fn(base + uint32(bits.TrailingZeros64(word)))
			word &= word - 1
		}
	})
}

// bucket builds the contacts of degree deg in bucket b (with n hits) into
// out[at:], by person. Their exposures are allocated per bucket: zeroed then
// filled while in cache, and on every worker. For degree 1 it also records
// the close contacts in t.contacts, at the same positions.
func (w *worker) bucket(b, n, deg int, out []Contact, at int) {
	t := w.t
	p0 := b << t.shift
	size := 1 << t.shift
	if len(w.loc) < size {
		w.loc = make([]int32, size)
	}
	loc := w.loc[:size]
	w.persons = w.persons[:0]
	t.bucketPersons(b, func(p uint32) {
		loc[int(p)-p0] = int32(len(w.persons))
		w.persons = append(w.persons, p)
	})
	// Counting sort of the bucket's hits by contact.
	np := len(w.persons)
	w.cnt = slices.Grow(w.cnt[:0], np+1)[:np+1]
	clear(w.cnt)
	for _, o := range t.ws {
		for _, l := range o.buckets[b].all() {
			for i := range l {
				w.cnt[loc[int(l[i].person)-p0]+1]++
			}
		}
	}
	for i := range np {
		w.cnt[i+1] += w.cnt[i]
	}
	if cap(w.buf) < n {
		w.buf = make([]hit, n)
	}
	buf := w.buf[:n]
	next := w.cnt[:np] // next[i] ends as the end of contact i's hits
	for _, o := range t.ws {
		for _, l := range o.buckets[b].all() {
			for i := range l {
				j := loc[int(l[i].person)-p0]
				buf[next[j]] = l[i]
				next[j]++
			}
		}
	}
	exps := make([]Exposure, n)
	start := 0
	for i, p := range w.persons {
		end := w.cnt[i]
		hs := buf[start:end]
		t.sortHits(hs)
		e := exps[start:end]
		k := 0
		for j := range hs {
			if j > 0 && t.cmpHit(&hs[j], &hs[j-1]) == 0 {
				continue // an identical exposure (a duplicated seed)
			}
			t.exposure(&e[k], &hs[j])
			k++
		}
		c := &out[at+i]
		c.Person, c.Degree, c.Exposures = p, deg, e[:k:k]
		if deg == 1 {
			t.contacts[at+i] = tcontact{person: p, first: hs[0].from, root: t.srcs[hs[0].si].root}
		}
		start = end
	}
}

// exposure fills e from h.
func (t *tracer) exposure(e *Exposure, h *hit) {
	x := t.x
	s := &t.srcs[h.si]
	*e = Exposure{Place: s.place, From: h.from, To: h.to, Seed: t.seedIdx[s.root], Via: s.via,
		Visit: x.seqOf(h.meta >> 3), SourceVisit: x.seqOf(s.meta >> 3), Unverified: (h.meta|s.meta)&1 != 0}
}
