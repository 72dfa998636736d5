package codesign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// The algorithm names used in Key.Alg and the trust list.
const (
	AlgEdDSA = "EdDSA" // Ed25519, COSE alg -8
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256, COSE alg -7
)

// MaxPayloadLen is the longest payload string Verify and VerifyPlace look
// at; anything longer is refused before decoding.
const MaxPayloadLen = 2048

// maxText bounds every text claim, to keep payloads QR-sized.
const maxText = 64

var (
	encMode cbor.EncMode // core deterministic encoding, nil containers as empty
	decMode cbor.DecMode // strict: no duplicate keys, no tags, no indefinite lengths, no unknown fields
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty
	var err error
	if encMode, err = eo.EncMode(); err != nil {
		panic(err)
	}
	do := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   8,
		MaxArrayElements:  65536,
		MaxMapPairs:       64,
	}
	if decMode, err = do.DecMode(); err != nil {
		panic(err)
	}
}

// decodeCanonical decodes CBOR data into v and requires that re-encoding v
// gives back exactly data: the encoding is deterministic, has no unknown or
// default-valued optional fields, and so is unique.
func decodeCanonical(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return err
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, data) {
		return fmt.Errorf("not in canonical (core deterministic) encoding")
	}
	return nil
}

// coseAlg maps an algorithm name to its COSE value.
func coseAlg(name string) (cose.Algorithm, error) {
	switch name {
	case AlgEdDSA:
		return cose.AlgorithmEdDSA, nil
	case AlgES256:
		return cose.AlgorithmES256, nil
	}
	return 0, fmt.Errorf("unsupported algorithm %q (want %s or %s)", name, AlgEdDSA, AlgES256)
}

// checkKeyAlg reports whether pub is a key for the named algorithm.
func checkKeyAlg(name string, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if name == AlgEdDSA && len(k) == ed25519.PublicKeySize {
			return nil
		}
	case *ecdsa.PublicKey:
		if name == AlgES256 && k.Curve == elliptic.P256() {
			return nil
		}
	}
	return fmt.Errorf("a %T is not an %s key", pub, name)
}

// kidOf derives the key id from the PKIX DER public key: the first 4 bytes
// of its SHA-256, as 8 lower-case hex digits.
func kidOf(pubDER []byte) string {
	sum := sha256.Sum256(pubDER)
	return hex.EncodeToString(sum[:4])
}

var (
	p256N     = elliptic.P256().Params().N
	p256HalfN = new(big.Int).Rsh(p256N, 1)
)

// es256Signer signs ES256 deterministically (RFC 6979, as RFC 9053
// section 2.1 recommends for COSE) and with a low S: ECDSA accepts both
// (r, s) and (r, n-s), and allowing only s <= n/2 makes signatures, and so
// payloads, non-malleable.
type es256Signer struct{ key *ecdsa.PrivateKey }

// Algorithm implements cose.Signer.
func (es256Signer) Algorithm() cose.Algorithm { return cose.AlgorithmES256 }

// Sign implements cose.Signer; the random source is not used.
func (e es256Signer) Sign(_ io.Reader, content []byte) ([]byte, error) {
	digest := sha256.Sum256(content)
	der, err := e.key.Sign(nil, digest[:], crypto.SHA256) // nil: deterministic
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("ES256: malformed signature from the key")
	}
	if sig.S.Cmp(p256HalfN) > 0 {
		sig.S.Sub(p256N, sig.S)
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}

// newCOSESigner returns the COSE signer for a private key.
func newCOSESigner(alg string, priv crypto.Signer) (cose.Signer, error) {
	a, err := coseAlg(alg)
	if err != nil {
		return nil, err
	}
	if err := checkKeyAlg(alg, priv.Public()); err != nil {
		return nil, err
	}
	if k, ok := priv.(*ecdsa.PrivateKey); ok {
		return es256Signer{k}, nil
	}
	return cose.NewSigner(a, priv)
}

// sign1 signs payload as a tagged COSE_Sign1 with {alg, kid} in the
// protected header, an empty unprotected header and aad as external data.
func sign1(s cose.Signer, kid []byte, aad string, payload []byte) ([]byte, error) {
	msg := cose.Sign1Message{
		Headers: cose.Headers{
			Protected: cose.ProtectedHeader{
				cose.HeaderLabelAlgorithm: s.Algorithm(),
				cose.HeaderLabelKeyID:     kid,
			},
			Unprotected: cose.UnprotectedHeader{},
		},
		Payload: payload,
	}
	if err := msg.Sign(rand.Reader, []byte(aad), s); err != nil {
		return nil, err
	}
	return msg.MarshalCBOR()
}

