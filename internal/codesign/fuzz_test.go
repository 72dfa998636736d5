package codesign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// newFuzzFixture is newFixture with keys drawn from a fixed seed: the fuzzing
// engine runs the fuzz function in several worker processes and hands them
// the seed corpus built in the coordinator, so all of them must hold the
// same keys for the seeds to verify (and for "accepted only if legitimately
// signed" to mean the same thing in every process).
func newFuzzFixture(f *testing.F) *fixture {
	r := rand.NewChaCha8([32]byte{'h', 'e', 'a', 'l', 't', 'h', 'c', 'o', 'd', 'e'})
	saved := generatePrivate
	defer func() { generatePrivate = saved }()
	generatePrivate = func(alg string) (crypto.Signer, error) {
		var b [32]byte
		switch alg {
		case AlgEdDSA:
			_, _ = r.Read(b[:])
			return ed25519.NewKeyFromSeed(b[:]), nil
		case AlgES256:
			for {
				_, _ = r.Read(b[:])
				if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b[:]); err == nil {
					return k, nil
				}
			}
		}
		return saved(alg)
	}
	return newFixture(f)
}

// The fuzz targets assert two things: no input panics, and no input that is
// not byte-for-byte a legitimately signed payload is accepted (verification
// is strict, so a legitimate payload has exactly one encoding).

func FuzzBase45Decode(f *testing.F) {
	for _, s := range []string{"", "BB8", "%69 VD92EX0", "UJCLQE7W581", "QED8WEX0", "GGW", "ZZ", "A", "bb8", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Base45Decode(s)
		if err == nil && Base45Encode(b) != s {
			t.Fatalf("%q decodes to %x, which encodes to %q: decoding is not canonical", s, b, Base45Encode(b))
		}
		round, err := Base45Decode(Base45Encode([]byte(s)))
		if err != nil || string(round) != s {
			t.Fatalf("round trip of %q gave %q, %v", s, round, err)
		}
	})
}

func FuzzVerifyCode(f *testing.F) {
	fx := newFuzzFixture(f)
	tl := fx.list(f, t0)
	legit := map[string]Claims{}
	for _, region := range []string{regionEd, regionEC} {
		s := fx.signer(f, region)
		full := sampleClaims(f, t0)
		full.Pseudonym = bytes.Repeat([]byte{7}, PseudonymSize) // the same in every worker
		for _, c := range []Claims{
			full,
			{Pseudonym: make([]byte, PseudonymSize), Colour: "green", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		} {
			p := signCode(f, s, c)
			got, err := Verify(p, tl, t0)
			if err != nil {
				f.Fatal(err)
			}
			legit[p] = got
			f.Add(p)
			f.Add(p[:len(p)-3])
			f.Add("HCC2:" + p[len(HealthCodePrefix):])
			f.Add(strings.Replace(p, "A", "B", 1))
		}
		f.Add(signPlace(f, s, PlaceClaims{Place: "L45"}))
	}
	f.Add("HCC1:")
	f.Add("HC1:6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N")
	f.Fuzz(func(t *testing.T, payload string) {
		c, err := Verify(payload, tl, t0)
		if err != nil {
			if ErrorCode(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		want, ok := legit[payload]
		if !ok {
			t.Fatalf("accepted a payload that was never signed: %q", payload)
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("claims %+v, want %+v", c, want)
		}
	})
}

func FuzzVerifyPlace(f *testing.F) {
	fx := newFuzzFixture(f)
	tl := fx.list(f, t0)
	now := t0.Add(time.Hour)
	legit := map[string]PlaceClaims{}
	for _, region := range []string{regionEd, regionEC} {
		s := fx.signer(f, region)
		for _, p := range []PlaceClaims{
			{Place: "L45"},
			{Place: "L7", Window: PlaceWindow(now, 30), Period: 30},
			{Place: "L7", Window: PlaceWindow(now, 30) - 1, Period: 30},
		} {
			payload := signPlace(f, s, p)
			got, err := VerifyPlace(payload, tl, now)
			if err != nil {
				f.Fatal(err)
			}
			legit[payload] = got
			f.Add(payload)
			f.Add(payload[:len(payload)-2])
			f.Add("HCP1:" + payload[len(SignedPlacePrefix):])
		}
		f.Add(signCode(f, s, Claims{Pseudonym: make([]byte, PseudonymSize), Colour: "red", IssuedAt: t0, ExpiresAt: now}))
	}
	f.Add("HCP1:L45")
	f.Fuzz(func(t *testing.T, payload string) {
		p, err := VerifyPlace(payload, tl, now)
		if err != nil {
			if ErrorCode(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		want, ok := legit[payload]
		if !ok {
			t.Fatalf("accepted a payload that was never signed: %q", payload)
		}
		if p != want {
			t.Fatalf("claims %+v, want %+v", p, want)
		}
	})
}

// trustListView is the exported content of a TrustList, for comparison.
type trustListView struct {
	Serial  uint64
	Issued  time.Time
	Root    TrustedRoot
	Keys    []TrustedKey
	Revoked []string
}

func viewOf(tl *TrustList) trustListView {
	return trustListView{tl.Serial, tl.Issued, tl.Root, tl.Keys, tl.Revoked}
}

func FuzzParseTrustList(f *testing.F) {
	fx := newFuzzFixture(f)
	if err := fx.ks.Revoke(fx.signer(f, regionEC).Key().ID, t0); err != nil {
		f.Fatal(err)
	}
	data, err := fx.ks.TrustList(t0)
	if err != nil {
		f.Fatal(err)
	}
	pin := fx.ks.Root().PublicDER()
	want, err := ParseTrustList(data, pin)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		f.Fatal(err)
	}
	f.Add(compact.Bytes())
	f.Add(bytes.Replace(data, []byte(`"serial": 1`), []byte(`"serial": 2`), 1))
	f.Add([]byte(`{"signed":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, p := range [][]byte{pin, nil} {
			tl, err := ParseTrustList(doc, p)
			if err != nil {
				if ErrorCode(err) != CodeBadTrustList {
					t.Fatalf("error %v is not bad_trust_list", err)
				}
				continue
			}
			if !reflect.DeepEqual(viewOf(tl), viewOf(want)) {
				t.Fatalf("accepted a list that differs from the signed one (pinned=%v): %+v", p != nil, viewOf(tl))
			}
		}
	})
}
