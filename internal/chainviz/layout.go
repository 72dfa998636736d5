package chainviz

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// cst is China Standard Time (Asia/Shanghai, UTC+08:00 all year), the zone
// of the axis and of every time shown.
var cst = time.FixedZone("CST", 8*60*60)

// Geometry, in px.
const (
	pad      = 16.0  // margin around the picture
	minWidth = 640.0 // so that the title and the legend have room
	plotLeft = 40.0  // x of the first midnight of the axis
	maxPlotW = 2400.0
	pitch    = 68.0 // height of a row
	boxH     = 38.0
	minBoxW  = 150.0
	maxBoxW  = 260.0
	labelH   = 16.0
	labelGap = 6.0 // between a connector and its label
	minDayW  = 36.0
	maxDayW  = 150.0
	maxDays  = 36525
	day      = 24 * time.Hour
)

// rect is an axis-aligned rectangle.
type rect struct{ x, y, w, h float64 }

func (r rect) right() float64  { return r.x + r.w }
func (r rect) bottom() float64 { return r.y + r.h }

func (r rect) grow(d float64) rect { return rect{r.x - d, r.y - d, r.w + 2*d, r.h + 2*d} }

func (r rect) overlaps(s rect) bool {
	return r.x < s.right() && s.x < r.right() && r.y < s.bottom() && s.y < r.bottom()
}

// row is a member as drawn.
type row struct {
	m         Member
	box       rect
	trackY    float64 // y of the row's time line (the middle of the box)
	estimated bool    // infection estimated from the incubation period
	hasOnset  bool
	onsetX    float64
	onsetY    float64 // trackY, or the bottom of the box when the onset falls inside it
	line1     string  // case id, fitted
	line2     string  // region and onset, fitted
	title     string  // everything, unabridged, for the tooltip
}

// conn is a link as drawn: a connector at x from the row of From (at y1)
// to the row of To (at y2).
type conn struct {
	l              Link
	from, to       int
	trunk          int // the first connector whose line this one shares (itself if none)
	x              float64
	y1, y2         float64
	xs             []float64 // x in each row from the upper end to the lower
	path           []step    // from the upper end to the lower
	label          string    // place and time, fitted
	labelTitle     string    // title, and those of the merged
	merged         bool      // on the line of an earlier connector, whose label tells of it
	more           int       // the number of connectors merged into this one
	labelBox       rect
	placed         bool // the label has a place; otherwise num is its footnote
	num            int
	badgeX, badgeY float64 // where num is shown
	title          string
}

// step is a piece of the path of a connector: a line from the end of the
// previous step to (x, y), or an S-curve that leaves and arrives
// vertically. The first step is where the path starts.
type step struct {
	x, y  float64
	curve bool
}

// line is a line of text.
type line struct {
	x, y float64 // start of the baseline
	s    string
	size float64
	bold bool
}

// legendItem is a symbol and its meaning.
type legendItem struct {
	kind string // focus, infection, estimated, onset, link, low
	x, y float64
	text string
}

// tick is a midnight of the axis.
type tick struct {
	x      float64 // the midnight
	labelX float64 // the middle of the label
	label  string
}

// layout is the geometry of a picture; render turns it into SVG.
type layout struct {
	w, h       float64
	title      line
	desc       string
	notes      []line
	legend     []legendItem
	ticks      []tick
	tickY      float64 // baseline of the tick labels above the rows; 0: no axis
	tickY2     float64 // baseline of the tick labels below the rows; 0: none
	plotTop    float64
	plotBottom float64
	plotRight  float64
	rows       []row
	conns      []conn
	footnotes  []line
}

// zeroLast compares times, unknown (zero) times last.
func zeroLast(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return 1
	case b.IsZero():
		return -1
	}
	return a.Compare(b)
}

// infection is the time a member is placed at.
func infection(m Member) time.Time {
	if m.Infection.IsZero() {
		return m.Start
	}
	return m.Infection
}

func hhmm(t time.Time, unknown string) string {
	if t.IsZero() {
		return unknown
	}
	return t.In(cst).Format("15:04")
}