// sign1Msg is a structurally valid, canonical, not yet verified COSE_Sign1.
type sign1Msg struct {
	msg cose.Sign1Message
	kid string
	alg cose.Algorithm
}

// parseSign1 parses a tagged COSE_Sign1 and checks that it is in the one
// form this package produces. Errors are plain; callers wrap them.
func parseSign1(raw []byte) (*sign1Msg, error) {
	var m sign1Msg
	if err := m.msg.UnmarshalCBOR(raw); err != nil {
		return nil, err
	}
	if len(m.msg.Headers.Unprotected) != 0 {
		return nil, fmt.Errorf("unprotected header is not empty")
	}
	if len(m.msg.Payload) == 0 {
		return nil, fmt.Errorf("payload is empty or detached")
	}
	var protected []byte
	if err := decMode.Unmarshal(m.msg.Headers.RawProtected, &protected); err != nil {
		return nil, fmt.Errorf("protected header: %w", err)
	}
	canon, err := encMode.Marshal(cbor.Tag{
		Number:  cose.CBORTagSign1Message,
		Content: []any{protected, map[int]int{}, m.msg.Payload, m.msg.Signature},
	})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, raw) {
		return nil, fmt.Errorf("not in canonical encoding")
	}
	if len(m.msg.Headers.Protected) != 2 {
		return nil, fmt.Errorf("protected header must hold exactly alg and kid")
	}
	if m.alg, err = m.msg.Headers.Protected.Algorithm(); err != nil {
		return nil, fmt.Errorf("protected header: %w", err)
	}
	kid, ok := m.msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if !ok || len(kid) != 4 {
		return nil, fmt.Errorf("protected header: kid must be 4 bytes")
	}
	m.kid = hex.EncodeToString(kid)
	return &m, nil
}

// verify checks the signature with v and aad as external data.
func (m *sign1Msg) verify(v cose.Verifier, aad string) error {
	if m.alg != v.Algorithm() {
		return fmt.Errorf("header alg %v but key %s is %v", m.alg, m.kid, v.Algorithm())
	}
	if m.alg == cose.AlgorithmES256 {
		sig := m.msg.Signature
		if len(sig) != 64 {
			return fmt.Errorf("ES256 signature of %d bytes", len(sig))
		}
		if new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfN) > 0 {
			return fmt.Errorf("ES256 signature has a high S (non-canonical)")
		}
	}
	if err := m.msg.Verify([]byte(aad), v); err != nil {
		return fmt.Errorf("signature does not verify with key %s: %v", m.kid, err)
	}
	return nil
}

// splitPrefix checks a "<kind><version>:" prefix and returns the rest.
func splitPrefix(payload, kind string, want int) (string, *Error) {
	if len(payload) > MaxPayloadLen {
		return "", reject(CodeMalformedBase45, "payload of %d characters is longer than %d", len(payload), MaxPayloadLen)
	}
	rest, ok := strings.CutPrefix(payload, kind)
	if !ok {
		return "", reject(CodeWrongPrefix, "payload %q does not start with %s%d:", clip(payload, 8), kind, want)
	}
	digits, body, ok := strings.Cut(rest, ":")
	if !ok || digits == "" || len(digits) > 3 || strings.Trim(digits, "0123456789") != "" {
		return "", reject(CodeWrongPrefix, "payload %q does not start with %s%d:", clip(payload, 8), kind, want)
	}
	v, _ := strconv.Atoi(digits)
	if digits != strconv.Itoa(v) { // "HCC01:": one version, one spelling
		return "", reject(CodeWrongPrefix, "payload %q does not start with %s%d:", clip(payload, 8), kind, want)
	}
	if v != want {
		return "", reject(CodeUnsupportedVersion, "%s version %s is not supported (want %s%d:)", kind, digits, kind, want)
	}
	return body, nil
}

// openPayload runs the checks common to every signed payload: prefix,
// Base45, COSE structure, key lookup and signature. It returns the signed
// claims bytes and the trusted key that signed them.
func openPayload(payload, kind string, version int, tl *TrustList) ([]byte, *trustedEntry, *Error) {
	body, e := splitPrefix(payload, kind, version)
	if e != nil {
		return nil, nil, e
	}
	raw, err := Base45Decode(body)
	if err != nil {
		return nil, nil, reject(CodeMalformedBase45, "%v", err)
	}
	m, err := parseSign1(raw)
	if err != nil {
		return nil, nil, reject(CodeMalformedCOSE, "%v", err)
	}
	entry, e := tl.lookup(m.kid)
	if e != nil {
		return nil, nil, e
	}
	if err := m.verify(entry.verifier, kind+strconv.Itoa(version)+":"); err != nil {
		return nil, nil, reject(CodeBadSignature, "%v", err)
	}
	return m.msg.Payload, entry, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
