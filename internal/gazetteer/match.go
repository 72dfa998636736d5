package gazetteer

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// Text score weights; they sum to 1.
const (
	queryWeight = 0.6  // share of the query found in the name
	nameWeight  = 0.25 // share of the name the query covers
	startWeight = 0.1  // the first query token matches the start of the name
	exactWeight = 0.05 // query and name cover each other completely
)

// Credits for partial matches of one query character or syllable.
const (
	homophone = 0.7  // a Han character with the same pinyin, e.g. 天和城 for 天河城
	soundOnly = 0.5  // each character of a pair matched only by pinyin, e.g. 田禾 for 天河
	loneChar  = 0.5  // a Han character found, but not next to its neighbour
	initial   = 0.75 // a syllable typed as its initial, e.g. "hdl" for 海底捞
	cutShort  = 0.9  // a last syllable typed in part, e.g. "tianh" for 天河
)

// minCoverage is the share of the query a place must match to be returned.
const minCoverage = 0.3

// scratch holds the buffers of one search.
type scratch struct {
	acc     []float32 // shortlist weight by slot; zero between searches
	touched []uint32  // slots with non-zero acc
	weights []float32 // acc of each of touched, gathered
	top     []ranked
	match   []float32 // query character × name unit match credits
	credit  []float32
	cur     []float64 // rows of matchLatin's table
	next    []float64
}

// ranked is a slot with a score, for picking the best few.
type ranked struct {
	slot  uint32
	score float32
}

// shortlistSize returns how many places to score exactly for a limit.
func shortlistSize(limit int) int { return 30 + 3*limit }

// shortlistBuckets is the resolution at which shortlist sorts places by the
// keys they share with the query.
const shortlistBuckets = 64

// shortlist returns up to m slots that most likely match pq. It ranks
// places by the rarity-weighted keys they share with the query, and among
// the best m or so by that measure, also by how short the name is and how
// near the place is, as the exact score does.
func (x *Index) shortlist(pq *prepared, f *filter, m int, sc *scratch) []ranked {
	if len(sc.acc) < len(x.docs) {
		// Leave room for places added before the next search.
		sc.acc = make([]float32, len(x.docs)+len(x.docs)/4)
	}
	sc.touched = sc.touched[:0]
	x.accumulate(pq.keys, f, sc)
	if len(sc.touched) == 0 {
		x.accumulate(pq.spare, f, sc)
	}
	// Gather the weights, leaving acc zero, so that the passes below read
	// memory in order.
	var hi float32
	ws := slices.Grow(sc.weights[:0], len(sc.touched))
	for _, s := range sc.touched {
		a := sc.acc[s]
		sc.acc[s] = 0
		ws = append(ws, a)
		hi = max(hi, a)
	}
	sc.weights = ws
	// Keep the top buckets of weight that hold at least m places.
	var hist [shortlistBuckets + 1]int
	scale := shortlistBuckets / hi
	for _, a := range ws {
		hist[int(a*scale)]++
	}
	cut, n := 0, 0
	for b := shortlistBuckets; b >= 0 && n < m; b-- {
		n += hist[b]
		cut = b
	}
	top := sc.top[:0]
	for i, s := range sc.touched {
		a := ws[i]
		if int(a*scale) < cut {
			continue
		}
		p := queryWeight*float64(a/hi) + nameWeight*min(1, pq.weight/float64(x.size[s]))
		if f.near {
			p *= 1 - nearWeight
			if h := &x.hot[s]; h.geo {
				// The chord is as long as the arc, near enough.
				p += nearWeight * proximity(earthRadiusM*math.Sqrt(chord2(f.at, h.at)))
			}
		}
		top = pushTop(top, m, ranked{s, float32(p)})
	}
	sc.top = top
	return top
}

// accumulate adds the weight of each key to the places that have it and
// pass f. A key's weight grows with its rarity.
func (x *Index) accumulate(keys []wkey, f *filter, sc *scratch) {
	filtered := f.regionHi != 0 || f.radius > 0
	n := float64(len(x.docs))
	for _, k := range keys {
		slots := x.postings[k.key]
		if len(slots) == 0 {
			continue
		}
		w := k.w * float32(math.Log(1+n/float64(len(slots))))
		for _, s := range slots {
			if filtered && !f.admits(&x.hot[s]) {
				continue
			}
			if sc.acc[s] == 0 {
				sc.touched = append(sc.touched, s)
			}
			sc.acc[s] += w
		}
	}
}

