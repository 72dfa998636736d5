package gazetteer

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
)

// guangzhou holds real places of Guangzhou, with one Shenzhen branch for
// region filters. Coordinates are approximate.
var guangzhou = []Place{
	{ID: 1, Name: "天河城", Region: "440106", Lat: 23.1322, Lng: 113.3225, Kind: "mall"},
	{ID: 2, Name: "正佳广场", Region: "440106", Lat: 23.1320, Lng: 113.3269, Kind: "mall"},
	{ID: 3, Name: "太古汇", Region: "440106", Lat: 23.1345, Lng: 113.3326, Kind: "mall"},
	{ID: 4, Name: "广州东站", Aliases: []string{"火车东站"}, Region: "440106", Lat: 23.1508, Lng: 113.3252, Kind: "station"},
	{ID: 5, Name: "海底捞(天河店)", Region: "440106", Lat: 23.1365, Lng: 113.3280, Kind: "restaurant"},
	{ID: 6, Name: "海底捞(北京路店)", Region: "440104", Lat: 23.1260, Lng: 113.2689, Kind: "restaurant"},
	{ID: 7, Name: "中山大学附属第一医院", Aliases: []string{"中山一院", "中大附一"}, Region: "440104", Lat: 23.1293, Lng: 113.2867, Kind: "hospital"},
	{ID: 8, Name: "广州塔", Aliases: []string{"小蛮腰"}, Region: "440105", Lat: 23.1066, Lng: 113.3245, Kind: "landmark"},
	{ID: 9, Name: "北京路步行街", Region: "440104", Lat: 23.1253, Lng: 113.2693, Kind: "street"},
	{ID: 10, Name: "天河体育中心", Region: "440106", Lat: 23.1381, Lng: 113.3240, Kind: "stadium"},
	{ID: 11, Name: "广州南站", Region: "440113", Lat: 22.9888, Lng: 113.2695, Kind: "station"},
	{ID: 12, Name: "广州白云国际机场", Aliases: []string{"白云机场"}, Region: "440114", Lat: 23.3924, Lng: 113.2988, Kind: "airport"},
	{ID: 13, Name: "中山纪念堂", Region: "440104", Lat: 23.1334, Lng: 113.2644, Kind: "landmark"},
	{ID: 14, Name: "广州火车站", Aliases: []string{"广州站"}, Region: "440104", Lat: 23.1490, Lng: 113.2573, Kind: "station"},
	{ID: 15, Name: "广州市第一人民医院", Aliases: []string{"市一医院"}, Region: "440104", Lat: 23.1271, Lng: 113.2625, Kind: "hospital"},
	{ID: 16, Name: "海底捞(福田店)", Region: "440304", Lat: 22.5410, Lng: 114.0550, Kind: "restaurant"},
	{ID: 17, Name: "天河北路", Region: "440106", Lat: 23.1420, Lng: 113.3320, Kind: "road"},
	{ID: 19, Name: "麦当劳(天河城店)", Region: "440106", Lat: 23.1325, Lng: 113.3228, Kind: "restaurant"},
	{ID: 20, Name: "KFC(正佳广场店)", Aliases: []string{"肯德基(正佳广场店)"}, Region: "440106", Lat: 23.1318, Lng: 113.3265, Kind: "restaurant"},
	{ID: 21, Name: "广州市越秀区某小卖部"}, // no region, no coordinates
	{ID: 22, Name: "和城花园", Region: "440111", Lat: 23.2010, Lng: 113.2600, Kind: "housing"},
}

func newGuangzhou(t testing.TB) *Index {
	t.Helper()
	x := New()
	for _, p := range guangzhou {
		x.Add(p)
	}
	if got, want := x.Len(), len(guangzhou); got != want {
		t.Fatalf("Len() = %d, want %d", got, want)
	}
	return x
}

