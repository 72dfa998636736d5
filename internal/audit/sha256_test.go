package audit

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// checkSHA256 compares sum256 and nodeHash with crypto/sha256 and
// tlog.NodeHash on messages of every length up to five blocks.
func checkSHA256(t *testing.T) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 5*64+1; n++ {
		p := make([]byte, n, n+3)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		want := sha256.Sum256(p)
		got, buf := sum256(append([]byte(nil), p...))
		if got != want {
			t.Fatalf("sum256 of %d bytes differs from crypto/sha256", n)
		}
		if len(buf) != n || string(buf) != string(p) {
			t.Fatalf("sum256 of %d bytes changed its input", n)
		}
	}
	for range 100 {
		var l, r tlog.Hash
		for i := range l {
			l[i], r[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		if nodeHash(l, r) != tlog.NodeHash(l, r) {
			t.Fatal("nodeHash differs from tlog.NodeHash")
		}
	}
}

func TestSHA256(t *testing.T) {
	t.Logf("SHA extensions used: %v", useSHANI)
	checkSHA256(t)
}

func BenchmarkNodeHash(b *testing.B) {
	var l, r tlog.Hash
	for b.Loop() {
		l = nodeHash(l, r)
	}
}
