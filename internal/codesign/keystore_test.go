package codesign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// privateSecrets returns the byte strings that must never appear in clear
// in the keystore file for a private key: the raw secret, its PKCS#8 DER,
// and their base64 and hex forms.
func privateSecrets(t *testing.T, k *Key) [][]byte {
	t.Helper()
	var raw []byte
	switch p := k.priv.(type) {
	case ed25519.PrivateKey:
		raw = p.Seed()
	case *ecdsa.PrivateKey:
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		raw = b
	default:
		t.Fatalf("private key of type %T", k.priv)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, b := range [][]byte{raw, der} {
		out = append(out, b, []byte(base64.StdEncoding.EncodeToString(b)), []byte(hex.EncodeToString(b)))
	}
	return out
}

func TestKeystoreFile(t *testing.T) {
	f := newFixture(t)
	st, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("keystore mode %v, want 0600", st.Mode().Perm())
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	keys := 0
	for _, k := range f.ks.st.keys {
		if k.priv == nil {
			continue
		}
		keys++
		for _, secret := range privateSecrets(t, k) {
			if bytes.Contains(data, secret) {
				t.Fatalf("keystore file contains private key material of %s in clear", k.ID)
			}
		}
	}
	if keys != 3 {
		t.Fatalf("%d private keys, want 3 (root, %s, %s)", keys, regionEd, regionEC)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(f.path), ".*tmp")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	// Reopen with the same key-encryption key: same keys, and they sign
	// tokens the earlier trust list accepts.
	tl := f.list(t, t0)
	again, err := OpenKeystore(f.path, f.kek)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keyIDs(again.Keys()), keyIDs(f.ks.Keys())) {
		t.Fatalf("reopened keys %v, want %v", keyIDs(again.Keys()), keyIDs(f.ks.Keys()))
	}
	for _, region := range []string{regionEd, regionEC} {
		s, err := again.Active(region)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(signCode(t, s, sampleClaims(t, t0)), tl, t0); err != nil {
			t.Fatalf("token from the reopened keystore: %v", err)
		}
	}

	// A wrong key-encryption key is refused.
	if _, err := OpenKeystore(f.path, randomKEK(t)); err == nil {
		t.Fatal("opened with a wrong key-encryption key")
	}
	if _, err := OpenKeystore(f.path, f.kek[:16]); err == nil {
		t.Fatal("opened with a 16-byte key-encryption key")
	}

	// A file readable by others is refused.
	if err := os.Chmod(f.path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeystore(f.path, f.kek); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("opened a 0644 keystore: %v", err)
	}
}

func keyIDs(keys []Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Region+"/"+k.ID)
	}
	return out
}