func ids(cs []Candidate) []uint32 {
	out := make([]uint32, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// rankCases are queries for places of guangzhou, each with the place that
// should rank first.
var rankCases = []struct {
	name    string
	text    string
	want    uint32
	matched string // "" means the place's name
}{
	{"chinese", "天河城", 1, ""},
	{"pinyin", "tianhecheng", 1, ""},
	{"initials", "thc", 1, ""},
	{"homophone", "天和城", 1, ""}, // not 和城花园, which has 和城 verbatim
	{"prefix", "正佳", 2, ""},
	{"prefix pinyin", "zhengjia", 2, ""},
	{"mall", "太古汇", 3, ""},
	{"mall pinyin", "taiguhui", 3, ""},
	{"station", "广州东站", 4, ""},
	{"station suffix", "东站", 4, ""},
	{"station pinyin", "guangzhoudongzhan", 4, ""},
	{"station alias", "火车东站", 4, "火车东站"},
	{"brand and district", "海底捞 天河", 5, ""},
	{"brand and district pinyin", "haidilao tianhe", 5, ""},
	{"brand initials", "hdl tianhe", 5, ""},
	{"mixed", "海底捞 tianhe", 5, ""},
	{"mixed other way", "haidilao 天河", 5, ""},
	{"district first, no space", "天河海底捞", 5, ""},
	{"full-width", "ＨＡＩＤＩＬＡＯ　天河", 5, ""},
	{"brackets", "haidilao(tianhe)", 5, ""},
	{"last syllable cut short", "haidilao tianh", 5, ""},
	{"other branch", "海底捞 北京路", 6, ""},
	{"alias", "中山一院", 7, "中山一院"},
	{"alias pinyin", "zhongshanyiyuan", 7, "中山一院"},
	{"full name", "中山大学附属第一医院", 7, ""},
	{"nickname", "小蛮腰", 8, "小蛮腰"},
	{"tower", "广州塔", 8, ""},
	{"street", "北京路", 9, ""},
	{"south station", "广州南站", 11, ""},
	{"airport alias", "白云机场", 12, "白云机场"},
	{"memorial hall", "中山纪念堂", 13, ""},
	{"station alias exact", "广州站", 14, "广州站"},
	{"hospital alias", "市一医院", 15, "市一医院"},
	{"latin word", "kfc", 20, ""},
	{"latin word and han", "KFC 正佳", 20, ""},
	{"alias brand", "肯德基", 20, "肯德基(正佳广场店)"},
	{"road pinyin", "tianhebeilu", 17, ""},
	{"no coordinates", "小卖部", 21, ""},
}

func TestSearchRanksExpectedPlaceFirst(t *testing.T) {
	testRanks(t, newGuangzhou(t))
}

// TestSearchRanksExpectedPlaceFirstInACrowd hides the places of guangzhou
// among synthetic ones with the same brands, districts and words, so that
// shortlisting has to pick them out of thousands of partial matches.
func TestSearchRanksExpectedPlaceFirstInACrowd(t *testing.T) {
	x := newGuangzhou(t)
	for i := range 20_000 {
		p, _ := benchPlace(i)
		p.ID += 1000
		x.Add(p)
	}
	testRanks(t, x)
}

func testRanks(t *testing.T, x *Index) {
	for _, tt := range rankCases {
		t.Run(tt.name, func(t *testing.T) {
			got := x.Search(Query{Text: tt.text})
			if len(got) == 0 {
				t.Fatalf("Search(%q): got no candidates, want %d first", tt.text, tt.want)
			}
			if got[0].ID != tt.want {
				t.Fatalf("Search(%q): got %v first (all %v), want %d", tt.text, got[0], got, tt.want)
			}
			want := tt.matched
			if want == "" {
				want = got[0].Name
			}
			if got[0].Matched != want {
				t.Errorf("Search(%q): got Matched %q, want %q", tt.text, got[0].Matched, want)
			}
			if got[0].DistanceM != -1 {
				t.Errorf("Search(%q): got DistanceM %v without coordinates, want -1", tt.text, got[0].DistanceM)
			}
			for i, c := range got {
				if c.Score <= 0 || c.Score > 1 {
					t.Errorf("Search(%q)[%d]: got Score %v, want in (0, 1]", tt.text, i, c.Score)
				}
				if i > 0 && c.Score > got[i-1].Score {
					t.Errorf("Search(%q): got scores out of order: %v", tt.text, got)
				}
			}
		})
	}
}

func TestSearchBrandRanksOtherBranchesBelow(t *testing.T) {
	x := newGuangzhou(t)
	got := ids(x.Search(Query{Text: "haidilao tianhe"}))
	if len(got) < 3 || got[0] != 5 || !slices.Contains(got[1:], 6) || !slices.Contains(got[1:], 16) {
		t.Fatalf(`Search("haidilao tianhe"): got %v, want 5 then the other branches 6 and 16`, got)
	}
}

func TestSearchPrefersStartOfName(t *testing.T) {
	x := New()
	x.Add(Place{ID: 1, Name: "路口天河"})
	x.Add(Place{ID: 2, Name: "天河路口"})
	for _, text := range []string{"天河", "tianhe", "th"} {
		if got := ids(x.Search(Query{Text: text})); !slices.Equal(got, []uint32{2, 1}) {
			t.Errorf("Search(%q): got %v, want [2 1]", text, got)
		}
	}
}

func TestSearchCoordinatesRankNearestBranch(t *testing.T) {
	x := newGuangzhou(t)
	tests := []struct {
		name     string
		lat, lng float64
		want     uint32
	}{
		{"near Beijing Road", 23.1255, 113.2690, 6},
		{"near Tianhe", 23.1370, 113.3275, 5},
		{"in Shenzhen", 22.5400, 114.0500, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := x.Search(Query{Text: "海底捞", Lat: tt.lat, Lng: tt.lng, HasCoords: true})
			if len(got) < 3 || got[0].ID != tt.want {
				t.Fatalf("Search: got %v, want %d first of three branches", got, tt.want)
			}
			for _, c := range got {
				if c.DistanceM < 0 {
					t.Errorf("Search: got DistanceM %v for %d, want a distance", c.DistanceM, c.ID)
				}
			}
		})
	}
}

func TestSearchDistance(t *testing.T) {
	x := newGuangzhou(t)
	p := guangzhou[5] // 海底捞(北京路店)
	// 0.01° of latitude is 1111.95 m on a sphere of radius 6371008.8 m.
	got := x.Search(Query{Text: "海底捞", Lat: p.Lat + 0.01, Lng: p.Lng, HasCoords: true})
	if len(got) == 0 || got[0].ID != p.ID {
		t.Fatalf("Search: got %v, want %d first", got, p.ID)
	}
	if d := got[0].DistanceM; math.Abs(d-1111.95) > 0.1 {
		t.Errorf("Search: got DistanceM %v, want 1111.95 ± 0.1", d)
	}
}

func TestSearchRadiusFiltersText(t *testing.T) {
	x := newGuangzhou(t)
	got := x.Search(Query{Text: "海底捞", Lat: 23.1370, Lng: 113.3275, HasCoords: true, RadiusM: 3000})
	if want := []uint32{5}; !slices.Equal(ids(got), want) {
		t.Fatalf("Search within 3 km of Tianhe: got %v, want %v", ids(got), want)
	}
	if got[0].DistanceM > 3000 {
		t.Errorf("Search: got DistanceM %v, want at most 3000", got[0].DistanceM)
	}
}

func TestSearchNearby(t *testing.T) {
	x := newGuangzhou(t)
	tc := guangzhou[0] // 天河城
	got := x.Search(Query{Lat: tc.Lat, Lng: tc.Lng, HasCoords: true, RadiusM: 600})
	if len(got) == 0 || got[0].ID != tc.ID || got[0].DistanceM > 0.01 || got[0].Score != 1 {
		t.Fatalf("Search nearby: got %v, want %d first at 0 m with score 1", got, tc.ID)
	}
	for _, want := range []uint32{2, 19, 20} {
		if !slices.Contains(ids(got), want) {
			t.Errorf("Search nearby: got %v, want it to hold %d", ids(got), want)
		}
	}
	for _, far := range []uint32{3, 10} { // 1064 m and 674 m away
		if slices.Contains(ids(got), far) {
			t.Errorf("Search nearby: got %v, want no %d, which is beyond 600 m", ids(got), far)
		}
	}
	for i, c := range got {
		if c.DistanceM < 0 || c.DistanceM > 600 || c.Matched != "" {
			t.Errorf("Search nearby: got %+v, want a distance within 600 m and no Matched", c)
		}
		if i > 0 && c.DistanceM < got[i-1].DistanceM {
			t.Errorf("Search nearby: got distances out of order: %v", got)
		}
	}

	// The default radius of 2 km reaches 太古汇 and 天河体育中心 but not Beijing Road.
	got = x.Search(Query{Lat: tc.Lat, Lng: tc.Lng, HasCoords: true})
	if g := ids(got); !slices.Contains(g, 3) || !slices.Contains(g, 10) || slices.Contains(g, 9) {
		t.Errorf("Search nearby, default radius: got %v, want 3 and 10 but not 9", g)
	}
	if got := x.Search(Query{Lat: tc.Lat, Lng: tc.Lng, HasCoords: true, Limit: 2}); len(got) != 2 || got[0].ID != tc.ID {
		t.Errorf("Search nearby, limit 2: got %v, want two, %d first", got, tc.ID)
	}
}

func TestSearchRegion(t *testing.T) {
	x := newGuangzhou(t)
	tests := []struct {
		region string
		want   []uint32
	}{
		{"4403", []uint32{16}},
		{"440104", []uint32{6}},
		{"44", []uint32{5, 6, 16}},
		{"4401", []uint32{5, 6}},
		{"440199", nil},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			got := ids(x.Search(Query{Text: "海底捞", Region: tt.region}))
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Search(海底捞, region %s): got %v, want %v", tt.region, got, tt.want)
			}
		})
	}
	got := ids(x.Search(Query{Lat: 23.1255, Lng: 113.2690, HasCoords: true, RadiusM: 5000, Region: "440104"}))
	if len(got) == 0 || slices.ContainsFunc(got, func(id uint32) bool { return !slices.Contains([]uint32{6, 7, 9, 13, 14, 15}, id) }) {
		t.Errorf("Search nearby Beijing Road in 440104: got %v, want only places of 440104", got)
	}
}

