package chainviz

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
)

// Colours: the Okabe–Ito palette (distinguishable with colour blindness)
// and greys with at least 4.5:1 contrast on white for text.
const (
	colInk        = "#1f1f1f"
	colMuted      = "#595959"
	colGrid       = "#e8e8e8"
	colTrack      = "#d0d0d0"
	colLink       = "#0072b2" // blue
	colLow        = "#767676" // grey, 4.5:1
	colBar        = "#56b4e9" // sky blue: infection to onset
	colBoxFill    = "#f2f7fc"
	colBoxStroke  = "#4f79a3"
	colFocusFill  = "#fff0e0"
	colFocusStrok = "#d55e00" // vermillion
	colOnset      = "#1f1f1f"
	fontFamily    = "Noto Sans CJK SC, Microsoft YaHei, sans-serif"
)

// f formats a coordinate: at most one decimal, no negative zero.
func f(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// svg writes SVG elements.
type svg struct{ b bytes.Buffer }

// raw writes parts as they are: markup and numbers formatted by f.
func (s *svg) raw(parts ...string) {
	for _, p := range parts {
		s.b.WriteString(p)
	}
}

// text writes character data, escaped.
func (s *svg) text(v string) {
	_ = xml.EscapeText(&s.b, []byte(v)) // a bytes.Buffer does not fail
}

// attr writes an attribute with an escaped value.
func (s *svg) attr(name, v string) {
	s.raw(" ", name, `="`)
	s.text(v)
	s.raw(`"`)
}

func (s *svg) line(l line, fill string) {
	s.raw(`<text x="`, f(l.x), `" y="`, f(l.y), `" font-size="`, f(l.size), `" fill="`, fill, `"`)
	if l.bold {
		s.raw(` font-weight="bold"`)
	}
	s.raw(">")
	s.text(l.s)
	s.raw("</text>\n")
}

func (s *svg) title(v string) {
	s.raw("<title>")
	s.text(v)
	s.raw("</title>")
}

func diamond(x, y, r float64) string {
	return f(x) + "," + f(y-r) + " " + f(x+r) + "," + f(y) + " " + f(x) + "," + f(y+r) + " " + f(x-r) + "," + f(y)
}

// pathData is the SVG path of steps.
func pathData(steps []step) string {
	var b strings.Builder
	for i, st := range steps {
		switch {
		case i == 0:
			b.WriteString("M" + f(st.x) + "," + f(st.y))
		case st.curve:
			p := steps[i-1]
			m := (p.y + st.y) / 2
			b.WriteString(" C" + f(p.x) + "," + f(m) + " " + f(st.x) + "," + f(m) + " " + f(st.x) + "," + f(st.y))
		default:
			b.WriteString(" L" + f(st.x) + "," + f(st.y))
		}
	}
	return b.String()
}

// render writes the picture l.
func render(l layout, t texts) []byte {
	var s svg
	s.raw(`<svg xmlns="http://www.w3.org/2000/svg" width="`, f(l.w), `" height="`, f(l.h),
		`" viewBox="0 0 `, f(l.w), " ", f(l.h), `" role="img" font-family="`, fontFamily, `" font-size="12">`, "\n")
	s.title(l.title.s)
	s.raw("\n<desc>")
	s.text(l.desc)
	s.raw("</desc>\n")
	s.raw(`<rect width="`, f(l.w), `" height="`, f(l.h), `" fill="#ffffff"/>`, "\n")

	// Title, notes, legend.
	s.line(l.title, colInk)
	for _, n := range l.notes {
		fill := colMuted
		if n.s == t.empty {
			fill = colInk
		}
		s.line(n, fill)
	}
	s.raw(`<g class="legend">`, "\n")
	for _, it := range l.legend {
		x, y := it.x, it.y
		switch it.kind {
		case "focus":
			s.raw(`<rect x="`, f(x), `" y="`, f(y-7), `" width="22" height="14" rx="3" fill="`, colFocusFill, `" stroke="`, colFocusStrok, `" stroke-width="2.5"/>`)
		case "infection":
			s.raw(`<polygon points="`, diamond(x+11, y, 6), `" fill="`, colLink, `"/>`)
		case "estimated":
			s.raw(`<polygon points="`, diamond(x+11, y, 5.5), `" fill="#ffffff" stroke="`, colLink, `" stroke-width="1.6"/>`)
		case "onset":
			s.raw(`<line x1="`, f(x), `" y1="`, f(y), `" x2="`, f(x+11), `" y2="`, f(y), `" stroke="`, colBar, `" stroke-width="4" stroke-linecap="round"/>`)
			s.raw(`<circle cx="`, f(x+13), `" cy="`, f(y), `" r="4.5" fill="`, colOnset, `" stroke="#ffffff" stroke-width="1.5"/>`)
		case "link":
			s.raw(`<line x1="`, f(x), `" y1="`, f(y), `" x2="`, f(x+16), `" y2="`, f(y), `" stroke="`, colLink, `" stroke-width="1.8"/>`)
			s.raw(`<polygon points="`, f(x+22), ",", f(y), " ", f(x+14), ",", f(y-4.5), " ", f(x+14), ",", f(y+4.5), `" fill="`, colLink, `"/>`)
		case "low":
			s.raw(`<line x1="`, f(x), `" y1="`, f(y), `" x2="`, f(x+22), `" y2="`, f(y), `" stroke="`, colLow, `" stroke-width="1.6" stroke-dasharray="5 4"/>`)
		}
		s.line(line{x: x + 28, y: y + 4, s: it.text, size: sizeNote}, colInk)
	}
	s.raw("</g>\n")

	// Axis.
	if l.tickY > 0 {
		s.raw(`<g class="axis">`, "\n")
		for _, tk := range l.ticks {
			s.raw(`<line x1="`, f(tk.x), `" y1="`, f(l.plotTop-4), `" x2="`, f(tk.x), `" y2="`, f(l.plotBottom), `" stroke="`, colGrid, `"/>`, "\n")
			if tk.label == "" {
				continue
			}
			for _, y := range []float64{l.tickY, l.tickY2} {
				if y == 0 {
					continue
				}
				s.raw(`<text x="`, f(tk.labelX), `" y="`, f(y), `" font-size="`, f(sizeTick), `" fill="`, colMuted, `" text-anchor="middle">`)
				s.text(tk.label)
				s.raw("</text>\n")
			}
		}
		s.raw("</g>\n")
	}

	// Time lines of the rows, and infection to onset.
	s.raw(`<g class="tracks">`, "\n")
	for _, r := range l.rows {
		s.raw(`<line x1="`, f(plotLeft), `" y1="`, f(r.trackY), `" x2="`, f(max(l.plotRight, r.box.right())), `" y2="`, f(r.trackY), `" stroke="`, colTrack, `" stroke-width="1"/>`, "\n")
		if r.hasOnset && r.onsetX != r.box.x {
			s.raw(`<line x1="`, f(r.box.x), `" y1="`, f(r.trackY), `" x2="`, f(r.onsetX), `" y2="`, f(r.trackY), `" stroke="`, colBar, `" stroke-width="4" stroke-linecap="round"/>`, "\n")
		}
	}
	s.raw("</g>\n")

	// Boxes.
	for _, r := range l.rows {
		class, fill, stroke, sw := "member", colBoxFill, colBoxStroke, "1.2"
		if r.m.Focus {
			class, fill, stroke, sw = "member focus", colFocusFill, colFocusStrok, "3"
		}
		s.raw(`<g class="`, class, `">`)
		s.title(r.title)
		s.raw(`<rect x="`, f(r.box.x), `" y="`, f(r.box.y), `" width="`, f(r.box.w), `" height="`, f(r.box.h), `" rx="6" fill="`, fill, `" stroke="`, stroke, `" stroke-width="`, sw, `"/>`)
		s.raw(`<text x="`, f(r.box.x+10), `" y="`, f(r.box.y+16), `" font-size="`, f(sizeID), `" font-weight="bold" fill="`, colInk, `">`)
		s.text(r.line1)
		s.raw(`</text><text x="`, f(r.box.x+10), `" y="`, f(r.box.y+31), `" font-size="`, f(sizeBox), `" fill="`, colMuted, `">`)
		s.text(r.line2)
		s.raw("</text></g>\n")
	}

	// Connectors, with a white halo where they cross time lines and each
	// other.
	for _, c := range l.conns {
		col, dash, class := colLink, "", "link"
		if c.l.LowPriority {
			col, dash, class = colLow, ` stroke-dasharray="5 4"`, "link low"
		}
		if c.l.Directed {
			class += " directed"
		}
		dir := 1.0
		if c.y2 < c.y1 {
			dir = -1
		}
		s.raw(`<g class="`, class, `">`)
		s.title(c.title)
		d := pathData(c.path)
		s.raw(`<path class="halo" d="`, d, `" fill="none" stroke="#ffffff" stroke-opacity="0.85" stroke-width="5"/>`)
		s.raw(`<path class="edge" d="`, d, `" fill="none" stroke="`, col, `" stroke-width="1.8"`, dash, `/>`)
		s.raw(`<circle cx="`, f(c.x), `" cy="`, f(c.y1), `" r="3" fill="`, col, `"/>`)
		if c.l.Directed {
			s.raw(`<polygon points="`, f(c.x), ",", f(c.y2), " ", f(c.x-4.5), ",", f(c.y2-dir*9), " ", f(c.x+4.5), ",", f(c.y2-dir*9), `" fill="`, col, `"/>`)
		} else {
			s.raw(`<circle cx="`, f(c.x), `" cy="`, f(c.y2), `" r="3" fill="`, col, `"/>`)
		}
		s.raw("</g>\n")
	}

	// Markers of infection and onset.
	s.raw(`<g class="markers">`, "\n")
	for _, r := range l.rows {
		if r.estimated {
			s.raw(`<polygon class="infection estimated" points="`, diamond(r.box.x, r.trackY, 5.5), `" fill="#ffffff" stroke="`, colLink, `" stroke-width="1.6"/>`, "\n")
		} else {
			s.raw(`<polygon class="infection" points="`, diamond(r.box.x, r.trackY, 6), `" fill="`, colLink, `" stroke="#ffffff" stroke-width="1"/>`, "\n")
		}
		if r.hasOnset {
			s.raw(`<circle class="onset" cx="`, f(r.onsetX), `" cy="`, f(r.onsetY), `" r="4.5" fill="`, colOnset, `" stroke="#ffffff" stroke-width="1.5"/>`, "\n")
		}
	}
	s.raw("</g>\n")

	// Labels of the connectors, or their footnote numbers.
	for _, c := range l.conns {
		if c.merged {
			continue
		}
		col, textCol := colLink, colInk
		if c.l.LowPriority {
			col, textCol = colLow, colMuted
		}
		if c.placed {
			b := c.labelBox
			s.raw(`<g class="label">`)
			s.title(c.labelTitle)
			s.raw(`<rect x="`, f(b.x), `" y="`, f(b.y), `" width="`, f(b.w), `" height="`, f(b.h), `" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="`, col, `" stroke-width="0.6"/>`)
			s.raw(`<text x="`, f(b.x+4), `" y="`, f(b.y+12), `" font-size="`, f(sizeLabel), `" fill="`, textCol, `">`)
			s.text(c.label)
			s.raw("</text></g>\n")
			continue
		}
		s.raw(`<g class="label footnote">`)
		s.title(c.labelTitle)
		s.raw(`<circle cx="`, f(c.badgeX), `" cy="`, f(c.badgeY), `" r="8" fill="#ffffff" stroke="`, col, `" stroke-width="1.2"/>`)
		s.raw(`<text x="`, f(c.badgeX), `" y="`, f(c.badgeY+3.5), `" font-size="10" fill="`, textCol, `" text-anchor="middle">`, strconv.Itoa(c.num), "</text></g>\n")
	}

	for _, fn := range l.footnotes {
		s.line(fn, colInk)
	}
	s.raw("</svg>\n")
	return s.b.Bytes()
}
