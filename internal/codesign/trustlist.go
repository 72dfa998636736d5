package codesign

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"
)

const (
	trustListAAD    = "HCTL1"
	trustListFormat = "healthcode-trust-list/1"
	// MaxTrustListSize is the largest trust list document ParseTrustList
	// reads.
	MaxTrustListSize = 4 << 20
)

// TrustedRoot is the root key that signs a trust list.
type TrustedRoot struct {
	ID     string // kid of the root key
	Alg    string // AlgEdDSA or AlgES256
	Public []byte // PKIX DER
}

// TrustedKey is a code-signing key in a trust list. A token it signed
// verifies if it was issued within [NotBefore, NotAfter] and is checked no
// later than NotAfter.
type TrustedKey struct {
	ID        string
	Alg       string
	Region    string // tokens it signs must name this region as their issuer
	Public    []byte // PKIX DER
	NotBefore time.Time
	NotAfter  time.Time
}

// TrustList is the signed list of code-signing keys a verifier trusts, as
// issued by Keystore.TrustList and checked by ParseTrustList. Serial grows
// whenever the content (root, keys, revoked ids) changes; Issued is when
// this copy was signed. A TrustList must not be modified once it has been
// used to verify.
type TrustList struct {
	Serial  uint64
	Issued  time.Time
	Root    TrustedRoot
	Keys    []TrustedKey
	Revoked []string // ids of revoked keys: their tokens fail with revoked_key

	once sync.Once
	idx  *trustIndex
	err  *Error
}

type trustedEntry struct {
	key TrustedKey
	vk  *verifyKey // the public key, decoded once
}

type trustIndex struct {
	keys    map[string]*trustedEntry
	revoked map[string]bool
	// The same, by raw kid, for verification. A revoked id that is not in
	// the canonical lower-case form matches no kid, as in revoked.
	keysByKid    map[[4]byte]*trustedEntry
	revokedByKid map[[4]byte]bool
}

// index validates the list's keys once and indexes them by kid.
func (tl *TrustList) index() (*trustIndex, *Error) {
	tl.once.Do(func() { tl.idx, tl.err = buildIndex(tl) })
	return tl.idx, tl.err
}

func buildIndex(tl *TrustList) (*trustIndex, *Error) {
	bad := func(format string, args ...any) (*trustIndex, *Error) {
		return nil, reject(CodeBadTrustList, format, args...)
	}
	ix := &trustIndex{
		keys: make(map[string]*trustedEntry, len(tl.Keys)), revoked: make(map[string]bool, len(tl.Revoked)),
		keysByKid: make(map[[4]byte]*trustedEntry, len(tl.Keys)), revokedByKid: make(map[[4]byte]bool, len(tl.Revoked)),
	}
	for _, id := range tl.Revoked {
		raw, err := hex.DecodeString(id)
		if err != nil || len(id) != 8 {
			return bad("revoked id %q is not a kid", clip(id, 16))
		}
		if ix.revoked[id] {
			return bad("revoked id %s listed twice", id)
		}
		ix.revoked[id] = true
		if hex.EncodeToString(raw) == id {
			ix.revokedByKid[[4]byte(raw)] = true
		}
	}
	for _, k := range tl.Keys {
		pub, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			return bad("key %q: public key: %v", clip(k.ID, 16), err)
		}
		if kidOf(k.Public) != k.ID {
			return bad("key %q: kid does not match its public key", clip(k.ID, 16))
		}
		if err := checkKeyAlg(k.Alg, pub); err != nil {
			return bad("key %s: %v", k.ID, err)
		}
		if k.Region == "" || k.Region == RootRegion || !k.NotAfter.After(k.NotBefore) {
			return bad("key %s: bad region %q or validity %s – %s", k.ID, clip(k.Region, 16), stamp(k.NotBefore), stamp(k.NotAfter))
		}
		if ix.keys[k.ID] != nil || ix.revoked[k.ID] || k.ID == tl.Root.ID {
			return bad("key %s listed twice, or both trusted and revoked, or is the root", k.ID)
		}
		vk, err := newVerifyKey(pub)
		if err != nil {
			return bad("key %s: %v", k.ID, err)
		}
		e := &trustedEntry{key: k, vk: vk}
		ix.keys[k.ID] = e
		raw, _ := hex.DecodeString(k.ID) // k.ID == kidOf(...): 8 lower-case hex digits
		ix.keysByKid[[4]byte(raw)] = e
	}
	return ix, nil
}

