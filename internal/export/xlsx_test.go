package export_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"healthcode/internal/export"
)

// openXLSX writes l with WriteXLSX and opens the result.
func openXLSX(t *testing.T, l export.List) *excelize.File {
	t.Helper()
	var b bytes.Buffer
	if err := export.WriteXLSX(&b, l); err != nil {
		t.Fatalf("WriteXLSX: %v", err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatalf("opening the XLSX: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// sheetRows returns the rows of a sheet as a spreadsheet shows them.
func sheetRows(t *testing.T, f *excelize.File, sheet string) [][]string {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatalf("reading sheet %q: %v", sheet, err)
	}
	return rows
}

// pad returns rows with each row padded with empty cells to n (GetRows
// drops trailing empty cells).
func pad(rows [][]string, n int) [][]string {
	for i, r := range rows {
		rows[i] = append(r, make([]string, n-len(r))...)
	}
	return rows
}

func TestWriteXLSX(t *testing.T) {
	t.Parallel()
	generated := time.Date(2022, 6, 11, 15, 4, 5, 0, time.UTC)
	f := openXLSX(t, export.List{Title: "6月11日密接名单", Generated: generated, Contacts: sampleContacts()})

	if diff := cmp.Diff([]string{"汇总", "东湖街道", "望京街道"}, f.GetSheetList()); diff != "" {
		t.Errorf("sheets mismatch (-want +got):\n%s", diff)
	}
	wantSummary := [][]string{
		{"社区", "社区代码", "密接人数", "次密接人数", "工作表"},
		{"东湖街道", "110105001", "2", "1", "东湖街道"},
		{"望京街道", "110105002", "1", "0", "望京街道"},
	}
	if diff := cmp.Diff(wantSummary, sheetRows(t, f, "汇总")); diff != "" {
		t.Errorf("summary mismatch (-want +got):\n%s", diff)
	}
	for sheet, want := range map[string][][]string{
		"东湖街道": append([][]string{headerZH}, sampleRows[:4]...),
		"望京街道": append([][]string{headerZH}, sampleRows[4:]...),
	} {
		if diff := cmp.Diff(want, pad(sheetRows(t, f, sheet), len(headerZH))); diff != "" {
			t.Errorf("sheet %s mismatch (-want +got):\n%s", sheet, diff)
		}
	}

	t.Run("layout", func(t *testing.T) {
		for _, sheet := range f.GetSheetList() {
			panes, err := f.GetPanes(sheet)
			if err != nil {
				t.Fatal(err)
			}
			if !panes.Freeze || panes.YSplit != 1 || panes.XSplit != 0 || panes.TopLeftCell != "A2" {
				t.Errorf("sheet %s: got panes %+v, want the first row frozen", sheet, panes)
			}
			if got := cellStyle(t, f, sheet, "A1"); got.Font == nil || !got.Font.Bold {
				t.Errorf("sheet %s: got header font %+v, want bold", sheet, got.Font)
			}
			if got := cellStyle(t, f, sheet, "A2"); got.Font != nil && got.Font.Bold {
				t.Errorf("sheet %s: got a bold body cell, want regular", sheet)
			}
		}
		for sheet, widths := range map[string]map[string]float64{
			"汇总":   {"A": 24, "E": 24},
			"东湖街道": {"A": 20, "G": 36, "K": 17, "N": 20},
		} {
			for col, want := range widths {
				got, err := f.GetColWidth(sheet, col)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("sheet %s column %s: got width %v, want %v", sheet, col, got, want)
				}
			}
		}
	})

	t.Run("times are date cells in CST", func(t *testing.T) {
		if got := cellStyle(t, f, "东湖街道", "K3"); got.CustomNumFmt == nil || *got.CustomNumFmt != "yyyy-mm-dd hh:mm" {
			t.Errorf("got number format %v, want yyyy-mm-dd hh:mm", got.CustomNumFmt)
		}
		raw, err := f.GetCellValue("东湖街道", "K3", excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		serial, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			t.Fatalf("got K3 = %q, want a date serial number", raw)
		}
		got, err := excelize.ExcelDateToTime(serial, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2022, 6, 11, 10, 0, 0, 0, time.UTC); !got.Round(time.Second).Equal(want) {
			t.Errorf("got K3 = %v, want the CST wall clock %v", got, want)
		}
	})

	t.Run("document properties", func(t *testing.T) {
		props, err := f.GetDocProps()
		if err != nil {
			t.Fatal(err)
		}
		if props.Title != "6月11日密接名单" || props.Created != "2022-06-11T15:04:05Z" {
			t.Errorf("got title %q created %q, want 6月11日密接名单 and 2022-06-11T15:04:05Z", props.Title, props.Created)
		}
	})
}

// cellStyle returns the style of a cell.
func cellStyle(t *testing.T, f *excelize.File, sheet, cell string) *excelize.Style {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWriteXLSXEnglish(t *testing.T) {
	t.Parallel()
	f := openXLSX(t, export.List{Lang: "en", Contacts: append(sampleContacts()[1:2], export.Contact{PersonID: "p9", Degree: 2})})

	if diff := cmp.Diff([]string{"Summary", "Unknown community", "望京街道"}, f.GetSheetList()); diff != "" {
		t.Errorf("sheets mismatch (-want +got):\n%s", diff)
	}
	wantSummary := [][]string{
		{"Community", "Community code", "Close contacts", "Secondary contacts", "Sheet"},
		{"", "", "0", "1", "Unknown community"},
		{"望京街道", "110105002", "1", "0", "望京街道"},
	}
	if diff := cmp.Diff(wantSummary, sheetRows(t, f, "Summary")); diff != "" {
		t.Errorf("summary mismatch (-want +got):\n%s", diff)
	}
	want := [][]string{
		headerEN,
		{"望京街道", "110105002", "close", "p2", "李*四", "137****0002", "望京西路2号", "red", "望京小腰", "pl-2", "2022-06-11 18:05", "2022-06-11 19:00", "C-002", ""},
	}
	if diff := cmp.Diff(want, pad(sheetRows(t, f, "望京街道"), len(headerEN))); diff != "" {
		t.Errorf("sheet mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteXLSXSheetNames(t *testing.T) {
	t.Parallel()
	long := "北京市朝阳区这是一个名字非常非常非常长的社区居民委员会第一网格党支部"
	communities := []struct{ name, code string }{
		{"", ""},
		{"", "110105000"},
		{long, "110105001"},
		{long, "110105002"},
		{"东湖社区", "110105003"},
		{"东湖社区", "110105004"},
		{"东湖社区", "110105005"},
		{"A/B:C?*[1]\\", "110105006"},
		{"'引号'", "110105007"},
		{"汇总", "110105008"},
		{"history", "110105009"},
		{"Abc", "110105010"},
		{"ABC", "110105011"},
		{"s社区", "110105012"},
		{"ſ社区", "110105013"}, // ſ (long s) folds to s, as EqualFold has it
		{"''", "110105014"},
		{strings.Repeat("😷", 16), "110105015"}, // 32 UTF-16 code units
	}
	var contacts []export.Contact
	for i, c := range communities {
		contacts = append(contacts, export.Contact{PersonID: "p" + strconv.Itoa(i), Degree: 1, Community: c.name, CommunityCode: c.code})
	}
	f := openXLSX(t, export.List{Contacts: contacts})

	want := []string{
		"汇总",
		"未知社区",
		"110105000",
		"北京市朝阳区这是一个名字非常非常非常长的社区居民委员会第一网格", // 31 characters
		"北京市朝阳区这是一个名字非常非常非常长的社区居民委员会 (2)",
		"东湖社区",
		"东湖社区 (2)",
		"东湖社区 (3)",
		"A_B_C___1__",
		"引号",
		"汇总 (2)",
		"history (2)",
		"Abc",
		"ABC (2)",
		"s社区",
		"ſ社区 (2)",
		"110105014",
		strings.Repeat("😷", 15),
	}
	if diff := cmp.Diff(want, f.GetSheetList()); diff != "" {
		t.Errorf("sheets mismatch (-want +got):\n%s", diff)
	}
	summary := sheetRows(t, f, "汇总")
	for i, sheet := range want[1:] {
		if got := summary[i+1][4]; got != sheet {
			t.Errorf("summary row %d: got sheet %q, want %q", i+1, got, sheet)
		}
		rows := sheetRows(t, f, sheet)
		if len(rows) != 2 || rows[1][3] != "p"+strconv.Itoa(i) {
			t.Errorf("sheet %q: got rows %q, want the header and person p%d", sheet, rows, i)
		}
	}
}

func TestWriteXLSXFormulaText(t *testing.T) {
	t.Parallel()
	f := openXLSX(t, export.List{Contacts: []export.Contact{injection}})
	sheet := f.GetSheetList()[1]
	want := map[string]string{
		"A2": injection.Community,
		"E2": injection.Name,
		"F2": injection.Phone,
		"G2": injection.Address,
		"I2": injection.Exposures[0].PlaceName,
	}
	for cell, text := range want {
		got, err := f.GetCellValue(sheet, cell)
		if err != nil {
			t.Fatal(err)
		}
		if got != text {
			t.Errorf("%s: got %q, want the text as given, %q", cell, got, text)
		}
		formula, err := f.GetCellFormula(sheet, cell)
		if err != nil {
			t.Fatal(err)
		}
		if formula != "" {
			t.Errorf("%s: got formula %q, want none", cell, formula)
		}
	}
}