func TestBoxAroundHoldsCircle(t *testing.T) {
	const r = 50_000
	for _, c := range []struct{ lat, lng float64 }{{23.13, 113.32}, {60, 10}, {85, -45}, {-89.9, 0}} {
		b := boxAround(c.lat, c.lng, r)
		for bearing := 0.0; bearing < 360; bearing += 5 {
			lat, lng := destination(c.lat, c.lng, bearing, r*0.9999)
			inLng := lng >= b.minLng && lng <= b.maxLng || lng+360 <= b.maxLng || lng-360 >= b.minLng
			if lat < b.minLat || lat > b.maxLat || !inLng {
				t.Errorf("boxAround(%v, %v, %v) = %+v: got %v, %v outside, want it inside", c.lat, c.lng, r, b, lat, lng)
			}
			if d := distanceM(toPoint(c.lat, c.lng), toPoint(lat, lng)); math.Abs(d-r*0.9999) > 0.01 {
				t.Errorf("distanceM to a point %v m away: got %v", r*0.9999, d)
			}
		}
	}
}

// destination returns the point m metres from lat, lng on the given bearing
// in degrees, on a sphere of radius earthRadiusM.
func destination(lat, lng, bearing, m float64) (float64, float64) {
	const rad = math.Pi / 180
	φ, θ, δ := lat*rad, bearing*rad, m/earthRadiusM
	φ2 := math.Asin(math.Sin(φ)*math.Cos(δ) + math.Cos(φ)*math.Sin(δ)*math.Cos(θ))
	λ2 := lng*rad + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ), math.Cos(δ)-math.Sin(φ)*math.Sin(φ2))
	return φ2 / rad, λ2 / rad
}

