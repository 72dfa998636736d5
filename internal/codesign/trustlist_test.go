package codesign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTrustListRoundTrip(t *testing.T) {
	f := newFixture(t)
	data, err := f.ks.TrustList(t0)
	if err != nil {
		t.Fatal(err)
	}
	root := f.ks.Root()
	for _, pin := range [][]byte{root.PublicDER(), nil} {
		tl, err := ParseTrustList(data, pin)
		if err != nil {
			t.Fatalf("pinned=%v: %v", pin != nil, err)
		}
		if tl.Serial != 1 || !tl.Issued.Equal(t0) || tl.Root.ID != root.ID || tl.Root.Alg != AlgEdDSA || len(tl.Keys) != 2 || len(tl.Revoked) != 0 {
			t.Fatalf("parsed %+v", tl)
		}
		for _, k := range tl.Keys {
			if !k.NotBefore.Equal(t0) || !k.NotAfter.Equal(t0.Add(90*24*time.Hour)) {
				t.Fatalf("key %+v", k)
			}
		}
	}
	// The document is readable JSON with the expected fields.
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"format", "serial", "issued", "root", "keys", "revoked", "signed"} {
		if _, ok := doc[field]; !ok {
			t.Errorf("no %q field", field)
		}
	}
	t.Logf("trust list with 2 keys: %d bytes", len(data))

	// Same content, same serial; new content, next serial.
	again, _ := f.ks.TrustList(t0.Add(time.Hour))
	tl2, err := ParseTrustList(again, root.PublicDER())
	if err != nil || tl2.Serial != 1 {
		t.Fatalf("unchanged list: serial %d, %v", tl2.Serial, err)
	}
	if _, err := f.ks.Generate(AlgEdDSA, "120000", t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if tl3 := f.list(t, t0); tl3.Serial != 2 {
		t.Fatalf("changed list: serial %d, want 2", tl3.Serial)
	}
}

