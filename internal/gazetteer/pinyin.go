package gazetteer

import (
	"github.com/mozillazg/go-pinyin"
)

// Reading limits.
const (
	// maxReadings caps the pinyin readings kept for a heteronym (多音字):
	// the second covers place names such as 长沙 (chang), 厦门 (xia) and
	// 重庆 (chong); rarer ones, such as cui for 体, would only add noise.
	maxReadings = 2
	// maxSyllableLen is the length of the longest pinyin syllable, "zhuang".
	maxSyllableLen = 6
)

// syllables interns the readings of units: the toneless pinyin syllables of
// Han characters, and the text of words and numbers, which read as
// themselves. A reading set lists the readings of one unit; set 0 is empty.
type syllables struct {
	text   []string            // reading id → text
	ids    map[string]uint32   // text → reading id
	prefix map[string]struct{} // proper prefixes, at most maxSyllableLen long, of every reading
	sets   [][]uint32          // reading set id → reading ids
	han    map[rune]uint32     // Han character → reading set id
	words  map[string]uint32   // word or number → reading set id
}

func newSyllables() syllables {
	return syllables{
		ids:    make(map[string]uint32),
		prefix: make(map[string]struct{}),
		sets:   [][]uint32{nil},
		han:    make(map[rune]uint32),
		words:  make(map[string]uint32),
	}
}

// hanSet returns the reading set of the Han character r, looking up its
// pinyin the first time r is seen.
func (s *syllables) hanSet(r rune) uint32 {
	if id, ok := s.han[r]; ok {
		return id
	}
	var set []uint32
	for _, py := range hanReadings(r) {
		set = append(set, s.intern(py))
	}
	id := s.newSet(set)
	s.han[r] = id
	return id
}

// wordSet returns the reading set of a word or number: the word itself.
func (s *syllables) wordSet(w string) uint32 {
	if id, ok := s.words[w]; ok {
		return id
	}
	id := s.newSet([]uint32{s.intern(w)})
	s.words[w] = id
	return id
}

// readings returns the ids of the readings of the Han character r that are
// interned, without interning anything, so that it is safe under a read lock.
func (s *syllables) readings(r rune) []uint32 {
	if id, ok := s.han[r]; ok {
		return s.sets[id]
	}
	var ids []uint32
	for _, py := range hanReadings(r) {
		if id, ok := s.ids[py]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// textOf returns the text of the first of the readings ids, or "" if there
// is none.
func (s *syllables) textOf(ids []uint32) string {
	if len(ids) == 0 {
		return ""
	}
	return s.text[ids[0]]
}

func (s *syllables) newSet(set []uint32) uint32 {
	if len(set) == 0 {
		return 0
	}
	s.sets = append(s.sets, set)
	return uint32(len(s.sets) - 1)
}

// intern returns the id of the reading t, adding it and its prefixes if new.
func (s *syllables) intern(t string) uint32 {
	if id, ok := s.ids[t]; ok {
		return id
	}
	id := uint32(len(s.text))
	s.text = append(s.text, t)
	s.ids[t] = id
	for n := 1; n < len(t) && n <= maxSyllableLen; n++ {
		s.prefix[t[:n]] = struct{}{}
	}
	return id
}

// hanReadings returns the toneless pinyin readings of the Han character r,
// most common first, "v" standing for "ü" as on pinyin keyboards.
func hanReadings(r rune) []string {
	all := pinyin.SinglePinyin(r, pinyin.Args{Style: pinyin.Normal, Heteronym: true})
	out := all[:0]
	for _, py := range all {
		if isLowerASCII(py) && len(out) < maxReadings {
			out = append(out, py)
		}
	}
	return out
}

// isLowerASCII reports whether s is non-empty and all a to z.
func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}

// isInitial reports whether a syllable can start with the letter c. Pinyin
// spells syllables that would start with i, u or ü with y or w.
func isInitial(c byte) bool {
	return c >= 'a' && c <= 'z' && c != 'i' && c != 'u' && c != 'v'
}

// isRetroflex reports whether s starts with zh, ch or sh, which typists may
// abbreviate to two letters instead of one.
func isRetroflex(s string) bool {
	return len(s) >= 2 && s[1] == 'h' && (s[0] == 'z' || s[0] == 'c' || s[0] == 's')
}

// edge is one way to read t[from:to] of a latin query token: as a whole
// reading (full), or as an initial or the start of a reading.
type edge struct {
	from, to int
	full     bool
}

// parse returns the edges of the shortest complete readings of the latin
// token t, ordered by from, and how many edges those readings have, 0 if t
// cannot be read. Longer readings, such as xi-an for "xian", are left to
// scoring: they would flood the shortlist with keys like g-y for
// "sheng-yuan" read as "shen-g-yuan".
func (s *syllables) parse(t string) ([]edge, int) {
	n := len(t)
	var all []edge
	for p := range n {
		for q := p + 1; q <= min(n, p+maxSyllableLen); q++ {
			if _, ok := s.ids[t[p:q]]; ok {
				all = append(all, edge{p, q, true})
			}
		}
		if p == 0 && n > maxSyllableLen {
			if _, ok := s.ids[t]; ok {
				all = append(all, edge{0, n, true})
			}
		}
		if n-p <= maxSyllableLen {
			if _, ok := s.prefix[t[p:]]; ok {
				all = append(all, edge{p, n, false})
			}
		}
		if isInitial(t[p]) {
			all = append(all, edge{p, p + 1, false})
			if isRetroflex(t[p:]) {
				all = append(all, edge{p, p + 2, false})
			}
		}
	}
	// head[p] is the fewest edges reading t[:p], tail[p] those reading t[p:],
	// -1 if there is no reading. Edges go forward and are ordered by from,
	// so one pass each way suffices.
	head, tail := make([]int, n+1), make([]int, n+1)
	for i := range head {
		head[i], tail[i] = -1, -1
	}
	head[0], tail[n] = 0, 0
	for _, e := range all {
		if h := head[e.from]; h >= 0 && (head[e.to] < 0 || h+1 < head[e.to]) {
			head[e.to] = h + 1
		}
	}
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if c := tail[e.to]; c >= 0 && (tail[e.from] < 0 || c+1 < tail[e.from]) {
			tail[e.from] = c + 1
		}
	}
	if head[n] < 0 {
		return nil, 0
	}
	shortest := all[:0]
	for _, e := range all {
		if head[e.from] >= 0 && tail[e.to] >= 0 && head[e.from]+1+tail[e.to] == head[n] {
			shortest = append(shortest, e)
		}
	}
	return shortest, head[n]
}
