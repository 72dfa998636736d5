package audit

import (
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"healthcode/internal/health"
)

// rowsOf serves stored hashes as rows of per events' hashes.
type rowsOf struct {
	rows  [][]byte
	first []int64
	i     int
}

func (r *rowsOf) Next() (int64, []byte, bool, error) {
	if r.i >= len(r.rows) {
		return 0, nil, false, nil
	}
	r.i++
	return r.first[r.i-1], r.rows[r.i-1], true, nil
}

// logOf builds n events, their stored hashes in rows of 7 events, and a
// signed head for each size in heads.
func logOf(t *testing.T, k *Key, n int, heads ...int64) ([]health.Event, *rowsOf, [][]byte) {
	t.Helper()
	events := make([]health.Event, n)
	for i := range events {
		events[i] = testEvent(uint64(i + 1))
	}
	var tree Tree
	rows := &rowsOf{}
	var notes [][]byte
	want := map[int64]bool{}
	for _, h := range heads {
		want[h] = true
	}
	for i := 0; i < n; i += 7 {
		j := min(n, i+7)
		first := StoredHashes(0, int64(i))
		var hs []byte
		for m := i; m < j; m++ {
			var err error
			if hs, _, err = tree.AppendEvents(events[m:m+1], hs, nil); err != nil {
				t.Fatal(err)
			}
			if want[tree.Size()] {
				h, err := SignHead(k.Signer, Origin("440000"), tree.Size(), tree.Root(), testEvent(1).At)
				if err != nil {
					t.Fatal(err)
				}
				notes = append(notes, h.Note)
			}
		}
		rows.rows, rows.first = append(rows.rows, hs), append(rows.first, first)
	}
	return events, rows, notes
}

func testKey(t *testing.T) *Key {
	t.Helper()
	skey, _, err := note.GenerateKey(nil, KeyName("440000"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestChecker(t *testing.T) {
	k := testKey(t)
	cases := []struct {
		name   string
		tamper func(evs []health.Event, rows *rowsOf, notes [][]byte) ([]health.Event, [][]byte)
		want   string // "" = OK; else a substring of the one-line error
	}{
		{"untouched", nil, ""},
		{"edited", func(evs []health.Event, _ *rowsOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[16].Person++
			return evs, n
		}, "seq 17: the event differs"},
		{"deleted", func(evs []health.Event, _ *rowsOf, n [][]byte) ([]health.Event, [][]byte) {
			return append(evs[:29:29], evs[30:]...), n
		}, "seq 30 is missing"},
		{"tail deleted", func(evs []health.Event, _ *rowsOf, n [][]byte) ([]health.Event, [][]byte) {
			return evs[:45], n
		}, "seq 46 is missing"},
		{"swapped", func(evs []health.Event, _ *rowsOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[9], evs[20] = evs[20], evs[9]
			evs[9].Seq, evs[20].Seq = 10, 21
			return evs, n
		}, "seq 10: the event differs from the one the audit log recorded (edited, or moved from another seq); 2 events differ from the audit log, at seqs 10, 21"},
		{"hash table rewritten with the edit", func(evs []health.Event, rows *rowsOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[3].Aux = 9
			var tree Tree
			var hs []byte
			hs, _, _ = tree.AppendEvents(evs, nil, nil)
			rows.rows, rows.first = [][]byte{hs}, []int64{0}
			return evs, n
		}, "does not match the stored head of size 20"},
		{"forged head", func(evs []health.Event, _ *rowsOf, n [][]byte) ([]health.Event, [][]byte) {
			n[0] = []byte(strings.Replace(string(n[0]), "\n20\n", "\n21\n", 1))
			return evs, n
		}, "signature"},
		{"stored hash changed", func(evs []health.Event, rows *rowsOf, n [][]byte) ([]health.Event, [][]byte) {
			rows.rows[1][32*3] ^= 1
			return evs, n
		}, "the audit table was changed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, rows, notes := logOf(t, k, 50, 20, 50)
			if c.tamper != nil {
				evs, notes = c.tamper(evs, rows, notes)
			}
			ch := NewChecker(k.Verifier, rows)
			for _, n := range notes {
				ch.AddHead(n, "stored head")
			}
			for i := range evs {
				if err := ch.Add(&evs[i]); err != nil {
					t.Fatal(err)
				}
			}
			res, err := ch.Finish()
			if err != nil {
				t.Fatal(err)
			}
			got := res.Err()
			switch {
			case c.want == "" && got != nil:
				t.Fatalf("got %v, want OK", got)
			case c.want != "" && (got == nil || !strings.Contains(got.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", got, c.want)
			case c.want == "" && (res.Heads != 2 || res.Events != 50 || res.LargestHead != 50):
				t.Fatalf("got %+v, want 50 events and 2 heads checked", res)
			}
			t.Logf("%v", got)
			if got != nil && strings.Contains(got.Error(), "\n") {
				t.Errorf("the error is not one line: %q", got)
			}
		})
	}
}
