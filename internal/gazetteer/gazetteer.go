// Package gazetteer finds places from the way a patient described them, for
// epidemiological investigators (流调). An investigator types what the
// patient said, in Chinese characters, pinyin, pinyin initials or a mix
// ("海底捞 天河", "haidilao tianhe", "hdl tianhe", "海底捞 tianhe"), and
// optionally where the patient was; the [Index] returns ranked candidate
// places, with distances when the query has coordinates.
//
// # Matching
//
// Text is folded first: full-width ASCII to ASCII, upper to lower case, ü to
// v. Every name and alias is then cut into units: one per Han character and
// one per run of letters or of digits; brackets, punctuation and spaces only
// separate. Each unit has readings: the toneless pinyin of a Han character
// (two at most for a heteronym, 多音字), or the word or number itself.
//
// An inverted index maps keys of the units to the places that have them:
// Han characters and pairs of adjacent ones, readings, pairs of adjacent
// readings (the joined pinyin, "hai di") and pairs of their initials ("h d").
// A query is cut into tokens the same way. A Han token gives its character
// pairs, and the pinyin pairs of those to find homophones; a latin token is
// split into the fewest readings, initials and a cut-short last syllable
// ("haidilao" is hai-di-lao, "hdl" is h-d-l), which give reading pairs or
// initial pairs. Keys, weighted by rarity, shortlist a few dozen places.
//
// Each shortlisted place is then scored exactly against each of its names:
// a Han token by the character pairs it shares with the name, a homophone
// earning partial credit; a latin token by reading it as a run of adjacent
// units of the name, each typed in full, as its initial, or, for the last,
// cut short. The score, from 0 to 1, adds the share of the query matched, the
// share of the name matched, a bonus when the first token matches the start
// of the name and one when query and name match completely. With
// coordinates, a quarter of it decays with distance: 1/(1 + d/1 km).
//
// Distances are great-circle (haversine) distances on a sphere of radius
// 6371008.8 m. A grid of 0.01° cells answers queries with coordinates and
// no text; it does not wrap at ±180°.
//
// Places added with [Index.Add] are searchable at once. An Index is safe
// for concurrent use.
package gazetteer

import (
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Limits on queries.
const (
	// DefaultLimit is the most candidates returned when Query.Limit is 0.
	DefaultLimit = 10
	// MaxLimit is the most candidates a search returns.
	MaxLimit = 100
	// DefaultRadiusM is the search radius, in metres, of a query with
	// coordinates, no text and no RadiusM.
	DefaultRadiusM = 2000
	// MaxNearbyRadiusM caps the radius, in metres, of a query with
	// coordinates and no text.
	MaxNearbyRadiusM = 50000
)

// Place is a place that patients may name.
type Place struct {
	ID      uint32   // chosen by the caller; adding a place with the same ID replaces it
	Name    string   // official name, e.g. "海底捞(天河店)"
	Aliases []string // other names in use, e.g. "中山一院"
	Region  string   // 6-digit GB/T 2260 county code, e.g. "440106"
	Lat     float64  // WGS-84 degrees; Lat and Lng both 0 means unknown
	Lng     float64
	Kind    string // free-form category, e.g. "restaurant"; not searched
}

// Query describes a place as a patient did.
type Query struct {
	// Text is the description: Chinese, pinyin, pinyin initials or a mix.
	Text string
	// Lat and Lng are where the patient was, if HasCoords.
	Lat, Lng  float64
	HasCoords bool
	// RadiusM is a distance in metres. Without Text it is the search radius
	// (DefaultRadiusM when 0, at most MaxNearbyRadiusM); with Text, a
	// RadiusM above 0 drops places farther away or without coordinates.
	RadiusM float64
	// Region, if set, keeps places whose region code starts with it, e.g.
	// "4401" for Guangzhou.
	Region string
	// Limit is the most candidates to return: DefaultLimit when 0 or less,
	// at most MaxLimit.
	Limit int
}

// Candidate is a place that may be the one described.
type Candidate struct {
	ID        uint32
	Name      string
	Score     float64 // 0 to 1, higher is better
	DistanceM float64 // metres from the query's coordinates, or -1 when unknown
	Matched   string  // the name or alias that matched the text, "" without text
}

// Index is a searchable set of places. The zero value is not usable; call
// [New]. It is safe for concurrent use.
type Index struct {
	mu       sync.RWMutex
	docs     []doc               // places by slot
	hot      []hot               // what filters read, by slot
	size     []uint8             // units in the name (or first alias), by slot
	slots    map[uint32]uint32   // Place.ID → slot
	postings map[uint64][]uint32 // key → slots, in no order
	cells    map[uint64][]uint32 // grid cell → slots of places in it
	py       syllables           // readings of units
	interned map[string]string   // shared copies of Region and Kind strings
	keyBuf   []uint64            // scratch for Add, guarded by mu
	scratch  sync.Pool           // *scratch for Search
}

// doc is an indexed place.
type doc struct {
	Place
	// units holds the units of the name and of each alias that differs
	// from those before it, each followed by a unit{r: variantEnd, set: i}
	// where i is 0 for the name and j+1 for Aliases[j].
	units []unit
}

// variantEnd marks the end of the units of a name or alias in doc.units.
const variantEnd rune = -1

// variants yields the units of the name and aliases of d, with 0 for the
// name and j+1 for Aliases[j].
func (d *doc) variants() iter.Seq2[int, []unit] {
	return func(yield func(int, []unit) bool) {
		start := 0
		for i, u := range d.units {
			if u.r != variantEnd {
				continue
			}
			if !yield(int(u.set), d.units[start:i]) {
				return
			}
			start = i + 1
		}
	}
}

// hot holds what filters read of a place, apart from the larger doc, so that
// scanning many places touches little memory.
type hot struct {
	at     point  // the position, if geo
	region uint32 // Region as a number, or noRegion
	geo    bool   // the place has a valid position
}

// noRegion is the region of a place whose Region is not a 6-digit code; no
// region filter admits it.
const noRegion = math.MaxUint32

// New returns an empty Index.
func New() *Index {
	return &Index{
		slots:    make(map[uint32]uint32),
		postings: make(map[uint64][]uint32),
		cells:    make(map[uint64][]uint32),
		py:       newSyllables(),
		interned: make(map[string]string),
		scratch:  sync.Pool{New: func() any { return new(scratch) }},
	}
}

// Len returns the number of places in the index.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.docs)
}

