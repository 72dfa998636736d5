package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"healthcode/internal/codesign"
	"healthcode/internal/node"
)

var (
	maskValidUntil = regexp.MustCompile(`"valid_until":"[^"]*"`)
	maskQRFields   = regexp.MustCompile(`"(qr|qr_expires_at)":(null|"[^"]*")`)
)

// maskTimes blanks valid_until, the one field of an unsigned code body that
// depends on the time of the answer.
func maskTimes(b []byte) []byte {
	return maskValidUntil.ReplaceAll(b, []byte(`"valid_until":"*"`))
}

// maskSigned blanks valid_until, qr and qr_expires_at, so that a signed
// body and an unsigned body of the same code compare equal.
func maskSigned(b []byte) []byte {
	return maskQRFields.ReplaceAll(maskTimes(b), []byte(`"$1":*`))
}

// sameUnsigned reports whether the node's ?qr=none body and the bare
// server's body are the same bytes once valid_until is masked.
func sameUnsigned(nodeBody, bareBody []byte) bool {
	return bytes.Equal(maskTimes(nodeBody), maskTimes(bareBody))
}

// SignedToken is a personal code token fetched from the node, with the
// time it was fetched (the time to verify it at) and the code it must name.
type SignedToken struct {
	Payload string
	At      time.Time
	Colour  string
	Star    bool
}

// checkSigned checks one signed answer of GET /code against the unsigned
// answer for the same person and the person's code v from node.Code: the
// token in "qr" verifies offline (codesign.Verify against tl at now), names
// v's colour and star, and expires at "qr_expires_at"; the unsigned body has
// "qr":null,"qr_expires_at":null; and apart from qr, qr_expires_at and
// valid_until the two bodies are the same bytes.
func checkSigned(signed, unsigned []byte, v *node.CodeView, tl *codesign.TrustList, now time.Time) (SignedToken, error) {
	var body struct {
		QR          *string `json:"qr"`
		QRExpiresAt *string `json:"qr_expires_at"`
	}
	if err := json.Unmarshal(signed, &body); err != nil {
		return SignedToken{}, fmt.Errorf("signed body: %w", err)
	}
	if body.QR == nil || body.QRExpiresAt == nil {
		return SignedToken{}, errors.New("signed body has no qr or qr_expires_at")
	}
	c, err := codesign.Verify(*body.QR, tl, now)
	if err != nil {
		return SignedToken{}, fmt.Errorf("token does not verify: %w", err)
	}
	if c.Colour != v.Colour.String() || c.Star != v.Star {
		return SignedToken{}, fmt.Errorf("token says %s star=%t, node.Code says %s star=%t", c.Colour, c.Star, v.Colour, v.Star)
	}
	if exp := c.ExpiresAt.UTC().Format(time.RFC3339); exp != *body.QRExpiresAt {
		return SignedToken{}, fmt.Errorf("qr_expires_at %s, token expires at %s", *body.QRExpiresAt, exp)
	}
	if !bytes.Contains(unsigned, []byte(`"qr":null,"qr_expires_at":null`)) {
		return SignedToken{}, errors.New(`unsigned body has no "qr":null,"qr_expires_at":null`)
	}
	if !bytes.Equal(maskSigned(signed), maskSigned(unsigned)) {
		return SignedToken{}, errors.New("signed and unsigned bodies differ beyond qr, qr_expires_at and valid_until")
	}
	return SignedToken{Payload: *body.QR, At: now, Colour: c.Colour, Star: c.Star}, nil
}

// qrOf returns the "qr" string of a code body ("" if there is none).
func qrOf(body []byte) string {
	var b struct {
		QR *string `json:"qr"`
	}
	if json.Unmarshal(body, &b) != nil || b.QR == nil {
		return ""
	}
	return *b.QR
}

// COSE_Sign1 tag and the kid header label (RFC 9052).
const (
	coseSign1Tag  = 18
	coseHeaderKID = 4
)

// verifyCase is one token prepared for the offline verification timing:
// the payload codesign.Verify checks, and the exact bytes the Ed25519
// signature covers (the COSE Sig_structure) for the crypto/ed25519 peer.
type verifyCase struct {
	tok SignedToken
	pub ed25519.PublicKey
	tbs []byte
	sig []byte
}

