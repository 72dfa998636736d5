// Package trace holds the in-memory visit index (place × time → visits,
// person × time → visits) that contact tracing and the risk-area rules read.
package trace

import (
	"sort"
	"time"

	"healthcode/internal/health"
)

// rec is one visit in 16 bytes. The top three bits of place carry the source
// (two bits) and the unverified flag.
type rec struct {
	person uint32
	place  uint32
	from   uint32 // health.Sec
	to     uint32 // health.Sec
}

const (
	placeMask     = 1<<29 - 1
	unverifiedBit = 1 << 29
	sourceShift   = 30
	maxPlaceIndex = placeMask
)

// run maps a stretch of consecutive slots to consecutive event sequence
// numbers: slot s in [slot, next run's slot) has seq = seq + (s - slot).
type run struct {
	slot uint32
	seq  uint64
}

// Index is the visit index. It is not safe for concurrent use: the node
// guards it with its view lock (many readers or one writer).
type Index struct {
	visits   []rec
	runs     []run
	byPerson [][]uint32
	byPlace  [][]uint32
}

// New returns an empty index.
func New() *Index { return &Index{} }

// Len returns the number of visits indexed.
func (x *Index) Len() int { return len(x.visits) }

// Add indexes a visit. Visits must be added in increasing Seq order; a place
// index above 2^29-1 is ignored (it cannot be encoded).
func (x *Index) Add(v health.Visit) {
	if v.Place > maxPlaceIndex || v.Seq == 0 {
		return
	}
	slot := uint32(len(x.visits))
	p := v.Place | uint32(v.Source&3)<<sourceShift
	if v.Unverified {
		p |= unverifiedBit
	}
	x.visits = append(x.visits, rec{person: v.Person, place: p, from: health.Sec(v.From), to: health.Sec(v.To)})
	if n := len(x.runs); n == 0 || x.runs[n-1].seq+uint64(slot-x.runs[n-1].slot) != v.Seq {
		x.runs = append(x.runs, run{slot: slot, seq: v.Seq})
	}
	x.byPerson = grow(x.byPerson, v.Person)
	x.byPerson[v.Person] = append(x.byPerson[v.Person], slot)
	x.byPlace = grow(x.byPlace, v.Place)
	x.byPlace[v.Place] = append(x.byPlace[v.Place], slot)
}

func grow(lists [][]uint32, i uint32) [][]uint32 {
	if int(i) < len(lists) {
		return lists
	}
	n := int(i) + 1
	if n < 2*len(lists) {
		n = 2 * len(lists)
	}
	out := make([][]uint32, n)
	copy(out, lists)
	return out
}

// seqOf returns the event sequence number of the visit in slot.
func (x *Index) seqOf(slot uint32) uint64 {
	i := sort.Search(len(x.runs), func(i int) bool { return x.runs[i].slot > slot }) - 1
	r := x.runs[i]
	return r.seq + uint64(slot-r.slot)
}

func (x *Index) visit(slot uint32) health.Visit {
	r := x.visits[slot]
	return health.Visit{
		Seq:        x.seqOf(slot),
		Person:     r.person,
		Place:      r.place & placeMask,
		From:       health.FromSec(r.from),
		To:         health.FromSec(r.to),
		Source:     health.VisitSource(r.place >> sourceShift),
		Unverified: r.place&unverifiedBit != 0,
	}
}

// overlaps reports whether the visit in slot overlaps [from, to).
func (x *Index) overlaps(slot, from, to uint32) bool {
	r := x.visits[slot]
	return r.to > from && r.from < to
}

// ByPerson returns the person's visits that overlap [from, to), in the order
// they were recorded.
func (x *Index) ByPerson(person uint32, from, to time.Time) []health.Visit {
	if int(person) >= len(x.byPerson) {
		return nil
	}
	return x.collect(x.byPerson[person], health.Sec(from), health.Sec(to))
}

// ByPlace returns the visits to place that overlap [from, to), in the order
// they were recorded.
func (x *Index) ByPlace(place uint32, from, to time.Time) []health.Visit {
	if int(place) >= len(x.byPlace) {
		return nil
	}
	return x.collect(x.byPlace[place], health.Sec(from), health.Sec(to))
}

// PersonsAtPlace calls fn for every person with a visit to place that
// overlaps [from, to); a person may be reported more than once.
func (x *Index) PersonsAtPlace(place uint32, from, to time.Time, fn func(person uint32)) {
	if int(place) >= len(x.byPlace) {
		return
	}
	f, t := health.Sec(from), health.Sec(to)
	for _, s := range x.byPlace[place] {
		if x.overlaps(s, f, t) {
			fn(x.visits[s].person)
		}
	}
}

func (x *Index) collect(slots []uint32, from, to uint32) []health.Visit {
	var out []health.Visit
	for _, s := range slots {
		if x.overlaps(s, from, to) {
			out = append(out, x.visit(s))
		}
	}
	return out
}

// MemBytes estimates the bytes the index holds: visit records, slot lists
// (by capacity) and list headers.
func (x *Index) MemBytes() int {
	n := cap(x.visits)*16 + cap(x.runs)*16 + (cap(x.byPerson)+cap(x.byPlace))*24
	for _, l := range x.byPerson {
		n += cap(l) * 4
	}
	for _, l := range x.byPlace {
		n += cap(l) * 4
	}
	return n
}
