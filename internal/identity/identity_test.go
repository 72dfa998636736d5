package identity

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFileCreatedPrivateAndReused(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: got %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(dir, "")
	if err != nil || string(k1) != string(k2) {
		t.Errorf("second load: got a different key or %v", err)
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	if _, err := LoadOrCreateKey(dir, ""); err == nil || !strings.Contains(err.Error(), "want 0600") {
		t.Errorf("world-readable key file: got %v, want a refusal", err)
	}
}

func TestEnvKey(t *testing.T) {
	cases := []struct {
		name, key string
		ok        bool
	}{
		{"valid", strings.Repeat("ab", 32), true},
		{"short", "abcd", false},
		{"not hex", strings.Repeat("zz", 32), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadOrCreateKey(t.TempDir(), c.key)
			if (err == nil) != c.ok {
				t.Errorf("got %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func vault(t *testing.T, b byte) *Vault {
	k := make([]byte, 32)
	k[0] = b
	v, err := NewVault(k)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSealOpen(t *testing.T) {
	v := vault(t, 1)
	id := Identity{IDNumber: "11010519491231002X", Name: "张三", Phone: "13800138000"}
	h := v.HashID(id.IDNumber)
	blob, err := v.Seal(id, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(blob), "张三") || strings.Contains(string(blob), "13800138000") || strings.Contains(string(blob), "1101051949") {
		t.Fatal("sealed blob contains identity in clear")
	}
	got, err := v.Open(blob, h[:])
	if err != nil || got != id {
		t.Fatalf("open: got %+v %v, want %+v", got, err, id)
	}
	blob[len(blob)-1] ^= 1
	if _, err := v.Open(blob, h[:]); err == nil {
		t.Error("altered blob opened")
	}
	blob[len(blob)-1] ^= 1
	other := v.HashID("other")
	if _, err := v.Open(blob, other[:]); err == nil {
		t.Error("blob opened under another ID hash (AAD not bound)")
	}
	if _, err := vault(t, 2).Open(blob, h[:]); err == nil {
		t.Error("blob opened under another key")
	}
}

func TestHashIDIsKeyed(t *testing.T) {
	a, b := vault(t, 1), vault(t, 2)
	if a.HashID("x") != a.HashID("x") {
		t.Error("hash not deterministic")
	}
	if a.HashID("x") == b.HashID("x") {
		t.Error("hash does not depend on the key")
	}
}

func TestPersonToken(t *testing.T) {
	v := vault(t, 1)
	tok := v.PersonToken(42)
	if p, ok := v.CheckPersonToken(tok); !ok || p != 42 {
		t.Fatalf("valid token: got %d %v", p, ok)
	}
	bad := map[string]string{
		"other key":     vault(t, 2).PersonToken(42),
		"other person":  strings.Replace(tok, ".42.", ".43.", 1),
		"truncated mac": tok[:len(tok)-1],
		"no prefix":     strings.TrimPrefix(tok, "pt1."),
		"zero person":   "pt1.0." + strings.Split(tok, ".")[2],
		"empty":         "",
	}
	for name, b := range bad {
		if _, ok := v.CheckPersonToken(b); ok {
			t.Errorf("%s: token accepted", name)
		}
	}
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{"张三": "张*", "欧阳娜娜": "欧***", "李": "*", "": "", "Alice": "A****"} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q): got %q, want %q", in, got, want)
		}
	}
}

// A token pseudonym is fresh every time (verifiers cannot link two tokens of
// one person) and opens back to the person only with the vault's key.
func TestPseudonym(t *testing.T) {
	v := vault(t, 1)
	a, b := v.Pseudonym(42, 1_700_000_000), v.Pseudonym(42, 1_700_000_000)
	if len(a) != PseudonymSize || bytes.Equal(a, b) {
		t.Fatalf("pseudonyms %x and %x: want two different 16-byte values", a, b)
	}
	p, at, ok := v.OpenPseudonym(a)
	if !ok || p != 42 || at != 1_700_000_000 {
		t.Fatalf("OpenPseudonym: got %d %d %v, want 42 1700000000 true", p, at, ok)
	}
	other := vault(t, 2)
	if p, _, _ := other.OpenPseudonym(a); p == 42 {
		t.Error("another key opened the pseudonym to the same person")
	}
	if _, _, ok := v.OpenPseudonym(a[:15]); ok {
		t.Error("a short pseudonym was accepted")
	}
}
