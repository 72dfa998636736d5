package chainviz

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// at parses "01-02 15:04" as a time in June 2022, CST.
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2022-"+s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

// example is a chain of six cases in Guangzhou, the fourth asked about.
func example() Chain {
	return Chain{
		Title: "GZ01-20220609-004",
		Members: []Member{
			{Case: "GZ01-20220605-001", Region: "440106", RegionName: "天河区", Start: at("06-05 10:00"), Infection: at("06-03 10:00"), Basis: "incubation"},
			{Case: "GZ01-20220607-002", Region: "440104", RegionName: "越秀区", Start: at("06-07 08:00"), Infection: at("06-04 12:30"), Basis: "shared_stop"},
			{Case: "GZ01-20220607-003", Region: "440105", RegionName: "海珠区", Start: at("06-07 20:00"), Infection: at("06-04 19:10"), Basis: "shared_stop"},
			{Case: "GZ01-20220609-004", Region: "440106", RegionName: "天河区", Start: at("06-09 09:30"), Infection: at("06-06 13:45"), Basis: "shared_stop", Focus: true},
			{Case: "GZ01-20220610-005", Region: "440111", RegionName: "白云区", Start: at("06-10 16:00"), Infection: at("06-07 10:20"), Basis: "shared_stop"},
			{Case: "GZ01-20220611-006", Region: "440113", RegionName: "番禺区", Start: at("06-11 07:45"), Infection: at("06-08 18:30"), Basis: "shared_stop"},
		},
		Links: []Link{
			{From: "GZ01-20220605-001", To: "GZ01-20220607-002", Place: "天河城购物中心", At: at("06-04 12:30"), Directed: true},
			{From: "GZ01-20220605-001", To: "GZ01-20220607-003", Place: "体育西路地铁站", At: at("06-04 19:10"), Directed: true},
			{From: "GZ01-20220607-002", To: "GZ01-20220609-004", Place: "珠江新城 K11 餐厅", At: at("06-06 13:45"), Directed: true},
			{From: "GZ01-20220607-003", To: "GZ01-20220610-005", Place: "越秀公园", At: at("06-07 10:20"), Directed: true},
			{From: "GZ01-20220609-004", To: "GZ01-20220611-006", Place: "番禺万达广场", At: at("06-08 18:30"), Directed: true},
			{From: "GZ01-20220607-003", To: "GZ01-20220609-004", Place: "客村菜市场", At: at("06-05 15:00"), LowPriority: true},
			{From: "GZ01-20220610-005", To: "GZ01-20220605-001", Place: "北京路步行街", At: at("06-02 11:15"), LowPriority: true},
		},
	}
}

// node is a parsed XML element.
type node struct {
	name string
	attr map[string]string
	kids []*node
	text string // character data directly inside
}

