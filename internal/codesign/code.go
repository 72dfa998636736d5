package codesign

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"

	"healthcode/internal/health"
)

// Personal code constants.
const (
	// HealthCodePrefix starts every personal code payload: health code, version 1.
	HealthCodePrefix = "HCC1:"
	// ClaimsVersion is the version of the personal code claims.
	ClaimsVersion = 1
	// PseudonymSize is the length of Claims.Pseudonym.
	PseudonymSize = 16
	// MaxClockSkew is how far in the future an issued_at (or a venue code
	// window) may be before a code is refused as not_yet_valid.
	MaxClockSkew = 60 * time.Second
)

// Claims are the contents of a personal health code token: what a verifier
// may see (colour, star, validity, masked name), and nothing of the
// itinerary. See the package documentation for the CBOR keys.
type Claims struct {
	Version    int       // ClaimsVersion; SignCode fills in 0
	Pseudonym  []byte    // PseudonymSize random bytes, fresh for every token
	Colour     string    // "green", "yellow" or "red"
	Star       bool      // the person stayed in a city with a risk area
	LastTest   time.Time // the last test's sampling time; zero for none
	IssuedAt   time.Time // second precision
	ExpiresAt  time.Time // second precision; after IssuedAt
	Issuer     string    // issuing node id, e.g. "440000"; SignCode fills in the key's region
	Region     string    // the person's home region, optional
	MaskedName string    // e.g. "张*", optional
	Paper      bool      // printed on paper (for people without a phone)
}

// codeWire is the CBOR form of Claims.
type codeWire struct {
	Issuer     string `cbor:"1,keyasint"`
	ExpiresAt  int64  `cbor:"4,keyasint"`
	IssuedAt   int64  `cbor:"6,keyasint"`
	Version    uint64 `cbor:"-1,keyasint"`
	Pseudonym  []byte `cbor:"-2,keyasint"`
	Colour     uint64 `cbor:"-3,keyasint"`
	Star       bool   `cbor:"-4,keyasint,omitempty"`
	LastTest   int64  `cbor:"-5,keyasint,omitempty"`
	Region     string `cbor:"-6,keyasint,omitempty"`
	MaskedName string `cbor:"-7,keyasint,omitempty"`
	Paper      bool   `cbor:"-8,keyasint,omitempty"`
}

// checkText validates a text claim.
func checkText(field, s string, required bool) error {
	switch {
	case required && s == "":
		return fmt.Errorf("%s is empty", field)
	case len(s) > maxText:
		return fmt.Errorf("%s is longer than %d bytes", field, maxText)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	return nil
}

// SignCode signs a personal code and returns its payload ("HCC1:…"). It
// refuses claims that Verify would refuse, a token issued outside the key's
// validity, and a lifetime above the keystore's maximum token lifetime
// (which is what keeps a rotated key's tokens inside its shortened
// validity).
func (s *Signer) SignCode(c Claims) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("codesign: sign code: "+format, args...)
	}
	if c.Version == 0 {
		c.Version = ClaimsVersion
	}
	if c.Version != ClaimsVersion {
		return fail("version %d (want %d)", c.Version, ClaimsVersion)
	}
	if len(c.Pseudonym) != PseudonymSize {
		return fail("pseudonym of %d bytes (want %d)", len(c.Pseudonym), PseudonymSize)
	}
	col, ok := health.ParseColour(c.Colour)
	if !ok {
		return fail("colour %q is not green, yellow or red", c.Colour)
	}
	if c.Issuer == "" {
		c.Issuer = s.key.Region
	}
	if c.Issuer != s.key.Region {
		return fail("issuer %q is not the signing key's region %q", c.Issuer, s.key.Region)
	}
	for _, t := range []struct {
		f, v string
		req  bool
	}{{"issuer", c.Issuer, true}, {"region", c.Region, false}, {"masked name", c.MaskedName, false}} {
		if err := checkText(t.f, t.v, t.req); err != nil {
			return fail("%v", err)
		}
	}
	if c.IssuedAt.IsZero() || c.ExpiresAt.Unix() <= c.IssuedAt.Unix() {
		return fail("issued_at %v and expires_at %v: need issued_at set and expires_at after it", c.IssuedAt, c.ExpiresAt)
	}
	if life := time.Duration(c.ExpiresAt.Unix()-c.IssuedAt.Unix()) * time.Second; life > s.maxLifetime {
		return fail("lifetime %v exceeds the maximum token lifetime %v", life, s.maxLifetime)
	}
	if iat := c.IssuedAt.Unix(); iat < s.key.NotBefore.Unix() || iat > s.key.NotAfter.Unix() {
		return fail("issued_at %v is outside key %s's validity %v – %v", c.IssuedAt.UTC(), s.key.ID, s.key.NotBefore, s.key.NotAfter)
	}
	w := codeWire{
		Issuer:     c.Issuer,
		ExpiresAt:  c.ExpiresAt.Unix(),
		IssuedAt:   c.IssuedAt.Unix(),
		Version:    uint64(c.Version),
		Pseudonym:  c.Pseudonym,
		Colour:     uint64(col),
		Star:       c.Star,
		Region:     c.Region,
		MaskedName: c.MaskedName,
		Paper:      c.Paper,
	}
	if !c.LastTest.IsZero() {
		w.LastTest = c.LastTest.Unix()
	}
	body, err := encMode.Marshal(w)
	if err != nil {
		return fail("%v", err)
	}
	raw, err := sign1(s.cose, s.kid, HealthCodePrefix, body)
	if err != nil {
		return fail("%v", err)
	}
	return HealthCodePrefix + Base45Encode(raw), nil
}

