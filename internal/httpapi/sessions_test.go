package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"healthcode/internal/node"
	"healthcode/internal/staff"
)

const staffPassword = "correct horse battery staple"

func (e *env) addAccount(user, roles, region string) (totpSecret string) {
	e.t.Helper()
	rs, err := staff.ParseRoles(roles)
	if err != nil {
		e.t.Fatal(err)
	}
	_, url, err := e.node.AddAccount(context.Background(), "test", node.AccountInput{Username: user, Roles: rs, Region: region, Password: staffPassword})
	if err != nil {
		e.t.Fatal(err)
	}
	if url == "" {
		return ""
	}
	s, err := staff.TOTPSecretOf(url)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	secret := e.addAccount("li.ming", "official", "440106")
	e.addAccount("wang", "investigator", "440100")
	code, err := staff.TOTPCode(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/api/v1/sessions", "", map[string]string{"username": "li.ming", "password": staffPassword, "otp": code})
	if r.status != 201 {
		t.Fatalf("login: got %d %s", r.status, r.body)
	}
	m := r.json(t)
	tok, _ := m["token"].(string)
	if p, ok := e.node.Authenticate(tok); !ok || p.Username != "li.ming" || p.Region != "440106" {
		t.Errorf("the token authenticates as %+v, %v", p, ok)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control: got %q", r.header.Get("Cache-Control"))
	}
	// The same code again is a replay.
	r = e.do("POST", "/api/v1/sessions", "", map[string]string{"username": "li.ming", "password": staffPassword, "otp": code})
	if c, _ := r.errCode(t); r.status != 401 || c != "invalid_credentials" {
		t.Errorf("replayed code: got %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/sessions", "", map[string]string{"username": "wang", "password": staffPassword}); r.status != 201 {
		t.Errorf("login without a second factor: got %d %s", r.status, r.body)
	}
	bad := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"missing password", map[string]string{"username": "wang"}, 400, "missing_field"},
		{"unknown field", map[string]string{"username": "wang", "password": "x", "token": "y"}, 400, "unknown_field"},
		{"not json", "{", 400, "malformed_json"},
		{"unknown user", map[string]string{"username": "nobody", "password": staffPassword}, 401, "invalid_credentials"},
		{"not a username", map[string]string{"username": strings.Repeat("x", 100), "password": staffPassword}, 401, "invalid_credentials"},
	}
	for _, b := range bad {
		r := e.do("POST", "/api/v1/sessions", "", b.body)
		if c, _ := r.errCode(t); r.status != b.status || c != b.code {
			t.Errorf("%s: got %d %s, want %d %s", b.name, r.status, r.body, b.status, b.code)
		}
	}
}

func TestLoginLockedIs429(t *testing.T) {
	e := newEnv(t)
	e.addAccount("wang", "investigator", "440100")
	for i := 0; i < 5; i++ {
		r := e.do("POST", "/api/v1/sessions", "", map[string]string{"username": "wang", "password": "wrong password!!"})
		if r.status != 401 {
			t.Fatalf("failure %d: got %d %s", i+1, r.status, r.body)
		}
	}
	r := e.do("POST", "/api/v1/sessions", "", map[string]string{"username": "wang", "password": staffPassword})
	if c, _ := r.errCode(t); r.status != 429 || c != "too_many_attempts" || r.header.Get("Retry-After") != "900" {
		t.Fatalf("locked: got %d Retry-After %q %s, want 429 after 900 s", r.status, r.header.Get("Retry-After"), r.body)
	}
}

// GET /api/v1/events/{id} shows account events without their credentials.
func TestAccountEventsHideCredentials(t *testing.T) {
	e := newEnv(t)
	e.addAccount("li.ming", "official", "440106")
	r := e.do("GET", "/api/v1/events/e1", adminToken, nil)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["kind"] != "account_created" || m["region"] != "440106" {
		t.Errorf("got %v", m)
	}
	data, _ := m["data"].(map[string]any)
	if data["username"] != "li.ming" {
		t.Errorf("data: got %v", data)
	}
	for _, secret := range []string{"argon2id", "password", "totp"} {
		if strings.Contains(string(r.body), secret) {
			t.Errorf("the event shows %q: %s", secret, r.body)
		}
	}
}
