package codesign

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/veraison/go-cose"
)

// Keystore constants.
const (
	// KeystoreFile is the conventional name of the keystore inside a node's
	// data directory.
	KeystoreFile = "signing-keys.json"
	// RootRegion is the Region of the keystore's root key.
	RootRegion = "root"
	// DefaultMaxTokenLifetime is the default longest lifetime of a personal
	// code token; a rotated key stays trusted this long after rotation.
	DefaultMaxTokenLifetime = 25 * time.Hour

	keystoreFormat = "healthcode-signing-keys/1"
	kekCheckText   = "healthcode signing keystore v1"
)

// Key is a signing key: a root key (Region "root") or a code-signing key for
// one region. Values returned by the Keystore carry the public key only.
type Key struct {
	ID        string    // kid: 8 hex digits of SHA-256(PKIX DER public key)
	Alg       string    // AlgEdDSA or AlgES256
	Region    string    // the issuing node's region, or RootRegion
	NotBefore time.Time // UTC, second precision
	NotAfter  time.Time // UTC, second precision; zero for the root key (no expiry)
	Active    bool      // the region's current signing key
	Revoked   bool
	RevokedAt time.Time

	pub    crypto.PublicKey
	pubDER []byte
	priv   crypto.Signer // nil unless the key is active (or the root)
	sealed []byte        // nonce || AES-256-GCM(PKCS#8 private key), AAD = ID
}

// Public returns the public key (ed25519.PublicKey or *ecdsa.PublicKey).
func (k Key) Public() crypto.PublicKey { return k.pub }

// PublicDER returns the PKIX DER encoding of the public key; for the root
// key this is what a verifier pins.
func (k Key) PublicDER() []byte { return bytes.Clone(k.pubDER) }

// publicCopy returns a copy of k without its private key.
func (k *Key) publicCopy() *Key {
	c := *k
	c.priv, c.sealed = nil, nil
	return &c
}

// Signer signs personal and place codes with one key. It is a snapshot: a
// Signer obtained before a rotation or revocation keeps signing with the old
// key, so callers should ask Keystore.Active for each batch. It is safe for
// concurrent use.
type Signer struct {
	key         Key
	kid         []byte
	cose        cose.Signer
	maxLifetime time.Duration
	// ed is the key itself if it is an Ed25519 key, for SignCode's direct
	// path; nil for other keys.
	ed ed25519.PrivateKey
}

// Key returns the signing key's public description.
func (s *Signer) Key() Key { return *s.key.publicCopy() }

func newSigner(k *Key, maxLifetime time.Duration) (*Signer, error) {
	if k.priv == nil {
		return nil, fmt.Errorf("codesign: key %s has no private key", k.ID)
	}
	cs, err := newCOSESigner(k.Alg, k.priv)
	if err != nil {
		return nil, fmt.Errorf("codesign: key %s: %w", k.ID, err)
	}
	kid, _ := hex.DecodeString(k.ID)
	s := &Signer{key: *k, kid: kid, cose: cs, maxLifetime: maxLifetime}
	if ed, ok := k.priv.(ed25519.PrivateKey); ok && len(ed) == ed25519.PrivateKeySize {
		s.ed = ed
	}
	return s, nil
}

// DeriveKEK derives the keystore's 32-byte key-encryption key from a node's
// 32-byte master key (HKDF-SHA256, label "healthcode signing-keys v1").
func DeriveKEK(master []byte) ([]byte, error) {
	if len(master) != 32 {
		return nil, errors.New("codesign: master key must be 32 bytes")
	}
	return hkdf.Key(sha256.New, master, nil, "healthcode signing-keys v1", 32)
}

// Keystore holds a node's signing keys in a single JSON file, written with
// mode 0600 and replaced atomically (temporary file, fsync, rename, fsync of
// the directory) on every change. Private keys are sealed with AES-256-GCM
// under the caller's key-encryption key with the kid as additional data; a
// private key is kept only while its key is active (and for the root key):
// rotation and revocation erase it. A Keystore is safe for concurrent use
// within one process; only one process may open the file at a time.
type Keystore struct {
	mu          sync.Mutex
	path        string
	aead        cipher.AEAD
	maxLifetime time.Duration
	st          ksState
}

type ksState struct {
	keys     []*Key
	kekCheck []byte
	serial   uint64 // trust list serial
	listHash []byte // hash of the content the serial was issued for
}

