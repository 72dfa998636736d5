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
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"

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

// appendProtected appends the protected header bstr that sign1 writes for
// alg and kid: the bstr of {1: alg, 4: kid} in canonical encoding.
func appendProtected(dst []byte, alg int64, kid []byte) []byte {
	var buf [64]byte
	m := append(buf[:0], 0xa2, 0x01)
	m = appendInt(m, alg)
	m = append(m, 0x04)
	m = appendHead(m, 2, uint64(len(kid)))
	m = append(m, kid...)
	dst = appendHead(dst, 2, uint64(len(m)))
	return append(dst, m...)
}

// sign1Msg is a structurally valid, canonical, not yet verified COSE_Sign1.
// Its slices alias the bytes it was parsed from.
type sign1Msg struct {
	protected []byte // the protected header bstr as it appears, head included
	payload   []byte
	signature []byte
	alg       int64
	kid       [4]byte
}

// kidHex returns the kid as a Key.ID.
func (m *sign1Msg) kidHex() string { return hex.EncodeToString(m.kid[:]) }

// readHead reads the CBOR head at data[off:] and returns its major type,
// argument and the offset after it. It refuses indefinite lengths,
// reserved values and arguments not in their shortest form (RFC 8949
// section 4.2.1).
func readHead(data []byte, off int) (major byte, arg uint64, next int, err error) {
	if off >= len(data) {
		return 0, 0, 0, fmt.Errorf("truncated CBOR at offset %d", off)
	}
	ib := data[off]
	major, ai := ib>>5, ib&0x1f
	off++
	switch {
	case ai < 24:
		return major, uint64(ai), off, nil
	case ai > 27:
		return 0, 0, 0, fmt.Errorf("CBOR initial byte 0x%02x at offset %d: indefinite length or reserved", ib, off-1)
	}
	n := 1 << (ai - 24)
	if len(data)-off < n {
		return 0, 0, 0, fmt.Errorf("truncated CBOR at offset %d", off)
	}
	for _, b := range data[off : off+n] {
		arg = arg<<8 | uint64(b)
	}
	if arg < [...]uint64{24, 1 << 8, 1 << 16, 1 << 32}[ai-24] {
		return 0, 0, 0, fmt.Errorf("not in canonical encoding: non-minimal CBOR argument at offset %d", off-1)
	}
	return major, arg, off + n, nil
}

// readBstr reads a byte string at data[off:].
func readBstr(data []byte, off int, what string) (b []byte, next int, err error) {
	major, n, off, err := readHead(data, off)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %v", what, err)
	}
	if major != 2 {
		return nil, 0, fmt.Errorf("%s is not a byte string", what)
	}
	if n > uint64(len(data)-off) {
		return nil, 0, fmt.Errorf("%s: truncated", what)
	}
	return data[off : off+int(n)], off + int(n), nil
}

// appendHead appends the shortest CBOR head of the given major type and
// argument.
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// parseSign1 parses a tagged COSE_Sign1 and checks that it is in the one
// form this package produces, byte for byte:
//
//	d2 84                       tag 18, array of 4
//	   <bstr> a2 01 <int> 04 44 <kid>   protected: {1: alg, 4: 4-byte kid}
//	   a0                       unprotected: {}
//	   <bstr>                   payload, not empty
//	   <bstr>                   signature, not empty
//
// with every head in its shortest form and nothing after. The alg may be
// any integer here (a mismatch with the key is a bad signature). Errors are
// plain; callers wrap them.
func parseSign1(raw []byte) (sign1Msg, error) {
	var m sign1Msg
	if len(raw) < 2 || raw[0] != 0xd2 {
		return m, fmt.Errorf("not a tagged COSE_Sign1 (CBOR tag 18)")
	}
	if raw[1] != 0x84 {
		return m, fmt.Errorf("COSE_Sign1 is not an array of 4 elements in canonical encoding")
	}
	prot, off, err := readBstr(raw, 2, "protected header")
	if err != nil {
		return m, err
	}
	m.protected = raw[2:off]
	if off >= len(raw) || raw[off] != 0xa0 {
		return m, fmt.Errorf("unprotected header is not empty")
	}
	if m.payload, off, err = readBstr(raw, off+1, "payload"); err != nil {
		return m, err
	}
	if len(m.payload) == 0 {
		return m, fmt.Errorf("payload is empty or detached")
	}
	if m.signature, off, err = readBstr(raw, off, "signature"); err != nil {
		return m, err
	}
	if len(m.signature) == 0 {
		return m, fmt.Errorf("signature is empty")
	}
	if off != len(raw) {
		return m, fmt.Errorf("%d bytes after the COSE_Sign1", len(raw)-off)
	}
	if err := m.parseProtected(prot); err != nil {
		return m, fmt.Errorf("protected header: %v", err)
	}
	return m, nil
}

