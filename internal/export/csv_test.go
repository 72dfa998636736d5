package export_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/export"
)

// readCSV checks that b starts with a UTF-8 byte order mark, and parses the
// rest.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rest, ok := bytes.CutPrefix(b, []byte("\uFEFF"))
	if !ok {
		t.Fatalf("got %q at the start, want a UTF-8 byte order mark", b[:min(len(b), 3)])
	}
	records, err := csv.NewReader(bytes.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatalf("parsing the CSV: %v", err)
	}
	return records
}

func TestWriteCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		list export.List
		want [][]string
	}{
		{
			name: "chinese",
			list: export.List{Title: "6月11日密接名单", Contacts: sampleContacts()},
			want: append([][]string{headerZH}, sampleRows...),
		},
		{
			name: "english",
			list: export.List{Lang: "en", Contacts: sampleContacts()[1:2]},
			want: [][]string{
				headerEN,
				{"望京街道", "110105002", "close", "p2", "李*四", "137****0002", "望京西路2号", "red", "望京小腰", "pl-2", "2022-06-11 18:05", "2022-06-11 19:00", "C-002", ""},
			},
		},
		{
			name: "no contacts",
			list: export.List{Lang: "zh"},
			want: [][]string{headerZH},
		},
		{
			name: "formula injection",
			list: export.List{Contacts: []export.Contact{injection}},
			want: [][]string{
				headerZH,
				{"'@社区", "110105001", "密接", "p-1", `'=HYPERLINK("http://evil.example","点我")`, "'+86 138****0000", "'-2+3", "红码", "'\tcmd", "'\r1", "", "", "C=1", "a@b"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := export.WriteCSV(&b, tt.list); err != nil {
				t.Fatalf("WriteCSV: %v", err)
			}
			got := readCSV(t, b.Bytes())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CSV rows mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
