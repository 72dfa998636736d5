package chainviz

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkOverlaps fails t if two labels overlap, a label covers a box, an
// onset marker or another connector, or something lies outside the picture.
func checkOverlaps(t *testing.T, l layout) {
	t.Helper()
	inside := func(what string, r rect) {
		if r.x < 0 || r.y < 0 || r.right() > l.w || r.bottom() > l.h {
			t.Errorf("%s %+v is outside the picture %vx%v", what, r, l.w, l.h)
		}
	}
	for i, r := range l.rows {
		inside("box of "+r.m.Case, r.box)
		for _, s := range l.rows[i+1:] {
			if r.box.overlaps(s.box) {
				t.Errorf("boxes of %s and %s overlap", r.m.Case, s.m.Case)
			}
		}
	}
	for i, c := range l.conns {
		if !c.placed {
			continue
		}
		inside("label "+c.label, c.labelBox)
		for _, d := range l.conns[i+1:] {
			if d.placed && c.labelBox.overlaps(d.labelBox) {
				t.Errorf("labels %q and %q overlap", c.label, d.label)
			}
		}
		for j, d := range l.conns {
			for _, seg := range d.rects() {
				if j != i && c.labelBox.overlaps(seg) {
					t.Errorf("label %q covers the connector of %q", c.label, d.label)
				}
			}
		}
		for _, r := range l.rows {
			if c.labelBox.overlaps(r.box) {
				t.Errorf("label %q covers the box of %s", c.label, r.m.Case)
			}
			if r.hasOnset && c.labelBox.overlaps(rect{r.onsetX - 4.5, r.onsetY - 4.5, 9, 9}) {
				t.Errorf("label %q covers the onset of %s", c.label, r.m.Case)
			}
		}
	}
	for _, c := range l.conns {
		for _, seg := range c.rects()[2:] { // the path without the end markers
			for k, r := range l.rows {
				if k != c.from && k != c.to && seg.overlaps(r.box) {
					t.Errorf("the connector of %q crosses the box of %s", c.label, r.m.Case)
				}
			}
		}
	}
	for i, a := range l.legend {
		ra := rect{a.x, a.y - 8, 28 + width(a.text, sizeNote), 16}
		inside("legend "+a.text, ra)
		for _, b := range l.legend[i+1:] {
			if rb := (rect{b.x, b.y - 8, 28 + width(b.text, sizeNote), 16}); ra.overlaps(rb) {
				t.Errorf("legend items %q and %q overlap", a.text, b.text)
			}
		}
	}
	for i := 1; i < len(l.ticks); i++ {
		a, b := l.ticks[i-1], l.ticks[i]
		if a.label != "" && b.label != "" && b.labelX-a.labelX < width(a.label, sizeTick)+4 {
			t.Errorf("tick labels %s and %s overlap", a.label, b.label)
		}
	}
}

func TestLayoutExample(t *testing.T) {
	for _, lang := range []string{"zh", "en"} {
		t.Run(lang, func(t *testing.T) {
			l := layoutChain(example(), textsFor(lang))
			checkOverlaps(t, l)
			for _, c := range l.conns {
				if !c.placed {
					t.Errorf("the label %q has no place, footnote %d", c.label, c.num)
				}
			}
			if len(l.footnotes) != 0 {
				t.Errorf("footnotes %v, want none", l.footnotes)
			}
			// Rows in the order of infection, each box at its infection.
			for i, r := range l.rows {
				if i > 0 && r.m.Infection.Before(l.rows[i-1].m.Infection) {
					t.Errorf("row %d (%s) infected before row %d", i, r.m.Case, i-1)
				}
				if r.onsetX <= r.box.right() {
					t.Errorf("the onset of %s is under its box", r.m.Case)
				}
			}
		})
	}
}

