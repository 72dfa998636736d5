package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
	"healthcode/internal/staff"
)

const goodPassword = "correct horse battery staple"

func addAccount(t *testing.T, n *nodetest.Node, user, roles, region string) (staff.Account, string) {
	t.Helper()
	rs, err := staff.ParseRoles(roles)
	if err != nil {
		t.Fatal(err)
	}
	acct, url, err := n.AddAccount(context.Background(), "test", node.AccountInput{Username: user, Roles: rs, Region: region, Password: goodPassword})
	if err != nil {
		t.Fatalf("AddAccount %s: %v", user, err)
	}
	if rs.NeedsTOTP() != (url != "") {
		t.Fatalf("AddAccount %s (%s): TOTP URL %q", user, roles, url)
	}
	secret := ""
	if url != "" {
		if secret, err = staff.TOTPSecretOf(url); err != nil {
			t.Fatal(err)
		}
	}
	return acct, secret
}

func otpNow(t *testing.T, n *nodetest.Node, secret string) string {
	t.Helper()
	c, err := staff.TOTPCode(secret, n.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func errCode(err error) string {
	var he *health.Error
	if errors.As(err, &he) {
		return he.Code
	}
	return ""
}

// Accounts, passwords, second factors, suspensions and API keys are
// events: a restarted node rebuilds the same directory and the same
// credentials work.
func TestAccountsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := nodetest.Start(t, dir, nil)
	_, offSecret := addAccount(t, n, "li.ming", "official", "440106")
	addAccount(t, n, "ops", "operator,auditor", staff.NationalRegion)
	addAccount(t, n, "wang", "investigator,community", "440100")
	addAccount(t, n, "lims", "lab", "440000")
	addAccount(t, n, "gone", "verifier", "440106")
	if err := n.SuspendAccount(ctx, "test", "gone", "left the service"); err != nil {
		t.Fatal(err)
	}
	keyTok, key, err := n.IssueAPIKey(ctx, "test", "lims", "LIMS uploader")
	if err != nil {
		t.Fatal(err)
	}
	revTok, rev, err := n.IssueAPIKey(ctx, "test", "lims", "old uploader")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RevokeAPIKey(ctx, "test", rev.ID, "replaced"); err != nil {
		t.Fatal(err)
	}
	if err := n.SetPassword(ctx, "test", "wang", "another long password"); err != nil {
		t.Fatal(err)
	}
	before, keysBefore := n.Accounts(), n.APIKeys("")
	clock := n.Clock
	n.Close()

	n = nodetest.Start(t, dir, clock)
	if d := cmp.Diff(before, n.Accounts()); d != "" {
		t.Errorf("accounts after restart (-before +after):\n%s", d)
	}
	if d := cmp.Diff(keysBefore, n.APIKeys("")); d != "" {
		t.Errorf("API keys after restart (-before +after):\n%s", d)
	}
	want := map[string]string{"gone": "suspended", "li.ming": "active", "lims": "active", "ops": "active", "wang": "active"}
	for _, a := range n.Accounts() {
		if a.Status.String() != want[a.Username] {
			t.Errorf("%s: status %v, want %s", a.Username, a.Status, want[a.Username])
		}
	}
	ops, _ := n.Account("ops")
	if ops.Level != staff.National || !ops.TOTP || ops.Roles != staff.RolesOf(staff.Operator, staff.Auditor) {
		t.Errorf("ops: got %+v", ops)
	}
	// The password, the second factor (its sealed secret is read back) and
	// the changed password work after the restart.
	tok, _, err := n.Login(ctx, "li.ming", goodPassword, otpNow(t, n, offSecret), "10.0.0.1")
	if err != nil {
		t.Fatalf("login after restart: %v", err)
	}
	if p, ok := n.Authenticate(tok); !ok || p.Username != "li.ming" || p.Region != "440106" || p.Level != staff.County || !p.Has(staff.Official) {
		t.Errorf("Authenticate: got %+v, %v", p, ok)
	}
	if _, _, err := n.Login(ctx, "wang", goodPassword, "", "10.0.0.1"); errCode(err) != "invalid_credentials" {
		t.Errorf("old password after a change: got %v", err)
	}
	if _, _, err := n.Login(ctx, "wang", "another long password", "", "10.0.0.1"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if p, ok := n.Authenticate(keyTok); !ok || p.Username != "lims" || p.KeyID != key.ID || !p.Has(staff.Lab) {
		t.Errorf("API key after restart: got %+v, %v", p, ok)
	}
	if _, ok := n.Authenticate(revTok); ok {
		t.Error("revoked API key accepted after restart")
	}
	if _, _, err := n.Login(ctx, "gone", goodPassword, "", "10.0.0.1"); errCode(err) != "account_suspended" {
		t.Errorf("suspended account: got %v", err)
	}
}

func TestAddAccountRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	addAccount(t, n, "li.ming", "official", "440106")
	events := n.Stats().Events
	lab := staff.RolesOf(staff.Lab)
	cases := []struct {
		name string
		in   node.AccountInput
		code string
	}{
		{"bad username", node.AccountInput{Username: "Li Ming", Roles: lab, Region: "440106", Password: goodPassword}, "invalid_username"},
		{"no username", node.AccountInput{Roles: lab, Region: "440106", Password: goodPassword}, "missing_field"},
		{"no roles", node.AccountInput{Username: "a", Region: "440106", Password: goodPassword}, "missing_field"},
		{"street region", node.AccountInput{Username: "a", Roles: lab, Region: "440106001", Password: goodPassword}, "invalid_region"},
		{"unknown region", node.AccountInput{Username: "a", Roles: lab, Region: "110199", Password: goodPassword}, "invalid_region"},
		{"no region", node.AccountInput{Username: "a", Roles: lab, Password: goodPassword}, "invalid_region"},
		{"short password", node.AccountInput{Username: "a", Roles: lab, Region: "440106", Password: "short"}, "weak_password"},
		{"taken", node.AccountInput{Username: "li.ming", Roles: lab, Region: "440106", Password: goodPassword}, "username_taken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, url, err := n.AddAccount(ctx, "test", c.in)
			if errCode(err) != c.code || url != "" {
				t.Fatalf("got %v (url %q), want %s", err, url, c.code)
			}
		})
	}
	if got := n.Stats().Events; got != events {
		t.Errorf("events: got %d, want %d: a refused account recorded something", got, events)
	}
	if len(n.Accounts()) != 1 {
		t.Errorf("accounts: got %d, want 1", len(n.Accounts()))
	}
}

