package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"healthcode/internal/staff"
)

const cliPassword = "correct horse battery staple"

func passwordFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Bootstrap a node from the command line: the first national operator (with
// a TOTP secret printed once) and an investigator; then sign in over HTTP
// with what was printed.
func TestAccountsAddAndLogin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	pw := passwordFile(t, cliPassword+"\n")
	out, err := run("accounts", "add", "--data", dir, "--username", "ops", "--role", "operator,auditor", "--region", "000000", "--password-file", pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "account ops created: auditor,operator, region 000000 (national)") {
		t.Errorf("output: %s", out)
	}
	m := regexp.MustCompile(`secret: ([A-Z2-7]{32})\n\s+url:\s+(otpauth://totp/\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no TOTP secret and URL in the output:\n%s", out)
	}
	secret := m[1]
	if s, err := staff.TOTPSecretOf(m[2]); err != nil || s != secret {
		t.Errorf("the URL holds %q, %v; the secret printed is %q", s, err, secret)
	}
	out, err = run("accounts", "add", "--data", dir, "--username", "wang", "--role", "investigator", "--region", "440106", "--password-file", pw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "secret") {
		t.Errorf("an investigator got a TOTP secret:\n%s", out)
	}
	out, err = run("accounts", "list", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ops\s+auditor,operator\s+000000\s+national\s+active\s+yes`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^wang\s+investigator\s+440106\s+county\s+active\s+no`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}
	if strings.Contains(out, "argon2") {
		t.Errorf("list shows a password hash:\n%s", out)
	}

	c := startChild(t, dir)
	defer func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		c.cmd.Wait()
	}()
	hc := &http.Client{Timeout: 10 * time.Second}
	code, err := staff.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, body, err := post(hc, c.base+"/api/v1/sessions", "", map[string]string{"username": "ops", "password": cliPassword, "otp": code})
	if err != nil || st != 201 || !strings.HasPrefix(body["token"].(string), "hcs_") {
		t.Fatalf("login as ops: %d %v %v", st, body, err)
	}
	st, body, _ = post(hc, c.base+"/api/v1/sessions", "", map[string]string{"username": "ops", "password": cliPassword})
	if st != 401 {
		t.Errorf("login without the code: %d %v", st, body)
	}
	st, body, _ = post(hc, c.base+"/api/v1/sessions", "", map[string]string{"username": "wang", "password": cliPassword})
	if st != 201 {
		t.Errorf("login as wang: %d %v", st, body)
	}
}

// Bad input: a non-zero exit, a one-line message, and nothing written (a
// new data directory is not even created).
func TestAccountsAddRefusesBadInput(t *testing.T) {
	t.Setenv("HEALTHCODE_REGION", "440000") // the node's region for serve; never an account's
	good := passwordFile(t, cliPassword+"\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no username", []string{"--role", "lab", "--region", "440106"}, "needs --username"},
		{"no role", []string{"--username", "a", "--region", "440106"}, "needs --role"},
		{"region only from the environment", []string{"--username", "a", "--role", "lab"}, "needs --region"},
		{"bad username", []string{"--username", "Li Ming", "--role", "lab", "--region", "440106"}, "username: \"Li Ming\" is not a username"},
		{"unknown role", []string{"--username", "a", "--role", "admin", "--region", "440106"}, `roles: "admin" is not a role`},
		{"street region", []string{"--username", "a", "--role", "lab", "--region", "440106001"}, "is not a 6-digit GB/T 2260 code of a county or above"},
		{"unknown region", []string{"--username", "a", "--role", "lab", "--region", "110199"}, "not in the GB/T 2260 table"},
		{"short password", []string{"--username", "a", "--role", "lab", "--region", "440106", "--password-file", passwordFile(t, "short\n")}, "password: must be at least 12 characters"},
		{"empty password", []string{"--username", "a", "--role", "lab", "--region", "440106", "--password-file", passwordFile(t, "\n")}, "no password"},
		{"missing password file", []string{"--username", "a", "--role", "lab", "--region", "440106", "--password-file", "/nonexistent/pw"}, "password file"},
		{"unknown flag", []string{"--username", "a", "--colour", "red"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"accounts", "add", "--data", dir}, c.args...)
			if !contains(c.args, "--password-file") {
				args = append(args, "--password-file", good)
			}
			_, err := run(args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(oneLine(err), "\n") {
				t.Errorf("message is not one line: %q", err)
			}
			if exitCode(err) == 0 {
				t.Error("exit code 0")
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("the data directory was created")
			}
		})
	}
	t.Run("taken", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := run("accounts", "add", "--data", dir, "--username", "a", "--role", "lab", "--region", "440106", "--password-file", good); err != nil {
			t.Fatal(err)
		}
		_, err := run("accounts", "add", "--data", dir, "--username", "a", "--role", "community", "--region", "440106", "--password-file", good)
		if err == nil || !strings.Contains(err.Error(), "an account a exists") || exitCode(err) != 1 {
			t.Fatalf("got %v, want a conflict", err)
		}
		out, _ := run("accounts", "list", "--data", dir)
		if !regexp.MustCompile(`(?m)^a\s+lab\s`).MatchString(out) {
			t.Errorf("the first account changed:\n%s", out)
		}
	})
	t.Run("list without data", func(t *testing.T) {
		if _, err := run("accounts", "list", "--data", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no node data") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no action", func(t *testing.T) {
		if _, err := run("accounts"); exitCode(err) != 2 {
			t.Errorf("got %v, exit %d", err, exitCode(err))
		}
		if _, err := run("accounts", "fly", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), `unknown action "fly"`) {
			t.Errorf("got %v", err)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The password is read from stdin by default (the child process is the
// real command with a pipe for stdin).
func TestAccountsAddReadsStdin(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HEALTHCODE_TEST_MAIN=accounts add --data "+dir+" --username lims --role lab --region 440100")
	cmd.Stdin = strings.NewReader(cliPassword + "\r\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if !strings.Contains(out.String(), "account lims created: lab, region 440100 (city)") {
		t.Errorf("output: %s", out.String())
	}
	// The password read is the line without its line ending: it works.
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HEALTHCODE_TEST_MAIN=accounts add --data "+dir+" --username weak --role lab --region 440100")
	cmd.Stdin = strings.NewReader("short\n")
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	errb.Reset()
	if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "at least 12 characters") {
		t.Errorf("weak password on stdin: %v, %s", err, errb.String())
	}
}

// Suspension and API keys from the command line.
func TestAccountsSuspendAndKeys(t *testing.T) {
	dir := t.TempDir()
	pw := passwordFile(t, cliPassword)
	if _, err := run("accounts", "add", "--data", dir, "--username", "lims", "--role", "lab", "--region", "440100", "--password-file", pw); err != nil {
		t.Fatal(err)
	}
	out, err := run("accounts", "issue-key", "--data", dir, "--username", "lims", "--label", "LIMS uploader")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`API key ([0-9a-f]{16}) for lims, shown only now:\n\s+(hck_\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("issue-key output:\n%s", out)
	}
	if _, err := run("accounts", "suspend", "--data", dir, "--username", "lims"); err == nil || !strings.Contains(err.Error(), "needs --reason") {
		t.Errorf("suspend without a reason: %v", err)
	}
	if _, err := run("accounts", "suspend", "--data", dir, "--username", "lims", "--reason", "audit"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("accounts", "suspend", "--data", dir, "--username", "nobody", "--reason", "x"); err == nil || !strings.Contains(err.Error(), "no account nobody") {
		t.Errorf("suspend nobody: %v", err)
	}
	if _, err := run("accounts", "revoke-key", "--data", dir, "--key-id", m[1], "--reason", "rotated"); err != nil {
		t.Fatal(err)
	}
	out, err = run("accounts", "list", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^lims\s+lab\s+440100\s+city\s+suspended`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+m[1]+`\s+lims\s+\S+\s+revoked \S+\s+LIMS uploader$`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}
	if strings.Contains(out, m[2]) {
		t.Error("list shows the key")
	}
	if _, err := run("accounts", "reinstate", "--data", dir, "--username", "lims", "--reason", "cleared"); err != nil {
		t.Fatal(err)
	}
}