func mmdd(t time.Time, unknown string) string {
	if t.IsZero() {
		return unknown
	}
	return t.In(cst).Format("01-02")
}

func midnight(t time.Time) time.Time {
	y, m, d := t.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

// members returns the members to draw in row order and how many were left
// out.
func members(c Chain) ([]Member, int) {
	ms := make([]Member, 0, len(c.Members))
	for _, m := range c.Members {
		m.Case, m.Region, m.RegionName, m.Basis = clean(m.Case), clean(m.Region), clean(m.RegionName), clean(m.Basis)
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Member) int {
		return cmp.Or(
			zeroLast(infection(a), infection(b)),
			zeroLast(a.Start, b.Start),
			strings.Compare(a.Case, b.Case),
			// The rest only orders duplicates, so that the one kept does not
			// depend on the order of the input.
			zeroLast(a.Infection, b.Infection),
			strings.Compare(a.Region, b.Region),
			strings.Compare(a.RegionName, b.RegionName),
			strings.Compare(a.Basis, b.Basis),
			cmpBool(b.Focus, a.Focus),
		)
	})
	seen := make(map[string]bool, len(ms))
	out := ms[:0]
	for _, m := range ms {
		if !seen[m.Case] {
			seen[m.Case] = true
			out = append(out, m)
		}
	}
	if len(out) <= MaxMembers {
		return out, 0
	}
	omitted := len(out) - MaxMembers
	if f := slices.IndexFunc(out, func(m Member) bool { return m.Focus }); f >= MaxMembers {
		return append(out[:MaxMembers-1:MaxMembers-1], out[f]), omitted
	}
	return out[:MaxMembers], omitted
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// indexedLink is a link with the rows of its ends.
type indexedLink struct {
	Link
	a, b int // rows of From and To
}

// links returns the links to draw, in drawing order, and how many were
// left out.
func links(c Chain, rowOf map[string]int) ([]indexedLink, int) {
	var ls []indexedLink
	omitted := 0
	for _, l := range c.Links {
		l.From, l.To, l.Place = clean(l.From), clean(l.To), clean(l.Place)
		a, okA := rowOf[l.From]
		b, okB := rowOf[l.To]
		if !okA || !okB || a == b {
			omitted++
			continue
		}
		if !l.Directed && a > b {
			l.From, l.To, a, b = l.To, l.From, b, a
		}
		ls = append(ls, indexedLink{l, a, b})
	}
	slices.SortFunc(ls, func(x, y indexedLink) int {
		return cmp.Or(
			zeroLast(x.At, y.At),
			cmp.Compare(min(x.a, x.b), min(y.a, y.b)),
			cmp.Compare(max(x.a, x.b), max(y.a, y.b)),
			cmp.Compare(x.a, y.a),
			strings.Compare(x.Place, y.Place),
			cmpBool(x.Directed, y.Directed),
			cmpBool(x.LowPriority, y.LowPriority),
		)
	})
	// Drop repeats; of a run of repeats the first is kept, which is low
	// priority only if all of them are.
	out := ls[:0]
	for _, l := range ls {
		if len(out) > 0 {
			p := out[len(out)-1]
			if p.a == l.a && p.b == l.b && p.Place == l.Place && p.Directed == l.Directed && p.At.Equal(l.At) {
				continue
			}
		}
		out = append(out, l)
	}
	if len(out) > MaxLinks {
		omitted += len(out) - MaxLinks
		out = out[:MaxLinks]
	}
	return out, omitted
}

// layoutChain places everything of the picture of c.
func layoutChain(c Chain, t texts) layout {
	var l layout
	ms, omittedCases := members(c)
	rowOf := make(map[string]int, len(ms))
	for i, m := range ms {
		rowOf[m.Case] = i
	}
	ls, omittedLinks := links(c, rowOf)

	// The days of the axis.
	var lo, hi time.Time
	see := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if hi.IsZero() || t.After(hi) {
			hi = t
		}
	}
	for _, m := range ms {
		see(m.Infection)
		see(m.Start)
	}
	for _, k := range ls {
		see(k.At)
	}
	hasTime := !lo.IsZero()
	day0, days := midnight(time.Unix(0, 0)), 1
	if hasTime {
		day0 = midnight(lo)
		// At most a century: times further apart are wrong, and the
		// arithmetic of durations would overflow.
		days = min(max(1, int(math.Ceil(midnight(hi).Add(day).Sub(day0).Hours()/24))), maxDays)
	}

	// The width of the boxes.
	onsetPart := func(m Member) string {
		return " · " + t.onsetShort + " " + mmdd(m.Start, t.unknown)
	}
	region := func(m Member) string {
		return cmp.Or(m.RegionName, m.Region)
	}
	const idBold = 1.07 // bold is wider
	boxW := minBoxW
	for _, m := range ms {
		need := max(width(m.Case, sizeID*idBold), width(region(m)+onsetPart(m), sizeBox)) + 20
		boxW = max(boxW, need)
	}
	boxW = min(boxW, maxBoxW)

	// The width of a day: the shortest time from infection to onset is a
	// little wider than a box, so that onset markers fall beside the boxes
	// (within limits).
	shortest := 0.0
	for _, m := range ms {
		if !m.Infection.IsZero() && m.Start.After(m.Infection) {
			if d := m.Start.Sub(m.Infection).Hours() / 24; shortest == 0 || d < shortest {
				shortest = d
			}
		}
	}
	if shortest == 0 {
		shortest = 2 // the usual minimum incubation
	}
	dayW := min(max((boxW+24)/shortest, minDayW), maxDayW)
	if float64(days)*dayW > maxPlotW {
		dayW = maxPlotW / float64(days)
	}
	l.plotRight = plotLeft + float64(days)*dayW
	xOf := func(tm time.Time) float64 {
		return min(plotLeft+tm.Sub(day0).Hours()/24*dayW, l.plotRight)
	}

	// Rows, horizontally.
	l.rows = make([]row, len(ms))
	w := max(minWidth, l.plotRight+pad)
	for i, m := range ms {
		r := row{m: m, estimated: m.Basis == "incubation"}
		x := plotLeft
		if tm := infection(m); !tm.IsZero() {
			x = xOf(tm)
		}
		r.box = rect{x: x, w: boxW, h: boxH}
		r.line1 = fit(m.Case, sizeID*idBold, boxW-20)
		op := onsetPart(m)
		r.line2 = fit(region(m), sizeBox, boxW-20-width(op, sizeBox)) + op
		if !m.Start.IsZero() {
			r.hasOnset, r.onsetX = true, xOf(m.Start)
		}
		r.title = memberTitle(m, t)
		w = max(w, r.box.right()+pad, r.onsetX+pad)
		l.rows[i] = r
	}

	// The title, the notes and the legend.
	y := pad
	title := t.heading
	if s := clean(strings.TrimSpace(c.Title)); s != "" {
		title += t.titleSep + s
	}
	l.title = line{x: pad, y: y + sizeTitle, s: fit(title, sizeTitle, max(w, 1200)-2*pad), size: sizeTitle, bold: true}
	w = max(w, width(l.title.s, sizeTitle)*1.07+2*pad)
	y += sizeTitle + 12
	summary := count(len(ms), t.oneCase, t.cases) + t.listSep + count(len(ls), t.oneLink, t.links)
	if hasTime {
		years := fmt.Sprint(day0.Year())
		if last := day0.Add(time.Duration(days-1) * day).Year(); last != day0.Year() {
			years += "–" + fmt.Sprint(last)
		}
		summary += " · " + fmt.Sprintf(t.zone, years)
	}
	l.desc = summary
	notes := []string{summary}
	if omittedCases > 0 {
		notes = append(notes, fmt.Sprintf(t.moreCases, omittedCases, MaxMembers))
	}
	if omittedLinks > 0 {
		notes = append(notes, fmt.Sprintf(t.moreLinks, omittedLinks))
	}
	if len(ls) == 0 && omittedLinks == 0 {
		notes = append(notes, t.empty)
		l.desc += t.listSep + t.empty
	}
	for _, s := range notes {
		l.notes = append(l.notes, line{x: pad, y: y + sizeNote, s: s, size: sizeNote})
		y += sizeNote + 8
	}
	y += 4
	x := pad
	legend := []legendItem{
		{kind: "focus", text: t.focus},
		{kind: "infection", text: t.infection},
		{kind: "estimated", text: t.estimated},
		{kind: "onset", text: t.onset},
		{kind: "link", text: t.place},
		{kind: "low", text: t.low},
	}
	if len(ms) == 0 {
		legend = nil // nothing to explain
	}
	for _, it := range legend {
		iw := 28 + width(it.text, sizeNote)
		if x > pad && x+iw > w-pad {
			x, y = pad, y+22
		}
		it.x, it.y = x, y+11
		l.legend = append(l.legend, it)
		x += iw + 20
	}
	if len(legend) > 0 {
		y += 22 + 6
	}

	// The axis and the rows, vertically.
	n := len(l.rows)
	if n > 0 && hasTime {
		l.tickY = y + 12
		y += 22
		step := 0
		for _, s := range []int{1, 2, 7, 14, 28, 56, 91, 182, 364} {
			if float64(s)*dayW >= 48 {
				step = s
				break
			}
		}
		if step == 0 {
			step = int(math.Ceil(48 / dayW))
		}
		format := "01-02"
		switch {
		case step >= 364:
			format = "2006"
		case step >= 28:
			format = "2006-01"
		}
		for d := 0; d <= days; d += step {
			tm := day0.Add(time.Duration(d) * day)
			tk := tick{x: xOf(tm), labelX: xOf(tm), label: tm.Format(format)}
			if step == 1 {
				if d == days {
					tk.label = "" // the end of the last day
				}
				tk.labelX += dayW / 2
			}
			l.ticks = append(l.ticks, tk)
		}
	}
	l.plotTop = y
	for i := range l.rows {
		r := &l.rows[i]
		r.trackY = l.plotTop + (float64(i)+0.5)*pitch
		r.box.y = r.trackY - boxH/2
		r.onsetY = r.trackY
		if r.hasOnset && r.onsetX >= r.box.x-4 && r.onsetX <= r.box.right()+4 {
			r.onsetY = r.box.bottom()
		}
	}
	l.plotBottom = l.plotTop + float64(n)*pitch
	y = l.plotBottom
	if n > 8 && hasTime {
		l.tickY2 = y + 16
		y += 24
	}

	// The connectors and their labels.
	l.conns = connectors(&l, ls, xOf, t)
	var fn []string
	for _, k := range l.conns {
		switch {
		case k.merged:
		case k.placed:
			w = max(w, k.labelBox.right()+pad)
		default:
			fn = append(fn, fmt.Sprintf("%d  %s", k.num, strings.ReplaceAll(k.labelTitle, "\n", t.listSep)))
		}
	}
	if len(fn) > 0 {
		y += 10
		l.footnotes = append(l.footnotes, line{x: pad, y: y + sizeNote, s: t.footnotes, size: sizeNote, bold: true})
		y += sizeNote + 8
		for _, s := range fn {
			s = fit(s, sizeNote, w-2*pad)
			l.footnotes = append(l.footnotes, line{x: pad, y: y + sizeNote, s: s, size: sizeNote})
			y += sizeNote + 6
		}
	}
	l.w, l.h = math.Ceil(w), math.Ceil(y+pad)
	return l
}

// memberTitle describes m in full, for the tooltip of its box.
func memberTitle(m Member, t texts) string {
	s := m.Case
	if reg := strings.TrimSpace(m.RegionName + " " + m.Region); reg != "" {
		s += " · " + reg
	}
	if !m.Infection.IsZero() {
		s += " · " + t.infection + " " + m.Infection.In(cst).Format("01-02 15:04")
		if m.Basis == "incubation" {
			s += t.open + t.estimated + t.close
		}
	}
	s += " · " + t.onset + " " + mmdd(m.Start, t.unknown)
	if !m.Start.IsZero() {
		s += " " + hhmm(m.Start, "")
	}
	if m.Focus {
		s += " · " + t.focus
	}
	return s
}

// obstacle is something a label must not cover; owner is the connector it
// belongs to, or -1.
type obstacle struct {
	r     rect
	owner int
}

// grid finds obstacles near a rectangle: one cell per row.
type grid struct {
	top   float64
	cells [][]obstacle
}

func (g *grid) cell(y float64) int {
	return min(max(int((y-g.top)/pitch), 0), len(g.cells)-1)
}

func (g *grid) add(r rect, owner int) {
	for c := g.cell(r.y); c <= g.cell(r.bottom()); c++ {
		g.cells[c] = append(g.cells[c], obstacle{r, owner})
	}
}

// owners counts the connectors for which count holds with an obstacle that
// overlaps r.
func (g *grid) owners(r rect, count func(owner int) bool) int {
	var seen []int
	for c := g.cell(r.y); c <= g.cell(r.bottom()); c++ {
		for _, o := range g.cells[c] {
			if o.owner >= 0 && !slices.Contains(seen, o.owner) && o.r.overlaps(r) && count(o.owner) {
				seen = append(seen, o.owner)
			}
		}
	}
	return len(seen)
}

func (g *grid) hit(r rect, owner int) bool {
	for c := g.cell(r.y); c <= g.cell(r.bottom()); c++ {
		for _, o := range g.cells[c] {
			if o.owner != owner && o.r.overlaps(r) {
				return true
			}
		}
	}
	return false
}

// rects returns rectangles covering the path of c, the markers at its
// ends included.
func (c conn) rects() []rect {
	out := []rect{{c.x - 5, c.y1 - 8, 10, 16}, {c.x - 5, c.y2 - 8, 10, 16}}
	piece := func(p, q step) rect {
		return rect{min(p.x, q.x) - 2, min(p.y, q.y), math.Abs(q.x-p.x) + 4, math.Abs(q.y - p.y)}
	}
	for i := 1; i < len(c.path); i++ {
		p, q := c.path[i-1], c.path[i]
		if !q.curve {
			out = append(out, piece(p, q))
			continue
		}
		// The curve in short pieces.
		const n = 8
		prev := p
		for j := 1; j <= n; j++ {
			pt := curveAt(p, q, float64(j)/n)
			out = append(out, piece(prev, pt))
			prev = pt
		}
	}
	return out
}

// curveAt is the point at t (0 to 1) of the S-curve from p to q.
func curveAt(p, q step, t float64) step {
	// A cubic Bézier curve with control points (p.x, m) and (q.x, m).
	m := (p.y + q.y) / 2
	a, b, c, d := (1-t)*(1-t)*(1-t), 3*(1-t)*(1-t)*t, 3*(1-t)*t*t, t*t*t
	return step{x: (a+b)*p.x + (c+d)*q.x, y: a*p.y + (b+c)*m + d*q.y}
}

// connectors places the links ls between the rows of l, and their labels
// where they fit without covering anything else; the others are numbered
// for footnotes.
//
// A connector runs down at the time of its link, except that it steps
// aside (in the gaps between rows) around the boxes of the rows it
// crosses.
func connectors(l *layout, ls []indexedLink, xOf func(time.Time) float64, t texts) []conn {
	if len(ls) == 0 {
		return nil
	}
	cs := make([]conn, len(ls))
	for i, k := range ls {
		c := conn{l: k.Link, from: k.a, to: k.b}
		lo, hi := min(k.a, k.b), max(k.a, k.b)
		c.x = l.rows[k.b].box.x
		if !k.At.IsZero() {
			c.x = xOf(k.At)
		}
		// Connectors from the same case at (nearly) the same time share a
		// line, as a trunk with a branch to each case; others at (nearly)
		// the same time over the same rows sit side by side.
		c.trunk = i
		if j := slices.IndexFunc(cs[:i], func(p conn) bool { return p.from == c.from && math.Abs(c.x-p.x) < 10 }); j >= 0 {
			c.x, c.trunk = cs[j].x, cs[j].trunk
		} else {
			for moved, tries := true, 0; moved && tries < len(ls); tries++ {
				moved = false
				for _, p := range cs[:i] {
					if p.from != c.from && math.Abs(c.x-p.x) < 4 && lo <= max(p.from, p.to) && min(p.from, p.to) <= hi {
						c.x, moved = p.x+5, true
					}
				}
			}
		}
		c.y1 = attach(l.rows[k.a], c.x, k.b < k.a)
		c.y2 = attach(l.rows[k.b], c.x, k.a < k.b)
		arrow := " — "
		if k.Directed {
			arrow = " → "
		}
		c.title = k.Place + " " + mmdd(k.At, t.unknown) + " " + hhmm(k.At, "") + " · " + k.From + arrow + k.To
		if k.LowPriority {
			c.title += t.open + t.low + t.close
		}
		c.label = fit(k.Place, sizeLabel, 150) + "  " + hhmm(k.At, t.unknown)
		cs[i] = c
	}

	// What a connector stepping aside must keep clear of, in each row: the
	// connectors from other cases and the onset marker.
	type use struct {
		x     float64
		trunk int // of the connector; -1 for the onset
	}
	used := make([][]use, len(l.rows))
	for _, c := range cs {
		for r := min(c.from, c.to); r <= max(c.from, c.to); r++ {
			used[r] = append(used[r], use{c.x, c.trunk})
		}
	}
	for r, row := range l.rows {
		if row.hasOnset {
			used[r] = append(used[r], use{row.onsetX, -1})
		}
	}
	// free moves x in the direction dir until it is clear in row r of
	// all but the connectors of trunk.
	free := func(x, dir float64, r, trunk int) float64 {
		for moved := true; moved; {
			moved = false
			for _, u := range used[r] {
				if u.trunk != trunk && math.Abs(u.x-x) < 9 {
					// Past u by more than the limit, or rounding could keep
					// x within it forever.
					x, moved = u.x+dir*10, true
				}
			}
		}
		return x
	}

	g := grid{top: l.plotTop, cells: make([][]obstacle, len(l.rows))}
	for _, r := range l.rows {
		g.add(r.box.grow(3), -1)
		if r.hasOnset {
			g.add(rect{r.onsetX - 5, r.onsetY - 5, 10, 10}, -1)
			if lo, hi := min(r.box.x, r.onsetX), max(r.box.x, r.onsetX); hi > lo {
				g.add(rect{lo, r.trackY - 3, hi - lo, 6}, -1) // incubation bar
			}
		}
	}
	// crossings counts the connectors of other trunks than trunk placed so
	// far that a step from x1 to x2 in the gap above row r would cross.
	crossings := func(x1, x2 float64, r, trunk int) int {
		if x1 == x2 || r <= 0 || r >= len(l.rows) {
			return 0
		}
		top, bottom := l.rows[r-1].box.bottom(), l.rows[r].box.y
		return g.owners(rect{min(x1, x2) + 1, top, math.Abs(x2-x1) - 2, bottom - top}, func(owner int) bool {
			return cs[owner].trunk != trunk
		})
	}
	for i := range cs {
		c := &cs[i]
		lo, hi := min(c.from, c.to), max(c.from, c.to)
		// The x in each row from lo to hi.
		c.xs = make([]float64, hi-lo+1)
		for r := lo; r <= hi; r++ {
			c.xs[r-lo] = c.x
			b := l.rows[r].box
			if r == lo || r == hi || c.x < b.x-7 || c.x > b.right()+7 {
				continue
			}
			// Step aside to the left or the right of the box, whichever
			// crosses fewer connectors, else whichever is nearer.
			prev := c.xs[r-1-lo]
			left, right := free(b.x-11, -1, r, c.trunk), free(b.right()+11, 1, r, c.trunk)
			cost := func(x float64) float64 {
				return 1000*float64(crossings(prev, x, r, c.trunk)+crossings(x, c.x, r+1, c.trunk)) + math.Abs(x-c.x)
			}
			x := right
			if left > 4 && cost(left) <= cost(right) {
				x = left
			}
			c.xs[r-lo] = x
			used[r] = append(used[r], use{x, c.trunk})
		}
		top, bottom := c.y1, c.y2
		if c.from > c.to {
			top, bottom = bottom, top
		}
		c.path = []step{{x: c.x, y: top}}
		for r := lo; r < hi; r++ {
			xa, xb := c.xs[r-lo], c.xs[r+1-lo]
			if xa != xb {
				c.path = append(c.path,
					step{x: xa, y: l.rows[r].box.bottom() + 2},
					step{x: xb, y: l.rows[r+1].box.y - 2, curve: true})
			}
		}
		c.path = append(c.path, step{x: c.x, y: bottom})
		for _, r := range c.rects() {
			g.add(r, i)
		}
	}

	// Connectors on one line between the same cases share a label.
	for i := range cs {
		c := &cs[i]
		c.labelTitle = c.title
		j := slices.IndexFunc(cs[:i], func(p conn) bool {
			return !p.merged && p.trunk == c.trunk && p.to == c.to && p.l.Directed == c.l.Directed && p.l.LowPriority == c.l.LowPriority
		})
		if j >= 0 {
			c.merged = true
			cs[j].more++
			cs[j].labelTitle += "\n" + c.title
		}
	}
	for i := range cs {
		if c := &cs[i]; c.more > 0 {
			c.label += fmt.Sprintf(t.more, c.more+1)
		}
	}

	num := 0
	for i := range cs {
		c := &cs[i]
		if c.merged {
			continue
		}
		lo, hi := min(c.from, c.to), max(c.from, c.to)
		// Places for the label, nearest to the middle first: beside the
		// connector in each row, or in a gap it goes straight through.
		type spot struct{ left, right, y float64 } // the connector is from left to right at y
		var spots []spot
		for r := lo; r <= hi; r++ {
			x := c.xs[r-lo]
			spots = append(spots, spot{x, x, l.rows[r].trackY})
			if r < hi {
				next := c.xs[r+1-lo]
				spots = append(spots, spot{min(x, next), max(x, next), l.rows[r].trackY + pitch/2})
			}
		}
		mid := (c.y1 + c.y2) / 2
		slices.SortStableFunc(spots, func(a, b spot) int {
			return cmp.Compare(math.Abs(a.y-mid), math.Abs(b.y-mid))
		})
		spots = spots[:min(len(spots), 24)]
		c.badgeX, c.badgeY = (spots[0].left+spots[0].right)/2, spots[0].y
		lw := width(c.label, sizeLabel) + 8
	search:
		for _, sp := range spots {
			xs := []float64{sp.right + labelGap, sp.left - labelGap - lw} // beside the connector
			if sp.left == sp.right {
				xs = append(xs, sp.left-lw/2) // over it
			}
			for _, x := range xs {
				r := rect{x, sp.y - labelH/2, lw, labelH}
				if r.x < 2 || g.hit(r.grow(1), i) {
					continue
				}
				c.labelBox, c.placed = r, true
				g.add(r, i)
				break search
			}
		}
		if !c.placed {
			num++
			c.num = num
			// The number on the connector, where it covers no other.
			for _, sp := range spots {
				r := rect{(sp.left+sp.right)/2 - 8, sp.y - 8, 16, 16}
				if !g.hit(r, i) {
					c.badgeX, c.badgeY = sp.left/2+sp.right/2, sp.y
					g.add(r, i)
					break
				}
			}
		}
	}
	return cs
}

// attach is where a connector at x meets row r, coming from above or from
// below: the edge of the box if x is over the box, else the time line.
func attach(r row, x float64, fromAbove bool) float64 {
	if x >= r.box.x && x <= r.box.right() {
		if fromAbove {
			return r.box.y
		}
		return r.box.bottom()
	}
	return r.trackY
}
