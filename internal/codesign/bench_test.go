package codesign

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
)

// BenchmarkSignCode signs a typical personal code with each algorithm, next
// to the EdDSA token through the general go-cose/fxamacker path (what
// SignCode did for EdDSA before its direct path) and to the peer figure:
// crypto/ed25519.Sign alone of a message as long as the EdDSA token's
// Sig_structure, the bytes actually signed.
func BenchmarkSignCode(b *testing.B) {
	f := newFixture(b)
	for _, region := range []string{regionEd, regionEC} {
		s := f.signer(b, region)
		c := sampleClaims(b, t0)
		b.Run(s.Key().Alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.SignCode(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	s := f.signer(b, regionEd)
	c := sampleClaims(b, t0)
	b.Run("EdDSA-cose-path", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w, err := s.codeWire(c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.signCodeCOSE(w); err != nil {
				b.Fatal(err)
			}
		}
	})
	w, err := s.codeWire(c)
	if err != nil {
		b.Fatal(err)
	}
	msgLen := len(appendSigStructure(nil, appendProtected(nil, coseEdDSA, s.kid), HealthCodePrefix, appendCodeWire(nil, &w)))
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, msgLen)
	_, _ = rand.Read(msg)
	b.Run(fmt.Sprintf("peer=crypto/ed25519.Sign/msg=%dB", msgLen), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ed25519.Sign(priv, msg)
		}
	})
}

// BenchmarkVerifyCode verifies a typical personal code with each algorithm,
// next to the peer figure: crypto/ed25519.Verify alone of a message as long
// as the EdDSA token's COSE bytes (about 150), which is what Verify's EdDSA
// time is to be compared with. (The bytes actually signed, the COSE
// Sig_structure, are about 100: with R || A in front, both are two SHA-512
// blocks, so the peer's cost is the same.)
func BenchmarkVerifyCode(b *testing.B) {
	f := newFixture(b)
	tl := f.list(b, t0)
	var msgLen int
	for _, region := range []string{regionEd, regionEC} {
		s := f.signer(b, region)
		p := signCode(b, s, sampleClaims(b, t0))
		if s.Key().Alg == AlgEdDSA {
			raw, err := Base45Decode(p[len(HealthCodePrefix):])
			if err != nil {
				b.Fatal(err)
			}
			msgLen = len(raw)
		}
		b.Run(s.Key().Alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(p, tl, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, msgLen)
	_, _ = rand.Read(msg)
	sig := ed25519.Sign(priv, msg)
	b.Run(fmt.Sprintf("peer=crypto/ed25519.Verify/msg=%dB", msgLen), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("does not verify")
			}
		}
	})
}