func TestLoginSecondFactorAndReplay(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	_, secret := addAccount(t, n, "li.ming", "official", "440106")
	code := otpNow(t, n, secret)
	for _, c := range []struct{ name, user, password, otp string }{
		{"wrong password", "li.ming", goodPassword + "x", code},
		{"unknown user", "nobody", goodPassword, code},
		{"missing code", "li.ming", goodPassword, ""},
		{"wrong code", "li.ming", goodPassword, strings.Map(func(r rune) rune { return '0' + (r-'0'+1)%10 }, code)},
	} {
		_, _, err := n.Login(ctx, c.user, c.password, c.otp, "10.0.0.1")
		if health.KindOf(err) != health.Unauthorized || errCode(err) != "invalid_credentials" {
			t.Errorf("%s: got %v, want invalid_credentials", c.name, err)
		}
	}
	if _, _, err := n.Login(ctx, "li.ming", goodPassword, code, "10.0.0.1"); err != nil {
		t.Fatalf("right password and code: %v", err)
	}
	// The same code again within its window: a replay.
	if _, _, err := n.Login(ctx, "li.ming", goodPassword, code, "10.0.0.2"); errCode(err) != "invalid_credentials" {
		t.Errorf("replayed code: got %v, want invalid_credentials", err)
	}
	n.Clock.Add(30 * time.Second)
	if _, _, err := n.Login(ctx, "li.ming", goodPassword, otpNow(t, n, secret), "10.0.0.2"); err != nil {
		t.Errorf("next code: %v", err)
	}
	if _, _, err := n.Login(ctx, "", goodPassword, "", ""); health.KindOf(err) != health.Invalid {
		t.Errorf("no username: got %v, want Invalid", err)
	}
}

