// Package codesign signs and verifies the payloads printed in QR codes: a
// person's health code token and a venue's place code, together with the
// signing keys that make them and the signed trust list that lets a
// verifier check them offline (DESIGN.md invariants 6 and 7).
//
// The design follows the EU Digital COVID Certificate: claims are a CBOR map
// with small integer keys, signed as a COSE_Sign1 (RFC 9052) whose protected
// header carries the algorithm and the key id, and the COSE bytes are
// Base45-encoded (RFC 9285) behind a short versioned prefix, so that the
// whole payload uses only QR alphanumeric characters.
//
// # Envelope
//
//	payload  = prefix Base45(COSE_Sign1_Tagged)
//	prefix   = "HCC1:" (personal code, version 1) | "HCP2:" (place code, version 2)
//	COSE     = #6.18([ protected: bstr .cbor {1: alg, 4: kid}, unprotected: {}, payload: bstr, signature: bstr ])
//	alg      = -8 (EdDSA, Ed25519) | -7 (ES256, P-256, deterministic RFC 6979, r||s with low S)
//	kid      = the first 4 bytes of SHA-256(PKIX DER public key); Key.ID is its 8 hex digits
//	external_aad = the prefix ("HCC1:", "HCP2:"; "HCTL1" for the trust list)
//
// The external AAD binds a signature to its payload type and version at no
// cost in bytes: a signed place code cannot be replayed as a personal code.
// Verification is strict: the unprotected header must be empty, the CBOR must
// be in core deterministic encoding, ES256 signatures must have a low S, and
// Base45 groups must be in range, so a payload that verifies has exactly one
// byte representation (no malleability).
//
// # Personal code claims (prefix HCC1:)
//
// The claims are a CWT claims set (RFC 8392): the registered claims keep their
// CWT keys and the private ones use small negative keys, all one byte.
// Times are integer Unix seconds.
//
//	 1 iss        tstr   issuer node id ("440000"); must equal the signing key's region
//	 4 exp        int    expires at
//	 6 iat        int    issued at
//	-1 version    uint   1
//	-2 pseudonym  bstr   16 bytes, fresh for every token
//	-3 colour     uint   0 green, 1 yellow, 2 red (the order of health.Colour)
//	-4 star       bool   omitted when false
//	-5 last test  int    omitted when there is none
//	-6 region     tstr   omitted when empty
//	-7 name       tstr   the masked name, omitted when empty
//	-8 paper      bool   a printed code; omitted when false
//
// A typical token is about 150 CBOR/COSE bytes and 230 characters.
//
// # Place code claims (prefix HCP2:)
//
//	 1 iss     tstr   issuer node id; must equal the signing key's region
//	-1 place   tstr   the place id ("L45")
//	-2 window  uint   dynamic codes: floor(unix time / period); omitted for static codes
//	-3 period  uint   dynamic codes: the rotation period in seconds; omitted for static codes
//
// "HCP1:L45" (health.PlaceCode) is the unsigned version 1 and is refused here
// with unsupported_version.
//
// # Keys and trust list
//
// A Keystore holds one root key (Ed25519, Region "root", created on the
// first OpenKeystore) and, per region, one active signing key plus retired
// and revoked ones. The root signs the trust list: every key that may still
// have valid tokens, and the ids of revoked keys. See Keystore and
// ParseTrustList.
package codesign