// Get returns the place with the given ID, and whether there is one.
func (x *Index) Get(id uint32) (Place, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s, ok := x.slots[id]
	if !ok {
		return Place{}, false
	}
	p := x.docs[s].Place
	p.Aliases = slices.Clone(p.Aliases)
	return p, true
}

// Add adds p to the index, replacing the place with the same ID if there is
// one. The place is searchable when Add returns. Names are matched on their
// first 64 units (Han characters, words and numbers). A place with invalid
// coordinates is treated as having none.
func (x *Index) Add(p Place) {
	p.Aliases = slices.Clone(p.Aliases)
	x.mu.Lock()
	defer x.mu.Unlock()
	p.Region = x.intern(p.Region)
	p.Kind = x.intern(p.Kind)
	d := doc{Place: p}
	h := hot{region: parseRegion(p.Region), geo: validCoords(p.Lat, p.Lng) && (p.Lat != 0 || p.Lng != 0)}
	if h.geo {
		h.at = toPoint(p.Lat, p.Lng)
	}
	var size uint8
	for i, s := range append([]string{p.Name}, p.Aliases...) {
		us := x.units(s)
		if len(us) == 0 || d.has(us) {
			continue
		}
		d.units = append(append(d.units, us...), unit{r: variantEnd, set: uint32(i)})
		if size == 0 {
			size = uint8(len(us))
		}
	}
	d.units = slices.Clip(d.units)
	s, ok := x.slots[p.ID]
	if ok {
		x.unpost(s)
		x.docs[s], x.hot[s], x.size[s] = d, h, size
	} else {
		s = uint32(len(x.docs))
		x.slots[p.ID] = s
		x.docs, x.hot, x.size = append(x.docs, d), append(x.hot, h), append(x.size, size)
	}
	x.post(s)
}

// has reports whether d has a name or alias with the units us.
func (d *doc) has(us []unit) bool {
	for _, vs := range d.variants() {
		if slices.Equal(vs, us) {
			return true
		}
	}
	return false
}

// intern returns a shared copy of s, so that the many places of one region or
// kind hold one string.
func (x *Index) intern(s string) string {
	if v, ok := x.interned[s]; ok {
		return v
	}
	x.interned[s] = s
	return s
}

