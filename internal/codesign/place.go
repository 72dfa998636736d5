package codesign

import (
	"fmt"
	"time"

	"healthcode/internal/health"
)

// Place code constants.
const (
	// SignedPlacePrefix starts every signed place code payload: version 2 of the
	// place payload (version 1, health.PlaceCodePrefix, is unsigned).
	SignedPlacePrefix = "HCP2:"
	// MaxPeriod is the longest rotation period of a dynamic place code.
	MaxPeriod = 86400
)

// PlaceClaims are the contents of a signed venue code. A static code
// (Window and Period 0) is printed on a poster and is valid while its
// signing key is; a dynamic code is shown on a screen and is valid only in
// its rotation window and the one before.
type PlaceClaims struct {
	Place  string // the place id, "L45"
	Issuer string // issuing node id; SignPlace fills in the key's region
	Window int64  // 0 for a static code; else floor(unix time / Period)
	Period int    // rotation period in seconds, 0 for a static code
}

// placeWire is the CBOR form of PlaceClaims.
type placeWire struct {
	Issuer string `cbor:"1,keyasint"`
	Place  string `cbor:"-1,keyasint"`
	Window uint64 `cbor:"-2,keyasint,omitempty"`
	Period uint64 `cbor:"-3,keyasint,omitempty"`
}

// PlaceWindow returns the rotation window of a dynamic place code with the
// given period at time t: floor(unix seconds / period).
func PlaceWindow(t time.Time, period int) int64 {
	if period <= 0 {
		return 0
	}
	u := t.Unix()
	w := u / int64(period)
	if u < 0 && u%int64(period) != 0 {
		w--
	}
	return w
}

// validate checks the shape shared by signing and verification.
func (p PlaceClaims) validate() error {
	if _, ok := health.ParsePlaceID(p.Place); !ok {
		return fmt.Errorf("place %q is not a place id (L<n>)", clip(p.Place, 16))
	}
	if err := checkText("issuer", p.Issuer, true); err != nil {
		return err
	}
	static := p.Window == 0 && p.Period == 0
	dynamic := p.Window > 0 && p.Period > 0 && p.Period <= MaxPeriod
	if !static && !dynamic {
		return fmt.Errorf("window %d and period %d: want both 0 (static) or window > 0 and period in 1..%d (dynamic)", p.Window, p.Period, MaxPeriod)
	}
	return nil
}

// SignPlace signs a venue code and returns its payload ("HCP2:…"). For a
// dynamic code the window's start must lie within the key's validity.
func (s *Signer) SignPlace(p PlaceClaims) (string, error) {
	if p.Issuer == "" {
		p.Issuer = s.key.Region
	}
	if p.Issuer != s.key.Region {
		return "", fmt.Errorf("codesign: sign place: issuer %q is not the signing key's region %q", p.Issuer, s.key.Region)
	}
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("codesign: sign place: %w", err)
	}
	if p.Period > 0 {
		start := p.Window * int64(p.Period)
		if start < s.key.NotBefore.Unix() || start > s.key.NotAfter.Unix() {
			return "", fmt.Errorf("codesign: sign place: window %d starts outside key %s's validity", p.Window, s.key.ID)
		}
	}
	body, err := encMode.Marshal(placeWire{Issuer: p.Issuer, Place: p.Place, Window: uint64(p.Window), Period: uint64(p.Period)})
	if err != nil {
		return "", fmt.Errorf("codesign: sign place: %w", err)
	}
	raw, err := sign1(s.cose, s.kid, SignedPlacePrefix, body)
	if err != nil {
		return "", fmt.Errorf("codesign: sign place: %w", err)
	}
	return SignedPlacePrefix + Base45Encode(raw), nil
}

// VerifyPlace checks a signed venue code offline against a trust list at
// time now. Beyond the checks of Verify (prefix, Base45, COSE, key,
// signature, claims, issuer) it requires: for a dynamic code, that the
// window starts within the key's validity (key_not_valid), is not more than
// one window old (stale_code), and does not start more than MaxClockSkew
// after now (not_yet_valid); for every code, that now is within the key's
// validity (key_not_valid), so a static poster lives as long as its key.
// An unsigned "HCP1:" code is refused with unsupported_version.
func VerifyPlace(payload string, tl *TrustList, now time.Time) (PlaceClaims, error) {
	vb := getVerifyBuf()
	defer putVerifyBuf(vb) // body is decoded (copied) before return
	body, key, e := openPayload(payload, "HCP", 2, tl, vb)
	if e != nil {
		return PlaceClaims{}, e
	}
	var w placeWire
	if err := decodeCanonical(body, &w); err != nil {
		return PlaceClaims{}, reject(CodeMalformedClaims, "%v", err)
	}
	if w.Window > 1<<40 || w.Period > MaxPeriod {
		return PlaceClaims{}, reject(CodeMalformedClaims, "window %d or period %d out of range", w.Window, w.Period)
	}
	p := PlaceClaims{Place: w.Place, Issuer: w.Issuer, Window: int64(w.Window), Period: int(w.Period)}
	if err := p.validate(); err != nil {
		return PlaceClaims{}, reject(CodeMalformedClaims, "%v", err)
	}
	if p.Issuer != key.key.Region {
		return PlaceClaims{}, reject(CodeWrongIssuer, "issuer %q but key %s belongs to region %q", p.Issuer, key.key.ID, key.key.Region)
	}
	if p.Period > 0 {
		start := time.Unix(p.Window*int64(p.Period), 0).UTC()
		if start.Before(key.key.NotBefore) || start.After(key.key.NotAfter) {
			return PlaceClaims{}, reject(CodeKeyNotValid, "window starting %s is outside key %s's validity %s – %s", stamp(start), key.key.ID, stamp(key.key.NotBefore), stamp(key.key.NotAfter))
		}
		cur := PlaceWindow(now, p.Period)
		switch {
		case p.Window < cur-1:
			return PlaceClaims{}, reject(CodeStaleCode, "window %d (started %s) is older than the current window %d and the one before", p.Window, stamp(start), cur)
		case p.Window > cur && start.Sub(now) > MaxClockSkew:
			return PlaceClaims{}, reject(CodeNotYetValid, "window %d starts at %s, more than %v after now %s", p.Window, stamp(start), MaxClockSkew, stamp(now))
		}
	}
	if now.Before(key.key.NotBefore.Add(-MaxClockSkew)) || now.After(key.key.NotAfter) {
		return PlaceClaims{}, reject(CodeKeyNotValid, "key %s is valid %s – %s, not at %s", key.key.ID, stamp(key.key.NotBefore), stamp(key.key.NotAfter), stamp(now))
	}
	return p, nil
}