// rank scores the shortlisted places exactly and returns the best limit.
func (x *Index) rank(pq *prepared, f *filter, top []ranked, limit int, sc *scratch) []Candidate {
	var out []Candidate
	for _, r := range top {
		d, h := &x.docs[r.slot], &x.hot[r.slot]
		score, cov, src := 0.0, 0.0, 0
		for i, us := range d.variants() {
			if s, c := x.textScore(pq, us, sc); s > score {
				score, cov, src = s, c, i
			}
		}
		if cov < minCoverage {
			continue
		}
		dist := -1.0
		if f.near {
			score *= 1 - nearWeight
			if h.geo {
				dist = distanceM(f.at, h.at)
				score += nearWeight * proximity(dist)
			}
			if f.radius > 0 && dist > f.radius {
				continue
			}
		}
		matched := d.Name
		if src > 0 {
			matched = d.Aliases[src-1]
		}
		out = append(out, Candidate{ID: d.ID, Name: d.Name, Score: score, DistanceM: dist, Matched: matched})
	}
	return best(out, limit)
}

// nearby returns the places within f.radius of f's position, nearest first.
func (x *Index) nearby(f *filter, limit int, sc *scratch) []Candidate {
	top := sc.top[:0]
	x.eachInBox(f.box, func(s uint32) {
		if h := &x.hot[s]; f.admits(h) {
			top = pushTop(top, limit, ranked{s, -float32(chord2(f.at, h.at))})
		}
	})
	sc.top = top
	out := make([]Candidate, 0, len(top))
	for _, r := range top {
		d := &x.docs[r.slot]
		dist := distanceM(f.at, x.hot[r.slot].at)
		out = append(out, Candidate{ID: d.ID, Name: d.Name, Score: max(0, 1-dist/f.radius), DistanceM: dist})
	}
	return best(out, limit)
}

// best sorts cs by score, then nearest first, then by ID, and keeps limit.
func best(cs []Candidate, limit int) []Candidate {
	slices.SortFunc(cs, func(a, b Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if (a.DistanceM < 0) != (b.DistanceM < 0) {
			return cmp.Compare(b.DistanceM, a.DistanceM)
		}
		return cmp.Or(cmp.Compare(a.DistanceM, b.DistanceM), cmp.Compare(a.ID, b.ID))
	})
	if len(cs) > limit {
		cs = cs[:limit]
	}
	return cs
}

