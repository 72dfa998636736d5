package codesign

import (
	"bytes"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	for _, region := range []string{regionEd, regionEC} {
		t.Run(f.signer(t, region).Key().Alg, func(t *testing.T) {
			s := f.signer(t, region)
			c := sampleClaims(t, t0)
			p := signCode(t, s, c)
			if !strings.HasPrefix(p, HealthCodePrefix) {
				t.Fatalf("payload %q lacks the prefix", p)
			}
			if len(p) >= 300 {
				t.Errorf("payload is %d characters, want < 300", len(p))
			}
			t.Logf("%s token: %d characters", s.Key().Alg, len(p))
			got, err := Verify(p, tl, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			want := c
			want.Version = ClaimsVersion
			want.Issuer = region
			want.LastTest = c.LastTest.UTC()
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}

			// Minimal claims: optional fields stay absent.
			m := Claims{Pseudonym: pseudonym(t), Colour: "green", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			got, err = Verify(signCode(t, s, m), tl, t0)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastTest.IsZero() || got.Star || got.Paper || got.MaskedName != "" || got.Colour != "green" {
				t.Fatalf("minimal claims came back as %+v", got)
			}
		})
	}
}

// A typical token must stay well inside a QR code: report the sizes.
func TestPayloadSizes(t *testing.T) {
	f := newFixture(t)
	for _, region := range []string{regionEd, regionEC} {
		s := f.signer(t, region)
		c := sampleClaims(t, t0)
		c.MaskedName = "张*"
		p := signCode(t, s, c)
		raw, _ := Base45Decode(p[len(HealthCodePrefix):])
		pl := signPlace(t, s, PlaceClaims{Place: "L45"})
		dyn := signPlace(t, s, PlaceClaims{Place: "L45", Window: PlaceWindow(t0, 30), Period: 30})
		t.Logf("%s: personal %d chars (%d COSE bytes), static place %d chars, dynamic place %d chars", s.Key().Alg, len(p), len(raw), len(pl), len(dyn))
		if len(p) > 260 {
			t.Errorf("personal token of %d characters", len(p))
		}
	}
}

func TestSignCodeRefuses(t *testing.T) {
	f := newFixture(t)
	s := f.signer(t, regionEd)
	for name, mod := range map[string]func(c *Claims){
		"short pseudonym":       func(c *Claims) { c.Pseudonym = c.Pseudonym[:8] },
		"bad colour":            func(c *Claims) { c.Colour = "blue" },
		"version 2":             func(c *Claims) { c.Version = 2 },
		"other issuer":          func(c *Claims) { c.Issuer = "110000" },
		"no issued_at":          func(c *Claims) { c.IssuedAt = time.Time{} },
		"expires before issued": func(c *Claims) { c.ExpiresAt = c.IssuedAt },
		"lifetime over maximum": func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(DefaultMaxTokenLifetime + time.Second) },
		"before key validity":   func(c *Claims) { c.IssuedAt = t0.Add(-time.Hour) },
		"after key validity":    func(c *Claims) { c.IssuedAt = t0.Add(91 * 24 * time.Hour); c.ExpiresAt = c.IssuedAt.Add(time.Hour) },
		"long name":             func(c *Claims) { c.MaskedName = strings.Repeat("*", 65) },
	} {
		c := sampleClaims(t, t0)
		mod(&c)
		if p, err := s.SignCode(c); err == nil {
			t.Errorf("%s: signed %s", name, p)
		}
	}
}

// Every single-character change anywhere in the payload is refused.
func TestVerifyRejectsEveryAlteredCharacter(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	for _, region := range []string{regionEd, regionEC} {
		p := signCode(t, f.signer(t, region), sampleClaims(t, t0))
		for i := range len(p) {
			for _, d := range []int{1, 17} {
				alt := []byte(p)
				alt[i] = base45Alphabet[(strings.IndexByte(base45Alphabet, p[i])+d)%45]
				if i < len(HealthCodePrefix) && strings.IndexByte(base45Alphabet, p[i]) < 0 {
					alt[i] = 'X'
				}
				if _, err := Verify(string(alt), tl, t0); err == nil {
					t.Fatalf("%s: altered character %d accepted: %s", region, i, alt)
				} else if ErrorCode(err) == "" {
					t.Fatalf("%s: altered character %d: error %v has no code", region, i, err)
				}
			}
		}
	}
}

