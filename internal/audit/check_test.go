package audit

import (
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"healthcode/internal/health"
)

// storedOf serves stored block hashes in order, as the store's cursor.
type storedOf struct {
	blocks []int64
	hashes [][]byte
	i      int
}

func (s *storedOf) Next() (int64, []byte, bool, error) {
	if s.i >= len(s.blocks) {
		return 0, nil, false, nil
	}
	s.i++
	return s.blocks[s.i-1], s.hashes[s.i-1], true, nil
}

// storedBlocks returns the block hashes of events as stored.
func storedBlocks(t *testing.T, events []health.Event) *storedOf {
	t.Helper()
	var tree Tree
	blocks, _, err := tree.AppendEvents(events, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &storedOf{}
	for k, h := range blocks {
		s.blocks, s.hashes = append(s.blocks, int64(k)), append(s.hashes, h[:])
	}
	return s
}

// logOf builds n events, their stored block hashes, and a signed head for
// each size in heads.
func logOf(t *testing.T, k *Key, n int, heads ...int64) ([]health.Event, *storedOf, [][]byte) {
	t.Helper()
	events := eventsUpTo(n)
	var tree Tree
	var notes [][]byte
	want := map[int64]bool{}
	for _, h := range heads {
		want[h] = true
	}
	for i := range events {
		if _, _, err := tree.AppendEvents(events[i:i+1], nil, nil); err != nil {
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
	return events, storedBlocks(t, events), notes
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

// TestChecker tampers with a log of 700 events (blocks of seqs 1–256 and
// 257–512, then a partial block) with signed heads at 300 and 700, and
// checks the checker's one-line finding.
func TestChecker(t *testing.T) {
	k := testKey(t)
	type tamperFunc func(evs []health.Event, s *storedOf, notes [][]byte) ([]health.Event, [][]byte)
	cases := []struct {
		name   string
		tamper tamperFunc
		want   string // "" = OK; else a substring of the one-line error
	}{
		{"untouched", nil, ""},
		{"edited", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[16].Person++
			return evs, n
		}, "seqs 1–256: block hash differs: an event in it was edited, removed or reordered; 2 signed head(s) do not match"},
		{"deleted", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			return append(evs[:29:29], evs[30:]...), n
		}, "seq 30 is missing"},
		{"tail deleted", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			return evs[:450], n
		}, "seq 451 is missing"},
		{"blocks beyond the events", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			return evs[:300], nil
		}, "seq 301 is missing: the log ends at seq 300 but the audit log recorded a block of seqs 257–512"},
		{"swapped in a block", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[9], evs[20] = evs[20], evs[9]
			evs[9].Seq, evs[20].Seq = 10, 21
			return evs, n
		}, "seqs 1–256: block hash differs"},
		{"swapped across blocks", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[9], evs[299] = evs[299], evs[9]
			evs[9].Seq, evs[299].Seq = 10, 300
			return evs, n
		}, "seqs 1–256: block hash differs: an event in it was edited, removed or reordered; 2 blocks differ from the audit log, at seqs 1–256, 257–512"},
		{"edited in the partial block", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[600].Aux++
			return evs, n
		}, "the log does not match the stored head of size 700 signed 2022-06-11T08:31:00Z: an event among seqs 301..700"},
		{"block table rewritten with the edit", func(evs []health.Event, s *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			evs[3].Aux = 9
			*s = *storedBlocks(t, evs)
			return evs, n
		}, "does not match the stored head of size 300"},
		{"forged head", func(evs []health.Event, _ *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			n[0] = []byte(strings.Replace(string(n[0]), "\n300\n", "\n301\n", 1))
			return evs, n
		}, "signature"},
		{"stored block hash changed, under a head", func(evs []health.Event, s *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			s.hashes[1][3] ^= 1
			return evs, n
		}, "seqs 257–512: the stored block hash differs from the recomputed one, but the events match the signed head of size 700: the audit table was changed"},
		{"stored block hash changed, no head", func(evs []health.Event, s *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			s.hashes[1][3] ^= 1
			return evs, nil
		}, "seqs 257–512: block hash differs"},
		{"stored block deleted", func(evs []health.Event, s *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			s.blocks, s.hashes = s.blocks[1:], s.hashes[1:]
			return evs, n
		}, "the audit table has block 1 where block 0 should follow"},
		{"stored blocks missing at the end", func(evs []health.Event, s *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			s.blocks, s.hashes = s.blocks[:1], s.hashes[:1]
			return evs, n
		}, "seqs 257–512: no stored block hash"},
		{"stored block truncated", func(evs []health.Event, s *storedOf, n [][]byte) ([]health.Event, [][]byte) {
			s.hashes[0] = s.hashes[0][:31]
			return evs, n
		}, "seqs 1–256: the stored block hash has 31 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, stored, notes := logOf(t, k, 700, 300, 700)
			if c.tamper != nil {
				evs, notes = c.tamper(evs, stored, notes)
			}
			ch := NewChecker(k.Verifier, stored)
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
			case c.want == "" && (res.Heads != 2 || res.Events != 700 || res.LargestHead != 700 || res.Blocks != 2):
				t.Fatalf("got %+v, want 700 events, 2 blocks and 2 heads checked", res)
			}
			t.Logf("%v", got)
			if got != nil && strings.Contains(got.Error(), "\n") {
				t.Errorf("the error is not one line: %q", got)
			}
		})
	}
}

// TestCheckerWithoutStoredBlocks: with no table to compare (nil), only the
// heads bind the events.
func TestCheckerWithoutStoredBlocks(t *testing.T) {
	k := testKey(t)
	evs, _, notes := logOf(t, k, 600, 600)
	evs[5].Aux++
	ch := NewChecker(k.Verifier, nil)
	ch.AddHead(notes[0], "head")
	for i := range evs {
		if err := ch.Add(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ch.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "does not match the head of size 600") || res.Blocks != 0 {
		t.Fatalf("got %v (%d blocks compared), want the head to catch the edit", err, res.Blocks)
	}
}
