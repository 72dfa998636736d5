package codesign

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Tests of SignCode's direct EdDSA path (signCodeEd) against the general
// go-cose/fxamacker path (signCodeCOSE): Ed25519 is deterministic, so for
// the same claims both must give the same payload, byte for byte.

// texts are edge values of the optional text claims: empty, short,
// multibyte masked names, and exactly maxText bytes (ASCII and multibyte).
var fastPathTexts = []string{
	"", "a", "440106", "张*", "欧**", "司马**", "Ö*", "😀*",
	strings.Repeat("x", 23), strings.Repeat("x", 24), // the 1- and 2-byte length heads
	strings.Repeat("y", maxText),
	strings.Repeat("名", maxText/3) + "*", // 64 bytes
}

// fastPathTimes are edge values of a Unix time: every CBOR head size, both
// signs, and the extremes.
var fastPathTimes = []int64{
	0, 1, -1, 23, 24, -24, -25, 255, 256, -256, -257, 65535, 65536, -65537,
	1 << 32, -(1 << 32) - 1, math.MaxUint32, math.MaxInt64, math.MinInt64,
	t0.Unix(), t0.Unix() + 86400,
}

func randomText(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return fastPathTexts[r.IntN(len(fastPathTexts))]
	}
	var b strings.Builder
	for n := r.IntN(20); n > 0; n-- {
		switch r.IntN(3) {
		case 0:
			b.WriteByte(byte('a' + r.IntN(26)))
		case 1:
			b.WriteRune(rune(0x4e00 + r.IntN(0x5000)))
		default:
			b.WriteString("*")
		}
	}
	s := b.String()
	for len(s) > maxText { // cut at a rune boundary
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

func randomTime(r *rand.Rand) int64 {
	if r.IntN(2) == 0 {
		return fastPathTimes[r.IntN(len(fastPathTimes))]
	}
	return int64(r.Uint64())
}

// randomWire returns any codeWire, valid claims or not: the encoder must
// match fxamacker for every value.
func randomWire(r *rand.Rand) codeWire {
	p := make([]byte, []int{0, 1, PseudonymSize, PseudonymSize, 23, 24, 300}[r.IntN(7)])
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return codeWire{
		Issuer:     randomText(r),
		ExpiresAt:  randomTime(r),
		IssuedAt:   randomTime(r),
		Version:    uint64(randomTime(r)),
		Pseudonym:  p,
		Colour:     []uint64{0, 1, 2, 23, 24, math.MaxUint64}[r.IntN(6)],
		Star:       r.IntN(2) == 0,
		LastTest:   []int64{0, randomTime(r)}[r.IntN(2)],
		Region:     randomText(r),
		MaskedName: randomText(r),
		Paper:      r.IntN(2) == 0,
	}
}

// randomClaims returns claims that SignCode accepts with the fixture's
// keys (valid from t0 for 90 days, tokens of at most 25 hours).
func randomClaims(r *rand.Rand) Claims {
	iat := t0.Add(time.Duration(r.Int64N(int64(90*24*time.Hour))) / time.Second * time.Second)
	if r.IntN(4) == 0 {
		iat = t0
	}
	c := Claims{
		Pseudonym:  make([]byte, PseudonymSize),
		Colour:     []string{"green", "yellow", "red"}[r.IntN(3)],
		Star:       r.IntN(2) == 0,
		IssuedAt:   iat.Add(time.Duration(r.IntN(1000)) * time.Millisecond), // sub-second parts are dropped
		ExpiresAt:  iat.Add(time.Second * time.Duration(1+r.IntN(25*3600))),
		Region:     randomText(r),
		MaskedName: randomText(r),
		Paper:      r.IntN(2) == 0,
	}
	for i := range c.Pseudonym {
		c.Pseudonym[i] = byte(r.Uint32())
	}
	switch r.IntN(4) {
	case 0: // none
	case 1:
		c.LastTest = time.Unix(randomTime(r)%(1<<40), 0)
	case 2:
		c.LastTest = time.Unix(0, 0) // not zero as a time.Time, 0 as Unix: omitted
	default:
		c.LastTest = iat.Add(-time.Duration(r.IntN(1000)) * time.Hour)
	}
	if r.IntN(2) == 0 {
		c.Version = ClaimsVersion
	}
	return c
}

// checkFastPath fails unless signCodeEd and signCodeCOSE give the same
// payload for w.
func checkFastPath(t *testing.T, s *Signer, w codeWire) string {
	t.Helper()
	want, err := s.signCodeCOSE(w)
	if err != nil {
		t.Fatalf("slow path: %v (claims %+v)", err, w)
	}
	got := s.signCodeEd(&w)
	if got != want {
		t.Fatalf("claims %+v:\nfast path %q\nslow path %q", w, got, want)
	}
	return got
}

func TestSignCodeFastPathMatchesCOSE(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	s := f.signer(t, regionEd)
	if s.ed == nil {
		t.Fatal("the Ed25519 signer has no direct path")
	}
	if ec := f.signer(t, regionEC); ec.ed != nil {
		t.Fatal("the ES256 signer has a direct Ed25519 path")
	}
	r := rand.New(rand.NewPCG(1, 2))

	// Any claims, valid or not: the encoding matches fxamacker's.
	for range 2000 {
		checkFastPath(t, s, randomWire(r))
	}
	for _, tm := range fastPathTimes {
		for _, text := range fastPathTexts {
			checkFastPath(t, s, codeWire{Issuer: regionEd, ExpiresAt: tm, IssuedAt: tm, Version: 1, Pseudonym: make([]byte, PseudonymSize), LastTest: tm, Region: text, MaskedName: text})
		}
	}
	checkFastPath(t, s, codeWire{})  // every field zero
	long := strings.Repeat("長", 400) // beyond codeBufSize: the buffers move to the heap
	checkFastPath(t, s, codeWire{Issuer: long, Region: long, MaskedName: long, Pseudonym: make([]byte, 1000)})

	// Valid claims through SignCode: the same payload as the slow path,
	// and Verify accepts it with the same claims.
	for i := range 1000 {
		c := randomClaims(r)
		w, err := s.codeWire(c)
		if err != nil {
			t.Fatalf("claims %+v: %v", c, err)
		}
		want, err := s.signCodeCOSE(w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.SignCode(c)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("claims %+v:\nSignCode %q\nslow path %q", c, got, want)
		}
		if i%4 == 0 || c.IssuedAt.Unix() == t0.Unix() {
			now := c.IssuedAt.Truncate(time.Second)
			v, err := Verify(got, tl, now)
			if err != nil {
				t.Fatalf("claims %+v: Verify: %v", c, err)
			}
			lastTestOK := v.LastTest.IsZero() == (w.LastTest == 0) && (w.LastTest == 0 || v.LastTest.Unix() == w.LastTest)
			if v.Version != ClaimsVersion || v.Issuer != regionEd || v.MaskedName != c.MaskedName || v.Region != c.Region ||
				!bytes.Equal(v.Pseudonym, c.Pseudonym) || v.Colour != c.Colour || v.Star != c.Star || v.Paper != c.Paper ||
				v.IssuedAt.Unix() != c.IssuedAt.Unix() || v.ExpiresAt.Unix() != c.ExpiresAt.Unix() || !lastTestOK {
				t.Fatalf("Verify gave %+v for %+v", v, c)
			}
		}
	}
}

// TestSignCodeAllocs keeps the direct path's allocations down: the result
// string (and nothing else on the heap).
func TestSignCodeAllocs(t *testing.T) {
	f := newFixture(t)
	s := f.signer(t, regionEd)
	c := sampleClaims(t, t0)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.SignCode(c); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("SignCode EdDSA: %v allocations, want at most 1", n)
	}
}

