package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"healthcode/internal/codesign"
)

func get(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return b
}

func run(args ...string) (string, error) {
	var out bytes.Buffer
	err := realMain(context.Background(), args, &out, io.Discard)
	return out.String(), err
}

// The whole key life cycle from the command line: a token issued by a
// running node verifies offline (payload and PNG), keys cannot change under
// a running node, a rotated key's tokens still verify, a revoked key's are
// refused once the new trust list is loaded.
func TestKeysAndOfflineVerify(t *testing.T) {
	dir := t.TempDir()
	c := startChild(t, dir)
	code, m, err := post(http.DefaultClient, c.base+"/api/v1/persons", "", map[string]string{"id_number": idNum(1), "name": "张三", "phone": "13800138000", "home_region": "440106"})
	if err != nil || code != 201 {
		t.Fatalf("enrol: %d %v %v", code, m, err)
	}
	id, tok := m["person_id"].(string), m["token"].(string)
	var cv map[string]any
	if err := json.Unmarshal(get(t, c.base+"/api/v1/persons/"+id+"/code", tok), &cv); err != nil {
		t.Fatal(err)
	}
	payload := cv["qr"].(string)
	png := filepath.Join(t.TempDir(), "code.png")
	os.WriteFile(png, get(t, c.base+"/api/v1/persons/"+id+"/code.png", tok), 0o644)
	tl1 := filepath.Join(t.TempDir(), "trust.json")
	os.WriteFile(tl1, get(t, c.base+"/api/v1/trust-list", ""), 0o644)

	if _, err := run("keys", "list", "--data", dir); err == nil || !strings.Contains(err.Error(), "running node") {
		t.Errorf("keys while the node runs: got %v, want a refusal", err)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()

	out, err := run("verify", "--trust-list", tl1, payload)
	if err != nil || !strings.Contains(out, "valid screen code: green") || !strings.Contains(out, "张*") {
		t.Fatalf("verify payload: %q %v", out, err)
	}
	if out, err := run("verify", "--trust-list", tl1, png); err != nil || !strings.Contains(out, "valid screen code") {
		t.Fatalf("verify PNG: %q %v", out, err)
	}
	raw, _ := codesign.Base45Decode(strings.TrimPrefix(payload, "HCC1:"))
	raw[len(raw)-1] ^= 1
	_, err = run("verify", "--trust-list", tl1, "HCC1:"+codesign.Base45Encode(raw))
	if err == nil || !strings.Contains(err.Error(), "bad_signature") || exitCode(err) != 1 {
		t.Errorf("altered payload: got %v, want bad_signature and exit 1", err)
	}
	if _, err := run("verify", "--trust-list", tl1); err == nil || exitCode(err) != 2 {
		t.Errorf("verify without a payload: got %v, want a usage error", err)
	}

	list, err := run("keys", "list", "--data", dir)
	if err != nil || strings.Count(list, "active") != 2 || !strings.Contains(list, "root") {
		t.Fatalf("keys list: %v\n%s", err, list)
	}
	oldKid := ""
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "440000" {
			oldKid = f[0]
		}
	}
	if out, err := run("keys", "rotate", "--data", dir, "--region", "440000"); err != nil || !strings.Contains(out, "new key") {
		t.Fatalf("rotate: %q %v", out, err)
	}
	tl2 := filepath.Join(t.TempDir(), "trust2.json")
	if _, err := run("keys", "export", "--data", dir, "--out", tl2); err != nil {
		t.Fatal(err)
	}
	if out, err := run("verify", "--trust-list", tl2, payload); err != nil {
		t.Fatalf("a token of the rotated key must verify until it expires: %q %v", out, err)
	}
	if _, err := run("keys", "revoke", "--data", dir, "--kid", oldKid); err != nil {
		t.Fatalf("revoke %s: %v", oldKid, err)
	}
	tl3 := filepath.Join(t.TempDir(), "trust3.json")
	if _, err := run("keys", "export", "--data", dir, "--out", tl3); err != nil {
		t.Fatal(err)
	}
	if _, err := run("verify", "--trust-list", tl3, payload); err == nil || !strings.Contains(err.Error(), "revoked_key") {
		t.Errorf("a revoked key's token with the new list: got %v, want revoked_key", err)
	}
	// The old list still accepts it: revocation reaches a verifier with the list.
	if _, err := run("verify", "--trust-list", tl1, payload); err != nil {
		t.Errorf("old list: %v", err)
	}
}
