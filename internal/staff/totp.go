package staff

import (
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters (RFC 6238 with the defaults every authenticator app
// supports): 30-second steps, 6 digits, HMAC-SHA1, and one step of clock
// skew either way.
const (
	TOTPPeriod = 30 * time.Second
	TOTPSkew   = 1
	totpDigits = otp.DigitsSix
)

// NewTOTP returns a new 160-bit TOTP secret (base32, no padding) for
// username and its otpauth:// URL for authenticator apps. It returns an
// error only if the random source fails.
func NewTOTP(issuer, username string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: username,
		Period: uint(TOTPPeriod / time.Second), SecretSize: 20, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("staff: totp secret: %w", err)
	}
	return k.Secret(), k.URL(), nil
}

// TOTPSecretOf returns the base32 secret of an otpauth:// URL made by
// NewTOTP (for printing it beside the URL). It returns an error for a URL
// that is not one.
func TOTPSecretOf(url string) (string, error) {
	k, err := otp.NewKeyFromURL(url)
	if err != nil {
		return "", err
	}
	if k.Secret() == "" {
		return "", fmt.Errorf("staff: %q has no secret", url)
	}
	return k.Secret(), nil
}

// TOTPCode returns the code of secret at time t (for tests and tools).
func TOTPCode(secret string, t time.Time) (string, error) {
	return hotp.GenerateCodeCustom(secret, totpCounter(t), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

func totpCounter(t time.Time) uint64 { return uint64(t.Unix()) / uint64(TOTPPeriod/time.Second) }

// CheckTOTP checks a code against secret at now, allowing TOTPSkew steps
// either way, and refuses a code whose time step is not after last, the
// step of the last code accepted for the account (RFC 6238 §5.2: a code is
// accepted once; 0 if none yet). It returns the matched step, to be kept as
// the new last, and ok. Codes are compared in constant time.
func CheckTOTP(secret, code string, now time.Time, last uint64) (step uint64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	c := totpCounter(now)
	for d := -TOTPSkew; d <= TOTPSkew; d++ {
		s := uint64(int64(c) + int64(d))
		match, err := hotp.ValidateCustom(code, s, secret, hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if match && s > last {
			step, ok = s, true
		}
	}
	return step, ok
}
