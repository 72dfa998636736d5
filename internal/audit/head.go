package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Head is a signed tree head: the size and root hash of the log at a time,
// and the signed note that says so, which is what counts.
type Head struct {
	Origin string    // the log's name, e.g. "healthcode/440000 audit"
	Size   int64     // events covered: seqs 1 .. Size
	Root   tlog.Hash // RFC 6962 tree hash of the first Size leaves
	Time   time.Time // when the node signed it (UTC, second precision)
	Note   []byte    // the signed note: the checkpoint text and its signature line
}

// Origin returns the checkpoint origin line of the audit log of the node
// serving region: "healthcode/<region> audit".
func Origin(region string) string { return "healthcode/" + region + " audit" }

// KeyName returns the note key name of the audit key of the node serving
// region: "healthcode-<region>-audit" (key names have no spaces).
func KeyName(region string) string { return "healthcode-" + region + "-audit" }

// headText formats the checkpoint: origin, size, base64 root hash, then one
// extension line with the signing time. Each line ends in a newline.
func headText(origin string, size int64, root tlog.Hash, at time.Time) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\ntime %s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]), at.UTC().Format(time.RFC3339))
}

// SignHead signs the head of a log: origin, size, root and time (truncated
// to the second). It returns an error if the origin is not one line or the
// signer fails.
func SignHead(s note.Signer, origin string, size int64, root tlog.Hash, at time.Time) (Head, error) {
	if origin == "" || strings.ContainsAny(origin, "\n") {
		return Head{}, fmt.Errorf("audit: origin %q must be one non-empty line", origin)
	}
	at = at.UTC().Truncate(time.Second)
	msg, err := note.Sign(&note.Note{Text: string(headText(origin, size, root, at))}, s)
	if err != nil {
		return Head{}, fmt.Errorf("audit: sign head: %w", err)
	}
	return Head{Origin: origin, Size: size, Root: root, Time: at, Note: msg}, nil
}

// OpenHead checks the signature of a signed head note with v and parses
// it. It returns an error if the note is not signed by v's key, the
// signature does not verify, or the text is not a checkpoint.
func OpenHead(msg []byte, v note.Verifier) (Head, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unknown *note.UnknownVerifierError
		if errors.As(err, &unknown) {
			return Head{}, fmt.Errorf("audit: the head is not signed by key %s: %w", v.Name(), err)
		}
		return Head{}, fmt.Errorf("audit: head signature: %w", err)
	}
	h, err := parseHeadText(n.Text)
	if err != nil {
		return Head{}, err
	}
	h.Note = bytes.Clone(msg)
	return h, nil
}

func parseHeadText(text string) (Head, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Head{}, errors.New("audit: malformed head: want origin, size and root lines")
	}
	var h Head
	h.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return Head{}, fmt.Errorf("audit: malformed head size %q", lines[1])
	}
	h.Size = size
	r, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(r) != tlog.HashSize {
		return Head{}, fmt.Errorf("audit: malformed head root %q", lines[2])
	}
	copy(h.Root[:], r)
	for _, l := range lines[3:] {
		if t, ok := strings.CutPrefix(l, "time "); ok {
			if h.Time, err = time.Parse(time.RFC3339, t); err != nil {
				return Head{}, fmt.Errorf("audit: malformed head time %q", t)
			}
		}
	}
	return h, nil
}

// KeyFile is the name of the audit signing key file in a data directory.
const KeyFile = "audit.key"

// Key is a node's audit signing key.
type Key struct {
	Signer      note.Signer
	Verifier    note.Verifier
	VerifierKey string // the public key as a note verifier key: name+hash+base64
}

// LoadOrCreateKey returns the audit signing key. If skey is not empty it is
// used (a note private key "PRIVATE+KEY+name+hash+base64", e.g. from
// HEALTHCODE_AUDIT_KEY); otherwise the key is read from dir/audit.key,
// which is created on first start with a new Ed25519 key named name and
// mode 0600. It returns an error for a malformed key or a key file readable
// by others.
func LoadOrCreateKey(dir, name, skey string) (*Key, error) {
	if skey != "" {
		return ParseKey(strings.TrimSpace(skey))
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		sk, _, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			return nil, fmt.Errorf("audit: generate key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit: create key file: %w", err)
		}
		if _, err := f.WriteString(sk + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: write key file: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: sync key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("audit: close key file: %w", err)
		}
		return ParseKey(sk)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read key file: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit: key file %s has mode %v; want 0600", path, st.Mode().Perm())
	}
	k, err := ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("audit: key file %s: %w", path, err)
	}
	return k, nil
}

// ReadVerifierKey returns the verifier (public) key of the audit key in
// dir/audit.key, for checking heads without a running node. It returns an
// error if the file is missing or malformed.
func ReadVerifierKey(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return "", fmt.Errorf("audit: read key file: %w", err)
	}
	k, err := ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("audit: key file %s: %w", filepath.Join(dir, KeyFile), err)
	}
	return k.VerifierKey, nil
}

// ParseKey parses a note private key (Ed25519) and derives its verifier
// key. It returns an error if skey is not an Ed25519 note private key.
func ParseKey(skey string) (*Key, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	// PRIVATE+KEY+name+hash+base64(alg || seed): the verifier key is the
	// same with the public key, which the seed gives.
	// (base64 has '+' too: cut the four fields before it.)
	rest := skey
	for range 4 {
		_, rest, _ = strings.Cut(rest, "+")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("audit: signing key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	return &Key{Signer: s, Verifier: v, VerifierKey: vkey}, nil
}

// NewVerifier parses a verifier key (name+hash+base64, as in the head's
// "key" field). It returns an error if the key is malformed.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	return v, nil
}