// parse parses b strictly as XML and returns the root element.
func parse(t *testing.T, b []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var root *node
	var stack []*node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parsing the SVG: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attr: map[string]string{}}
			for _, a := range tok.Attr {
				n.attr[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else if root != nil {
				t.Fatalf("second root element <%s>", n.name)
			} else {
				root = n
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q, want the SVG namespace", tok.Name.Space)
				}
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	if root == nil || root.name != "svg" {
		t.Fatalf("root element is not <svg>:\n%s", b)
	}
	return root
}

// find returns the elements under n (n included) for which ok holds, in
// document order.
func (n *node) find(ok func(*node) bool) []*node {
	var out []*node
	if ok(n) {
		out = append(out, n)
	}
	for _, k := range n.kids {
		out = append(out, k.find(ok)...)
	}
	return out
}

// texts returns the character data of every element under n, in document
// order.
func (n *node) texts() []string {
	var out []string
	for _, e := range n.find(func(*node) bool { return true }) {
		if s := strings.TrimSpace(e.text); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func hasClass(n *node, class string) bool {
	return slices.Contains(strings.Fields(n.attr["class"]), class)
}

func classed(class string) func(*node) bool {
	return func(n *node) bool { return hasClass(n, class) }
}

// containsText reports whether some text of n contains s.
func containsText(n *node, s string) bool {
	return slices.ContainsFunc(n.texts(), func(t string) bool { return strings.Contains(t, s) })
}

// chainOf returns a chain of n members, a day apart, each infected by the
// one before at "P<i>".
func chainOf(n int) Chain {
	var c Chain
	t0 := at("06-01 08:00")
	for i := range n {
		inf := t0.Add(time.Duration(i) * 24 * time.Hour)
		c.Members = append(c.Members, Member{
			Case: fmt.Sprintf("GZ01-20220601-%03d", i+1), RegionName: "天河区",
			Infection: inf, Start: inf.Add(60 * time.Hour), Basis: "shared_stop",
		})
		if i > 0 {
			c.Links = append(c.Links, Link{From: c.Members[i-1].Case, To: c.Members[i].Case, Place: fmt.Sprint("P", i), At: inf, Directed: true})
		}
	}
	return c
}

func TestSVGWellFormed(t *testing.T) {
	nasty := example()
	nasty.Title = "<script>alert('x')</script>"
	nasty.Members[0].RegionName = "a\nb\x00c\x7f]]>"
	nasty.Links[0].Place = "]]><!-- & --><![CDATA["
	for _, tc := range []struct {
		name string
		c    Chain
		o    Options
	}{
		{"example", example(), Options{}},
		{"example en", example(), Options{Lang: "en"}},
		{"empty", Chain{}, Options{}},
		{"one member", Chain{Members: example().Members[3:4]}, Options{}},
		{"nasty text", nasty, Options{}},
		{"long chain", chainOf(40), Options{}},
		{"no times", Chain{Members: []Member{{Case: "A"}, {Case: "B"}}, Links: []Link{{From: "A", To: "B", Place: "P"}}}, Options{}},
		{"years apart", Chain{Members: []Member{{Case: "A", Start: time.Date(1990, 1, 1, 0, 0, 0, 0, cst)}, {Case: "B", Start: at("06-01 00:00")}}}, Options{}},
		{"centuries apart", Chain{Members: []Member{{Case: "A", Start: time.Date(1000, 1, 1, 0, 0, 0, 0, cst)}, {Case: "B", Start: time.Date(3000, 1, 1, 0, 0, 0, 0, cst)}}}, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := SVG(tc.c, tc.o)
			root := parse(t, b)
			for _, a := range []string{"width", "height", "viewBox"} {
				if root.attr[a] == "" {
					t.Errorf("<svg> has no %s", a)
				}
			}
			if got, want := root.attr["font-family"], "Noto Sans CJK SC, Microsoft YaHei, sans-serif"; got != want {
				t.Errorf("font-family = %q, want %q", got, want)
			}
			if len(root.kids) == 0 || root.kids[0].name != "title" {
				t.Errorf("the first child of <svg> is not <title>")
			}
			for _, e := range root.find(func(*node) bool { return true }) {
				for _, a := range []string{"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height", "points", "viewBox"} {
					if v := e.attr[a]; strings.Contains(v, "NaN") || strings.Contains(v, "Inf") {
						t.Errorf("<%s %s=%q>: not a number", e.name, a, v)
					}
				}
			}
		})
	}
}

func TestSVGContainsCasesAndPlaces(t *testing.T) {
	c := example()
	root := parse(t, SVG(c, Options{}))
	for _, m := range c.Members {
		if !containsText(root, m.Case) {
			t.Errorf("no text contains the case %s", m.Case)
		}
		if !containsText(root, m.RegionName) {
			t.Errorf("no text contains the region %s", m.RegionName)
		}
	}
	for _, l := range c.Links {
		if !containsText(root, l.Place) {
			t.Errorf("no text contains the place %s", l.Place)
		}
		if hm := l.At.In(cst).Format("15:04"); !containsText(root, l.Place+"  "+hm) {
			t.Errorf("no label %q", l.Place+"  "+hm)
		}
	}
	if got, want := len(root.find(classed("member"))), len(c.Members); got != want {
		t.Errorf("%d members drawn, want %d", got, want)
	}
	if got, want := len(root.find(classed("link"))), len(c.Links); got != want {
		t.Errorf("%d links drawn, want %d", got, want)
	}
	focus := root.find(classed("focus"))
	if len(focus) != 1 || !containsText(focus[0], "GZ01-20220609-004") {
		t.Errorf("the focus case is not the one highlighted: %d highlighted", len(focus))
	}
	if !containsText(root, "传播链：GZ01-20220609-004") {
		t.Errorf("no title 传播链：GZ01-20220609-004")
	}
	for _, s := range []string{"推断感染时间", "发病", "共同暴露地点", "低优先级", "06-05", "北京时间"} {
		if !containsText(root, s) {
			t.Errorf("no text %q", s)
		}
	}
	if containsText(root, "没有共同暴露地点") {
		t.Errorf("says there are no shared stops")
	}
}

func TestSVGEscapes(t *testing.T) {
	const bad = `x<&"'y`
	c := Chain{
		Title:   bad,
		Members: []Member{{Case: "A" + bad, RegionName: bad, Start: at("06-05 10:00")}, {Case: "B", Start: at("06-06 10:00")}},
		Links:   []Link{{From: "A" + bad, To: "B", Place: "P" + bad, At: at("06-04 10:00"), Directed: true}},
	}
	b := SVG(c, Options{})
	if bytes.Contains(b, []byte(`<&"`)) {
		t.Errorf("the SVG contains <&\" unescaped:\n%s", b)
	}
	root := parse(t, b)
	for _, s := range []string{"A" + bad, "P" + bad, "传播链：" + bad} {
		if !containsText(root, s) {
			t.Errorf("no text contains %q after unescaping", s)
		}
	}
}

func TestSVGLowPriorityDashed(t *testing.T) {
	root := parse(t, SVG(example(), Options{}))
	links := root.find(classed("link"))
	var low, high int
	for _, g := range links {
		edges := g.find(classed("edge"))
		if len(edges) != 1 {
			t.Fatalf("link with %d edges, want 1", len(edges))
		}
		e := edges[0]
		if hasClass(g, "low") {
			low++
			if e.attr["stroke-dasharray"] == "" {
				t.Errorf("low priority link %q is not dashed", g.kids[0].text)
			}
			if got, want := e.attr["stroke"], colLow; got != want {
				t.Errorf("low priority link stroke %s, want %s", got, want)
			}
		} else {
			high++
			if e.attr["stroke-dasharray"] != "" {
				t.Errorf("link %q is dashed", g.kids[0].text)
			}
		}
	}
	if low != 2 || high != 5 {
		t.Errorf("%d low and %d other links, want 2 and 5", low, high)
	}
}

func TestSVGEnglish(t *testing.T) {
	root := parse(t, SVG(example(), Options{Lang: "en"}))
	for _, s := range []string{"Chain of transmission: GZ01-20220609-004", "Inferred infection", "Onset", "Shared exposure place", "Low priority", "Case in question", "China Standard Time"} {
		if !containsText(root, s) {
			t.Errorf("no text %q", s)
		}
	}
	for _, s := range []string{"传播链", "推断感染时间", "共同暴露地点", "低优先级", "发病"} {
		if containsText(root, s) {
			t.Errorf("the English picture contains %q", s)
		}
	}
	for _, lang := range []string{"en-US", "EN", "en_GB"} {
		if !bytes.Equal(SVG(example(), Options{Lang: lang}), SVG(example(), Options{Lang: "en"})) {
			t.Errorf("Lang %q does not draw English", lang)
		}
	}
	for _, lang := range []string{"", "zh", "zh-CN", "fr"} {
		if !bytes.Equal(SVG(example(), Options{Lang: lang}), SVG(example(), Options{})) {
			t.Errorf("Lang %q does not draw Chinese", lang)
		}
	}
}

func TestSVGDeterministic(t *testing.T) {
	want := SVG(example(), Options{})
	if got := SVG(example(), Options{}); !bytes.Equal(got, want) {
		t.Fatalf("two calls differ")
	}
	// The order of the input and the direction of undirected links do not
	// matter.
	c := example()
	slices.Reverse(c.Members)
	slices.Reverse(c.Links)
	for i, l := range c.Links {
		if !l.Directed {
			c.Links[i].From, c.Links[i].To = l.To, l.From
		}
	}
	if got := SVG(c, Options{}); !bytes.Equal(got, want) {
		t.Errorf("reordered input draws differently:\n%s", diffLines(string(want), string(got)))
	}
	// Times in another zone are the same instants.
	c = example()
	for i := range c.Members {
		c.Members[i].Start = c.Members[i].Start.UTC()
		c.Members[i].Infection = c.Members[i].Infection.In(time.FixedZone("X", -5*3600))
	}
	if got := SVG(c, Options{}); !bytes.Equal(got, want) {
		t.Errorf("times in other zones draw differently:\n%s", diffLines(string(want), string(got)))
	}
}

func TestSVGDuplicates(t *testing.T) {
	c := example()
	c.Members = append(c.Members, c.Members[2])
	// A shared stop seen from both cases, low priority from one side only.
	c.Links = append(c.Links, Link{From: "GZ01-20220609-004", To: "GZ01-20220607-003", Place: "客村菜市场", At: at("06-05 15:00")})
	root := parse(t, SVG(c, Options{}))
	if got := len(root.find(classed("member"))); got != 6 {
		t.Errorf("%d members drawn, want 6", got)
	}
	if got := len(root.find(classed("link"))); got != 7 {
		t.Errorf("%d links drawn, want 7", got)
	}
	if got := len(root.find(classed("low"))); got != 1 {
		t.Errorf("%d low priority links drawn, want 1 (客村菜市场 is not low priority from one side)", got)
	}
}

func TestSVGEmpty(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Chain
		o    Options
		want string
	}{
		{"nothing", Chain{}, Options{}, "没有共同暴露地点"},
		{"nothing en", Chain{}, Options{Lang: "en"}, "No shared stops"},
		{"one case", Chain{Members: example().Members[3:4]}, Options{}, "没有共同暴露地点"},
		{"links to unknown cases", Chain{Members: example().Members[3:4], Links: example().Links}, Options{}, "另有 7 条关联未绘出"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := parse(t, SVG(tc.c, tc.o))
			if !containsText(root, tc.want) {
				t.Errorf("no text %q in %q", tc.want, root.texts())
			}
			if got := len(root.find(classed("link"))); got != 0 {
				t.Errorf("%d links drawn, want 0", got)
			}
			if got, want := len(root.find(classed("member"))), len(tc.c.Members); got != want {
				t.Errorf("%d members drawn, want %d", got, want)
			}
		})
	}
}

