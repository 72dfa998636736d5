package staff

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"healthcode/internal/health"
)

// PasswordParams are the argon2id parameters of new password hashes.
// Hashes keep the parameters they were made with (PHC string form), so
// changing them affects only new and changed passwords.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultPasswordParams returns the node's default: argon2id with 64 MiB
// of memory (the memory of RFC 9106's second recommended option), one pass
// and two lanes instead of that option's t=3, p=4, so that a login costs
// about 50-100 ms on a 2-core node; salt 16 bytes, key 32 bytes.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Password length limits, in characters (runes). The maximum bounds the
// work of a login attempt, not the password's strength.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// Limits on parameters read from a stored hash, so that a corrupted or
// forged hash cannot make a login allocate gigabytes.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 16
	maxThreads = 64
	maxKeyLen  = 128
)

// CheckPassword returns nil if password is acceptable for username: 12 to
// 256 characters, valid UTF-8 with no control characters, not containing
// the username (of 4 characters or more), and not a single repeated
// character. It returns an Invalid
// error (field "password") otherwise.
func CheckPassword(username, password string) error {
	bad := func(format string, args ...any) error {
		return health.Errorf(health.Invalid, "weak_password", "password", format, args...)
	}
	if !utf8.ValidString(password) {
		return bad("must be valid UTF-8")
	}
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLen:
		return bad("must be at least %d characters long (got %d)", MinPasswordLen, n)
	case n > MaxPasswordLen:
		return bad("must be at most %d characters long", MaxPasswordLen)
	}
	first, _ := utf8.DecodeRuneInString(password)
	same := true
	for _, r := range password {
		if unicode.IsControl(r) {
			return bad("must not contain control characters")
		}
		if r != first {
			same = false
		}
	}
	if same {
		return bad("must not be one character repeated")
	}
	if len(username) >= 4 && strings.Contains(strings.ToLower(password), strings.ToLower(username)) {
		return bad("must not contain the username")
	}
	return nil
}

// HashPassword returns the argon2id hash of password with a new random salt
// in PHC string form: $argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash> (salt
// and hash in unpadded standard base64). It returns an error only if the
// parameters are out of range or the system's random source fails.
func HashPassword(password string, p PasswordParams) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("staff: password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func (p PasswordParams) check() error {
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("staff: argon2id memory %d KiB out of range", p.Memory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("staff: argon2id time %d out of range", p.Time)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("staff: argon2id threads %d out of range", p.Threads)
	case p.SaltLen < 8 || p.SaltLen > 64:
		return fmt.Errorf("staff: salt length %d out of range", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > maxKeyLen:
		return fmt.Errorf("staff: key length %d out of range", p.KeyLen)
	}
	return nil
}

// errBadHash is returned for a stored hash that is not an argon2id PHC string.
var errBadHash = errors.New("staff: malformed argon2id password hash")

// VerifyPassword reports whether password matches the PHC-form hash phc,
// comparing in constant time. It returns an error (and false) for a hash
// that is malformed or whose parameters are out of range.
func VerifyPassword(phc, password string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// PasswordParamsOf returns the parameters a hash was made with (to tell
// whether it should be rehashed). It returns an error for a malformed hash.
func PasswordParamsOf(phc string) (PasswordParams, error) {
	p, _, _, err := parsePHC(phc)
	return p, err
}

func parsePHC(phc string) (p PasswordParams, salt, key []byte, err error) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errBadHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || threads > maxThreads {
		return p, nil, nil, errBadHash
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return p, nil, nil, errBadHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if p.check() != nil {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
