package codesign

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
	"unsafe"

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

// codeWireKeys are the encoded keys of codeWire in canonical order, and
// the first codeWireRequired of them are always present.
var codeWireKeys = [...]byte{0x01, 0x04, 0x06, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27}

const codeWireRequired = 6

// decodeCodeWire is decodeCanonical(data, w) for personal code claims, with
// a fast path: claims in exactly the form encMode gives a codeWire (keys in
// canonical order, the six fields without omitempty present, the omitempty
// ones present only with a non-zero value, every head in its shortest
// form, text in UTF-8) are decoded directly. Anything else goes to
// decodeCanonical, which accepts nothing more (the fast path accepts only
// encodings that decodeCanonical accepts, with the same result, as
// FuzzDecodeCodeWire checks) and gives the precise error.
func decodeCodeWire(data []byte, w *codeWire) error {
	if fastDecodeCodeWire(data, w) {
		return nil
	}
	*w = codeWire{}
	return decodeCanonical(data, w)
}

func fastDecodeCodeWire(d []byte, w *codeWire) bool {
	if len(d) == 0 || d[0] < 0xa0|codeWireRequired || d[0] > 0xa0|byte(len(codeWireKeys)) {
		return false
	}
	n, off := int(d[0]&0x1f), 1
	k := 0 // the index in codeWireKeys the next key may have, at least
	for range n {
		if off >= len(d) {
			return false
		}
		key := d[off]
		for k < len(codeWireKeys) && codeWireKeys[k] < key {
			if k < codeWireRequired {
				return false // a required key is missing
			}
			k++
		}
		if k == len(codeWireKeys) || codeWireKeys[k] != key {
			return false // an unknown key, or keys not in canonical order
		}
		k++
		off++
		var ok bool
		switch key {
		case 0x01:
			w.Issuer, off, ok = fastText(d, off)
		case 0x04:
			w.ExpiresAt, off, ok = fastInt(d, off)
		case 0x06:
			w.IssuedAt, off, ok = fastInt(d, off)
		case 0x20:
			w.Version, off, ok = fastUint(d, off)
		case 0x21:
			var b []byte
			b, off, ok = fastBytes(d, off)
			w.Pseudonym = append([]byte{}, b...) // a copy: d may be reused
		case 0x22:
			w.Colour, off, ok = fastUint(d, off)
		case 0x23:
			w.Star, off, ok = fastTrue(d, off)
		case 0x24:
			w.LastTest, off, ok = fastInt(d, off)
			ok = ok && w.LastTest != 0
		case 0x25:
			w.Region, off, ok = fastText(d, off)
			ok = ok && w.Region != ""
		case 0x26:
			w.MaskedName, off, ok = fastText(d, off)
			ok = ok && w.MaskedName != ""
		case 0x27:
			w.Paper, off, ok = fastTrue(d, off)
		}
		if !ok {
			return false
		}
	}
	return k >= codeWireRequired && off == len(d)
}

func fastUint(d []byte, off int) (uint64, int, bool) {
	major, arg, off, err := readHead(d, off)
	return arg, off, err == nil && major == 0
}

func fastInt(d []byte, off int) (int64, int, bool) {
	major, arg, off, err := readHead(d, off)
	switch {
	case err != nil || arg > math.MaxInt64:
		return 0, 0, false
	case major == 0:
		return int64(arg), off, true
	case major == 1:
		return -1 - int64(arg), off, true
	}
	return 0, 0, false
}

func fastBytes(d []byte, off int) ([]byte, int, bool) {
	major, n, off, err := readHead(d, off)
	if err != nil || major != 2 || n > uint64(len(d)-off) {
		return nil, 0, false
	}
	return d[off : off+int(n)], off + int(n), true
}

func fastText(d []byte, off int) (string, int, bool) {
	major, n, off, err := readHead(d, off)
	if err != nil || major != 3 || n > uint64(len(d)-off) || !utf8.Valid(d[off:off+int(n)]) {
		return "", 0, false
	}
	return string(d[off : off+int(n)]), off + int(n), true
}

func fastTrue(d []byte, off int) (bool, int, bool) {
	if off >= len(d) || d[off] != 0xf5 {
		return false, 0, false
	}
	return true, off + 1, true
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
	w, err := s.codeWire(c)
	if err != nil {
		return "", err
	}
	if s.ed != nil {
		return s.signCodeEd(&w), nil
	}
	return s.signCodeCOSE(w)
}

