// Package trace holds the in-memory visit index (place × time → visits,
// person × time → visits) that contact tracing and the risk-area rules read.
//
// # Layout
//
// The index has two parts:
//
//   - The compacted part, built by Compact: every visit once, as a 16-byte
//     record, grouped by place (CSR: placeOff[p]..placeOff[p+1]) and sorted
//     by start time within a place, plus one shared array of record positions
//     grouped by person (CSR: personOff) in recorded order. That is 20 bytes
//     per visit plus 4 bytes per person and 8 per place.
//   - The tail: visits added since the last Compact, in arrival order, with
//     per-person and per-place lists (the per-place lists hold each visit's
//     start too, and are kept sorted by it on Add). It costs about 36 bytes
//     per visit.
//
// Queries read both parts. A place scan searches the time window in both
// (interpolation search in the compacted part, binary search in the tail):
// a visit at place p lasts at most maxDur[p], so the window [from, to) only
// needs the records that start in [from-maxDur[p], to).
//
// Every visit has a slot: its rank in arrival order. Slots map to event
// sequence numbers through a run-length table; Compact renumbers slots to
// close the gaps left by withdrawn visits.
package trace

import (
	"slices"
	"sort"
	"sync"
	"time"

	"healthcode/internal/health"
)

// rec is one tail visit in 16 bytes. The top three bits of place carry the
// source (two bits) and the unverified flag.
type rec struct {
	person uint32
	place  uint32
	from   uint32 // health.Sec
	to     uint32 // health.Sec
}

// crec is one compacted visit in 16 bytes. The place is implied by the
// record's position; meta is slot<<3 | source<<1 | unverified.
type crec struct {
	person uint32
	meta   uint32
	from   uint32
	to     uint32
}

const (
	placeMask     = 1<<29 - 1
	unverifiedBit = 1 << 29
	sourceShift   = 30
	maxPlaceIndex = placeMask
	// maxSlots bounds the number of visits (a slot has 29 bits in crec.meta).
	maxSlots = 1 << 29
	dropped  = ^uint32(0)
)

// metaOf packs a slot and a tail record's flags into crec.meta form.
func metaOf(slot, place uint32) uint32 {
	return slot<<3 | (place>>sourceShift)<<1 | (place>>29)&1
}

// tref is a tail visit in a place's list: its start (so that keeping the
// list sorted and searching it read the list only) and its tail index.
type tref struct {
	from uint32
	i    uint32
}

// run maps a stretch of consecutive slots to consecutive event sequence
// numbers: slot s in [slot, next run's slot) has seq = seq + (s - slot).
type run struct {
	slot uint32
	seq  uint64
}

// Index is the visit index. Add, Withdraw and Compact are writes; everything
// else, Trace included, is a read. Reads may run concurrently with each
// other, never with a write: the node guards the index with its view lock
// (many readers or one writer).
type Index struct {
	// compacted part
	recs      []crec   // grouped by place, each group sorted by (from, slot)
	placeOff  []uint32 // len = compacted places + 1, or 0
	personOff []uint32 // len = compacted persons + 1, or 0
	personPos []uint32 // positions in recs, grouped by person, in slot order

	// tail: visits since the last Compact, slot = tailBase + index
	tail       []rec
	tailBase   uint32
	tailPerson [][]uint32 // tail indices, in slot order
	tailPlace  [][]tref   // sorted by (from, slot)

	runs      []run
	maxDur    []uint32 // per place: the longest visit (to - from) seen there
	withdrawn []uint32 // sorted slots withdrawn since the last Compact
	live      int

	scratch sync.Pool // *tracer scratch space, reused across Trace calls
}

// New returns an empty index.
func New() *Index { return &Index{} }

// Len returns the number of visits indexed (withdrawn ones excluded).
func (x *Index) Len() int { return x.live }