// lookup returns the trusted key with the raw kid.
func (tl *TrustList) lookup(kid [4]byte) (*trustedEntry, *Error) {
	if tl == nil {
		return nil, reject(CodeBadTrustList, "no trust list")
	}
	ix, e := tl.index()
	if e != nil {
		return nil, e
	}
	if ix.revokedByKid[kid] {
		return nil, reject(CodeRevokedKey, "key %x is revoked (trust list serial %d)", kid, tl.Serial)
	}
	k := ix.keysByKid[kid]
	if k == nil {
		return nil, reject(CodeUnknownKey, "key %x is not in the trust list (serial %d)", kid, tl.Serial)
	}
	return k, nil
}

// Key returns the trusted key with id kid, if the list has it.
func (tl *TrustList) Key(kid string) (TrustedKey, bool) {
	if tl == nil {
		return TrustedKey{}, false
	}
	ix, e := tl.index()
	if e != nil || ix.revoked[kid] || ix.keys[kid] == nil {
		return TrustedKey{}, false
	}
	return ix.keys[kid].key, true
}

// Replaces reports whether tl may replace old in a verifier's cache: it
// needs the same root and a serial no lower than old's (a lower one would
// roll back revocations). It returns a bad_trust_list *Error otherwise.
func (tl *TrustList) Replaces(old *TrustList) error {
	switch {
	case old == nil:
		return nil
	case !bytes.Equal(tl.Root.Public, old.Root.Public):
		return reject(CodeBadTrustList, "root key %s differs from the current root %s", tl.Root.ID, old.Root.ID)
	case tl.Serial < old.Serial:
		return reject(CodeBadTrustList, "serial %d is older than the current %d", tl.Serial, old.Serial)
	}
	return nil
}

// The CBOR form of the signed trust list.
type tlWire struct {
	Serial  uint64      `cbor:"1,keyasint"`
	Issued  int64       `cbor:"2,keyasint"`
	Root    tlRootWire  `cbor:"3,keyasint"`
	Keys    []tlKeyWire `cbor:"4,keyasint"`
	Revoked []string    `cbor:"5,keyasint"`
}

type tlRootWire struct {
	ID     string `cbor:"1,keyasint"`
	Alg    string `cbor:"2,keyasint"`
	Public []byte `cbor:"3,keyasint"`
}

type tlKeyWire struct {
	ID        string `cbor:"1,keyasint"`
	Alg       string `cbor:"2,keyasint"`
	Region    string `cbor:"3,keyasint"`
	Public    []byte `cbor:"4,keyasint"`
	NotBefore int64  `cbor:"5,keyasint"`
	NotAfter  int64  `cbor:"6,keyasint"`
}

// The JSON trust list document: readable fields plus "signed", the
// standard base64 of the COSE_Sign1 over tlWire.
type tlJSON struct {
	Format  string      `json:"format"`
	Serial  uint64      `json:"serial"`
	Issued  time.Time   `json:"issued"`
	Root    tlRootJSON  `json:"root"`
	Keys    []tlKeyJSON `json:"keys"`
	Revoked []string    `json:"revoked"`
	Signed  []byte      `json:"signed"`
}

type tlRootJSON struct {
	ID     string `json:"kid"`
	Alg    string `json:"alg"`
	Public []byte `json:"public"`
}