func TestLoginLockout(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	addAccount(t, n, "wang", "investigator", "440106")
	for i := 0; i < 5; i++ {
		if _, _, err := n.Login(ctx, "wang", "wrong password!", "", "10.0.0.1"); errCode(err) != "invalid_credentials" {
			t.Fatalf("failure %d: got %v", i+1, err)
		}
	}
	// Locked: even the right password is refused, with a retry time.
	_, _, err := n.Login(ctx, "wang", goodPassword, "", "10.0.0.9")
	var te *staff.ThrottledError
	if health.KindOf(err) != health.Throttled || !errors.As(err, &te) || te.RetryAfter != 15*time.Minute {
		t.Fatalf("locked login: got %v, want Throttled for 15m", err)
	}
	// An unknown username locks the same way (the lock says nothing about
	// whether an account exists).
	for i := 0; i < 5; i++ {
		n.Login(ctx, "nobody", "wrong password!", "", "10.0.0.3")
	}
	if _, _, err := n.Login(ctx, "nobody", "wrong password!", "", "10.0.0.4"); health.KindOf(err) != health.Throttled {
		t.Errorf("unknown username after 5 failures: got %v, want Throttled", err)
	}
	n.Clock.Add(15 * time.Minute)
	if _, _, err := n.Login(ctx, "wang", goodPassword, "", "10.0.0.9"); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// The success reset the count: four more failures do not lock.
	for i := 0; i < 4; i++ {
		n.Login(ctx, "wang", "wrong password!", "", "10.0.0.9")
	}
	if _, _, err := n.Login(ctx, "wang", goodPassword, "", "10.0.0.9"); err != nil {
		t.Errorf("after 4 failures following a success: %v", err)
	}
}

