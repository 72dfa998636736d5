package staff

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"healthcode/internal/health"
)

// cheap are argon2id parameters for tests (the defaults take 64 MiB).
var cheap = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordRoundTrip(t *testing.T) {
	phc, err := HashPassword("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(phc) {
		t.Fatalf("got %q, want a PHC string", phc)
	}
	for _, c := range []struct {
		password string
		want     bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"correct horse battery ", false},
		{"", false},
	} {
		ok, err := VerifyPassword(phc, c.password)
		if err != nil || ok != c.want {
			t.Errorf("VerifyPassword(%q): got %v, %v; want %v", c.password, ok, err, c.want)
		}
	}
	again, _ := HashPassword("correct horse battery", cheap)
	if again == phc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if p, err := PasswordParamsOf(phc); err != nil || p != cheap {
		t.Errorf("PasswordParamsOf: got %+v, %v; want %+v", p, err, cheap)
	}
}

func TestDefaultPasswordParams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB hash")
	}
	phc, err := HashPassword("correct horse battery", DefaultPasswordParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=65536,t=1,p=2$") {
		t.Errorf("got %q", phc)
	}
	if ok, err := VerifyPassword(phc, "correct horse battery"); !ok || err != nil {
		t.Errorf("verify: got %v, %v", ok, err)
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	good, _ := HashPassword("correct horse battery", cheap)
	parts := strings.Split(good, "$")
	for name, phc := range map[string]string{
		"empty":         "",
		"bcrypt":        "$2a$10$abcdefghijklmnopqrstuu",
		"argon2i":       strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":   strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":   strings.Replace(good, "m=64,", "m=99999999,", 1),
		"zero time":     strings.Replace(good, "t=1,", "t=0,", 1),
		"bad salt":      strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
		"missing field": strings.Join(parts[:5], "$"),
	} {
		if ok, err := VerifyPassword(phc, "correct horse battery"); ok || err == nil {
			t.Errorf("%s: got %v, %v; want an error", name, ok, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		name, password string
		ok             bool
	}{
		{"twelve", "abcdefghijkl", true},
		{"chinese twelve", "我的密码是很长的一句话啊", true},
		{"eleven", "abcdefghijk", false},
		{"chinese eleven", "我的密码是很长的一句话", false},
		{"contains username", "xx-li.ming-xx-1234", false},
		{"contains username upper", "xxLI.MINGxx1234", false},
		{"one char", strings.Repeat("a", 20), false},
		{"control", "abcdefghijkl\x00", false},
		{"newline", "abcdefghijkl\n", false},
		{"too long", strings.Repeat("ab", 129), false},
		{"max", strings.Repeat("ab", 128), true},
		{"not utf-8", "abcdefghijkl\xff", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPassword("li.ming", c.password)
			if c.ok && err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if !c.ok {
				var he *health.Error
				if !errors.As(err, &he) || he.Kind != health.Invalid || he.Field != "password" {
					t.Fatalf("got %v, want an Invalid error on password", err)
				}
			}
		})
	}
}

func TestTOTP(t *testing.T) {
	secret, url, err := NewTOTP("healthcode", "li.ming")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 || !strings.HasPrefix(url, "otpauth://totp/healthcode:li.ming?") || !strings.Contains(url, "secret="+secret) {
		t.Fatalf("got secret %q url %q", secret, url)
	}
	if s, err := TOTPSecretOf(url); err != nil || s != secret {
		t.Errorf("TOTPSecretOf: got %q, %v", s, err)
	}
	now := time.Date(2022, 6, 11, 9, 0, 10, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := TOTPCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := code(now)
	step, ok := CheckTOTP(secret, cur, now, 0)
	if !ok || step != uint64(now.Unix()/30) {
		t.Fatalf("valid code: got %d, %v", step, ok)
	}
	// Replay: the same code again, in the same step or the next.
	if _, ok := CheckTOTP(secret, cur, now, step); ok {
		t.Error("replayed code accepted")
	}
	if _, ok := CheckTOTP(secret, cur, now.Add(30*time.Second), step); ok {
		t.Error("replayed code accepted in the next step")
	}
	// An earlier step's code after a later one was used.
	if _, ok := CheckTOTP(secret, code(now.Add(-30*time.Second)), now, step); ok {
		t.Error("code older than the last accepted one accepted")
	}
	// The next step's code is new.
	if s2, ok := CheckTOTP(secret, code(now.Add(30*time.Second)), now.Add(30*time.Second), step); !ok || s2 != step+1 {
		t.Errorf("next step's code: got %d, %v", s2, ok)
	}
	// One step of skew either way, not two.
	for _, c := range []struct {
		off  time.Duration
		want bool
	}{{-30 * time.Second, true}, {30 * time.Second, true}, {-60 * time.Second, false}, {90 * time.Second, false}} {
		if _, ok := CheckTOTP(secret, code(now.Add(c.off)), now, 0); ok != c.want {
			t.Errorf("code of now%+v: got %v, want %v", c.off, ok, c.want)
		}
	}
	wrong := []byte(cur)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	for _, bad := range []string{string(wrong), "", "12345", "1234567", "abcdef"} {
		if _, ok := CheckTOTP(secret, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
	other, _, _ := NewTOTP("healthcode", "li.ming")
	if _, ok := CheckTOTP(other, cur, now, 0); ok {
		t.Error("code of another secret accepted")
	}
}

func TestSessions(t *testing.T) {
	t0 := time.Date(2022, 6, 11, 8, 0, 0, 0, time.UTC)
	s := NewSessions(Config{})
	tok, exp, err := s.Create("li.ming", t0)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^hcs_[A-Za-z0-9_-]{43}$`).MatchString(tok) || !exp.Equal(t0.Add(12*time.Hour)) {
		t.Fatalf("got %q expiring %v", tok, exp)
	}
	lookup := func(at time.Time) bool {
		u, ok := s.Lookup(tok, at)
		return ok && u == "li.ming"
	}
	// Used every 29 minutes it lives until the absolute limit.
	at := t0
	for at.Add(29 * time.Minute).Before(t0.Add(12 * time.Hour)) {
		at = at.Add(29 * time.Minute)
		if !lookup(at) {
			t.Fatalf("session ended at %v, used every 29 minutes", at.Sub(t0))
		}
	}
	if lookup(t0.Add(12 * time.Hour)) {
		t.Error("session alive at 12 h")
	}

	// Idle: 30 minutes unused ends it.
	tok, _, _ = s.Create("li.ming", t0)
	if !lookup(t0.Add(29*time.Minute + 59*time.Second)) {
		t.Fatal("session ended before 30 idle minutes")
	}
	if lookup(t0.Add(59*time.Minute + 59*time.Second)) {
		t.Error("session alive after 30 idle minutes")
	}

	// Logout and a wrong token.
	tok, _, _ = s.Create("li.ming", t0)
	if _, ok := s.Lookup(tok+"x", t0); ok {
		t.Error("altered token accepted")
	}
	if _, ok := s.Lookup("hck_"+tok[4:], t0); ok {
		t.Error("token with another prefix accepted")
	}
	if !s.End(tok) || lookup(t0) || s.End(tok) {
		t.Error("End: want the session ended once")
	}

	// EndUser ends all of an account's sessions, not others'.
	a, _, _ := s.Create("a", t0)
	b, _, _ := s.Create("b", t0)
	s.Create("a", t0)
	if n := s.EndUser("a"); n != 2 {
		t.Errorf("EndUser: got %d, want 2", n)
	}
	if _, ok := s.Lookup(a, t0); ok {
		t.Error("a's session survived EndUser")
	}
	if _, ok := s.Lookup(b, t0); !ok {
		t.Error("b's session ended by EndUser(a)")
	}

	// At most MaxSessionsPerUser: the oldest goes.
	s = NewSessions(Config{MaxSessionsPerUser: 2})
	first, _, _ := s.Create("c", t0)
	s.Create("c", t0)
	s.Create("c", t0)
	if _, ok := s.Lookup(first, t0); ok || s.Len() != 2 {
		t.Errorf("per-user cap: first alive %v, %d sessions; want ended, 2", ok, s.Len())
	}
	// Expired sessions are swept.
	s.Create("d", t0.Add(13*time.Hour))
	if s.Len() != 1 {
		t.Errorf("after sweep: %d sessions, want 1", s.Len())
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2022, 6, 11, 8, 0, 0, 0, time.UTC)
	l := NewLimiter(5, Config{})
	at := t0
	failN := func(n int) time.Duration {
		var d time.Duration
		for i := 0; i < n; i++ {
			at = at.Add(time.Second)
			if c := l.Check("u", at); c > 0 {
				t.Fatalf("locked before failure %d", i+1)
			}
			d = l.Fail("u", at)
		}
		return d
	}
	if d := failN(4); d != 0 {
		t.Fatalf("locked after 4 failures for %v", d)
	}
	if d := failN(1); d != 15*time.Minute {
		t.Fatalf("5th failure: lock %v, want 15m", d)
	}
	if d := l.Check("u", at.Add(14*time.Minute)); d != time.Minute {
		t.Errorf("Check during lock: got %v, want 1m", d)
	}
	if l.Check("other", at) != 0 {
		t.Error("another key is locked")
	}
	at = at.Add(15 * time.Minute)
	if d := failN(5); d != 30*time.Minute {
		t.Errorf("second lock: got %v, want 30m (doubling)", d)
	}
	at = at.Add(30 * time.Minute)
	if d := failN(5); d != time.Hour {
		t.Errorf("third lock: got %v, want 1h", d)
	}
	// A success resets failures and the doubling.
	at = at.Add(time.Hour)
	failN(3)
	l.Reset("u")
	if d := failN(4); d != 0 {
		t.Errorf("after reset, 4 failures locked for %v", d)
	}
	if d := failN(1); d != 15*time.Minute {
		t.Errorf("after reset: lock %v, want 15m", d)
	}
	// Failures spread wider than the lock period are not consecutive.
	l = NewLimiter(5, Config{})
	for i := 0; i < 10; i++ {
		at = at.Add(16 * time.Minute)
		if d := l.Fail("u", at); d != 0 {
			t.Fatalf("sparse failure %d locked for %v", i, d)
		}
	}
	// The lock never exceeds MaxLockFor.
	l = NewLimiter(1, Config{LockFor: time.Hour, MaxLockFor: 3 * time.Hour})
	var last time.Duration
	for i := 0; i < 6; i++ {
		at = at.Add(last + time.Second)
		last = l.Fail("u", at)
	}
	if last != 3*time.Hour {
		t.Errorf("capped lock: got %v, want 3h", last)
	}
}

func TestThrottledError(t *testing.T) {
	err := Throttled(90 * time.Second)
	var te *ThrottledError
	if health.KindOf(err) != health.Throttled || !errors.As(err, &te) || te.RetryAfter != 90*time.Second {
		t.Fatalf("got %v", err)
	}
}

func TestAPIKeys(t *testing.T) {
	root := bytes.Repeat([]byte{7}, 32)
	s, err := NewSecrets(root)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, token, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^hck_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`).MatchString(token) {
		t.Fatalf("token %q", token)
	}
	gid, gsecret, ok := ParseAPIKey(token)
	if !ok || gid != id || gsecret != secret {
		t.Fatalf("ParseAPIKey: got %q %q %v", gid, gsecret, ok)
	}
	h := s.HashAPIKey(id, secret)
	if !s.CheckAPIKey(id, secret, h) {
		t.Error("the key does not verify")
	}
	w := []byte(secret)
	if w[0] == 'A' {
		w[0] = 'B'
	} else {
		w[0] = 'A'
	}
	if s.CheckAPIKey(id, string(w), h) {
		t.Error("a wrong secret verifies")
	}
	id2, _, _, _ := NewAPIKey()
	if s.CheckAPIKey(id2, secret, h) {
		t.Error("the secret verifies under another key id")
	}
	other, _ := NewSecrets(bytes.Repeat([]byte{8}, 32))
	if other.CheckAPIKey(id, secret, h) {
		t.Error("a hash verifies under another node's key")
	}
	for _, bad := range []string{"", "hck_", "hcs_" + token[4:], token + "x", token[:len(token)-1], "hck_zzzzzzzzzzzzzzzz_" + secret} {
		if _, _, ok := ParseAPIKey(bad); ok {
			t.Errorf("ParseAPIKey(%q) accepted", bad)
		}
	}
	if _, err := NewSecrets(root[:31]); err == nil {
		t.Error("NewSecrets: a short root accepted")
	}
}

func TestSeal(t *testing.T) {
	s, _ := NewSecrets(bytes.Repeat([]byte{1}, 32))
	blob, err := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "totp:li.ming")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("the secret is in clear in the sealed blob")
	}
	if p, err := s.Open(blob, "totp:li.ming"); err != nil || string(p) != "JBSWY3DPEHPK3PXP" {
		t.Errorf("Open: got %q, %v", p, err)
	}
	if _, err := s.Open(blob, "totp:other"); err == nil {
		t.Error("opened under another account's aad")
	}
	blob[len(blob)-1] ^= 1
	if _, err := s.Open(blob, "totp:li.ming"); err == nil {
		t.Error("opened an altered blob")
	}
}