func TestAddReplaces(t *testing.T) {
	x := newGuangzhou(t)
	x.Add(Place{ID: 1, Name: "天河城购物中心", Region: "440106", Lat: 23.2000, Lng: 113.4000})
	if got, want := x.Len(), len(guangzhou); got != want {
		t.Errorf("Len() after replace = %d, want %d", got, want)
	}
	if got := x.Search(Query{Text: "购物中心"}); len(got) == 0 || got[0].ID != 1 || got[0].Name != "天河城购物中心" {
		t.Errorf("Search(购物中心): got %v, want 1 first, under its new name", got)
	}
	if got := x.Search(Query{Text: "天河城"}); len(got) == 0 || got[0].Name != "天河城购物中心" || slices.Contains(ids(got[1:]), 1) {
		t.Errorf("Search(天河城): got %v, want 1 once, under its new name", got)
	}
	old := guangzhou[0]
	if slices.Contains(ids(x.Search(Query{Lat: old.Lat, Lng: old.Lng, HasCoords: true, RadiusM: 100})), 1) {
		t.Error("Search near the old position: got 1, want it moved away")
	}
	if got := x.Search(Query{Lat: 23.2000, Lng: 113.4000, HasCoords: true, RadiusM: 100}); len(got) != 1 || got[0].ID != 1 {
		t.Errorf("Search near the new position: got %v, want 1", got)
	}
	if p, ok := x.Get(1); !ok || p.Name != "天河城购物中心" {
		t.Errorf("Get(1) = %+v, %v, want the new place", p, ok)
	}
}

