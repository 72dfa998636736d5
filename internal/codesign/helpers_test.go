package codesign

import (
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

const (
	regionEd = "440000" // a region with an Ed25519 key
	regionEC = "110000" // a region with an ES256 key
)

type fixture struct {
	path string
	kek  []byte
	ks   *Keystore
}

func randomKEK(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// newFixture opens a new keystore with an Ed25519 key for regionEd and an
// ES256 key for regionEC, both valid from t0 for 90 days.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), KeystoreFile), kek: randomKEK(t)}
	var err error
	if f.ks, err = OpenKeystore(f.path, f.kek); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ks.Generate(AlgEdDSA, regionEd, t0, 90*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ks.Generate(AlgES256, regionEC, t0, 90*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	return f
}

// list issues and parses (pinned) the trust list at now.
func (f *fixture) list(t testing.TB, now time.Time) *TrustList {
	t.Helper()
	data, err := f.ks.TrustList(now)
	if err != nil {
		t.Fatal(err)
	}
	root := f.ks.Root()
	tl, err := ParseTrustList(data, root.PublicDER())
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func (f *fixture) signer(t testing.TB, region string) *Signer {
	t.Helper()
	s, err := f.ks.Active(region)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pseudonym(t testing.TB) []byte {
	p := make([]byte, PseudonymSize)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleClaims returns full claims issued at iat, valid 24 hours.
func sampleClaims(t testing.TB, iat time.Time) Claims {
	return Claims{
		Pseudonym:  pseudonym(t),
		Colour:     "yellow",
		Star:       true,
		LastTest:   iat.Add(-30 * time.Hour),
		IssuedAt:   iat,
		ExpiresAt:  iat.Add(24 * time.Hour),
		Region:     "440106",
		MaskedName: "欧**",
		Paper:      true,
	}
}

func signCode(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	p, err := s.SignCode(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantCode fails unless err is an *Error with the given code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%s), want %s", e.Code, e.Msg, code)
	}
	if e.Msg == "" {
		t.Fatalf("code %s without a message", code)
	}
}

// signRaw signs arbitrary claims bytes with s, bypassing SignCode's checks:
// what a buggy or malicious holder of a trusted key could produce.
func signRaw(t testing.TB, s *Signer, prefix string, claims any) string {
	t.Helper()
	body, err := encMode.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sign1(s.cose, s.kid, prefix, body)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + Base45Encode(raw)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func signPlace(t testing.TB, s *Signer, p PlaceClaims) string {
	t.Helper()
	out, err := s.SignPlace(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