// Add indexes a visit. Visits must be added in increasing Seq order; a place
// index above 2^29-1 is ignored (it cannot be encoded), as is a visit with
// Seq 0. A visit whose To is before its From is indexed as an instant at
// From. Add panics past 2^29-1 visits.
func (x *Index) Add(v health.Visit) {
	if v.Place > maxPlaceIndex || v.Seq == 0 {
		return
	}
	slot := x.tailBase + uint32(len(x.tail))
	if slot >= maxSlots-1 {
		panic("trace: index full (2^29-1 visits)")
	}
	from, to := health.Sec(v.From), health.Sec(v.To)
	if to < from {
		to = from
	}
	p := v.Place | uint32(v.Source&3)<<sourceShift
	if v.Unverified {
		p |= unverifiedBit
	}
	i := uint32(len(x.tail))
	x.tail = append(x.tail, rec{person: v.Person, place: p, from: from, to: to})
	if n := len(x.runs); n == 0 || x.runs[n-1].seq+uint64(slot-x.runs[n-1].slot) != v.Seq {
		x.runs = append(x.runs, run{slot: slot, seq: v.Seq})
	}
	x.tailPerson = grow(x.tailPerson, v.Person)
	x.tailPerson[v.Person] = append(x.tailPerson[v.Person], i)
	x.tailPlace = grow(x.tailPlace, v.Place)
	l := x.tailPlace[v.Place]
	if n := len(l); n == 0 || l[n-1].from <= from {
		l = append(l, tref{from, i})
	} else {
		// Out of time order: insert after the last visit starting at or
		// before from (equal starts stay in slot order). It is usually
		// among the last few.
		k := n - 1
		for k > 0 && n-k < 8 && l[k-1].from > from {
			k--
		}
		if k > 0 && l[k-1].from > from {
			k = sort.Search(k, func(j int) bool { return l[j].from > from })
		}
		l = slices.Insert(l, k, tref{from, i})
	}
	x.tailPlace[v.Place] = l
	if int(v.Place) >= len(x.maxDur) {
		x.maxDur = slices.Grow(x.maxDur, int(v.Place)+1-len(x.maxDur))[:v.Place+1]
	}
	if d := to - from; d > x.maxDur[v.Place] {
		x.maxDur[v.Place] = d
	}
	x.live++
}

func grow[T any](lists [][]T, i uint32) [][]T {
	if int(i) < len(lists) {
		return lists
	}
	n := int(i) + 1
	if n < 2*len(lists) {
		n = 2 * len(lists)
	}
	out := make([][]T, n)
	copy(out, lists)
	return out
}

// Withdraw removes the visit recorded by event seq from the index (a
// trajectory version replaced by a newer one): no query reports it any more.
// It reports whether there was such a visit. The record's memory is
// reclaimed at the next Compact. Withdraw is a write.
func (x *Index) Withdraw(seq uint64) bool {
	slot, ok := x.slotOf(seq)
	if !ok {
		return false
	}
	k, found := slices.BinarySearch(x.withdrawn, slot)
	if found {
		return false
	}
	x.withdrawn = slices.Insert(x.withdrawn, k, slot)
	x.live--
	return true
}

// slots returns the number of slots in use.
func (x *Index) slots() uint32 { return x.tailBase + uint32(len(x.tail)) }

// slotOf returns the slot of the visit with event sequence number seq.
func (x *Index) slotOf(seq uint64) (uint32, bool) {
	i := sort.Search(len(x.runs), func(i int) bool { return x.runs[i].seq > seq }) - 1
	if i < 0 {
		return 0, false
	}
	r := x.runs[i]
	end := x.slots()
	if i+1 < len(x.runs) {
		end = x.runs[i+1].slot
	}
	if d := seq - r.seq; d < uint64(end-r.slot) {
		return r.slot + uint32(d), true
	}
	return 0, false
}

// seqOf returns the event sequence number of the visit in slot.
func (x *Index) seqOf(slot uint32) uint64 {
	runs := x.runs
	if n := len(runs); runs[n-1].slot <= slot {
		return runs[n-1].seq + uint64(slot-runs[n-1].slot)
	}
	lo, hi := 0, len(runs)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if runs[h].slot <= slot {
			lo = h + 1
		} else {
			hi = h
		}
	}
	r := runs[lo-1]
	return r.seq + uint64(slot-r.slot)
}

// gone reports whether slot was withdrawn since the last Compact.
func (x *Index) gone(slot uint32) bool {
	if len(x.withdrawn) == 0 {
		return false
	}
	_, found := slices.BinarySearch(x.withdrawn, slot)
	return found
}