type tlKeyJSON struct {
	ID        string    `json:"kid"`
	Alg       string    `json:"alg"`
	Region    string    `json:"region"`
	Public    []byte    `json:"public"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

func utc(unix int64) time.Time { return time.Unix(unix, 0).UTC() }

func (w *tlWire) readable(signed []byte) tlJSON {
	j := tlJSON{
		Format: trustListFormat, Serial: w.Serial, Issued: utc(w.Issued),
		Root:    tlRootJSON{ID: w.Root.ID, Alg: w.Root.Alg, Public: w.Root.Public},
		Keys:    make([]tlKeyJSON, 0, len(w.Keys)),
		Revoked: append([]string{}, w.Revoked...),
		Signed:  signed,
	}
	for _, k := range w.Keys {
		j.Keys = append(j.Keys, tlKeyJSON{ID: k.ID, Alg: k.Alg, Region: k.Region, Public: k.Public, NotBefore: utc(k.NotBefore), NotAfter: utc(k.NotAfter)})
	}
	return j
}

func (w *tlWire) trustList() *TrustList {
	tl := &TrustList{
		Serial: w.Serial, Issued: utc(w.Issued),
		Root:    TrustedRoot{ID: w.Root.ID, Alg: w.Root.Alg, Public: bytes.Clone(w.Root.Public)},
		Keys:    make([]TrustedKey, 0, len(w.Keys)),
		Revoked: slices.Clone(w.Revoked),
	}
	for _, k := range w.Keys {
		tl.Keys = append(tl.Keys, TrustedKey{ID: k.ID, Alg: k.Alg, Region: k.Region, Public: bytes.Clone(k.Public), NotBefore: utc(k.NotBefore), NotAfter: utc(k.NotAfter)})
	}
	return tl
}

// TrustList issues the signed trust list at time now, as the JSON document
// served to verifiers. It lists the root key, every key that is not revoked
// and not past its NotAfter at now, and the ids of all revoked keys, signed
// by the root key. The serial is incremented (and persisted) whenever that
// content differs from the last issued list's.
func (ks *Keystore) TrustList(now time.Time) ([]byte, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	root := ks.st.root()
	w := tlWire{
		Root:    tlRootWire{ID: root.ID, Alg: root.Alg, Public: root.pubDER},
		Keys:    []tlKeyWire{},
		Revoked: []string{},
	}
	cutoff := secs(now)
	for _, k := range ks.st.keys {
		switch {
		case k.Region == RootRegion:
		case k.Revoked:
			w.Revoked = append(w.Revoked, k.ID)
		case !k.NotAfter.Before(cutoff):
			w.Keys = append(w.Keys, tlKeyWire{ID: k.ID, Alg: k.Alg, Region: k.Region, Public: k.pubDER, NotBefore: k.NotBefore.Unix(), NotAfter: k.NotAfter.Unix()})
		}
	}
	slices.SortFunc(w.Keys, func(a, b tlKeyWire) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.NotBefore, b.NotBefore), cmp.Compare(a.ID, b.ID))
	})
	sort.Strings(w.Revoked)
	content, err := encMode.Marshal([]any{w.Root, w.Keys, w.Revoked})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(content)
	if !bytes.Equal(sum[:], ks.st.listHash) {
		if err := ks.update(func(st *ksState) error {
			st.serial++
			st.listHash = sum[:]
			return nil
		}); err != nil {
			return nil, err
		}
	}
	w.Serial = ks.st.serial
	w.Issued = cutoff.Unix()
	payload, err := encMode.Marshal(w)
	if err != nil {
		return nil, err
	}
	s, err := newCOSESigner(root.Alg, root.priv)
	if err != nil {
		return nil, err
	}
	kid, _ := hex.DecodeString(root.ID)
	raw, err := sign1(s, kid, trustListAAD, payload)
	if err != nil {
		return nil, fmt.Errorf("codesign: sign trust list: %w", err)
	}
	out, err := json.MarshalIndent(w.readable(raw), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// algOfKey names the algorithm of a public key.
func algOfKey(pub crypto.PublicKey) string {
	switch pub.(type) {
	case ed25519.PublicKey:
		return AlgEdDSA
	case *ecdsa.PublicKey:
		return AlgES256
	}
	return ""
}

// ParseTrustList parses and verifies a trust list document. The signature
// is checked against pinnedRoot (the PKIX DER of the root public key) if it
// is not nil, and the list's root must then be that key. With a nil
// pinnedRoot the signature is checked against the root key embedded in the
// signed payload itself, which proves only that the list is intact, not who
// issued it: verifiers should pin the root.
//
// Only the signed payload is used. The readable fields are for people; if
// any of them (or any extra field) disagrees with the signed payload, the
// list is refused. Every failure is a bad_trust_list *Error.
func ParseTrustList(data []byte, pinnedRoot []byte) (*TrustList, error) {
	bad := func(format string, args ...any) (*TrustList, error) {
		return nil, reject(CodeBadTrustList, format, args...)
	}
	if len(data) > MaxTrustListSize {
		return bad("document of %d bytes is larger than %d", len(data), MaxTrustListSize)
	}
	doc, err := decodeJSONObject(data)
	if err != nil {
		return bad("not a JSON trust list: %v", err)
	}
	signedText, ok := doc["signed"].(string)
	if !ok {
		return bad(`no "signed" field`)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(signedText)
	if err != nil {
		return bad(`"signed" is not base64: %v`, err)
	}
	m, err := parseSign1(raw)
	if err != nil {
		return bad("signed list: %v", err)
	}
	var w tlWire
	if err := decodeCanonical(m.payload, &w); err != nil {
		return bad("signed list payload: %v", err)
	}
	rootPub, err := x509.ParsePKIXPublicKey(w.Root.Public)
	if err != nil {
		return bad("root public key: %v", err)
	}
	if err := checkKeyAlg(w.Root.Alg, rootPub); err != nil {
		return bad("root key: %v", err)
	}
	if kidOf(w.Root.Public) != w.Root.ID || m.kidHex() != w.Root.ID {
		return bad("root kid %q, signing kid %s and root public key disagree", clip(w.Root.ID, 16), m.kidHex())
	}
	verifyPub := rootPub
	if pinnedRoot != nil {
		if verifyPub, err = x509.ParsePKIXPublicKey(pinnedRoot); err != nil {
			return bad("pinned root is not a PKIX public key: %v", err)
		}
	}
	if _, err := coseAlg(algOfKey(verifyPub)); err != nil {
		return bad("root key: %v", err)
	}
	vk, err := newVerifyKey(verifyPub)
	if err != nil {
		return bad("root key: %v", err)
	}
	if _, err := m.verify(vk, trustListAAD, nil); err != nil {
		if pinnedRoot != nil {
			return bad("signature does not verify against the pinned root key: %v", err)
		}
		return bad("signature does not verify against the embedded root key: %v", err)
	}
	if pinnedRoot != nil && !bytes.Equal(pinnedRoot, w.Root.Public) {
		return bad("the list's root key %s is not the pinned root", w.Root.ID)
	}
	tl := w.trustList()
	if _, e := tl.index(); e != nil {
		return nil, e
	}
	if field, err := compareReadable(doc, w.readable(raw)); err != nil {
		return bad("readable fields: %v", err)
	} else if field != "" {
		return bad("readable field %q disagrees with the signed list", field)
	}
	return tl, nil
}

// compareReadable compares the parsed document with the readable form of
// the signed payload and returns the first differing top-level field.
func compareReadable(doc map[string]any, want tlJSON) (string, error) {
	b, err := json.Marshal(want)
	if err != nil {
		return "", err
	}
	exp, err := decodeJSONObject(b)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(doc)+len(exp))
	for k := range doc {
		names = append(names, k)
	}
	for k := range exp {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !reflect.DeepEqual(doc[k], exp[k]) {
			return k, nil
		}
	}
	return "", nil
}

// decodeJSONObject decodes one JSON object, keeping numbers exact and
// refusing duplicate member names (which different parsers resolve
// differently) and trailing data.
func decodeJSONObject(data []byte) (map[string]any, error) {
	if err := checkJSONDuplicates(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, errors.New("not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the object")
	}
	return doc, nil
}

func checkJSONDuplicates(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > 16 {
			return errors.New("nested too deeply")
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		seen := map[string]bool{}
		for dec.More() {
			if d == '{' {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				name, _ := kt.(string)
				if seen[name] {
					return fmt.Errorf("member %q appears twice", clip(name, 32))
				}
				seen[name] = true
			}
			if err := walk(depth + 1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return walk(0)
}