// parseProtected parses the protected header map: exactly {1: alg, 4: kid}
// in canonical encoding, alg an integer and kid a 4-byte string.
func (m *sign1Msg) parseProtected(p []byte) error {
	if len(p) < 2 || p[0] != 0xa2 || p[1] != 0x01 {
		return fmt.Errorf("must hold exactly alg and kid, in canonical encoding")
	}
	major, arg, off, err := readHead(p, 2)
	switch {
	case err != nil:
		return fmt.Errorf("alg: %v", err)
	case major > 1:
		return fmt.Errorf("alg is not an integer")
	case arg > math.MaxInt64:
		return fmt.Errorf("alg out of range")
	case major == 0:
		m.alg = int64(arg)
	default:
		m.alg = -1 - int64(arg)
	}
	if off >= len(p) || p[off] != 0x04 {
		return fmt.Errorf("must hold exactly alg and kid, in canonical encoding")
	}
	kid, off, err := readBstr(p, off+1, "kid")
	if err != nil {
		return err
	}
	if len(kid) != 4 {
		return fmt.Errorf("kid must be 4 bytes")
	}
	if off != len(p) {
		return fmt.Errorf("must hold exactly alg and kid")
	}
	copy(m.kid[:], kid)
	return nil
}

// appendSigStructure appends the COSE Sig_structure of a COSE_Sign1 (RFC
// 9052 section 4.4), the bytes that are signed:
// ["Signature1", protected, external_aad, payload], canonically encoded.
func appendSigStructure(dst, protected []byte, aad string, payload []byte) []byte {
	dst = append(dst, 0x84, 0x6a)
	dst = append(dst, "Signature1"...)
	dst = append(dst, protected...)
	dst = appendHead(dst, 2, uint64(len(aad)))
	dst = append(dst, aad...)
	dst = appendHead(dst, 2, uint64(len(payload)))
	return append(dst, payload...)
}

// verify checks the signature with k and aad as external data. scratch, if
// not nil, is used to build the signed bytes (and is returned grown).
func (m *sign1Msg) verify(k *verifyKey, aad string, scratch []byte) ([]byte, error) {
	if m.alg != k.alg {
		return scratch, fmt.Errorf("header alg %v but key %s is %v", cose.Algorithm(m.alg), m.kidHex(), cose.Algorithm(k.alg))
	}
	sig := m.signature
	if m.alg == coseES256 {
		if len(sig) != 64 {
			return scratch, fmt.Errorf("ES256 signature of %d bytes", len(sig))
		}
		if new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfN) > 0 {
			return scratch, fmt.Errorf("ES256 signature has a high S (non-canonical)")
		}
	}
	// edScratch bytes of room in front of the Sig_structure, for Ed25519's
	// R || A.
	buf := append(scratch[:0], make([]byte, edScratch)...)
	buf = appendSigStructure(buf, m.protected, aad, m.payload)
	var ok bool
	switch m.alg {
	case coseEdDSA:
		ok = k.ed.verifyPrefixed(buf, sig)
	case coseES256:
		ok = verifyES256(k.ec, buf[edScratch:], sig)
	}
	if !ok {
		return buf, fmt.Errorf("signature does not verify with key %s", m.kidHex())
	}
	return buf, nil
}

// verifyBuf holds the buffers of one verification.
type verifyBuf struct {
	raw []byte // the decoded COSE bytes
	tbs []byte // edScratch bytes, then the Sig_structure
}

var verifyBufs = sync.Pool{New: func() any {
	// Room for the longest payload: MaxPayloadLen Base45 characters decode
	// to at most 1366 bytes.
	return &verifyBuf{raw: make([]byte, 0, 1400), tbs: make([]byte, 0, 1536)}
}}

func getVerifyBuf() *verifyBuf { return verifyBufs.Get().(*verifyBuf) }

func putVerifyBuf(b *verifyBuf) { verifyBufs.Put(b) }

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
// claims bytes and the trusted key that signed them. The claims bytes live
// in vb: they are valid until vb is reused.
func openPayload(payload, kind string, version int, tl *TrustList, vb *verifyBuf) ([]byte, *trustedEntry, *Error) {
	body, e := splitPrefix(payload, kind, version)
	if e != nil {
		return nil, nil, e
	}
	raw, err := base45Append(vb.raw[:0], body)
	if err != nil {
		return nil, nil, reject(CodeMalformedBase45, "%v", err)
	}
	vb.raw = raw
	m, err := parseSign1(raw)
	if err != nil {
		return nil, nil, reject(CodeMalformedCOSE, "%v", err)
	}
	entry, e := tl.lookup(m.kid)
	if e != nil {
		return nil, nil, e
	}
	// The external AAD is the prefix, kind+version+":", which splitPrefix
	// has checked is exactly how the payload starts.
	aad := payload[:len(payload)-len(body)]
	if vb.tbs, err = m.verify(entry.vk, aad, vb.tbs); err != nil {
		return nil, nil, reject(CodeBadSignature, "%v", err)
	}
	return m.payload, entry, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
