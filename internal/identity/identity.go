// Package identity keeps personal identity (name, ID number, phone) apart
// from everything else: sealed with AES-256-GCM, looked up by a keyed hash
// of the ID number, and reached only through a person's own token or an
// authorised, audited staff read. It also issues and checks person tokens.
package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// KeyFile is the name of the node's master key file inside the data directory.
const KeyFile = "node.key"

// LoadOrCreateKey returns the 32-byte master key. If hexKey is not empty it
// is used (64 hex digits, e.g. from HEALTHCODE_KEY); otherwise the key is read
// from dir/node.key, which is created with 0600 permissions on first start.
// It returns an error for a malformed key or a key file readable by others.
func LoadOrCreateKey(dir, hexKey string) ([]byte, error) {
	if hexKey != "" {
		k, err := hex.DecodeString(strings.TrimSpace(hexKey))
		if err != nil || len(k) != 32 {
			return nil, errors.New("identity: HEALTHCODE_KEY must be 64 hex digits (32 bytes)")
		}
		return k, nil
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("identity: generate key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("identity: create key file: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("identity: write key file: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("identity: sync key file: %w", err)
		}
		return k, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("identity: read key file: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: key file %s has mode %v; want 0600", path, st.Mode().Perm())
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("identity: key file %s must hold 64 hex digits", path)
	}
	return k, nil
}

// Identity is the personal data of a person. It exists in clear only in
// memory, for the duration of a request.
type Identity struct {
	IDNumber string `json:"id"`
	Name     string `json:"name"`
	Phone    string `json:"phone"`
}

// Vault seals identities and derives the keyed hashes and tokens. It is safe
// for concurrent use.
type Vault struct {
	aead     cipher.AEAD
	idKey    []byte
	tokenKey []byte
	pseudo   cipher.Block // AES-256 for token pseudonyms
}

// NewVault derives the vault's sub-keys from a 32-byte master key with HKDF.
func NewVault(master []byte) (*Vault, error) {
	if len(master) != 32 {
		return nil, errors.New("identity: master key must be 32 bytes")
	}
	derive := func(label string) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, "healthcode "+label, 32)
	}
	enc, err := derive("identity-encryption v1")
	if err != nil {
		return nil, err
	}
	idKey, err := derive("id-number-hash v1")
	if err != nil {
		return nil, err
	}
	tokenKey, err := derive("person-token v1")
	if err != nil {
		return nil, err
	}
	pseudoKey, err := derive("token-pseudonym v1")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	pseudo, err := aes.NewCipher(pseudoKey)
	if err != nil {
		return nil, err
	}
	return &Vault{aead: aead, idKey: idKey, tokenKey: tokenKey, pseudo: pseudo}, nil
}

// HashID returns the keyed hash (HMAC-SHA256) of a normalised ID number, the
// only form in which ID numbers are indexed.
func (v *Vault) HashID(idNumber string) [32]byte {
	m := hmac.New(sha256.New, v.idKey)
	m.Write([]byte(idNumber))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// Seal encrypts an identity with AES-256-GCM, bound to aad (the ID hash), as
// nonce || ciphertext.
func (v *Vault) Seal(id Identity, aad []byte) ([]byte, error) {
	plain, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, v.aead.NonceSize(), v.aead.NonceSize()+len(plain)+v.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return v.aead.Seal(nonce, nonce, plain, aad), nil
}

// Open decrypts a sealed identity. It returns an error if the blob was
// altered or sealed under another key or aad.
func (v *Vault) Open(blob, aad []byte) (Identity, error) {
	var id Identity
	ns := v.aead.NonceSize()
	if len(blob) < ns+v.aead.Overhead() {
		return id, errors.New("identity: sealed record too short")
	}
	plain, err := v.aead.Open(nil, blob[:ns], blob[ns:], aad)
	if err != nil {
		return id, fmt.Errorf("identity: open sealed record: %w", err)
	}
	err = json.Unmarshal(plain, &id)
	return id, err
}

// PersonToken returns the bearer token of person index idx: "pt1." + id +
// "." + base64url(HMAC(token key, id)[:18]). Tokens are stateless.
func (v *Vault) PersonToken(idx uint32) string {
	id := strconv.FormatUint(uint64(idx), 10)
	return "pt1." + id + "." + base64.RawURLEncoding.EncodeToString(v.tokenMAC(id))
}

func (v *Vault) tokenMAC(id string) []byte {
	m := hmac.New(sha256.New, v.tokenKey)
	m.Write([]byte("person:" + id))
	return m.Sum(nil)[:18]
}

// CheckPersonToken returns the person index a token was issued for; ok is
// false for a malformed or forged token.
func (v *Vault) CheckPersonToken(tok string) (idx uint32, ok bool) {
	rest, found := strings.CutPrefix(tok, "pt1.")
	if !found {
		return 0, false
	}
	id, mac, found := strings.Cut(rest, ".")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || subtle.ConstantTimeCompare(got, v.tokenMAC(id)) != 1 {
		return 0, false
	}
	return uint32(n), true
}

// MaskName masks a name for display to verifiers: the first character of a
// Chinese name is kept ("张*", "欧阳**"→"欧**"), a Latin name keeps its first
// letter and length.
func MaskName(name string) string {
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(name)
	if n == 1 {
		return "*"
	}
	return string(r) + strings.Repeat("*", n-1)
}

// PseudonymSize is the size of a token pseudonym.
const PseudonymSize = 16

// Pseudonym returns a fresh 16-byte pseudonym of person p for a token issued
// at the given Unix second: one AES block over (p, issued, 8 random bytes).
// Two tokens of one person share nothing a verifier can link; only the node
// (holding the key) can tell whose token it was, with OpenPseudonym.
func (v *Vault) Pseudonym(p uint32, issued int64) []byte {
	var b [PseudonymSize]byte
	binary.BigEndian.PutUint32(b[0:4], p)
	binary.BigEndian.PutUint32(b[4:8], uint32(issued))
	rand.Read(b[8:])
	out := make([]byte, PseudonymSize)
	v.pseudo.Encrypt(out, b[:])
	return out
}

// OpenPseudonym returns the person and the issue time (Unix seconds, modulo
// 2^32) behind a pseudonym made by this vault. A pseudonym made under
// another key gives an arbitrary answer: check the token's signature first.
func (v *Vault) OpenPseudonym(ps []byte) (p uint32, issued uint32, ok bool) {
	if len(ps) != PseudonymSize {
		return 0, 0, false
	}
	var b [PseudonymSize]byte
	v.pseudo.Decrypt(b[:], ps)
	return binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8]), true
}
