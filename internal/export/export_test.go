package export_test

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"healthcode/internal/export"
	"healthcode/internal/health"
)

// at returns 2022-06-11 at hh:mm CST.
func at(hh, mm int) time.Time {
	return time.Date(2022, 6, 11, hh-8, mm, 0, 0, time.UTC)
}

// sampleContacts are contacts in two communities, in no particular order:
// in 东湖街道 (110105001) the close contacts p0 (no exposures) and p1 (two
// exposures) and the secondary contact p3; in 望京街道 (110105002) the close
// contact p2.
func sampleContacts() []export.Contact {
	return []export.Contact{
		{
			PersonID: "p3", Name: "王*五", Phone: "139****0003", Degree: 2,
			Community: "东湖街道", CommunityCode: "110105001", Address: "东湖路3号", CodeColour: "yellow",
			Exposures: []export.Exposure{{PlaceName: "家", PlaceID: "pl-9", From: at(19, 0), To: at(21, 30), SourceCase: "C-001", Via: "p1"}},
		},
		{
			PersonID: "p2", Name: "李*四", Phone: "137****0002", Degree: 1,
			Community: "望京街道", CommunityCode: "110105002", Address: "望京西路2号", CodeColour: "red",
			Exposures: []export.Exposure{{PlaceName: "望京小腰", PlaceID: "pl-2", From: at(18, 5), To: at(19, 0), SourceCase: "C-002"}},
		},
		{
			PersonID: "p1", Name: "张*三", Phone: "138****0001", Degree: 1,
			Community: "东湖街道", CommunityCode: "110105001", Address: "东湖路1号", CodeColour: "red",
			Exposures: []export.Exposure{
				{PlaceName: "朝阳大悦城", PlaceID: "pl-1", From: at(10, 0), To: at(10, 30), SourceCase: "C-001"},
				{PlaceName: "地铁6号线", PlaceID: "pl-3", From: at(9, 15), SourceCase: "C-001"},
			},
		},
		{
			PersonID: "p0", Name: "赵*", Degree: 1,
			Community: "东湖街道", CommunityCode: "110105001", CodeColour: "green",
		},
	}
}

// sampleRows are the contact rows of sampleContacts in Chinese, as a
// spreadsheet shows them: ordered by community code, degree and person id.
var sampleRows = [][]string{
	{"东湖街道", "110105001", "密接", "p0", "赵*", "", "", "绿码", "", "", "", "", "", ""},
	{"东湖街道", "110105001", "密接", "p1", "张*三", "138****0001", "东湖路1号", "红码", "朝阳大悦城", "pl-1", "2022-06-11 10:00", "2022-06-11 10:30", "C-001", ""},
	{"东湖街道", "110105001", "密接", "p1", "张*三", "138****0001", "东湖路1号", "红码", "地铁6号线", "pl-3", "2022-06-11 09:15", "", "C-001", ""},
	{"东湖街道", "110105001", "次密接", "p3", "王*五", "139****0003", "东湖路3号", "黄码", "家", "pl-9", "2022-06-11 19:00", "2022-06-11 21:30", "C-001", "p1"},
	{"望京街道", "110105002", "密接", "p2", "李*四", "137****0002", "望京西路2号", "红码", "望京小腰", "pl-2", "2022-06-11 18:05", "2022-06-11 19:00", "C-002", ""},
}

var (
	headerZH = []string{"社区", "社区代码", "类别", "人员编号", "姓名", "电话", "住址", "健康码", "暴露场所", "场所编号", "开始时间", "结束时间", "传染源病例", "经由密接"}
	headerEN = []string{"Community", "Community code", "Degree", "Person ID", "Name", "Phone", "Address", "Code colour", "Exposure place", "Place ID", "From", "To", "Source case", "Via close contact"}
)

// injection is a contact whose cells would be formulas in a spreadsheet.
var injection = export.Contact{
	PersonID: "p-1", Name: `=HYPERLINK("http://evil.example","点我")`, Phone: "+86 138****0000", Degree: 1,
	Community: "@社区", CommunityCode: "110105001", Address: "-2+3", CodeColour: "red",
	Exposures: []export.Exposure{{PlaceName: "\tcmd", PlaceID: "\r1", SourceCase: "C=1", Via: "a@b"}},
}

// errDiskFull is the error of failingWriter.
var errDiskFull = errors.New("disk full")

// failingWriter accepts n bytes, then fails with errDiskFull.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	writers := []struct {
		name  string
		write func(io.Writer, export.List) error
	}{
		{"csv", export.WriteCSV},
		{"xlsx", export.WriteXLSX},
	}
	for _, wr := range writers {
		t.Run(wr.name+"/invalid lang", func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			err := wr.write(&b, export.List{Lang: "fr", Contacts: sampleContacts()})
			if health.KindOf(err) != health.Invalid {
				t.Errorf("got error %v (kind %v), want an invalid error", err, health.KindOf(err))
			}
			if b.Len() != 0 {
				t.Errorf("got %d bytes written, want none", b.Len())
			}
		})
		for _, n := range []int{0, 10} {
			t.Run(wr.name+"/writer fails after "+strconv.Itoa(n), func(t *testing.T) {
				t.Parallel()
				err := wr.write(&failingWriter{n: n}, export.List{Contacts: sampleContacts()})
				if !errors.Is(err, errDiskFull) {
					t.Errorf("after %d bytes: got error %v, want %v", n, err, errDiskFull)
				}
			})
		}
	}
}