func (x *Index) frozenPlaces() int  { return max(len(x.placeOff)-1, 0) }
func (x *Index) frozenPersons() int { return max(len(x.personOff)-1, 0) }

// placeSeg returns the compacted records of place, sorted by (from, slot).
func (x *Index) placeSeg(place uint32) []crec {
	if int(place) >= x.frozenPlaces() {
		return nil
	}
	return x.recs[x.placeOff[place]:x.placeOff[place+1]]
}

// personSeg returns the positions in recs of person's compacted visits.
func (x *Index) personSeg(person uint32) []uint32 {
	if int(person) >= x.frozenPersons() {
		return nil
	}
	return x.personPos[x.personOff[person]:x.personOff[person+1]]
}

func (x *Index) tailPersonList(person uint32) []uint32 {
	if int(person) >= len(x.tailPerson) {
		return nil
	}
	return x.tailPerson[person]
}

func (x *Index) tailPlaceList(place uint32) []tref {
	if int(place) >= len(x.tailPlace) {
		return nil
	}
	return x.tailPlace[place]
}

// placeOfPos returns the place of the compacted record at pos.
func (x *Index) placeOfPos(pos uint32) uint32 {
	off := x.placeOff
	lo, hi := 0, len(off)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if off[h] <= pos {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return uint32(lo - 1)
}

// earliest returns the smallest start a visit at place overlapping an
// interval that starts at from can have.
func (x *Index) earliest(place, from uint32) uint32 {
	var d uint32
	if int(place) < len(x.maxDur) {
		d = x.maxDur[place]
	}
	if from <= d {
		return 0
	}
	return from - d
}

// segFrom returns the first index in seg whose record starts at or after f.
// Starts are spread fairly evenly over a place's history, so it guesses the
// index by interpolation, then gallops and bisects from there.
func segFrom(seg []crec, f uint32) int {
	n := len(seg)
	if n == 0 || seg[0].from >= f {
		return 0
	}
	first, last := seg[0].from, seg[n-1].from
	if last < f {
		return n
	}
	// Now seg[0].from < f ≤ seg[n-1].from: the answer is in [1, n-1]. Find
	// lo < hi with seg[lo].from < f ≤ seg[hi].from around the guess g.
	g := int(uint64(f-first) * uint64(n-1) / uint64(last-first))
	lo, hi := 0, n-1
	if seg[g].from < f {
		lo = g
		for step := 1; lo+step < hi; step *= 2 {
			if seg[lo+step].from >= f {
				hi = lo + step
				break
			}
			lo += step
		}
	} else {
		hi = g
		for step := 1; hi-step > lo; step *= 2 {
			if seg[hi-step].from < f {
				lo = hi - step
				break
			}
			hi -= step
		}
	}
	for hi-lo > 1 {
		h := int(uint(lo+hi) >> 1)
		if seg[h].from < f {
			lo = h
		} else {
			hi = h
		}
	}
	return hi
}

// tailFrom returns the first index in the tail list l whose visit starts at
// or after f.
func tailFrom(l []tref, f uint32) int {
	lo, hi := 0, len(l)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if l[h].from < f {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}

func (x *Index) visitOf(place uint32, c crec) health.Visit {
	return health.Visit{
		Seq:        x.seqOf(c.meta >> 3),
		Person:     c.person,
		Place:      place,
		From:       health.FromSec(c.from),
		To:         health.FromSec(c.to),
		Source:     health.VisitSource(c.meta >> 1 & 3),
		Unverified: c.meta&1 != 0,
	}
}

func (x *Index) tailVisit(i uint32) health.Visit {
	r := x.tail[i]
	return x.visitOf(r.place&placeMask, crec{person: r.person, meta: metaOf(x.tailBase+i, r.place), from: r.from, to: r.to})
}

// ByPerson returns the person's visits that overlap [from, to), in the order
// they were recorded.
func (x *Index) ByPerson(person uint32, from, to time.Time) []health.Visit {
	f, t := health.Sec(from), health.Sec(to)
	var out []health.Visit
	for _, pos := range x.personSeg(person) {
		c := x.recs[pos]
		if c.to > f && c.from < t && !x.gone(c.meta>>3) {
			out = append(out, x.visitOf(x.placeOfPos(pos), c))
		}
	}
	for _, i := range x.tailPersonList(person) {
		r := x.tail[i]
		if r.to > f && r.from < t && !x.gone(x.tailBase+i) {
			out = append(out, x.tailVisit(i))
		}
	}
	return out
}

// ByPlace returns the visits to place that overlap [from, to), in the order
// they were recorded.
func (x *Index) ByPlace(place uint32, from, to time.Time) []health.Visit {
	var out []health.Visit
	x.atPlace(place, health.Sec(from), health.Sec(to), func(c crec) {
		out = append(out, x.visitOf(place, c))
	})
	slices.SortFunc(out, func(a, b health.Visit) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out
}

// PersonsAtPlace calls fn for every person with a visit to place that
// overlaps [from, to), in no particular order; a person may be reported more
// than once.
func (x *Index) PersonsAtPlace(place uint32, from, to time.Time, fn func(person uint32)) {
	x.atPlace(place, health.Sec(from), health.Sec(to), func(c crec) { fn(c.person) })
}

// atPlace calls fn with every live visit to place that overlaps [f, t), in
// crec form (a tail visit's meta carries its slot and flags).
func (x *Index) atPlace(place, f, t uint32, fn func(crec)) {
	lo := x.earliest(place, f)
	seg := x.placeSeg(place)
	for i := segFrom(seg, lo); i < len(seg) && seg[i].from < t; i++ {
		if c := seg[i]; c.to > f && !x.gone(c.meta>>3) {
			fn(c)
		}
	}
	l := x.tailPlaceList(place)
	for k := tailFrom(l, lo); k < len(l) && l[k].from < t; k++ {
		r := x.tail[l[k].i]
		if slot := x.tailBase + l[k].i; r.to > f && !x.gone(slot) {
			fn(crec{person: r.person, meta: metaOf(slot, r.place), from: r.from, to: r.to})
		}
	}
}

// TailLen returns the number of visit slots added since the last Compact
// (the uncompacted part), so the owner can decide when to compact.
func (x *Index) TailLen() int { return len(x.tail) }

// Compact moves the tail into the compacted part and drops withdrawn
// visits, so that the index holds 20 bytes per visit (plus 4 bytes per
// person and 8 per place). Every query gives the same answers before and
// after.
//
// The contract: Compact is a write (the exclusive lock, like Add). The node
// calls it once after its start-up replay, and then from time to time, for
// example when the tail (Len minus the visits at the last Compact) passes a
// few percent of the index or on a timer. Visits added in between go to the
// tail, about 36 bytes each (plus 24 bytes per person up to the highest
// person added, once), and every query finds them at once. Compact costs
// O(Len) time and, while it runs, about as much memory again as the index:
// at 21M visits (1M persons, 20k places) about 1.5 s from an all-tail index
// and 0.7 s to fold 1% more into a compacted one, on the 2-CPU benchmark
// machine.
func (x *Index) Compact() {
	if len(x.tail) == 0 && len(x.withdrawn) == 0 {
		return
	}
	nPlaces := max(x.frozenPlaces(), used(x.tailPlace))
	nPersons := max(x.frozenPersons(), used(x.tailPerson))
	wd := x.withdrawn
	renum := func(slot uint32) uint32 {
		if len(wd) == 0 {
			return slot
		}
		k, _ := slices.BinarySearch(wd, slot)
		return slot - uint32(k)
	}

	// Place pass: each place's compacted and tail visits merged by (from,
	// slot) (compacted slots precede tail slots); the compacted records are
	// copied, the tail ones only given their new position (reading the tail
	// in place order would be a cache miss per visit).
	recs := make([]crec, x.live)
	placeOff := make([]uint32, nPlaces+1)
	maxDur := make([]uint32, nPlaces)
	remapF := make([]uint32, len(x.recs)) // old position → new position
	remapT := make([]uint32, len(x.tail)) // tail index → new position
	pos := uint32(0)
	for p := range nPlaces {
		placeOff[p] = pos
		var base uint32
		seg := x.placeSeg(uint32(p))
		if len(seg) > 0 {
			base = x.placeOff[p]
		}
		l := x.tailPlaceList(uint32(p))
		i, j := 0, 0
		for i < len(seg) || j < len(l) {
			if j == len(l) || (i < len(seg) && seg[i].from <= l[j].from) {
				c := seg[i]
				if x.gone(c.meta >> 3) {
					remapF[base+uint32(i)] = dropped
				} else {
					remapF[base+uint32(i)] = pos
					c.meta = renum(c.meta>>3)<<3 | c.meta&7
					recs[pos] = c
					maxDur[p] = max(maxDur[p], c.to-c.from)
					pos++
				}
				i++
				continue
			}
			if t := l[j].i; x.gone(x.tailBase + t) {
				remapT[t] = dropped
			} else {
				remapT[t] = pos
				pos++
			}
			j++
		}
	}
	placeOff[nPlaces] = pos
	// Tail pass, in arrival order: the tail records to their positions.
	for t, r := range x.tail {
		if np := remapT[t]; np != dropped {
			recs[np] = crec{person: r.person, meta: renum(x.tailBase+uint32(t))<<3 | metaOf(0, r.place), from: r.from, to: r.to}
			p := r.place & placeMask
			maxDur[p] = max(maxDur[p], r.to-r.from)
		}
	}

	// Person lists: the compacted visits (in slot order), then the tail
	// ones (in arrival order).
	personOff := make([]uint32, nPersons+1)
	for _, c := range recs {
		personOff[c.person+1]++
	}
	for u := range nPersons {
		personOff[u+1] += personOff[u]
	}
	personPos := make([]uint32, len(recs))
	next := slices.Clone(personOff[:nPersons])
	for u := range x.frozenPersons() {
		for _, old := range x.personSeg(uint32(u)) {
			if np := remapF[old]; np != dropped {
				personPos[next[u]] = np
				next[u]++
			}
		}
	}
	for t, r := range x.tail {
		if np := remapT[t]; np != dropped {
			personPos[next[r.person]] = np
			next[r.person]++
		}
	}

	x.runs = x.renumberRuns()
	x.recs, x.placeOff, x.personOff, x.personPos, x.maxDur = recs, placeOff, personOff, personPos, maxDur
	x.tail, x.tailPerson, x.tailPlace, x.withdrawn = nil, nil, nil, nil
	x.tailBase = uint32(len(recs))
}

// used returns the length of lists without its trailing empty lists.
func used[T any](lists [][]T) int {
	n := len(lists)
	for n > 0 && len(lists[n-1]) == 0 {
		n--
	}
	return n
}

// renumberRuns returns the run table for the slots left once the withdrawn
// ones are dropped and the rest renumbered densely.
func (x *Index) renumberRuns() []run {
	wd := x.withdrawn
	if len(wd) == 0 {
		return slices.Clone(x.runs)
	}
	total := x.slots()
	var out []run
	w := 0
	for ri, r := range x.runs {
		end := total
		if ri+1 < len(x.runs) {
			end = x.runs[ri+1].slot
		}
		for cur := r.slot; cur < end; {
			for w < len(wd) && wd[w] < cur {
				w++
			}
			stop := end
			if w < len(wd) && wd[w] < end {
				stop = wd[w]
			}
			if stop > cur {
				ns, sq := cur-uint32(w), r.seq+uint64(cur-r.slot)
				if n := len(out); n == 0 || out[n-1].seq+uint64(ns-out[n-1].slot) != sq {
					out = append(out, run{slot: ns, seq: sq})
				}
			}
			cur = stop
			if stop < end {
				cur = stop + 1
			}
		}
	}
	return slices.Clip(out)
}

// MemBytes returns the bytes the index holds: records, position and offset
// arrays, the tail's records and slot lists (by capacity) and list headers,
// the run table and the per-place bounds.
func (x *Index) MemBytes() int {
	n := cap(x.recs)*16 + (cap(x.placeOff)+cap(x.personOff)+cap(x.personPos))*4 +
		cap(x.tail)*16 + (cap(x.tailPerson)+cap(x.tailPlace))*24 +
		cap(x.runs)*16 + (cap(x.maxDur)+cap(x.withdrawn))*4
	for _, l := range x.tailPerson {
		n += cap(l) * 4
	}
	for _, l := range x.tailPlace {
		n += cap(l) * 8
	}
	return n
}
