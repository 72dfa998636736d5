package export

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
)

// timeNumFmt is the number format of exposure times in XLSX.
const timeNumFmt = "yyyy-mm-dd hh:mm"

// maxSheetName is the longest sheet name Excel takes, in UTF-16 code units.
const maxSheetName = 31

// summaryColumns are the columns of the summary sheet.
var summaryColumns = [...]column{
	{"社区", "Community", 24},
	{"社区代码", "Community code", 14},
	{"密接人数", "Close contacts", 14},
	{"次密接人数", "Secondary contacts", 18},
	{"工作表", "Sheet", 24},
}

// WriteXLSX writes the list to w as an XLSX workbook: a summary sheet first
// (汇总 or Summary: each community with its code, its numbers of close and
// secondary contacts, and the name of its sheet), then one sheet per
// community in community-code order, holding that community's rows as
// WriteCSV lays them out. Header rows are bold and frozen, columns have set
// widths, and exposure times are date cells shown as yyyy-mm-dd hh:mm in
// CST. Text goes into text cells, which spreadsheets never evaluate, so it
// is written as given, without WriteCSV's apostrophes. The workbook's title
// is l.Title and its creation time l.Generated.
//
// A community's sheet is named after the community (or its code, or
// 未知社区 / Unknown community when it has neither), made valid for Excel:
// the characters : \ / ? * [ ] and control characters become _, the name is
// cut to 31 characters without leading or trailing apostrophes, and a name
// already taken (ignoring case, and counting the summary sheet and Excel's
// reserved History) gets " (2)", " (3)", … .
//
// It returns a health.Invalid error for an unknown l.Lang, or the error of
// building the workbook or writing to w.
func WriteXLSX(w io.Writer, l List) (err error) {
	lg, err := parseLang(l.Lang)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("export xlsx: %w", cerr)
		}
	}()
	if err := build(f, l, lg); err != nil {
		return fmt.Errorf("export xlsx: %w", err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("export xlsx: %w", err)
	}
	return nil
}

// build lays the list out in the new workbook f.
func build(f *excelize.File, l List, lg lang) error {
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	numFmt := timeNumFmt
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: &numFmt})
	if err != nil {
		return err
	}
	props := &excelize.DocProperties{Title: l.Title, Creator: "healthcode", Language: lg.pick("zh-CN", "en")}
	if !l.Generated.IsZero() {
		props.Created = l.Generated.UTC().Format(time.RFC3339)
		props.Modified = props.Created
	}
	if err := f.SetDocProps(props); err != nil {
		return err
	}

	gs := groups(l.Contacts)
	summary, names := sheetNames(gs, lg)
	if err := f.SetSheetName(f.GetSheetName(0), summary); err != nil {
		return err
	}
	counts := make([][]any, len(gs))
	for i, g := range gs {
		counts[i] = []any{g.name, g.code, g.close, g.secondary, names[i]}
	}
	if err := writeSheet(f, summary, summaryColumns[:], lg, bold, counts); err != nil {
		return err
	}

	for i, g := range gs {
		if _, err := f.NewSheet(names[i]); err != nil {
			return err
		}
		var body [][]any
		for _, c := range g.contacts {
			for _, r := range rows(c, lg) {
				cells := make([]any, len(r.text))
				for j, s := range r.text {
					cells[j] = s
				}
				cells[fromColumn], cells[toColumn] = timeCell(r.from, date), timeCell(r.to, date)
				body = append(body, cells)
			}
		}
		if err := writeSheet(f, names[i], columns[:], lg, bold, body); err != nil {
			return err
		}
	}
	return nil
}

// writeSheet streams the existing sheet name of f: the header row, bold and
// frozen, in language lg, then the body rows, with the columns' widths.
func writeSheet(f *excelize.File, name string, cols []column, lg lang, bold int, body [][]any) error {
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	head := make([]any, len(cols))
	for i, c := range cols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return err
		}
		head[i] = excelize.Cell{StyleID: bold, Value: lg.pick(c.zh, c.en)}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	for i, cells := range body {
		if err := sw.SetRow("A"+strconv.Itoa(i+2), cells); err != nil {
			return err
		}
	}
	return sw.Flush()
}

// timeCell returns the cell of time t, in CST with style date, or nil (no
// cell) for a zero t.
func timeCell(t time.Time, date int) any {
	if t.IsZero() {
		return nil
	}
	return excelize.Cell{StyleID: date, Value: t.In(cst)}
}

// sheetNames returns the name of the summary sheet and a unique valid sheet
// name for each group (see WriteXLSX).
func sheetNames(gs []group, lg lang) (summary string, names []string) {
	summary = lg.pick("汇总", "Summary")
	taken := map[string]bool{foldKey(summary): true, foldKey("History"): true}
	names = make([]string, len(gs))
	for i, g := range gs {
		base := cmp.Or(sheetName(g.name), sheetName(g.code), lg.pick("未知社区", "Unknown community"))
		name := base
		for n := 2; taken[foldKey(name)]; n++ {
			suffix := " (" + strconv.Itoa(n) + ")"
			name = cutUTF16(base, maxSheetName-len(suffix)) + suffix
		}
		taken[foldKey(name)] = true
		names[i] = name
	}
	return summary, names
}

// sheetName returns s made valid as a sheet name: the characters Excel
// forbids and control characters replaced by _, cut to maxSheetName, without
// leading or trailing apostrophes. The result may be empty.
func sheetName(s string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
	return strings.Trim(cutUTF16(s, maxSheetName), "'")
}

// cutUTF16 returns the longest prefix of s that is at most n UTF-16 code
// units long.
func cutUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		units += utf16.RuneLen(r)
		if units > n {
			return s[:i]
		}
	}
	return s
}

// foldKey returns a key that is equal for two strings exactly when
// strings.EqualFold holds, which is how excelize (and Excel) compares sheet
// names: each rune becomes the least rune of its case-folding orbit.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}
