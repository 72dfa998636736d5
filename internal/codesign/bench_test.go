package codesign

import (
	"testing"
)

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
}

func BenchmarkVerifyCode(b *testing.B) {
	f := newFixture(b)
	tl := f.list(b, t0)
	for _, region := range []string{regionEd, regionEC} {
		s := f.signer(b, region)
		p := signCode(b, s, sampleClaims(b, t0))
		b.Run(s.Key().Alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(p, tl, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