// editJSON decodes the document, applies fn and re-encodes it.
func editJSON(t *testing.T, data []byte, fn func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	fn(doc)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTrustListTamper(t *testing.T) {
	f := newFixture(t)
	if err := f.ks.Revoke(f.signer(t, regionEC).Key().ID, t0); err != nil {
		t.Fatal(err)
	}
	data, err := f.ks.TrustList(t0)
	if err != nil {
		t.Fatal(err)
	}
	pin := f.ks.Root().PublicDER()
	other := newFixture(t)
	otherData, err := other.ks.TrustList(t0)
	if err != nil {
		t.Fatal(err)
	}
	otherPin := other.ks.Root().PublicDER()

	// Re-encoding the document without changing it is fine (whitespace
	// and member order do not matter).
	if _, err := ParseTrustList(editJSON(t, data, func(map[string]any) {}), pin); err != nil {
		t.Fatalf("re-encoded list refused: %v", err)
	}

	flipSig := func(doc map[string]any) {
		raw, _ := base64.StdEncoding.DecodeString(doc["signed"].(string))
		raw[len(raw)-1] ^= 1
		doc["signed"] = base64.StdEncoding.EncodeToString(raw)
	}
	flipPayload := func(doc map[string]any) {
		raw, _ := base64.StdEncoding.DecodeString(doc["signed"].(string))
		raw[len(raw)/2] ^= 1
		doc["signed"] = base64.StdEncoding.EncodeToString(raw)
	}
	cases := []struct {
		name string
		data []byte
		pin  []byte
	}{
		{"serial edited", editJSON(t, data, func(d map[string]any) { d["serial"] = json.Number("99") }), pin},
		{"region edited", editJSON(t, data, func(d map[string]any) { d["keys"].([]any)[0].(map[string]any)["region"] = "110000" }), pin},
		{"not_after edited", editJSON(t, data, func(d map[string]any) {
			d["keys"].([]any)[0].(map[string]any)["not_after"] = "2099-01-01T00:00:00Z"
		}), pin},
		{"revocation hidden", editJSON(t, data, func(d map[string]any) { d["revoked"] = []any{} }), pin},
		{"key added", editJSON(t, data, func(d map[string]any) {
			d["keys"] = append(d["keys"].([]any), d["keys"].([]any)[0])
		}), pin},
		{"extra field", editJSON(t, data, func(d map[string]any) { d["note"] = "trust me" }), pin},
		{"field removed", editJSON(t, data, func(d map[string]any) { delete(d, "issued") }), pin},
		{"signature byte flipped", editJSON(t, data, flipSig), pin},
		{"signature byte flipped, unpinned", editJSON(t, data, flipSig), nil},
		{"payload byte flipped", editJSON(t, data, flipPayload), pin},
		{"payload byte flipped, unpinned", editJSON(t, data, flipPayload), nil},
		{"wrong pinned root", data, otherPin},
		{"other node's list", otherData, pin},
		{"pinned root not a key", data, []byte("not a key")},
		{"signed from another list", editJSON(t, data, func(d map[string]any) {
			var o map[string]any
			_ = json.Unmarshal(otherData, &o)
			d["signed"] = o["signed"]
		}), pin},
		{"duplicate member", bytes.Replace(data, []byte(`"serial": 1,`), []byte(`"serial": 1, "serial": 1,`), 1), pin},
		{"trailing data", append(bytes.Clone(data), []byte("{}")...), pin},
		{"not JSON", []byte("HCC1:"), pin},
		{"no signed field", editJSON(t, data, func(d map[string]any) { delete(d, "signed") }), pin},
		{"signed not base64", editJSON(t, data, func(d map[string]any) { d["signed"] = "!!" }), pin},
		{"empty", nil, pin},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl, err := ParseTrustList(c.data, c.pin)
			wantCode(t, err, CodeBadTrustList)
			t.Log(err)
			if tl != nil {
				t.Fatal("list returned with an error")
			}
		})
	}

	// Unpinned, another node's list verifies (integrity only) — and its
	// keys are that node's, so this node's tokens are unknown to it.
	otl, err := ParseTrustList(otherData, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(signCode(t, f.signer(t, regionEd), sampleClaims(t, t0)), otl, t0)
	wantCode(t, err, CodeUnknownKey)
}

// A list built by hand with a bad key is refused at first use.
func TestTrustListBadKey(t *testing.T) {
	f := newFixture(t)
	good := f.list(t, t0)
	tok := signCode(t, f.signer(t, regionEd), sampleClaims(t, t0))
	k := good.Keys[0]
	for name, mod := range map[string]func(k *TrustedKey){
		"kid mismatch": func(k *TrustedKey) { k.ID = "00000000" },
		"alg mismatch": func(k *TrustedKey) { k.Alg = map[string]string{AlgEdDSA: AlgES256, AlgES256: AlgEdDSA}[k.Alg] },
		"bad public":   func(k *TrustedKey) { k.Public = []byte{1, 2, 3} },
		"no validity":  func(k *TrustedKey) { k.NotAfter = k.NotBefore },
		"root region":  func(k *TrustedKey) { k.Region = RootRegion },
		"empty region": func(k *TrustedKey) { k.Region = "" },
	} {
		kk := k
		mod(&kk)
		tl := &TrustList{Root: good.Root, Keys: []TrustedKey{kk, good.Keys[1]}}
		_, err := Verify(tok, tl, t0)
		if ErrorCode(err) != CodeBadTrustList {
			t.Errorf("%s: got %v", name, err)
		}
	}
	tl := &TrustList{Root: good.Root, Keys: good.Keys, Revoked: []string{good.Keys[0].ID}}
	if _, err := Verify(tok, tl, t0); ErrorCode(err) != CodeBadTrustList {
		t.Errorf("key both trusted and revoked: got %v", err)
	}
	if !strings.Contains(string(mustList(t, f)), `"signed"`) {
		t.Fatal("no signed field")
	}
}

func mustList(t *testing.T, f *fixture) []byte {
	data, err := f.ks.TrustList(t0)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
