package export

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"
)

// timeLayout is the layout of exposure times in CSV.
const timeLayout = "2006-01-02 15:04"

// WriteCSV writes the list to w as CSV: UTF-8 with a byte order mark (so
// that Excel reads the Chinese right), a header row, then one row per
// exposure with the contact's cells repeated on each (a contact without
// exposures gets one row with blank exposure cells), ordered by community
// code, degree and person id, and a contact's exposures as given. Times are in CST, as "2006-01-02 15:04". A
// cell that a spreadsheet would take for a formula (one starting with =, +,
// -, @, tab or carriage return) gets a leading apostrophe.
//
// It returns a health.Invalid error for an unknown l.Lang, or the error of
// writing to w.
func WriteCSV(w io.Writer, l List) error {
	lg, err := parseLang(l.Lang)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header(lg)); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	for _, g := range groups(l.Contacts) {
		for _, c := range g.contacts {
			for _, r := range rows(c, lg) {
				r.text[fromColumn], r.text[toColumn] = formatTime(r.from), formatTime(r.to)
				for i, s := range r.text {
					r.text[i] = defuse(s)
				}
				if err := cw.Write(r.text[:]); err != nil {
					return fmt.Errorf("export csv: %w", err)
				}
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	return nil
}

// formatTime formats t in CST with timeLayout, or returns "" for a zero t.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format(timeLayout)
}

// defuse returns s with a leading apostrophe if a spreadsheet would take it
// for a formula (CSV injection), else s.
func defuse(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}