// codeWire checks claims for SignCode and returns their CBOR form.
func (s *Signer) codeWire(c Claims) (codeWire, error) {
	fail := func(format string, args ...any) (codeWire, error) {
		return codeWire{}, fmt.Errorf("codesign: sign code: "+format, args...)
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
	return w, nil
}

// signCodeCOSE is the general signing path of SignCode: fxamacker/cbor for
// the claims and go-cose for the COSE_Sign1. SignCode uses it for ES256;
// for EdDSA it must give exactly what signCodeEd gives, as
// TestSignCodeFastPathMatchesCOSE and FuzzSignCodeFastPath check.
func (s *Signer) signCodeCOSE(w codeWire) (string, error) {
	body, err := encMode.Marshal(&w)
	if err != nil {
		return "", fmt.Errorf("codesign: sign code: %v", err)
	}
	raw, err := sign1(s.cose, s.kid, HealthCodePrefix, body)
	if err != nil {
		return "", fmt.Errorf("codesign: sign code: %v", err)
	}
	return HealthCodePrefix + Base45Encode(raw), nil
}

// appendCodeWire appends the canonical CBOR of w, exactly as
// encMode.Marshal(w) gives it: a map with the keys in the order of
// codeWireKeys (core deterministic: sorted bytewise by their encoding),
// the omitempty fields only when not zero, every head in its shortest form.
func appendCodeWire(dst []byte, w *codeWire) []byte {
	n := codeWireRequired
	for _, present := range [...]bool{w.Star, w.LastTest != 0, w.Region != "", w.MaskedName != "", w.Paper} {
		if present {
			n++
		}
	}
	dst = append(dst, 0xa0|byte(n))
	dst = append(dst, 0x01)
	dst = appendText(dst, w.Issuer)
	dst = append(dst, 0x04)
	dst = appendInt(dst, w.ExpiresAt)
	dst = append(dst, 0x06)
	dst = appendInt(dst, w.IssuedAt)
	dst = append(dst, 0x20)
	dst = appendHead(dst, 0, w.Version)
	dst = append(dst, 0x21)
	dst = appendHead(dst, 2, uint64(len(w.Pseudonym)))
	dst = append(dst, w.Pseudonym...)
	dst = append(dst, 0x22)
	dst = appendHead(dst, 0, w.Colour)
	if w.Star {
		dst = append(dst, 0x23, 0xf5)
	}
	if w.LastTest != 0 {
		dst = append(dst, 0x24)
		dst = appendInt(dst, w.LastTest)
	}
	if w.Region != "" {
		dst = append(dst, 0x25)
		dst = appendText(dst, w.Region)
	}
	if w.MaskedName != "" {
		dst = append(dst, 0x26)
		dst = appendText(dst, w.MaskedName)
	}
	if w.Paper {
		dst = append(dst, 0x27, 0xf5)
	}
	return dst
}

// appendInt appends a CBOR integer (major type 0 or 1).
func appendInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return appendHead(dst, 0, uint64(v))
	}
	return appendHead(dst, 1, uint64(-1-v)) // no overflow: -1-MinInt64 = MaxInt64
}

// appendText appends a CBOR text string; s is valid UTF-8 (checkText).
func appendText(dst []byte, s string) []byte {
	return append(appendHead(dst, 3, uint64(len(s))), s...)
}

// codeBufSize is room for the longest claims (about 260 bytes: three texts
// of at most maxText bytes) and for the Sig_structure or the COSE_Sign1
// around them; longer would still work, append moving to the heap.
const codeBufSize = 512

// signCodeEd is SignCode's EdDSA path: the claims, the Sig_structure and the
// tagged COSE_Sign1 are written directly (in the one form sign1 gives), the
// Sig_structure is signed by
// crypto/ed25519.Sign on the key itself, and the payload is Base45-encoded
// into one buffer that becomes the returned string. Ed25519 is
// deterministic, so the payload is byte for byte what signCodeCOSE gives.
func (s *Signer) signCodeEd(w *codeWire) string {
	var bodyBuf, tbsBuf, coseBuf [codeBufSize]byte
	var protBuf [32]byte
	protected := appendProtected(protBuf[:0], coseEdDSA, s.kid)
	body := appendCodeWire(bodyBuf[:0], w)
	tbs := appendSigStructure(tbsBuf[:0], protected, HealthCodePrefix, body)
	sig := ed25519.Sign(s.ed, tbs)
	raw := append(coseBuf[:0], 0xd2, 0x84) // tag 18, array of 4
	raw = append(raw, protected...)
	raw = append(raw, 0xa0) // unprotected: {}
	raw = appendHead(raw, 2, uint64(len(body)))
	raw = append(raw, body...)
	raw = appendHead(raw, 2, uint64(len(sig)))
	raw = append(raw, sig...)
	out := make([]byte, len(HealthCodePrefix)+base45Len(len(raw)))
	copy(out, HealthCodePrefix)
	base45Put(out[len(HealthCodePrefix):], raw)
	// out is not used again: the string may share its memory, as
	// strings.Builder does.
	return unsafe.String(unsafe.SliceData(out), len(out))
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
	vb := getVerifyBuf()
	defer putVerifyBuf(vb) // body is decoded (copied) before return
	body, key, e := openPayload(payload, "HCC", 1, tl, vb)
	if e != nil {
		return Claims{}, e
	}
	var w codeWire
	if err := decodeCodeWire(body, &w); err != nil {
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
