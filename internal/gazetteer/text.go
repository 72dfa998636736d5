package gazetteer

import (
	"unicode"
	"unicode/utf8"
)

// Text limits.
const (
	// maxUnits caps the units of a name or alias that take part in matching.
	maxUnits = 64
	// maxTokens caps the tokens of a query.
	maxTokens = 16
	// maxTokenRunes caps the characters of a query token.
	maxTokenRunes = 32
)

// unit is a Han character, or a run of letters or digits, of a name.
type unit struct {
	r   rune   // the Han character, or 0 for a word or number
	set uint32 // reading set: the pinyin of r, or the word or number itself
}

// class is the kind of a character after folding.
type class uint8

const (
	separator class = iota
	hanChar
	letter
	digit
)

func classify(r rune) class {
	switch {
	case unicode.Is(unicode.Han, r):
		return hanChar
	case unicode.IsLetter(r):
		return letter
	case unicode.IsDigit(r):
		return digit
	}
	return separator
}

// fold maps full-width ASCII to ASCII, lower-cases, and spells ü as v as
// pinyin keyboards do.
func fold(r rune) rune {
	if r >= 0xFF01 && r <= 0xFF5E {
		r -= 0xFEE0
	}
	r = unicode.ToLower(r)
	if r == 'ü' {
		r = 'v'
	}
	return r
}

// scan calls emit with each run of s of one class (Han characters, letters
// or digits), folded. Other characters (spaces, brackets, punctuation)
// separate runs.
func scan(s string, emit func(c class, run string)) {
	var buf []byte
	cur := separator
	flush := func() {
		if cur != separator && len(buf) > 0 {
			emit(cur, string(buf))
		}
		buf = buf[:0]
	}
	for _, r := range s {
		r = fold(r)
		c := classify(r)
		if c != cur {
			flush()
			cur = c
		}
		if c != separator {
			buf = utf8.AppendRune(buf, r)
		}
	}
	flush()
}

// units cuts a name into at most maxUnits units, interning their readings.
func (x *Index) units(s string) []unit {
	var us []unit
	scan(s, func(c class, run string) {
		if c != hanChar {
			if len(us) < maxUnits {
				us = append(us, unit{set: x.py.wordSet(run)})
			}
			return
		}
		for _, r := range run {
			if len(us) < maxUnits {
				us = append(us, unit{r: r, set: x.py.hanSet(r)})
			}
		}
	})
	return us
}

// token is a run of Han characters, or of letters or digits, of a query.
type token struct {
	han    []rune     // the Han characters, or nil for a latin token
	reads  [][]uint32 // reading ids of each of han
	latin  string     // the letters or digits
	weight float64    // how many units the token stands for
}

// prepared is a query cut into tokens, with the keys that shortlist places.
type prepared struct {
	tokens []token
	weight float64 // sum of the token weights
	keys   []wkey  // shortlist keys
	spare  []wkey  // single characters of Han tokens, for when keys find nothing
}

// wkey is a shortlist key with a weight, which the key's rarity multiplies.
type wkey struct {
	key uint64
	w   float32
}

// prepare cuts text into tokens and derives their keys. It returns nil if
// text has no token.
func (x *Index) prepare(text string) *prepared {
	pq := new(prepared)
	add := func(k uint64, w float32) { pq.keys = append(pq.keys, wkey{k, w}) }
	scan(text, func(c class, run string) {
		if len(pq.tokens) == maxTokens {
			return
		}
		var t token
		if c == hanChar {
			t.han = []rune(run)
			t.han = t.han[:min(len(t.han), maxTokenRunes)]
			t.reads = make([][]uint32, len(t.han))
			for i, r := range t.han {
				t.reads[i] = x.py.readings(r)
			}
			t.weight = float64(len(t.han))
			x.hanKeys(&t, add)
			if len(t.han) > 1 {
				for _, r := range t.han {
					pq.spare = append(pq.spare, wkey{uniKey(r), 1})
				}
			}
		} else {
			t.latin = truncateRunes(run, maxTokenRunes)
			edges, fewest := x.py.parse(t.latin)
			t.weight = float64(max(1, fewest))
			latinKeys(t.latin, edges, func(k uint64) { add(k, 1) })
		}
		pq.tokens = append(pq.tokens, t)
		pq.weight += t.weight
	})
	if len(pq.tokens) == 0 {
		return nil
	}
	pq.keys = dedupKeys(pq.keys)
	pq.spare = dedupKeys(pq.spare)
	return pq
}

// hanKeys calls add with the keys of a Han token: its character pairs, or
// its character if it has one, and the same in pinyin, which also finds
// homophones. The weights follow the score: a place with the characters gets
// 1 for each key, one that only sounds the same gets homophone. The pinyin
// key uses the main reading of each character only, so that a place whose
// heteronyms match several readings counts once. Every place with the
// characters has their pinyin too, so a pinyin key with no more places than
// its character key finds no homophone and is left out.
func (x *Index) hanKeys(t *token, add func(uint64, float32)) {
	emit := func(k, sound uint64, hasSound bool) {
		if !hasSound || len(x.postings[sound]) <= len(x.postings[k]) {
			add(k, 1)
			return
		}
		add(k, 1-homophone)
		add(sound, homophone)
	}
	if len(t.han) == 1 {
		r := t.reads[0]
		emit(uniKey(t.han[0]), sylKey(x.py.textOf(r)), len(r) > 0)
		return
	}
	for i := 0; i+1 < len(t.han); i++ {
		a, b := t.reads[i], t.reads[i+1]
		emit(biKey(t.han[i], t.han[i+1]), sylPairKey(x.py.textOf(a), x.py.textOf(b)), len(a) > 0 && len(b) > 0)
	}
}

// maxLatinKeys caps the keys of one latin token.
const maxLatinKeys = 64

// latinKeys calls add with the keys of a latin token t, given the edges of
// its readings: adjacent whole readings give syllable pairs, adjacent
// initials or cut-short readings give initial pairs, and if t gives no
// syllable pair, its whole readings count alone.
func latinKeys(t string, edges []edge, add func(uint64)) {
	n, pairs := 0, 0
	for i, a := range edges {
		for _, b := range edges[i+1:] {
			if b.from != a.to || a.full != b.full || n == maxLatinKeys {
				continue
			}
			if a.full {
				add(sylPairKey(t[a.from:a.to], t[b.from:b.to]))
				pairs++
			} else {
				add(initialKey(t[a.from], t[b.from]))
			}
			n++
		}
	}
	if pairs > 0 {
		return
	}
	for _, e := range edges {
		if e.full && n < maxLatinKeys {
			add(sylKey(t[e.from:e.to]))
			n++
		}
	}
}

// truncateRunes returns the first n runes of s.
func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
