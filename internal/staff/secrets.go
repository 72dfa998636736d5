package staff

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Secrets holds the keys that protect staff credentials at rest: an
// AES-256-GCM key that seals TOTP secrets, and an HMAC-SHA256 key for the
// keyed hashes of API keys. Both are derived with HKDF-SHA256 from one
// 32-byte root secret of the node. A Secrets is safe for concurrent use.
type Secrets struct {
	aead   cipher.AEAD
	macKey []byte
}

// NewSecrets derives the keys from root (32 bytes, secret). It returns an
// error for a root of another length.
func NewSecrets(root []byte) (*Secrets, error) {
	if len(root) != 32 {
		return nil, errors.New("staff: root secret must be 32 bytes")
	}
	sealKey, err := hkdf.Key(sha256.New, root, nil, "healthcode staff totp-seal v1", 32)
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, root, nil, "healthcode staff api-key-hash v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Secrets{aead: aead, macKey: macKey}, nil
}

// Seal encrypts plain bound to aad (e.g. "totp:" + username) as nonce ||
// ciphertext. It returns an error only if the random source fails.
func (s *Secrets) Seal(plain []byte, aad string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("staff: nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(aad)), nil
}

// Open decrypts a blob made by Seal with the same aad. It returns an error
// if the blob was altered, or sealed under another key or aad.
func (s *Secrets) Open(blob []byte, aad string) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(blob) < ns+s.aead.Overhead() {
		return nil, errors.New("staff: sealed secret too short")
	}
	plain, err := s.aead.Open(nil, blob[:ns], blob[ns:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("staff: open sealed secret: %w", err)
	}
	return plain, nil
}

// APIKeyPrefix starts every API key token: "hck_<key id>_<secret>".
const APIKeyPrefix = "hck_"

// NewAPIKey returns a new key id (16 hex digits), its secret (32 random
// bytes, base64url) and the token that carries both. Only the keyed hash of
// the secret (Secrets.HashAPIKey) is kept. It returns an error only if the
// random source fails.
func NewAPIKey() (keyID, secret, token string, err error) {
	b := make([]byte, 8+32)
	if _, err := rand.Read(b); err != nil {
		return "", "", "", fmt.Errorf("staff: api key: %w", err)
	}
	keyID = hex.EncodeToString(b[:8])
	secret = base64.RawURLEncoding.EncodeToString(b[8:])
	return keyID, secret, APIKeyPrefix + keyID + "_" + secret, nil
}

// ParseAPIKey splits a token into key id and secret; ok is false if it is
// not shaped like one made by NewAPIKey.
func ParseAPIKey(token string) (keyID, secret string, ok bool) {
	rest, found := strings.CutPrefix(token, APIKeyPrefix)
	if !found {
		return "", "", false
	}
	keyID, secret, found = strings.Cut(rest, "_")
	if !found || len(keyID) != 16 || len(secret) != 43 {
		return "", "", false
	}
	if _, err := hex.DecodeString(keyID); err != nil {
		return "", "", false
	}
	return keyID, secret, true
}

// HashAPIKey returns HMAC-SHA256(api-key key, key id || ":" || secret), the
// only form in which an API key's secret is stored.
func (s *Secrets) HashAPIKey(keyID, secret string) [32]byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(keyID))
	m.Write([]byte{':'})
	m.Write([]byte(secret))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// CheckAPIKey reports, in constant time, whether secret hashes to want.
func (s *Secrets) CheckAPIKey(keyID, secret string, want [32]byte) bool {
	got := s.HashAPIKey(keyID, secret)
	return hmac.Equal(got[:], want[:])
}