// Swapping or altering sealed keys is detected: the kid is the AAD.
func TestKeystoreTamper(t *testing.T) {
	f := newFixture(t)
	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	var doc ksFile
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit := func(name string, fn func(d *ksFile)) {
		var d ksFile
		_ = json.Unmarshal(data, &d)
		fn(&d)
		b, _ := json.Marshal(d)
		p := filepath.Join(t.TempDir(), "ks.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKeystore(p, f.kek); err == nil {
			t.Errorf("%s: opened", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	var a, b int = -1, -1
	for i, k := range doc.Keys {
		if k.Sealed != nil && k.Region != RootRegion {
			if a < 0 {
				a = i
			} else {
				b = i
			}
		}
	}
	edit("sealed keys swapped", func(d *ksFile) { d.Keys[a].Sealed, d.Keys[b].Sealed = d.Keys[b].Sealed, d.Keys[a].Sealed })
	edit("sealed byte flipped", func(d *ksFile) { d.Keys[a].Sealed[20] ^= 1 })
	edit("public key replaced", func(d *ksFile) { d.Keys[a].Public = d.Keys[b].Public })
	edit("kek check altered", func(d *ksFile) { d.KEKCheck[15] ^= 1 })
	edit("no root", func(d *ksFile) { d.Keys = d.Keys[1:] })
	edit("two active keys", func(d *ksFile) { d.Keys[b].Region = d.Keys[a].Region })
}

func TestGenerateRefuses(t *testing.T) {
	f := newFixture(t)
	for name, fn := range map[string]func() error{
		"root region":   func() error { _, err := f.ks.Generate(AlgEdDSA, RootRegion, t0, time.Hour); return err },
		"empty region":  func() error { _, err := f.ks.Generate(AlgEdDSA, "", t0, time.Hour); return err },
		"RSA":           func() error { _, err := f.ks.Generate("PS256", "120000", t0, time.Hour); return err },
		"no validity":   func() error { _, err := f.ks.Generate(AlgEdDSA, "120000", t0, 0); return err },
		"rotate none":   func() error { _, err := f.ks.Rotate("990000", t0); return err },
		"revoke root":   func() error { return f.ks.Revoke(f.ks.Root().ID, t0) },
		"revoke absent": func() error { return f.ks.Revoke("00000000", t0) },
		"active none":   func() error { _, err := f.ks.Active("990000"); return err },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Rotation: the old key stops signing, its tokens keep verifying until the
// old key's (shortened) NotAfter, and it then leaves the trust list.
func TestRotation(t *testing.T) {
	f := newFixture(t)
	oldSigner := f.signer(t, regionEd)
	oldKID := oldSigner.Key().ID
	oldTok := signCode(t, oldSigner, sampleClaims(t, t0)) // valid until t0+24h

	rot := t0.Add(time.Hour)
	nk, err := f.ks.Rotate(regionEd, rot)
	if err != nil {
		t.Fatal(err)
	}
	if nk.ID == oldKID || nk.Alg != AlgEdDSA || !nk.Active || nk.NotAfter.Sub(nk.NotBefore) != 90*24*time.Hour {
		t.Fatalf("rotated key %+v", nk)
	}
	if s := f.signer(t, regionEd); s.Key().ID != nk.ID {
		t.Fatalf("active key %s after rotation, want %s", s.Key().ID, nk.ID)
	}
	var old Key
	for _, k := range f.ks.Keys() {
		if k.ID == oldKID {
			old = k
		}
	}
	if old.Active || !old.NotAfter.Equal(rot.Add(DefaultMaxTokenLifetime)) {
		t.Fatalf("old key after rotation: %+v", old)
	}
	for _, k := range f.ks.st.keys {
		if k.ID == oldKID && (k.priv != nil || k.sealed != nil) {
			t.Fatal("the retired key's private key was kept")
		}
	}

	tl := f.list(t, rot)
	if _, ok := tl.Key(oldKID); !ok {
		t.Fatal("old key left the trust list at rotation")
	}
	if _, err := Verify(oldTok, tl, t0.Add(23*time.Hour)); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	newTok := signCode(t, f.signer(t, regionEd), sampleClaims(t, rot))
	if _, err := Verify(newTok, tl, rot); err != nil {
		t.Fatalf("new token: %v", err)
	}

	// After the old key's NotAfter it is no longer listed.
	later := rot.Add(DefaultMaxTokenLifetime + time.Second)
	tl2 := f.list(t, later)
	if _, ok := tl2.Key(oldKID); ok {
		t.Fatal("old key still listed after its NotAfter")
	}
	if tl2.Serial <= tl.Serial {
		t.Fatalf("serial %d after a content change, was %d", tl2.Serial, tl.Serial)
	}
	// A verifier with the older list refuses it by the key's NotAfter.
	if _, err := Verify(oldTok, tl, later); err == nil {
		t.Fatal("old token accepted after the old key's NotAfter")
	}

	// A configurable maximum lifetime.
	f.ks.SetMaxTokenLifetime(2 * time.Hour)
	s := f.signer(t, regionEC)
	if _, err := s.SignCode(sampleClaims(t, t0)); err == nil {
		t.Fatal("24h token signed under a 2h maximum lifetime")
	}
	ecOld := s.Key().ID
	if _, err := f.ks.Rotate(regionEC, rot); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.ks.Keys() {
		if k.ID == ecOld && !k.NotAfter.Equal(rot.Add(2*time.Hour)) {
			t.Fatalf("old ES256 key NotAfter %v, want rotation + 2h", k.NotAfter)
		}
	}
}

// Revocation: once a verifier loads the new list, the key's tokens are
// refused with revoked_key; a list that predates it still accepts them.
func TestRevocation(t *testing.T) {
	f := newFixture(t)
	s := f.signer(t, regionEC)
	tok := signCode(t, s, sampleClaims(t, t0))
	tl1 := f.list(t, t0)
	if _, err := Verify(tok, tl1, t0); err != nil {
		t.Fatal(err)
	}
	if err := f.ks.Revoke(s.Key().ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := f.ks.Revoke(s.Key().ID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := f.ks.Active(regionEC); err == nil {
		t.Fatal("a revoked key is still active")
	}
	tl2 := f.list(t, t0.Add(time.Minute))
	_, err := Verify(tok, tl2, t0.Add(2*time.Minute))
	wantCode(t, err, CodeRevokedKey)
	if _, err := Verify(tok, tl1, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("the old list (not yet refreshed) should still accept: %v", err)
	}
	if err := tl2.Replaces(tl1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tl1.Replaces(tl2), CodeBadTrustList)
	if !slicesContains(tl2.Revoked, s.Key().ID) {
		t.Fatalf("revoked list %v lacks %s", tl2.Revoked, s.Key().ID)
	}
	// Persisted: a reopened keystore still has it revoked.
	again, err := OpenKeystore(f.path, f.kek)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range again.Keys() {
		if k.ID == s.Key().ID && (!k.Revoked || !k.RevokedAt.Equal(t0.Add(time.Minute))) {
			t.Fatalf("reopened key %+v", k)
		}
	}
	// Tokens of other keys are unaffected.
	if _, err := Verify(signCode(t, f.signer(t, regionEd), sampleClaims(t, t0)), tl2, t0); err != nil {
		t.Fatal(err)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestDeriveKEK(t *testing.T) {
	master := bytes.Repeat([]byte{1}, 32)
	a, err := DeriveKEK(master)
	if err != nil || len(a) != 32 {
		t.Fatalf("DeriveKEK: %x, %v", a, err)
	}
	b, _ := DeriveKEK(master)
	if !bytes.Equal(a, b) || bytes.Equal(a, master) {
		t.Fatal("DeriveKEK is not a deterministic derivation")
	}
	if _, err := DeriveKEK(master[:31]); err == nil {
		t.Fatal("31-byte master key accepted")
	}
	ks, err := OpenKeystore(filepath.Join(t.TempDir(), KeystoreFile), a)
	if err != nil {
		t.Fatal(err)
	}
	if root := ks.Root(); root.Region != RootRegion || root.Alg != AlgEdDSA || !root.NotAfter.IsZero() || root.Public() == nil {
		t.Fatalf("root %+v", root)
	}
}

func TestReplacesOtherRoot(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	ta, tb := a.list(t, t0), b.list(t, t0)
	wantCode(t, tb.Replaces(ta), CodeBadTrustList)
	if err := ta.Replaces(nil); err != nil {
		t.Fatal(err)
	}
}