func (st ksState) clone() ksState {
	c := st
	c.keys = make([]*Key, len(st.keys))
	for i, k := range st.keys {
		kc := *k
		c.keys[i] = &kc
	}
	return c
}

func (st *ksState) root() *Key {
	for _, k := range st.keys {
		if k.Region == RootRegion {
			return k
		}
	}
	return nil
}

func (st *ksState) active(region string) *Key {
	for _, k := range st.keys {
		if k.Active && k.Region == region {
			return k
		}
	}
	return nil
}

type ksFile struct {
	Format          string  `json:"format"`
	KEKCheck        []byte  `json:"kek_check"`
	TrustListSerial uint64  `json:"trust_list_serial"`
	TrustListHash   []byte  `json:"trust_list_hash,omitempty"`
	Keys            []ksKey `json:"keys"`
}

type ksKey struct {
	ID        string    `json:"kid"`
	Alg       string    `json:"alg"`
	Region    string    `json:"region"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Active    bool      `json:"active,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Public    []byte    `json:"public"`
	Sealed    []byte    `json:"sealed_private,omitempty"`
}

// OpenKeystore opens the keystore file at path with a 32-byte
// key-encryption key (see DeriveKEK). If the file does not exist it is
// created with a new Ed25519 root key; its directory must exist. It fails
// for a wrong key-encryption key, a file readable by others, or a file that
// was altered.
func OpenKeystore(path string, kek []byte) (*Keystore, error) {
	if len(kek) != 32 {
		return nil, errors.New("codesign: key-encryption key must be 32 bytes")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	ks := &Keystore{path: path, aead: aead, maxLifetime: DefaultMaxTokenLifetime}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ks, ks.create()
	}
	if err != nil {
		return nil, fmt.Errorf("codesign: read keystore: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("codesign: keystore %s has mode %v; want 0600", path, st.Mode().Perm())
	}
	if err := ks.load(data); err != nil {
		return nil, fmt.Errorf("codesign: keystore %s: %w", path, err)
	}
	return ks, nil
}

func (ks *Keystore) create() error {
	check, err := ks.seal([]byte(kekCheckText), "kek-check")
	if err != nil {
		return err
	}
	st := ksState{kekCheck: check}
	root, err := ks.newKey(&st, AlgEdDSA, RootRegion, time.Now(), 0)
	if err != nil {
		return err
	}
	st.keys = append(st.keys, root)
	if err := ks.save(&st); err != nil {
		return err
	}
	ks.st = st
	return nil
}

func (ks *Keystore) load(data []byte) error {
	var f ksFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("malformed: %w", err)
	}
	if f.Format != keystoreFormat {
		return fmt.Errorf("format %q is not %q", f.Format, keystoreFormat)
	}
	if plain, err := ks.open(f.KEKCheck, "kek-check"); err != nil || string(plain) != kekCheckText {
		return errors.New("wrong key-encryption key (or the key check was altered)")
	}
	st := ksState{kekCheck: f.KEKCheck, serial: f.TrustListSerial, listHash: f.TrustListHash}
	seen := map[string]bool{}
	roots := 0
	for _, fk := range f.Keys {
		k, err := ks.loadKey(fk)
		if err != nil {
			return fmt.Errorf("key %s: %w", fk.ID, err)
		}
		if seen[k.ID] {
			return fmt.Errorf("key %s appears twice", k.ID)
		}
		seen[k.ID] = true
		if k.Region == RootRegion {
			roots++
		} else if k.Active && st.active(k.Region) != nil {
			return fmt.Errorf("region %s has two active keys", k.Region)
		}
		st.keys = append(st.keys, k)
	}
	if roots != 1 {
		return fmt.Errorf("%d root keys (want 1)", roots)
	}
	ks.st = st
	return nil
}

