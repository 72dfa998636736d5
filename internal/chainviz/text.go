package chainviz

import (
	"fmt"
	"strings"
	"unicode"
)

// texts are the words of a picture in one language.
type texts struct {
	heading    string // the title
	titleSep   string // between the heading and Chain.Title
	infection  string // legend: inferred infection (filled diamond)
	estimated  string // legend: infection estimated from incubation (hollow diamond)
	onset      string // legend: onset
	place      string // legend: shared stop
	low        string // legend: low priority
	focus      string // legend: the case asked about
	empty      string // no links
	onsetShort string // in a box, before the onset date
	zone       string // the time zone, %s is the year or years
	cases      string // subtitle, %d cases
	links      string // subtitle, %d links
	oneCase    string // subtitle, 1 case
	oneLink    string // subtitle, 1 link
	listSep    string
	open       string // parentheses
	close      string
	moreCases  string // %d not drawn, %d the limit
	moreLinks  string // %d not drawn
	footnotes  string // heading of the list of links whose labels did not fit
	more       string // after the label of links drawn on one line, %d of them
	unknown    string // an unknown time
}

var zh = texts{
	heading:    "传播链",
	titleSep:   "：",
	infection:  "推断感染时间",
	estimated:  "按潜伏期推算",
	onset:      "发病",
	place:      "共同暴露地点",
	low:        "低优先级",
	focus:      "本病例",
	empty:      "没有共同暴露地点",
	onsetShort: "发病",
	zone:       "北京时间（UTC+08:00），%s 年",
	cases:      "%d 例",
	links:      "%d 条关联",
	oneCase:    "1 例",
	oneLink:    "1 条关联",
	listSep:    "，",
	open:       "（",
	close:      "）",
	moreCases:  "另有 %d 例未绘出（最多绘制 %d 例）",
	moreLinks:  "另有 %d 条关联未绘出",
	footnotes:  "关联（标签放不下的）：",
	more:       "（共 %d 条）",
	unknown:    "未知",
}

var en = texts{
	heading:    "Chain of transmission",
	titleSep:   ": ",
	infection:  "Inferred infection",
	estimated:  "Estimated from incubation",
	onset:      "Onset",
	place:      "Shared exposure place",
	low:        "Low priority",
	focus:      "Case in question",
	empty:      "No shared stops",
	onsetShort: "onset",
	zone:       "China Standard Time (UTC+08:00), %s",
	cases:      "%d cases",
	links:      "%d links",
	oneCase:    "1 case",
	oneLink:    "1 link",
	listSep:    ", ",
	open:       " (",
	close:      ")",
	moreCases:  "%d more cases not drawn (at most %d are drawn)",
	moreLinks:  "%d more links not drawn",
	footnotes:  "Links whose labels did not fit:",
	more:       " (%d links)",
	unknown:    "unknown",
}

// textsFor returns the words for lang: English for "en" and its regional
// variants, Chinese otherwise.
func textsFor(lang string) texts {
	l := strings.ToLower(strings.TrimSpace(lang))
	if l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_") {
		return en
	}
	return zh
}

// count returns n with one or many as a number of things.
func count(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return fmt.Sprintf(many, n)
}

// Font sizes, in px.
const (
	sizeTitle = 18.0
	sizeNote  = 12.0
	sizeID    = 12.5
	sizeBox   = 11.0
	sizeLabel = 11.0
	sizeTick  = 11.0
)

// em returns the estimated width of r in em. The font is not known (the
// viewer picks one of the family), so the estimate errs on the wide side
// for Latin text; CJK ideographs are one em in every CJK font.
func em(r rune) float64 {
	switch {
	case wide(r):
		return 1
	case r == ' ':
		return 0.3
	case unicode.IsDigit(r):
		return 0.58
	case r == 'M' || r == 'W' || r == 'm' || r == 'w':
		return 0.86
	case unicode.IsUpper(r):
		return 0.68
	case strings.ContainsRune("-.:,;'|!()[]·/iIjlft", r):
		return 0.36
	case unicode.IsLower(r):
		return 0.56
	default:
		return 0.62
	}
}

// wide reports whether r is drawn one em wide (CJK and full-width forms).
func wide(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		(r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFFEF) || r == '…' || r == '—'
}

// width is the estimated width of s in px at font size size.
func width(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		w += em(r)
	}
	return w * size
}

// fit returns s, or its longest prefix followed by "…" that is at most max
// px wide at font size size.
func fit(s string, size, max float64) string {
	if width(s, size) <= max {
		return s
	}
	limit := max - em('…')*size
	w := 0.0
	for i, r := range s {
		if w+em(r)*size > limit {
			return strings.TrimRight(s[:i], " ") + "…"
		}
		w += em(r) * size
	}
	return s
}

// clean replaces control characters (newlines included) with spaces, so
// that a label stays on one line.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