// prepareVerify decodes each token far enough to give the peer the work
// codesign.Verify cannot avoid: the Ed25519 signature over the token's
// Sig_structure ["Signature1", protected, "HCC1:", claims], with the
// public key from the trust list.
func prepareVerify(tokens []SignedToken, tl *codesign.TrustList) ([]verifyCase, error) {
	if len(tokens) == 0 {
		return nil, errors.New("no tokens to verify")
	}
	out := make([]verifyCase, 0, len(tokens))
	for _, t := range tokens {
		rest, ok := strings.CutPrefix(t.Payload, codesign.HealthCodePrefix)
		if !ok {
			return nil, fmt.Errorf("token %.12q… is not %s", t.Payload, codesign.HealthCodePrefix)
		}
		raw, err := codesign.Base45Decode(rest)
		if err != nil {
			return nil, err
		}
		var tag cbor.RawTag
		if err := cbor.Unmarshal(raw, &tag); err != nil {
			return nil, fmt.Errorf("COSE_Sign1: %w", err)
		}
		var m struct {
			_           struct{} `cbor:",toarray"`
			Protected   []byte
			Unprotected cbor.RawMessage
			Payload     []byte
			Signature   []byte
		}
		if tag.Number != coseSign1Tag {
			return nil, fmt.Errorf("COSE_Sign1: tag %d", tag.Number)
		}
		if err := cbor.Unmarshal(tag.Content, &m); err != nil {
			return nil, fmt.Errorf("COSE_Sign1: %w", err)
		}
		var hdr map[int64]any
		if err := cbor.Unmarshal(m.Protected, &hdr); err != nil {
			return nil, fmt.Errorf("COSE_Sign1 protected header: %w", err)
		}
		kid, _ := hdr[coseHeaderKID].([]byte)
		k, ok := tl.Key(hex.EncodeToString(kid))
		if !ok {
			return nil, fmt.Errorf("key %x is not in the trust list", kid)
		}
		pk, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			return nil, err
		}
		pub, ok := pk.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key %s is %s, not Ed25519", k.ID, k.Alg)
		}
		// RFC 9052 section 4.4: the protected header as a byte string, the
		// external data (the payload prefix) and the claims.
		tbs, err := cbor.Marshal([]any{"Signature1", m.Protected, []byte(codesign.HealthCodePrefix), m.Payload})
		if err != nil {
			return nil, err
		}
		out = append(out, verifyCase{tok: t, pub: pub, tbs: tbs, sig: m.Signature})
	}
	return out, nil
}

// VerifyTiming is the outcome of timing offline verification.
type VerifyTiming struct {
	Ops, PeerOps   int
	Took, PeerTook time.Duration
	TBSMin, TBSMax int  // bytes of the Sig_structures the peer verified
	Same           bool // both accepted every token, with the expected colour and star (false without the peer)
}

// NsPerOp returns the codesign.Verify figure.
func (t VerifyTiming) NsPerOp() float64 {
	return float64(t.Took.Nanoseconds()) / float64(max(1, t.Ops))
}

// PeerNsPerOp returns the crypto/ed25519.Verify figure.
func (t VerifyTiming) PeerNsPerOp() float64 {
	return float64(t.PeerTook.Nanoseconds()) / float64(max(1, t.PeerOps))
}

// timeLoop calls fn(i) for i = 0, 1, … on this goroutine until at least
// minOps calls and minDur have passed, and returns the count and time.
func timeLoop(ctx context.Context, minOps int, minDur time.Duration, fn func(i int) error) (int, time.Duration, error) {
	ops := 0
	t0 := time.Now()
	for {
		for j := 0; j < 64; j++ {
			if err := fn(ops); err != nil {
				return ops, time.Since(t0), err
			}
			ops++
		}
		took := time.Since(t0)
		if ops >= minOps && took >= minDur {
			return ops, took, nil
		}
		if err := ctx.Err(); err != nil {
			return ops, took, err
		}
	}
}

// TimeVerify times codesign.Verify of the tokens (cycling through them) on
// one goroutine, then, with peer, crypto/ed25519.Verify of each token's
// Sig_structure, each for at least minOps calls and minDur. Every call must
// accept its token (codesign.Verify with the token's colour and star):
// a rejection ends the timing with an error.
func TimeVerify(ctx context.Context, tokens []SignedToken, tl *codesign.TrustList, minOps int, minDur time.Duration, peer bool) (VerifyTiming, error) {
	cases, err := prepareVerify(tokens, tl)
	if err != nil {
		return VerifyTiming{}, err
	}
	t := VerifyTiming{TBSMin: len(cases[0].tbs), TBSMax: len(cases[0].tbs)}
	for _, c := range cases {
		t.TBSMin, t.TBSMax = min(t.TBSMin, len(c.tbs)), max(t.TBSMax, len(c.tbs))
	}
	t.Ops, t.Took, err = timeLoop(ctx, minOps, minDur, func(i int) error {
		c := &cases[i%len(cases)]
		cl, err := codesign.Verify(c.tok.Payload, tl, c.tok.At)
		if err != nil {
			return fmt.Errorf("codesign.Verify: %w", err)
		}
		if cl.Colour != c.tok.Colour || cl.Star != c.tok.Star {
			return fmt.Errorf("codesign.Verify: %s star=%t, want %s star=%t", cl.Colour, cl.Star, c.tok.Colour, c.tok.Star)
		}
		return nil
	})
	if err != nil || !peer {
		return t, err
	}
	t.PeerOps, t.PeerTook, err = timeLoop(ctx, minOps, minDur, func(i int) error {
		c := &cases[i%len(cases)]
		if !ed25519.Verify(c.pub, c.tbs, c.sig) {
			return errors.New("crypto/ed25519.Verify rejected a token's Sig_structure")
		}
		return nil
	})
	if err != nil {
		return t, err
	}
	t.Same = true
	return t, nil
}