func TestAddIsSearchableAtOnce(t *testing.T) {
	x := newGuangzhou(t)
	q := Query{Text: "陈记肠粉"}
	if got := x.Search(q); len(got) != 0 {
		t.Fatalf("Search(%q) before Add: got %v, want nothing", q.Text, got)
	}
	x.Add(Place{ID: 100, Name: "陈记肠粉(龙口西路)", Aliases: []string{"陈记"}, Region: "440106", Lat: 23.1440, Lng: 113.3360})
	for _, text := range []string{"陈记肠粉", "chenjichangfen", "cjcf", "陈记"} {
		if got := x.Search(Query{Text: text}); len(got) == 0 || got[0].ID != 100 {
			t.Errorf("Search(%q) after Add: got %v, want 100 first", text, got)
		}
	}
	if got := x.Search(Query{Lat: 23.1441, Lng: 113.3361, HasCoords: true, RadiusM: 50}); len(got) != 1 || got[0].ID != 100 {
		t.Errorf("Search nearby after Add: got %v, want 100", got)
	}
}

func TestGetCopiesAliases(t *testing.T) {
	x := newGuangzhou(t)
	p, ok := x.Get(7)
	if !ok || p.Name != "中山大学附属第一医院" || !slices.Equal(p.Aliases, []string{"中山一院", "中大附一"}) {
		t.Fatalf("Get(7) = %+v, %v, want the hospital", p, ok)
	}
	p.Aliases[0] = "changed"
	if p, _ := x.Get(7); p.Aliases[0] != "中山一院" {
		t.Errorf("Get(7) after changing a returned alias: got %q, want 中山一院", p.Aliases[0])
	}
	if _, ok := x.Get(999); ok {
		t.Error("Get(999): got a place, want none")
	}
}

func TestSearchInvalidReturnsNothing(t *testing.T) {
	x := newGuangzhou(t)
	tests := []struct {
		name string
		q    Query
	}{
		{"zero query", Query{}},
		{"spaces", Query{Text: " \t　"}},
		{"punctuation", Query{Text: "!!!()，。"}},
		{"no match", Query{Text: "zzzzqqqq"}},
		{"unknown characters", Query{Text: "鑫犇淼"}},
		{"invalid utf-8", Query{Text: "\xff\xfe\xfd"}},
		{"NaN latitude", Query{Text: "天河城", Lat: math.NaN(), Lng: 113, HasCoords: true}},
		{"latitude out of range", Query{Lat: 91, Lng: 113, HasCoords: true}},
		{"infinite longitude", Query{Lat: 23, Lng: math.Inf(1), HasCoords: true}},
		{"negative radius", Query{Text: "天河城", RadiusM: -1}},
		{"NaN radius", Query{Lat: 23.13, Lng: 113.32, HasCoords: true, RadiusM: math.NaN()}},
		{"region not digits", Query{Text: "天河城", Region: "44x"}},
		{"region too long", Query{Text: "天河城", Region: "4401061"}},
		{"region signed", Query{Text: "天河城", Region: "+44"}},
		{"nowhere near", Query{Lat: 40, Lng: 116, HasCoords: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := x.Search(tt.q); len(got) != 0 {
				t.Errorf("Search(%+v): got %v, want nothing", tt.q, got)
			}
		})
	}
	if got := New().Search(Query{Text: "天河城", Lat: 23, Lng: 113, HasCoords: true}); len(got) != 0 {
		t.Errorf("Search on an empty index: got %v, want nothing", got)
	}
}

