package codesign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"math/big"

	"filippo.io/edwards25519"
)

// COSE algorithm values (RFC 9053) of the two supported algorithms.
const (
	coseEdDSA int64 = -8
	coseES256 int64 = -7
)

// verifyKey is a public key prepared once (when a trust list is indexed, or
// a root key is pinned) for verifying many signatures.
type verifyKey struct {
	alg int64            // coseEdDSA or coseES256
	ed  *edKey           // alg == coseEdDSA
	ec  *ecdsa.PublicKey // alg == coseES256
}

// newVerifyKey prepares pub, an ed25519.PublicKey or a P-256
// *ecdsa.PublicKey, for verification.
func newVerifyKey(pub crypto.PublicKey) (*verifyKey, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 public key of %d bytes", len(k))
		}
		return &verifyKey{alg: coseEdDSA, ed: newEdKey(k)}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key is not on P-256")
		}
		if _, err := k.ECDH(); err != nil { // as cose.NewVerifier checks
			return nil, fmt.Errorf("ES256: invalid public key: %v", err)
		}
		return &verifyKey{alg: coseES256, ec: k}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", pub)
}

// edKey is an Ed25519 public key with its point decoded (and negated) once,
// instead of on every verification as crypto/ed25519.Verify does.
type edKey struct {
	a    [ed25519.PublicKeySize]byte // the key as encoded: hashed as is, like crypto/ed25519
	negA *edwards25519.Point         // -A; nil if a is not a valid point encoding
}

func newEdKey(pub ed25519.PublicKey) *edKey {
	k := &edKey{}
	copy(k.a[:], pub)
	// crypto/ed25519 decodes the key with this same SetBytes (the standard
	// library's edwards25519 is this module): it accepts exactly the same
	// encodings, non-canonical ones included, and refuses the same.
	if A, err := new(edwards25519.Point).SetBytes(k.a[:]); err == nil {
		k.negA = new(edwards25519.Point).Negate(A)
	}
	return k
}

// edScratch is the room verifyPrefixed needs in front of the message.
const edScratch = 64

// verify reports whether sig is a valid Ed25519 signature of msg by k, with
// exactly the semantics of crypto/ed25519.Verify. It copies msg; the
// verification path uses verifyPrefixed.
func (k *edKey) verify(msg, sig []byte) bool {
	buf := make([]byte, edScratch, edScratch+len(msg))
	return k.verifyPrefixed(append(buf, msg...), sig)
}

// verifyPrefixed is verify for the message buf[edScratch:]; it overwrites
// buf[:edScratch]. It is crypto/internal/fips140/ed25519.verifyWithDom for
// pure Ed25519 (RFC 8032 section 5.1.7, cofactorless) step for step, with
// -A computed once per key:
//
//   - a key that does not decode as a point verifies nothing
//     (crypto/ed25519.Verify fails in NewPublicKey);
//   - the signature is 64 bytes and its top three bits are clear;
//   - k = SHA-512(R || A || M) mod L, with A the key bytes as given;
//   - S must be canonical (S < L), else the signature is refused;
//   - R' = [k](-A) + [S]B in variable time, and the signature is valid if
//     and only if R's 32 bytes equal the canonical encoding of R' (so a
//     non-canonical R is refused, and no small-order check is made on A or
//     R, like the standard library).
func (k *edKey) verifyPrefixed(buf, sig []byte) bool {
	if k.negA == nil || len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return false
	}
	copy(buf[:32], sig[:32])
	copy(buf[32:edScratch], k.a[:])
	h := sha512.Sum512(buf)
	kh, err := new(edwards25519.Scalar).SetUniformBytes(h[:])
	if err != nil {
		return false // impossible: h is 64 bytes
	}
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(kh, k.negA, S)
	return bytes.Equal(sig[:32], R.Bytes())
}

// verifyES256 reports whether sig (r || s, 32 bytes each) is a valid ECDSA
// P-256 SHA-256 signature of msg, as go-cose's ES256 verifier does it.
func verifyES256(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	digest := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}