// Every bit flip in the decoded COSE bytes is refused.
func TestVerifyRejectsEveryFlippedBit(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	for _, region := range []string{regionEd, regionEC} {
		p := signCode(t, f.signer(t, region), sampleClaims(t, t0))
		raw, err := Base45Decode(p[len(HealthCodePrefix):])
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(raw) * 8 {
			alt := bytes.Clone(raw)
			alt[i/8] ^= 1 << (i % 8)
			if _, err := Verify(HealthCodePrefix+Base45Encode(alt), tl, t0); err == nil {
				t.Fatalf("%s: flipped bit %d accepted", region, i)
			}
		}
	}
}

func TestVerifyRejections(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	s := f.signer(t, regionEd)
	ec := f.signer(t, regionEC)
	good := signCode(t, s, sampleClaims(t, t0))
	goodEC := signCode(t, ec, sampleClaims(t, t0))
	body := good[len(HealthCodePrefix):]
	raw, _ := Base45Decode(body)

	other := newFixture(t) // another node: keys nobody here trusts
	foreign := signCode(t, other.signer(t, regionEd), sampleClaims(t, t0))

	// A token carrying a trusted kid but signed by another key.
	impostor := other.signer(t, regionEd)
	impostor.kid = s.kid
	forged := signCode(t, impostor, sampleClaims(t, t0))

	// The same COSE with a non-empty unprotected header.
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(raw); err != nil {
		t.Fatal(err)
	}
	msg.Headers.RawUnprotected = nil
	msg.Headers.Unprotected = cose.UnprotectedHeader{cose.HeaderLabelContentType: "text/plain"}
	withUnprotected, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}

	// The same COSE untagged, and with a non-minimal length for the payload.
	untagged := raw[1:]
	var arr []cbor.RawMessage
	if err := cbor.Unmarshal(untagged, &arr); err != nil || len(arr) != 4 {
		t.Fatal(err)
	}
	var pl []byte
	_ = cbor.Unmarshal(arr[2], &pl)
	long := append([]byte{0xd2, 0x84}, arr[0]...)
	long = append(long, arr[1]...)
	long = append(long, 0x59, byte(len(pl)>>8), byte(len(pl))) // bstr with 2-byte length
	long = append(long, pl...)
	long = append(long, arr[3]...)

	// An ES256 token with its signature's S replaced by n-S: ECDSA accepts
	// it, this package does not (non-malleable payloads).
	rawEC, _ := Base45Decode(goodEC[len(HealthCodePrefix):])
	var msgEC cose.Sign1Message
	if err := msgEC.UnmarshalCBOR(rawEC); err != nil {
		t.Fatal(err)
	}
	sHigh := new(big.Int).Sub(p256N, new(big.Int).SetBytes(msgEC.Signature[32:]))
	sHigh.FillBytes(msgEC.Signature[32:])
	highS, err := msgEC.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}

	// A signed place code's body presented as a personal code: the external
	// AAD (the prefix) makes the signature fail.
	place := signPlace(t, s, PlaceClaims{Place: "L45"})

	// Claims a trusted key signed but that are not valid claims.
	w := codeWire{Issuer: regionEd, IssuedAt: t0.Unix(), ExpiresAt: t0.Add(time.Hour).Unix(), Version: 1, Pseudonym: pseudonym(t), Colour: 1}
	mod := func(fn func(w *codeWire)) string {
		c := w
		fn(&c)
		return signRaw(t, s, HealthCodePrefix, c)
	}
	type explicitFalse struct {
		codeWire
		Star bool `cbor:"-4,keyasint"`
	}

	// A key valid only one hour.
	short, err := f.ks.Generate(AlgEdDSA, "120000", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	shortTL := f.list(t, t0)
	shortTok := signCode(t, f.signer(t, "120000"), Claims{Pseudonym: pseudonym(t), Colour: "red", IssuedAt: t0, ExpiresAt: t0.Add(3 * time.Hour)})
	_ = short

	cases := []struct {
		name, payload string
		tl            *TrustList
		now           time.Time
		code          string
	}{
		{"EU prefix", "HC1:" + body, tl, t0, CodeWrongPrefix},
		{"no prefix", body, tl, t0, CodeWrongPrefix},
		{"prefix without version", "HCC:" + body, tl, t0, CodeWrongPrefix},
		{"lower-case prefix", "hcc1:" + body, tl, t0, CodeWrongPrefix},
		{"place code", place, tl, t0, CodeWrongPrefix},
		{"leading zero", "HCC01:" + body, tl, t0, CodeWrongPrefix},
		{"version 2", "HCC2:" + body, tl, t0, CodeUnsupportedVersion},
		{"version 10", "HCC10:" + body, tl, t0, CodeUnsupportedVersion},
		{"version 0", "HCC0:" + body, tl, t0, CodeUnsupportedVersion},
		{"lower-case base45", HealthCodePrefix + strings.ToLower(body), tl, t0, CodeMalformedBase45},
		{"base45 length", HealthCodePrefix + body + strings.Repeat("0", (4-len(body)%3)%3), tl, t0, CodeMalformedBase45},
		{"base45 out of range", HealthCodePrefix + "GGW" + body[3:], tl, t0, CodeMalformedBase45},
		{"trailing space", good + " ", tl, t0, CodeMalformedBase45},
		{"too long", HealthCodePrefix + strings.Repeat("0", MaxPayloadLen), tl, t0, CodeMalformedBase45},
		{"not CBOR", HealthCodePrefix + Base45Encode([]byte{0xff, 0xfe, 0xfd}), tl, t0, CodeMalformedCOSE},
		{"CBOR, not COSE", HealthCodePrefix + Base45Encode([]byte{0x82, 0x01, 0x02}), tl, t0, CodeMalformedCOSE},
		{"truncated COSE", HealthCodePrefix + Base45Encode(raw[:len(raw)-1]), tl, t0, CodeMalformedCOSE},
		{"trailing byte", HealthCodePrefix + Base45Encode(append(bytes.Clone(raw), 0)), tl, t0, CodeMalformedCOSE},
		{"untagged COSE", HealthCodePrefix + Base45Encode(untagged), tl, t0, CodeMalformedCOSE},
		{"unprotected header", HealthCodePrefix + Base45Encode(withUnprotected), tl, t0, CodeMalformedCOSE},
		{"non-minimal length", HealthCodePrefix + Base45Encode(long), tl, t0, CodeMalformedCOSE},
		{"unknown kid", foreign, tl, t0, CodeUnknownKey},
		{"wrong key", forged, tl, t0, CodeBadSignature},
		{"high S", HealthCodePrefix + Base45Encode(highS), tl, t0, CodeBadSignature},
		{"place body as code", HealthCodePrefix + place[len(SignedPlacePrefix):], tl, t0, CodeBadSignature},
		{"no trust list", good, nil, t0, CodeBadTrustList},
		{"claims version 2", mod(func(w *codeWire) { w.Version = 2 }), tl, t0, CodeUnsupportedVersion},
		{"claims not a map", signRaw(t, s, HealthCodePrefix, []int{1, 2}), tl, t0, CodeMalformedClaims},
		{"unknown claim", signRaw(t, s, HealthCodePrefix, map[int]any{1: regionEd, 4: w.ExpiresAt, 6: w.IssuedAt, -1: 1, -2: w.Pseudonym, -3: 0, -99: 1}), tl, t0, CodeMalformedClaims},
		{"explicit false", signRaw(t, s, HealthCodePrefix, explicitFalse{codeWire: w}), tl, t0, CodeMalformedClaims},
		{"no pseudonym", mod(func(w *codeWire) { w.Pseudonym = nil }), tl, t0, CodeMalformedClaims},
		{"colour 3", mod(func(w *codeWire) { w.Colour = 3 }), tl, t0, CodeMalformedClaims},
		{"no issuer", mod(func(w *codeWire) { w.Issuer = "" }), tl, t0, CodeMalformedClaims},
		{"exp before iat", mod(func(w *codeWire) { w.ExpiresAt = w.IssuedAt - 1 }), tl, t0, CodeMalformedClaims},
		{"wrong issuer", mod(func(w *codeWire) { w.Issuer = regionEC }), tl, t0, CodeWrongIssuer},
		{"issued before key", mod(func(w *codeWire) { w.IssuedAt -= 3600 }), tl, t0, CodeKeyNotValid},
		{"expired", good, tl, t0.Add(24 * time.Hour), CodeExpired},
		{"expired later", good, tl, t0.Add(25 * time.Hour), CodeExpired},
		{"not yet valid", good, tl, t0.Add(-MaxClockSkew - time.Second), CodeNotYetValid},
		{"key expired", shortTok, shortTL, t0.Add(90 * time.Minute), CodeKeyNotValid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(c.payload, c.tl, c.now)
			wantCode(t, err, c.code)
			if !reflect.DeepEqual(got, Claims{}) {
				t.Fatalf("claims returned with an error: %+v", got)
			}
		})
	}

	// The boundaries just inside are accepted.
	for _, now := range []time.Time{t0.Add(-MaxClockSkew), t0.Add(24*time.Hour - time.Second)} {
		if _, err := Verify(good, tl, now); err != nil {
			t.Errorf("at %v: %v", now, err)
		}
	}
	if _, err := Verify(shortTok, shortTL, t0.Add(time.Hour)); err != nil {
		t.Errorf("short key at its NotAfter: %v", err)
	}
}