func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	addAccount(t, n, "wang", "investigator", "440106")
	login := func() string {
		t.Helper()
		tok, exp, err := n.Login(ctx, "wang", goodPassword, "", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if !exp.Equal(n.Clock.Now().Add(12 * time.Hour)) {
			t.Errorf("expires: got %v", exp)
		}
		return tok
	}
	tok := login()
	n.Clock.Add(29 * time.Minute)
	if _, ok := n.Authenticate(tok); !ok {
		t.Fatal("session ended before its idle timeout")
	}
	n.Clock.Add(30 * time.Minute)
	if _, ok := n.Authenticate(tok); ok {
		t.Error("session alive after 30 idle minutes")
	}
	tok = login()
	if !n.Logout(tok) {
		t.Error("Logout: no session")
	}
	if _, ok := n.Authenticate(tok); ok {
		t.Error("session alive after logout")
	}
	tok = login()
	if err := n.SetPassword(ctx, "test", "wang", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Authenticate(tok); ok {
		t.Error("session alive after a password change")
	}
	tok, _, _ = n.Login(ctx, "wang", "a brand new password", "", "10.0.0.1")
	if err := n.SuspendAccount(ctx, "test", "wang", "under review"); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Authenticate(tok); ok {
		t.Error("session alive after suspension")
	}
	if err := n.SuspendAccount(ctx, "test", "wang", "again"); errCode(err) != "already_suspended" {
		t.Errorf("suspend twice: got %v", err)
	}
	if err := n.ReinstateAccount(ctx, "test", "wang", ""); errCode(err) != "missing_field" {
		t.Errorf("reinstate without reason: got %v", err)
	}
	if err := n.ReinstateAccount(ctx, "test", "wang", "cleared"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Login(ctx, "wang", "a brand new password", "", "10.0.0.1"); err != nil {
		t.Errorf("login after reinstatement: %v", err)
	}
	for _, bad := range []string{"", "hcs_", "hcs_" + strings.Repeat("A", 43), "Bearer x", "hck_0123456789abcdef_" + strings.Repeat("A", 43)} {
		if _, ok := n.Authenticate(bad); ok {
			t.Errorf("Authenticate(%q) accepted", bad)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	addAccount(t, n, "lims", "lab", "440100")
	addAccount(t, n, "li.ming", "official", "440106")
	tok, key, err := n.IssueAPIKey(ctx, "test", "lims", "uploader")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := n.Authenticate(tok)
	if !ok || p.Actor() != "staff:lims@440100" || p.KeyID != key.ID {
		t.Fatalf("Authenticate: got %+v, %v", p, ok)
	}
	if err := staff.Allowed(p, staff.UploadResults, "440106"); err != nil {
		t.Errorf("lab key uploads in its city: %v", err)
	}
	if err := staff.Allowed(p, staff.ReadCodes, "440106"); health.KindOf(err) != health.Permission {
		t.Errorf("lab key reads codes: got %v, want Permission", err)
	}
	if _, _, err := n.IssueAPIKey(ctx, "test", "li.ming", ""); errCode(err) != "second_factor_role" {
		t.Errorf("key for an official: got %v", err)
	}
	if _, _, err := n.IssueAPIKey(ctx, "test", "nobody", ""); health.KindOf(err) != health.NotFound {
		t.Errorf("key for nobody: got %v", err)
	}
	if err := n.SuspendAccount(ctx, "test", "lims", "audit"); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Authenticate(tok); ok {
		t.Error("key of a suspended account accepted")
	}
	n.ReinstateAccount(ctx, "test", "lims", "cleared")
	if _, ok := n.Authenticate(tok); !ok {
		t.Error("key refused after reinstatement")
	}
	if err := n.RevokeAPIKey(ctx, "test", key.ID, "rotated"); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Authenticate(tok); ok {
		t.Error("revoked key accepted")
	}
	if err := n.RevokeAPIKey(ctx, "test", key.ID, ""); errCode(err) != "already_revoked" {
		t.Errorf("revoke twice: got %v", err)
	}
	if err := n.RevokeAPIKey(ctx, "test", "0000000000000000", ""); health.KindOf(err) != health.NotFound {
		t.Errorf("revoke unknown: got %v", err)
	}
}

// The event API never returns credentials: a password hash, a sealed
// TOTP secret, an API key hash.
func TestAccountEventsAreRedacted(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	addAccount(t, n, "li.ming", "official", "440106")
	addAccount(t, n, "lims", "lab", "440100")
	if err := n.SetPassword(ctx, "test", "lims", "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.IssueAPIKey(ctx, "test", "lims", "uploader"); err != nil {
		t.Fatal(err)
	}
	last := n.Stats().Events
	kinds := map[health.EventKind]bool{}
	for seq := uint64(1); seq <= uint64(last); seq++ {
		e, err := n.Event(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		kinds[e.Kind] = true
		s := string(e.Data)
		for _, secret := range []string{"argon2id", `"password"`, `"totp"`, `"hash"`} {
			if strings.Contains(s, secret) {
				t.Errorf("event %d (%s) shows %s: %s", seq, e.Kind, secret, s)
			}
		}
		if !strings.Contains(s, `"username"`) {
			t.Errorf("event %d (%s) lost its username: %s", seq, e.Kind, s)
		}
	}
	for _, k := range []health.EventKind{health.EvAccountCreated, health.EvPasswordChanged, health.EvAPIKeyIssued} {
		if !kinds[k] {
			t.Errorf("no %s event checked", k)
		}
	}
}

func TestPersonRegion(t *testing.T) {
	n := nodetest.Start(t, "", nil)
	res, err := n.Enrol(context.Background(), "t", []node.Enrolment{{IDNumber: nodetest.IDNumber(1), Name: "张三", Phone: "13800138000", HomeRegion: "440106"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := n.PersonRegion(res[0].Person); err != nil || r != "440106" {
		t.Errorf("got %q, %v", r, err)
	}
	if _, err := n.PersonRegion(99); health.KindOf(err) != health.NotFound {
		t.Errorf("unknown person: got %v", err)
	}
}