func TestSVGLimits(t *testing.T) {
	c := chainOf(MaxMembers + 50)
	c.Members[len(c.Members)-1].Focus = true
	root := parse(t, SVG(c, Options{}))
	if got := len(root.find(classed("member"))); got != MaxMembers {
		t.Errorf("%d members drawn, want %d", got, MaxMembers)
	}
	focus := root.find(classed("focus"))
	if len(focus) != 1 || !containsText(focus[0], c.Members[len(c.Members)-1].Case) {
		t.Errorf("the focus case, the last infected, is not drawn")
	}
	// Drawn: the first 199 and the focus case, so 198 links of the chain.
	if got := len(root.find(classed("link"))); got != MaxMembers-2 {
		t.Errorf("%d links drawn, want %d", got, MaxMembers-2)
	}
	for _, s := range []string{"另有 50 例未绘出（最多绘制 200 例）", "另有 51 条关联未绘出"} {
		if !containsText(root, s) {
			t.Errorf("no note %q", s)
		}
	}
}

func TestExampleGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		o    Options
	}{
		{"example.svg", Options{}},
		{"example.en.svg", Options{Lang: "en"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := SVG(example(), tc.o)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (go test -update rewrites it):\n%s", path, diffLines(string(want), string(got)))
			}
		})
	}
}

func diffLines(want, got string) string {
	return cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n"))
}