func TestErrorIs(t *testing.T) {
	_, err := Verify("nope", nil, t0)
	if ErrorCode(err) != CodeWrongPrefix || !strings.Contains(err.Error(), "wrong_prefix") {
		t.Fatalf("got %v", err)
	}
	if !errorsIs(err, &Error{Code: CodeWrongPrefix}) || errorsIs(err, &Error{Code: CodeExpired}) {
		t.Fatal("errors.Is does not match on Code")
	}
}

// ES256 signatures are deterministic (RFC 6979) and always have a low S, so
// a token has exactly one valid encoding.
func TestES256DeterministicLowS(t *testing.T) {
	f := newFixture(t)
	s := f.signer(t, regionEC)
	c := sampleClaims(t, t0)
	if a, b := signCode(t, s, c), signCode(t, s, c); a != b {
		t.Fatal("two ES256 signatures of the same claims differ")
	}
	for range 64 {
		p := signCode(t, s, sampleClaims(t, t0))
		raw, _ := Base45Decode(p[len(HealthCodePrefix):])
		var msg cose.Sign1Message
		if err := msg.UnmarshalCBOR(raw); err != nil {
			t.Fatal(err)
		}
		if new(big.Int).SetBytes(msg.Signature[32:]).Cmp(p256HalfN) > 0 {
			t.Fatal("high S signature")
		}
	}
}

// A trust list and a keystore are shared by concurrent verifiers and
// signers (run with -race).
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	data, err := f.ks.TrustList(t0)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := ParseTrustList(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	tl = &TrustList{Serial: tl.Serial, Issued: tl.Issued, Root: tl.Root, Keys: tl.Keys, Revoked: tl.Revoked} // index built lazily
	done := make(chan error)
	for i := range 8 {
		go func() {
			region := []string{regionEd, regionEC}[i%2]
			var err error
			for range 20 {
				var s *Signer
				if s, err = f.ks.Active(region); err != nil {
					break
				}
				var p string
				if p, err = s.SignCode(sampleClaims(t, t0)); err != nil {
					break
				}
				if _, err = Verify(p, tl, t0); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	go func() { _, err := f.ks.TrustList(t0.Add(time.Minute)); done <- err }()
	for range 9 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