// pushTop adds r to h, a min-heap by score holding the m best, and returns h.
func pushTop(h []ranked, m int, r ranked) []ranked {
	if len(h) < m {
		h = append(h, r)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if h[p].score <= h[i].score {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		return h
	}
	if r.score <= h[0].score {
		return h
	}
	h[0] = r
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1].score < h[c].score {
			c++
		}
		if h[i].score <= h[c].score {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	return h
}

// textScore rates how well pq matches the units of one name or alias. It
// returns the score and the share of the query that matched.
func (x *Index) textScore(pq *prepared, us []unit, sc *scratch) (score, coverage float64) {
	var covered uint64
	var got float64
	start := false
	for i := range pq.tokens {
		t := &pq.tokens[i]
		var q float64
		var mask uint64
		if t.han != nil {
			q, mask = x.matchHan(t, us, sc)
		} else {
			q, mask = x.matchLatin(t.latin, us, sc)
		}
		got += q * t.weight
		covered |= mask
		start = start || i == 0 && mask&1 != 0
	}
	coverage = got / pq.weight
	nameCoverage := float64(bits.OnesCount64(covered)) / float64(len(us))
	score = queryWeight*coverage + nameWeight*nameCoverage
	if start {
		score += startWeight
	}
	if coverage == 1 && nameCoverage == 1 {
		score += exactWeight
	}
	return score, coverage
}

// matchHan returns the share of the Han token t found in us, and which units
// matched. A character counts when it and a neighbour match two adjacent
// units, by character or by sound (soundOnly if neither matches by
// character); the character of a one-character token counts wherever it
// matches; any other character found in us gets loneChar.
func (x *Index) matchHan(t *token, us []unit, sc *scratch) (float64, uint64) {
	m, n := len(t.han), len(us)
	sc.match = slices.Grow(sc.match[:0], m*n)[:m*n]
	for i, r := range t.han {
		for j, u := range us {
			sc.match[i*n+j] = x.charMatch(r, t.reads[i], u)
		}
	}
	credit := slices.Grow(sc.credit[:0], m)[:m]
	clear(credit)
	sc.credit = credit
	var mask uint64
	if m == 1 {
		for j := range n {
			if v := sc.match[j]; v > 0 {
				credit[0] = max(credit[0], v)
				mask |= 1 << j
			}
		}
		return float64(credit[0]), mask
	}
	for i := 0; i+1 < m; i++ {
		for j := 0; j+1 < n; j++ {
			a, b := sc.match[i*n+j], sc.match[(i+1)*n+j+1]
			if a > 0 && b > 0 {
				if a < 1 && b < 1 {
					a, b = soundOnly, soundOnly
				}
				credit[i], credit[i+1] = max(credit[i], a), max(credit[i+1], b)
				mask |= 3 << j
			}
		}
	}
	var sum float64
	for i := range m {
		if credit[i] == 0 {
			if j := slices.Index(sc.match[i*n:(i+1)*n], 1); j >= 0 {
				credit[i] = loneChar
				mask |= 1 << j
			}
		}
		sum += float64(credit[i])
	}
	return sum / float64(m), mask
}

// charMatch returns 1 if the unit u is the Han character r, homophone if it
// is another Han character sharing a reading with r, and 0 otherwise.
func (x *Index) charMatch(r rune, reads []uint32, u unit) float32 {
	if u.r == r {
		return 1
	}
	if u.r == 0 {
		return 0
	}
	for _, a := range x.py.sets[u.set] {
		if slices.Contains(reads, a) {
			return homophone
		}
	}
	return 0
}

// matchLatin reads the latin token t as a run of adjacent units of us, each
// typed as its whole reading, as its initial (one letter, or two for zh, ch
// and sh), or, for the last, as the start of its reading. It returns the
// mean credit of the units of the best run, and which units they are.
func (x *Index) matchLatin(t string, us []unit, sc *scratch) (float64, uint64) {
	n := len(t)
	sc.cur = slices.Grow(sc.cur[:0], n+1)[:n+1]
	sc.next = slices.Grow(sc.next[:0], n+1)[:n+1]
	cur, next := sc.cur, sc.next
	best, bestFrom, bestLen := 0.0, 0, 0
	for from := range us {
		// cur[p] is the best credit sum of reading t[:p] with the units so
		// far, or -1 if t[:p] cannot be read with them.
		for p := range cur {
			cur[p] = -1
		}
		cur[0] = 0
		for j := from; j < len(us); j++ {
			k := j - from + 1
			for p := range next {
				next[p] = -1
			}
			live := false
			step := func(q int, v float64) {
				if q == n {
					if v/float64(k) > best {
						best, bestFrom, bestLen = v/float64(k), from, k
					}
				} else if v > next[q] {
					next[q] = v
					live = true
				}
			}
			for p, v := range cur[:n] {
				if v < 0 {
					continue
				}
				rest := t[p:]
				for _, id := range x.py.sets[us[j].set] {
					r := x.py.text[id]
					switch {
					case strings.HasPrefix(rest, r):
						step(p+len(r), v+1)
					case strings.HasPrefix(r, rest):
						step(n, v+cutShort)
					}
					if isInitial(rest[0]) && rest[0] == r[0] {
						step(p+1, v+initial)
						if isRetroflex(rest) && isRetroflex(r) {
							step(p+2, v+initial)
						}
					}
				}
			}
			if !live {
				break
			}
			cur, next = next, cur
		}
	}
	if bestLen == 0 {
		return 0, 0
	}
	return best, (uint64(math.MaxUint64) >> (64 - bestLen)) << bestFrom
}
