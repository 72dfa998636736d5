package codesign

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The examples of RFC 9285 section 4.3 (encoding) and 4.4 (decoding).
func TestBase45RFCExamples(t *testing.T) {
	for _, c := range []struct{ plain, enc string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
	} {
		if got := Base45Encode([]byte(c.plain)); got != c.enc {
			t.Errorf("Base45Encode(%q) = %q, want %q", c.plain, got, c.enc)
		}
		got, err := Base45Decode(c.enc)
		if err != nil || string(got) != c.plain {
			t.Errorf("Base45Decode(%q) = %q, %v; want %q", c.enc, got, err, c.plain)
		}
	}
}

// RFC 9285 section 6: a decoder must refuse characters outside the
// alphabet, impossible lengths and groups whose value is out of range
// ("GGW" is 65536).
func TestBase45DecodeInvalid(t *testing.T) {
	for _, s := range []string{
		"GGW",     // 16 + 16*45 + 32*2025 = 65536 > 65535
		"ZZZ",     // far above 65535
		":::",     // the largest triple, 91124
		"ZZ",      // final pair 35 + 35*45 = 1610 > 255
		"A",       // length 1 mod 3
		"BB8A",    // length 4 = 1 mod 3
		"bb8",     // lower case is not in the alphabet
		"BB8\n",   // newline
		"BB=",     // '=' padding does not exist in Base45
		"QED8WEX", // length 7 = 1 mod 3
	} {
		if b, err := Base45Decode(s); err == nil {
			t.Errorf("Base45Decode(%q) = %x, want an error", s, b)
		}
	}
}

// Every 2-byte and 1-byte value round-trips, and every valid triple and pair
// decodes to a value that encodes back to it (encoding is a bijection).
func TestBase45Exhaustive(t *testing.T) {
	for n := range 1 << 16 {
		b := []byte{byte(n >> 8), byte(n)}
		s := Base45Encode(b)
		if len(s) != 3 {
			t.Fatalf("%x encodes to %q", b, s)
		}
		got, err := Base45Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%x -> %q -> %x, %v", b, s, got, err)
		}
	}
	for n := range 256 {
		s := Base45Encode([]byte{byte(n)})
		got, err := Base45Decode(s)
		if err != nil || len(got) != 1 || got[0] != byte(n) {
			t.Fatalf("%d -> %q -> %x, %v", n, s, got, err)
		}
	}
	valid := 0
	for i := range 45 * 45 * 45 {
		s := string([]byte{base45Alphabet[i%45], base45Alphabet[i/45%45], base45Alphabet[i/2025]})
		if got, err := Base45Decode(s); err == nil {
			valid++
			if Base45Encode(got) != s {
				t.Fatalf("%q decodes to %x which encodes to %q", s, got, Base45Encode(got))
			}
		}
	}
	if valid != 1<<16 {
		t.Fatalf("%d valid triples, want 65536", valid)
	}
}

func TestBase45RoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		s := Base45Encode(b)
		if len(s) != n/2*3+n%2*2 {
			t.Fatalf("length %d encodes to %d characters", n, len(s))
		}
		got, err := Base45Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip of %d bytes failed: %v", n, err)
		}
	}
}