func TestLayoutMerged(t *testing.T) {
	// Many stops shared by the same two cases at about the same time are
	// drawn on one line with one label.
	c := Chain{Members: []Member{
		{Case: "A", RegionName: "天河区", Start: at("06-05 10:00"), Infection: at("06-03 10:00")},
		{Case: "B", RegionName: "越秀区", Start: at("06-07 10:00"), Infection: at("06-04 10:00")},
	}}
	for i := range 12 {
		c.Links = append(c.Links, Link{From: "A", To: "B", Place: fmt.Sprintf("地点%02d", i), At: at("06-04 10:00").Add(time.Duration(i) * 5 * time.Minute)})
	}
	l := layoutChain(c, zh)
	checkOverlaps(t, l)
	var labels []string
	for _, k := range l.conns {
		if !k.merged {
			labels = append(labels, k.label)
		}
		if k.x != l.conns[0].x {
			t.Errorf("the link at %s is not on the line of the first", k.l.At.Format("15:04"))
		}
	}
	if want := []string{"地点00  10:00（共 12 条）"}; !slices.Equal(labels, want) {
		t.Errorf("labels %q, want %q", labels, want)
	}
	if !l.conns[0].placed {
		t.Errorf("the label has no place")
	}
	for _, k := range c.Links {
		if !strings.Contains(l.conns[0].labelTitle, k.Place) {
			t.Errorf("the title of the label does not tell of %s", k.Place)
		}
	}
}

func TestLayoutCrowded(t *testing.T) {
	// Five cases infected within an hour, each pair sharing a stop at
	// about the same time: some labels do not fit and become numbered
	// footnotes.
	var c Chain
	for i := range 5 {
		inf := at("06-04 10:00").Add(time.Duration(i) * 10 * time.Minute)
		c.Members = append(c.Members, Member{Case: fmt.Sprint("C", i), RegionName: "天河区", Infection: inf, Start: inf.Add(50 * time.Hour)})
	}
	for i := range 5 {
		for j := i + 1; j < 5; j++ {
			c.Links = append(c.Links, Link{From: c.Members[i].Case, To: c.Members[j].Case, Place: fmt.Sprintf("地点%d%d", i, j), At: c.Members[j].Infection})
		}
	}
	l := layoutChain(c, zh)
	checkOverlaps(t, l)
	var placed, numbered int
	for _, k := range l.conns {
		switch {
		case k.merged:
			t.Errorf("link %s merged", k.label)
		case k.placed:
			placed++
		default:
			numbered++
			if k.num != numbered {
				t.Errorf("footnote %d, want %d", k.num, numbered)
			}
		}
	}
	if placed == 0 || numbered == 0 || placed+numbered != 10 {
		t.Errorf("%d labels placed and %d numbered, want some of each, 10 in all", placed, numbered)
	}
	if got, want := len(l.footnotes), numbered+1; got != want {
		t.Errorf("%d footnote lines, want %d (a heading and one per numbered link)", got, want)
	}
}

func TestLayoutLongChain(t *testing.T) {
	l := layoutChain(chainOf(MaxMembers), zh)
	checkOverlaps(t, l)
	if l.w > maxPlotW+maxBoxW+400 {
		t.Errorf("width %v", l.w)
	}
	if l.tickY2 == 0 {
		t.Errorf("no axis under a long chain")
	}
}

func TestFit(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string
		max  float64
		want string
	}{
		{"fits", "天河区", 40, "天河区"},
		{"cut", "天河区珠江新城", 40, "天河区…"},
		{"latin", "Guangzhou Tower", 60, "Guangzho…"},
		{"nothing fits", "天河区", 5, "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fit(tc.s, 10, tc.max); got != tc.want {
				t.Errorf("fit(%q, 10, %v) = %q, want %q", tc.s, tc.max, got, tc.want)
			}
			if got := fit(tc.s, 10, tc.max); width(got, 10) > max(tc.max, 10) {
				t.Errorf("fit(%q, 10, %v) = %q, %v wide", tc.s, tc.max, got, width(got, 10))
			}
		})
	}
}