func FuzzSignCodeFastPath(f *testing.F) {
	fx := newFuzzFixture(f)
	tl := fx.list(f, t0)
	s := fx.signer(f, regionEd)
	f.Add(regionEd, t0.Unix()+3600, t0.Unix(), uint64(1), bytes.Repeat([]byte{7}, PseudonymSize), uint64(1), true, t0.Unix()-30*3600, "440106", "欧**", true)
	f.Add(regionEd, t0.Unix()+1, t0.Unix(), uint64(1), make([]byte, PseudonymSize), uint64(0), false, int64(0), "", "", false)
	f.Add("", int64(math.MinInt64), int64(math.MaxInt64), uint64(math.MaxUint64), []byte{}, uint64(24), false, int64(-1), strings.Repeat("y", maxText), "名*", false)
	f.Fuzz(func(t *testing.T, iss string, exp, iat int64, version uint64, pseudonym []byte, colour uint64, star bool, lastTest int64, region, name string, paper bool) {
		if !utf8.ValidString(iss) || !utf8.ValidString(region) || !utf8.ValidString(name) {
			return // SignCode refuses these before encoding
		}
		w := codeWire{Issuer: iss, ExpiresAt: exp, IssuedAt: iat, Version: version, Pseudonym: pseudonym, Colour: colour, Star: star, LastTest: lastTest, Region: region, MaskedName: name, Paper: paper}
		p := checkFastPath(t, s, w)
		// Claims that SignCode would sign must verify.
		c := Claims{Version: int(version), Pseudonym: pseudonym, Issuer: iss, Star: star, Region: region, MaskedName: name, Paper: paper,
			IssuedAt: time.Unix(iat, 0), ExpiresAt: time.Unix(exp, 0)}
		if colour <= 2 {
			c.Colour = []string{"green", "yellow", "red"}[colour]
		}
		if lastTest != 0 {
			c.LastTest = time.Unix(lastTest, 0)
		}
		if version > math.MaxInt32 {
			return
		}
		if cw, err := s.codeWire(c); err == nil {
			if cw.Issuer != w.Issuer || cw.Version != w.Version {
				return // SignCode filled in the issuer or the version: a different token
			}
			got, err := s.SignCode(c)
			if err != nil || got != p {
				t.Fatalf("SignCode gave %q, %v; want %q", got, err, p)
			}
			if _, err := Verify(p, tl, time.Unix(iat, 0)); err != nil {
				t.Fatalf("claims %+v: Verify: %v", c, err)
			}
		}
	})
}