// Verify checks a personal code payload offline against a trust list at
// time now and returns its claims. Every rejection is an *Error; the checks
// run in this order: prefix and version, Base45, COSE structure, key
// (unknown_key, revoked_key), signature, claims, issuer (wrong_issuer),
// issued_at within the key's validity (key_not_valid), expiry (expired),
// issued_at not more than MaxClockSkew ahead (not_yet_valid), and the key
// not past its NotAfter at now (key_not_valid). On error the returned Claims
// are zero.
func Verify(payload string, tl *TrustList, now time.Time) (Claims, error) {
	body, key, e := openPayload(payload, "HCC", 1, tl)
	if e != nil {
		return Claims{}, e
	}
	var w codeWire
	if err := decodeCanonical(body, &w); err != nil {
		return Claims{}, reject(CodeMalformedClaims, "%v", err)
	}
	if w.Version != ClaimsVersion {
		return Claims{}, reject(CodeUnsupportedVersion, "claims version %d is not supported (want %d)", w.Version, ClaimsVersion)
	}
	switch {
	case len(w.Pseudonym) != PseudonymSize:
		return Claims{}, reject(CodeMalformedClaims, "pseudonym of %d bytes (want %d)", len(w.Pseudonym), PseudonymSize)
	case w.Colour > uint64(health.Red):
		return Claims{}, reject(CodeMalformedClaims, "colour %d is not 0 (green), 1 (yellow) or 2 (red)", w.Colour)
	case w.IssuedAt == 0 || w.ExpiresAt <= w.IssuedAt:
		return Claims{}, reject(CodeMalformedClaims, "issued_at %d and expires_at %d: need expires_at after issued_at", w.IssuedAt, w.ExpiresAt)
	}
	for _, t := range []struct {
		f, v string
		req  bool
	}{{"issuer", w.Issuer, true}, {"region", w.Region, false}, {"masked name", w.MaskedName, false}} {
		if err := checkText(t.f, t.v, t.req); err != nil {
			return Claims{}, reject(CodeMalformedClaims, "%v", err)
		}
	}
	if w.Issuer != key.key.Region {
		return Claims{}, reject(CodeWrongIssuer, "issuer %q but key %s belongs to region %q", w.Issuer, key.key.ID, key.key.Region)
	}
	iat, exp := time.Unix(w.IssuedAt, 0).UTC(), time.Unix(w.ExpiresAt, 0).UTC()
	if iat.Before(key.key.NotBefore) || iat.After(key.key.NotAfter) {
		return Claims{}, reject(CodeKeyNotValid, "issued at %s, outside key %s's validity %s – %s", stamp(iat), key.key.ID, stamp(key.key.NotBefore), stamp(key.key.NotAfter))
	}
	if !now.Before(exp) {
		return Claims{}, reject(CodeExpired, "expired at %s (now %s)", stamp(exp), stamp(now))
	}
	if iat.Sub(now) > MaxClockSkew {
		return Claims{}, reject(CodeNotYetValid, "issued at %s, more than %v after now %s", stamp(iat), MaxClockSkew, stamp(now))
	}
	if now.After(key.key.NotAfter) {
		return Claims{}, reject(CodeKeyNotValid, "key %s expired at %s", key.key.ID, stamp(key.key.NotAfter))
	}
	c := Claims{
		Version:    int(w.Version),
		Pseudonym:  bytes.Clone(w.Pseudonym),
		Colour:     health.Colour(w.Colour).String(),
		Star:       w.Star,
		IssuedAt:   iat,
		ExpiresAt:  exp,
		Issuer:     w.Issuer,
		Region:     w.Region,
		MaskedName: w.MaskedName,
		Paper:      w.Paper,
	}
	if w.LastTest != 0 {
		c.LastTest = time.Unix(w.LastTest, 0).UTC()
	}
	return c, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