func TestSearchLimit(t *testing.T) {
	x := New()
	for i := range 150 {
		x.Add(Place{ID: uint32(i + 1), Name: fmt.Sprintf("便利店%d号", i), Lat: 23.13 + float64(i)*1e-4, Lng: 113.32})
	}
	for _, tt := range []struct{ limit, want int }{{0, DefaultLimit}, {-3, DefaultLimit}, {5, 5}, {1000, MaxLimit}} {
		if got := x.Search(Query{Text: "便利店", Limit: tt.limit}); len(got) != tt.want {
			t.Errorf("Search(limit %d): got %d candidates, want %d", tt.limit, len(got), tt.want)
		}
	}
	if got := x.Search(Query{Text: "便利店 42"}); len(got) == 0 || got[0].ID != 43 {
		t.Errorf("Search(便利店 42): got %v, want 43 first", got)
	}
}

func TestConcurrentAddAndSearch(t *testing.T) {
	x := newGuangzhou(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := uint32(1000 + w*1000 + i)
				x.Add(Place{ID: id, Name: fmt.Sprintf("测试诊所%d", id), Lat: 23.1 + float64(i)*1e-4, Lng: 113.3})
				x.Search(Query{Text: "海底捞 tianhe", Lat: 23.13, Lng: 113.32, HasCoords: true})
				x.Search(Query{Lat: 23.12, Lng: 113.3, HasCoords: true})
			}
		})
	}
	wg.Wait()
	if got, want := x.Len(), len(guangzhou)+800; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	if got := x.Search(Query{Text: "测试诊所3150"}); len(got) == 0 || got[0].ID != 3150 {
		t.Errorf("Search(测试诊所3150): got %v, want 3150 first", got)
	}
}

func FuzzSearch(f *testing.F) {
	f.Add("海底捞(天河店)", "海底捞 tianhe", 23.13, 113.32, true, 0.0, "", 0)
	f.Add("KFC 3号", "hdl th", 0.0, 0.0, false, 100.0, "4401", 5)
	f.Add("ｚｈｏｎｇ　中", "zh", 89.99, 179.99, true, 1e9, "440106", 200)
	f.Add("\xff", "\x00a", -90.0, -180.0, true, -1.0, "x", -1)
	f.Fuzz(func(t *testing.T, name, text string, lat, lng float64, hasCoords bool, radius float64, region string, limit int) {
		x := newGuangzhou(t)
		x.Add(Place{ID: 999, Name: name, Aliases: []string{text}, Region: region, Lat: lat, Lng: lng})
		got := x.Search(Query{Text: text, Lat: lat, Lng: lng, HasCoords: hasCoords, RadiusM: radius, Region: region, Limit: limit})
		if len(got) > MaxLimit {
			t.Fatalf("Search: got %d candidates, want at most %d", len(got), MaxLimit)
		}
		for i, c := range got {
			if !(c.Score >= 0 && c.Score <= 1) {
				t.Errorf("Search[%d]: got Score %v, want in [0, 1]", i, c.Score)
			}
			if !(c.DistanceM == -1 || c.DistanceM >= 0) {
				t.Errorf("Search[%d]: got DistanceM %v, want -1 or a distance", i, c.DistanceM)
			}
			if i > 0 && c.Score > got[i-1].Score {
				t.Errorf("Search: got scores out of order: %v", got)
			}
		}
	})
}
