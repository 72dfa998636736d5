package gazetteer

import (
	"cmp"
	"slices"
)

// Keys of the inverted index are 64-bit: a kind in the top byte and the
// value, packed or hashed, below. A hash collision only adds a place to a
// shortlist; scoring compares the text itself.
const (
	kindUni     uint64 = 1 << 56 // one Han character
	kindBi      uint64 = 2 << 56 // two adjacent Han characters
	kindSyl     uint64 = 3 << 56 // one reading
	kindSylPair uint64 = 4 << 56 // two adjacent readings
	kindInitial uint64 = 5 << 56 // the first letters of two adjacent readings
	valueMask   uint64 = 1<<56 - 1
)

func uniKey(r rune) uint64 { return kindUni | uint64(r) }

// biKey packs two runes, each below 1<<21.
func biKey(a, b rune) uint64 { return kindBi | uint64(a)<<21 | uint64(b) }

func sylKey(s string) uint64 { return kindSyl | fnv(fnvOffset, s)&valueMask }

func sylPairKey(a, b string) uint64 {
	h := fnv(fnv(fnvOffset, a), "\x00")
	return kindSylPair | fnv(h, b)&valueMask
}

func initialKey(a, b byte) uint64 { return kindInitial | uint64(a)<<8 | uint64(b) }

const fnvOffset = 14695981039346656037

// fnv continues the FNV-1a hash h with s.
func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// docKeys appends to ks the keys of every variant of d, without duplicates,
// and returns the extended slice.
func (x *Index) docKeys(d *doc, ks []uint64) []uint64 {
	for _, us := range d.variants() {
		for i, u := range us {
			if u.r != 0 {
				ks = append(ks, uniKey(u.r))
				if i+1 < len(us) && us[i+1].r != 0 {
					ks = append(ks, biKey(u.r, us[i+1].r))
				}
			}
			for _, a := range x.py.sets[u.set] {
				ks = append(ks, sylKey(x.py.text[a]))
			}
			if i+1 == len(us) {
				continue
			}
			for _, a := range x.py.sets[u.set] {
				for _, b := range x.py.sets[us[i+1].set] {
					ta, tb := x.py.text[a], x.py.text[b]
					ks = append(ks, sylPairKey(ta, tb), initialKey(ta[0], tb[0]))
				}
			}
		}
	}
	slices.Sort(ks)
	return slices.Compact(ks)
}

// dedupKeys sorts ks by key and merges duplicates, keeping the highest weight.
func dedupKeys(ks []wkey) []wkey {
	slices.SortFunc(ks, func(a, b wkey) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(b.w, a.w))
	})
	return slices.CompactFunc(ks, func(a, b wkey) bool { return a.key == b.key })
}