func (ks *Keystore) loadKey(fk ksKey) (*Key, error) {
	pub, err := x509.ParsePKIXPublicKey(fk.Public)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if err := checkKeyAlg(fk.Alg, pub); err != nil {
		return nil, err
	}
	if kidOf(fk.Public) != fk.ID {
		return nil, errors.New("kid does not match the public key")
	}
	k := &Key{
		ID: fk.ID, Alg: fk.Alg, Region: fk.Region,
		NotBefore: fk.NotBefore.UTC(), NotAfter: fk.NotAfter.UTC(),
		Active: fk.Active, Revoked: fk.Revoked, RevokedAt: fk.RevokedAt.UTC(),
		pub: pub, pubDER: fk.Public, sealed: fk.Sealed,
	}
	if k.Region == "" || (k.Region == RootRegion && (k.Active || k.Revoked)) || (k.Active && k.Revoked) {
		return nil, errors.New("inconsistent region or state")
	}
	if (k.Active || k.Region == RootRegion) != (len(fk.Sealed) > 0) {
		return nil, errors.New("private key present on an inactive key or missing on an active one")
	}
	if len(fk.Sealed) == 0 {
		return k, nil
	}
	der, err := ks.open(fk.Sealed, fk.ID)
	if err != nil {
		return nil, errors.New("cannot unseal the private key: wrong key-encryption key or altered file")
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || !publicEqual(signer.Public(), pub) {
		return nil, errors.New("private key does not match the public key")
	}
	k.priv = signer
	return k, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

func (ks *Keystore) seal(plain []byte, aad string) ([]byte, error) {
	nonce := make([]byte, ks.aead.NonceSize(), ks.aead.NonceSize()+len(plain)+ks.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return ks.aead.Seal(nonce, nonce, plain, []byte(aad)), nil
}

func (ks *Keystore) open(blob []byte, aad string) ([]byte, error) {
	ns := ks.aead.NonceSize()
	if len(blob) < ns+ks.aead.Overhead() {
		return nil, errors.New("sealed blob too short")
	}
	return ks.aead.Open(nil, blob[:ns], blob[ns:], []byte(aad))
}

// save writes st to the keystore file atomically.
func (ks *Keystore) save(st *ksState) error {
	f := ksFile{Format: keystoreFormat, KEKCheck: st.kekCheck, TrustListSerial: st.serial, TrustListHash: st.listHash, Keys: []ksKey{}}
	for _, k := range st.keys {
		f.Keys = append(f.Keys, ksKey{
			ID: k.ID, Alg: k.Alg, Region: k.Region, NotBefore: k.NotBefore, NotAfter: k.NotAfter,
			Active: k.Active, Revoked: k.Revoked, RevokedAt: k.RevokedAt, Public: k.pubDER, Sealed: k.sealed,
		})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(ks.path, append(data, '\n'))
}

// writeFileAtomic replaces path with data: a 0600 temporary file in the same
// directory, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("codesign: write keystore: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("codesign: write keystore: %w", err)
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// update applies fn to a copy of the state and makes it current only once
// it is on disk.
func (ks *Keystore) update(fn func(st *ksState) error) error {
	st := ks.st.clone()
	if err := fn(&st); err != nil {
		return err
	}
	if err := ks.save(&st); err != nil {
		return err
	}
	ks.st = st
	return nil
}

// generatePrivate makes a new private key for alg. It is a variable so that
// the fuzz tests can make every fuzzing worker process derive the same keys.
var generatePrivate = func(alg string) (crypto.Signer, error) {
	switch alg {
	case AlgEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	_, err := coseAlg(alg)
	return nil, err
}

// newKey generates a key (not yet added to st) with a kid unique in st.
func (ks *Keystore) newKey(st *ksState, alg, region string, now time.Time, validity time.Duration) (*Key, error) {
	for range 8 {
		priv, err := generatePrivate(alg)
		if err != nil {
			return nil, fmt.Errorf("codesign: generate key: %w", err)
		}
		pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
		if err != nil {
			return nil, err
		}
		kid := kidOf(pubDER)
		if slices.ContainsFunc(st.keys, func(k *Key) bool { return k.ID == kid }) {
			continue // 32-bit kid collision: draw again
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		sealed, err := ks.seal(pkcs8, kid)
		clear(pkcs8)
		if err != nil {
			return nil, err
		}
		nb := secs(now)
		k := &Key{ID: kid, Alg: alg, Region: region, NotBefore: nb, pub: priv.Public(), pubDER: pubDER, priv: priv, sealed: sealed}
		if region != RootRegion {
			k.NotAfter = nb.Add(validity)
			k.Active = true
		}
		return k, nil
	}
	return nil, errors.New("codesign: generate key: repeated kid collisions")
}

// retire makes k inactive: it signs no more, its private key is erased, and
// it stays trusted until at most now + the maximum token lifetime.
func (ks *Keystore) retire(k *Key, now time.Time) {
	k.Active, k.priv, k.sealed = false, nil, nil
	if cut := secs(now).Add(ks.maxLifetime); cut.Before(k.NotAfter) {
		k.NotAfter = cut
	}
}

// SetMaxTokenLifetime sets the longest lifetime of a personal code token
// signed by this keystore's keys (default DefaultMaxTokenLifetime). A
// rotated key stays trusted this long after its rotation, so tokens it
// signed just before verify until they expire.
func (ks *Keystore) SetMaxTokenLifetime(d time.Duration) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if d > 0 {
		ks.maxLifetime = d
	}
}

// Generate creates a key for region with the given algorithm (AlgEdDSA or
// AlgES256), valid from now for validity, and makes it the region's active
// signing key. A previously active key of the region is retired as by
// Rotate. The returned Key carries no private key.
func (ks *Keystore) Generate(alg, region string, now time.Time, validity time.Duration) (*Key, error) {
	if region == "" || region == RootRegion {
		return nil, fmt.Errorf("codesign: generate: region %q is not a signing region", region)
	}
	if err := checkText("region", region, true); err != nil {
		return nil, fmt.Errorf("codesign: generate: %w", err)
	}
	if validity < time.Second {
		return nil, fmt.Errorf("codesign: generate: validity %v too short", validity)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.generate(alg, region, now, validity)
}

func (ks *Keystore) generate(alg, region string, now time.Time, validity time.Duration) (*Key, error) {
	var out *Key
	err := ks.update(func(st *ksState) error {
		k, err := ks.newKey(st, alg, region, now, validity)
		if err != nil {
			return err
		}
		if old := st.active(region); old != nil {
			ks.retire(old, now)
		}
		st.keys = append(st.keys, k)
		out = k.publicCopy()
		return nil
	})
	return out, err
}

// Rotate replaces region's active key with a new one of the same algorithm
// and validity period. The old key stops signing and its private key is
// erased, but it stays in the trust list until its NotAfter, which is cut to
// now + the maximum token lifetime if that is earlier: tokens it signed
// verify until they expire.
func (ks *Keystore) Rotate(region string, now time.Time) (*Key, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	old := ks.st.active(region)
	if old == nil {
		return nil, fmt.Errorf("codesign: rotate: region %q has no active key", region)
	}
	return ks.generate(old.Alg, region, now, old.NotAfter.Sub(old.NotBefore))
}

// Revoke revokes a key: it leaves the trust list's keys for its revoked ids,
// so every token it signed is refused with revoked_key by a verifier holding
// a newer list. If it was its region's active key the region has none until
// the next Generate. The root key cannot be revoked. Revoking a revoked key
// does nothing.
func (ks *Keystore) Revoke(kid string, now time.Time) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.update(func(st *ksState) error {
		i := slices.IndexFunc(st.keys, func(k *Key) bool { return k.ID == kid })
		if i < 0 {
			return fmt.Errorf("codesign: revoke: no key %q", kid)
		}
		k := st.keys[i]
		if k.Region == RootRegion {
			return errors.New("codesign: revoke: the root key cannot be revoked")
		}
		if !k.Revoked {
			k.Active, k.priv, k.sealed = false, nil, nil
			k.Revoked, k.RevokedAt = true, secs(now)
		}
		return nil
	})
}

// Active returns a Signer for region's active key.
func (ks *Keystore) Active(region string) (*Signer, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	k := ks.st.active(region)
	if k == nil {
		return nil, fmt.Errorf("codesign: region %q has no active signing key", region)
	}
	return newSigner(k, ks.maxLifetime)
}

// Root returns the root key (public part). Its PublicDER is what verifiers
// pin when they parse the trust list.
func (ks *Keystore) Root() Key {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return *ks.st.root().publicCopy()
}

// Keys returns every key in the keystore, root first, then by region and
// NotBefore, without private keys.
func (ks *Keystore) Keys() []Key {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	out := make([]Key, 0, len(ks.st.keys))
	for _, k := range ks.st.keys {
		out = append(out, *k.publicCopy())
	}
	slices.SortStableFunc(out, func(a, b Key) int {
		if (a.Region == RootRegion) != (b.Region == RootRegion) {
			if a.Region == RootRegion {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Region, b.Region), a.NotBefore.Compare(b.NotBefore), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// secs truncates t to whole seconds in UTC.
func secs(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }
