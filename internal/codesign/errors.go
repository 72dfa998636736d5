package codesign

import (
	"errors"
	"fmt"
)

// Rejection codes. Every payload, venue code or trust list that is refused
// is refused with an *Error carrying exactly one of these codes; the
// message says precisely why.
const (
	CodeWrongPrefix        = "wrong_prefix"        // not "HCC<n>:" / "HCP<n>:"
	CodeUnsupportedVersion = "unsupported_version" // a version this verifier does not know
	CodeMalformedBase45    = "malformed_base45"    // not valid RFC 9285 Base45
	CodeMalformedCOSE      = "malformed_cose"      // bad CBOR or COSE_Sign1 structure
	CodeMalformedClaims    = "malformed_claims"    // signed, but the claims are not well formed
	CodeUnknownKey         = "unknown_key"         // kid not in the trust list
	CodeRevokedKey         = "revoked_key"         // kid revoked in the trust list
	CodeBadSignature       = "bad_signature"       // signature does not verify
	CodeWrongIssuer        = "wrong_issuer"        // issuer claim is not the signing key's region
	CodeExpired            = "expired"             // now is at or after expires_at
	CodeNotYetValid        = "not_yet_valid"       // issued_at (or the venue window) is in the future
	CodeKeyNotValid        = "key_not_valid"       // signed outside the key's validity window
	CodeStaleCode          = "stale_code"          // dynamic venue code from an old window
	CodeBadTrustList       = "bad_trust_list"      // trust list missing, altered or badly signed
	CodeUnreadableQR       = "unreadable_qr"       // no QR code could be decoded from the image
)

// Error is a rejection: a stable machine-readable Code (one of the Code*
// constants) and a human-readable Msg with the exact reason.
type Error struct {
	Code string
	Msg  string
}

// Error implements error.
func (e *Error) Error() string { return "codesign: " + e.Code + ": " + e.Msg }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &codesign.Error{Code: codesign.CodeExpired}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorCode returns the Code of the *Error in err's chain, or "" if there is
// none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func reject(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}