// post adds slot s to the postings and the grid cell of its place.
func (x *Index) post(s uint32) {
	d := &x.docs[s]
	x.keyBuf = x.docKeys(d, x.keyBuf[:0])
	for _, k := range x.keyBuf {
		x.postings[k] = append(x.postings[k], s)
	}
	if x.hot[s].geo {
		c := cellKey(cellOf(d.Lat, d.Lng))
		x.cells[c] = append(x.cells[c], s)
	}
}

// unpost removes slot s from the postings and the grid cell of its place.
func (x *Index) unpost(s uint32) {
	d := &x.docs[s]
	x.keyBuf = x.docKeys(d, x.keyBuf[:0])
	for _, k := range x.keyBuf {
		x.postings[k] = remove(x.postings[k], s)
		if len(x.postings[k]) == 0 {
			delete(x.postings, k)
		}
	}
	if x.hot[s].geo {
		c := cellKey(cellOf(d.Lat, d.Lng))
		x.cells[c] = remove(x.cells[c], s)
		if len(x.cells[c]) == 0 {
			delete(x.cells, c)
		}
	}
}

// remove deletes s from l, which holds it at most once, without keeping order.
func remove(l []uint32, s uint32) []uint32 {
	if i := slices.Index(l, s); i >= 0 {
		l[i] = l[len(l)-1]
		l = l[:len(l)-1]
	}
	return l
}

// Search returns the places that best match q, best first. It returns nil
// when nothing matches and when q is invalid: Text that has no letters,
// digits or Han characters, no Text and no coordinates, coordinates out of
// range, a negative or non-finite RadiusM, or a Region that is not 1 to 6
// digits.
func (x *Index) Search(q Query) []Candidate {
	text := strings.TrimSpace(q.Text)
	f, ok := newFilter(q, text != "")
	if !ok {
		return nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)

	x.mu.RLock()
	defer x.mu.RUnlock()
	sc := x.scratch.Get().(*scratch)
	defer x.scratch.Put(sc)
	if text == "" {
		if !f.near {
			return nil
		}
		return x.nearby(&f, limit, sc)
	}
	pq := x.prepare(text)
	if pq == nil {
		return nil
	}
	return x.rank(pq, &f, x.shortlist(pq, &f, shortlistSize(limit), sc), limit, sc)
}

// filter holds the validated restrictions and position of a query.
type filter struct {
	regionLo, regionHi uint32  // admit region codes in [regionLo, regionHi); both 0 admits all
	near               bool    // the query has coordinates
	at                 point   // the query's position
	radius             float64 // metres; above 0, admit only places within it
	within             float64 // the squared chord of radius
	box                box     // bounds radius, if above 0
}

// newFilter validates q, which has text or not, and returns its filter. It
// reports false if q is invalid.
func newFilter(q Query, hasText bool) (filter, bool) {
	var f filter
	if q.Region != "" {
		if len(q.Region) > 6 {
			return f, false
		}
		p, err := strconv.ParseUint(q.Region, 10, 32)
		if err != nil {
			return f, false
		}
		scale := uint32(math.Pow10(6 - len(q.Region)))
		f.regionLo, f.regionHi = uint32(p)*scale, uint32(p+1)*scale
	}
	if math.IsNaN(q.RadiusM) || math.IsInf(q.RadiusM, 0) || q.RadiusM < 0 {
		return f, false
	}
	if !q.HasCoords {
		return f, true
	}
	if !validCoords(q.Lat, q.Lng) {
		return f, false
	}
	f.near, f.at, f.radius = true, toPoint(q.Lat, q.Lng), q.RadiusM
	if !hasText {
		if f.radius == 0 {
			f.radius = DefaultRadiusM
		}
		f.radius = min(f.radius, MaxNearbyRadiusM)
	}
	if f.radius > 0 {
		f.within = mToChord2(f.radius)
		f.box = boxAround(q.Lat, q.Lng, f.radius)
	}
	return f, true
}

// admits reports whether the place h passes the region and radius filters.
func (f *filter) admits(h *hot) bool {
	if f.regionHi != 0 && (h.region < f.regionLo || h.region >= f.regionHi) {
		return false
	}
	return f.radius == 0 || h.geo && chord2(f.at, h.at) <= f.within
}

// parseRegion returns the 6-digit region code s as a number, or noRegion.
func parseRegion(s string) uint32 {
	if len(s) != 6 {
		return noRegion
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return noRegion
	}
	return uint32(n)
}
