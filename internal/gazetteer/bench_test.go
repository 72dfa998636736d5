// Benchmarks over 200,000 synthetic Guangzhou places: brand branches
// ("海底捞(天河金泰店)"), shops and housing estates ("金泰便利店",
// "天河金泰花园") and street addresses ("金泰路12号"), one in ten with an
// alias, spread over the city. Queries name a random one of them the way a
// patient might: in Chinese ("海底捞 天河"), in pinyin ("haidilao tianhe"),
// with the first part as initials ("hdl tianhe"), mixed ("海底捞 tianhe"),
// by its first part within 500 m ("海底捞" and coordinates), and by
// coordinates alone (2 km). "found" is the share of queries whose place is
// among the 10 returned; many queries fit dozens of places equally well
// ("hdl tianhe" fits every h-d-l brand branch in Tianhe), so it stays below 1.
//
//	go test -run '^$' -bench . -benchmem ./internal/gazetteer
//
// On a 2-vCPU Intel Xeon Firecracker VM (go1.26.8), in the
// quietest of several runs; other jobs loaded the machine, and runs under
// load were up to 2.5 times slower:
//
//	BenchmarkSearch/chinese         145 µs/op   0.77 found   487 B/place
//	BenchmarkSearch/pinyin          145 µs/op   0.74 found
//	BenchmarkSearch/initials        225 µs/op   0.41 found
//	BenchmarkSearch/mixed           150 µs/op   0.77 found
//	BenchmarkSearch/chinese+coords  155 µs/op   1.00 found
//	BenchmarkSearch/nearby           34 µs/op
//	BenchmarkAdd                      5 µs/op   (into 200,000 places)

package gazetteer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mozillazg/go-pinyin"
)

const benchPlaces = 200_000

var (
	benchBrands = []string{"海底捞", "麦当劳", "肯德基", "星巴克", "喜茶", "太二酸菜鱼", "点都德", "陶陶居", "广州酒家",
		"大参林", "老百姓大药房", "中国银行", "工商银行", "美宜佳", "钱大妈", "永辉超市", "屈臣氏", "真功夫"}
	benchAreas = []string{"天河", "越秀", "海珠", "荔湾", "白云", "黄埔", "番禺", "花都", "南沙", "从化", "增城",
		"北京路", "上下九", "体育西", "珠江新城", "客村", "岗顶", "石牌", "江南西", "五山", "员村", "车陂", "龙洞"}
	benchKinds = []string{"便利店", "药房", "诊所", "小区", "花园", "大厦", "广场", "市场", "酒店", "餐厅", "超市",
		"幼儿园", "小学", "中学", "卫生院", "网吧", "理发店", "茶餐厅", "肠粉店", "粥铺", "菜市场", "公园"}
	benchChars = []rune("金泰华富丽景明珠宏达新兴盛安康乐福祥瑞龙凤鸿运永和平嘉利信德隆昌恒丰裕顺鑫源广" +
		"东南西北中山海天云峰林森江湖河溪泉石岭岗湾塘村坊里巷街道桥园苑阁楼庭轩居雅静秀美佳宝")
	benchRegions = []string{"440103", "440104", "440105", "440106", "440111", "440112", "440113", "440114", "440115", "440117", "440118"}
)

// benchPlace returns synthetic place i and how a patient might name it: in
// Chinese, with a space between its parts.
func benchPlace(i int) (Place, []string) {
	rng := rand.New(rand.NewPCG(2026, uint64(i)))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	word := func() string {
		return string([]rune{benchChars[rng.IntN(len(benchChars))], benchChars[rng.IntN(len(benchChars))]})
	}
	p := Place{
		ID:     uint32(i + 1),
		Region: pick(benchRegions),
		Lat:    22.9 + rng.Float64()*0.5,
		Lng:    113.1 + rng.Float64()*0.5,
	}
	var parts []string
	switch n := rng.IntN(100); {
	case n < 25:
		brand, area := pick(benchBrands), pick(benchAreas)
		p.Name, p.Kind, parts = brand+"("+area+word()+"店)", "shop", []string{brand, area}
	case n < 65:
		w, kind := word(), pick(benchKinds)
		p.Name, p.Kind, parts = w+kind, kind, []string{w, kind}
	case n < 85:
		area, w, kind := pick(benchAreas), word(), pick(benchKinds)
		p.Name, p.Kind, parts = area+w+kind, kind, []string{area, w + kind}
	default:
		w := word()
		p.Name, p.Kind, parts = fmt.Sprintf("%s路%d号", w, 1+rng.IntN(300)), "address", []string{w + "路"}
	}
	if rng.IntN(10) == 0 {
		p.Aliases = []string{word() + pick(benchKinds)}
	}
	return p, parts
}

// toPinyin spells each part in pinyin, whole or by initials.
func toPinyin(parts []string, initials bool) string {
	out := make([]string, len(parts))
	for i, part := range parts {
		for _, py := range pinyin.LazyConvert(part, nil) {
			if initials {
				py = py[:1]
			}
			out[i] += py
		}
	}
	return strings.Join(out, " ")
}

func BenchmarkSearch(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := New()
	for i := range benchPlaces {
		p, _ := benchPlace(i)
		x.Add(p)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perPlace := float64(after.HeapAlloc-before.HeapAlloc) / benchPlaces

	const nq = 1024
	var chinese, pinyinFull, initials, mixed []Query
	var nearby, chineseNear []Query
	var want []uint32 // the place each text query was made from
	rng := rand.New(rand.NewPCG(1, 2))
	for range nq {
		p, parts := benchPlace(rng.IntN(benchPlaces))
		want = append(want, p.ID)
		chinese = append(chinese, Query{Text: strings.Join(parts, " ")})
		pinyinFull = append(pinyinFull, Query{Text: toPinyin(parts, false)})
		initials = append(initials, Query{Text: toPinyin(parts[:1], true) + " " + toPinyin(parts[1:], false)})
		mixed = append(mixed, Query{Text: parts[0] + " " + toPinyin(parts[1:], false)})
		// The patient names the brand or first word of a place within about
		// 500 m of where they were.
		lat, lng := p.Lat+(rng.Float64()-0.5)*0.009, p.Lng+(rng.Float64()-0.5)*0.009
		nearby = append(nearby, Query{Lat: lat, Lng: lng, HasCoords: true})
		chineseNear = append(chineseNear, Query{Text: parts[0], Lat: lat, Lng: lng, HasCoords: true})
	}
	for _, bb := range []struct {
		name string
		qs   []Query
	}{
		{"chinese", chinese},
		{"pinyin", pinyinFull},
		{"initials", initials},
		{"mixed", mixed},
		{"chinese+coords", chineseNear},
		{"nearby", nearby},
	} {
		b.Run(bb.name, func(b *testing.B) {
			hits := 0
			for i := 0; b.Loop(); i++ {
				got := x.Search(bb.qs[i%nq])
				if slices.ContainsFunc(got, func(c Candidate) bool { return c.ID == want[i%nq] }) {
					hits++
				}
			}
			b.ReportMetric(perPlace, "B/place")
			if bb.qs[0].Text != "" {
				b.ReportMetric(float64(hits)/float64(b.N), "found")
			}
		})
	}
}

// BenchmarkAdd measures adding a place to an index of benchPlaces places.
func BenchmarkAdd(b *testing.B) {
	x := New()
	for i := range benchPlaces {
		p, _ := benchPlace(i)
		x.Add(p)
	}
	for i := 0; b.Loop(); i++ {
		p, _ := benchPlace(benchPlaces + i)
		x.Add(p)
	}
}
