package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"healthcode/internal/health"
)

// TestMain lets the test binary act as the healthcode binary in a child
// process (for the kill -9 test), so no separate build is needed.
func TestMain(m *testing.M) {
	if args := os.Getenv("HEALTHCODE_TEST_MAIN"); args != "" {
		err := realMain(context.Background(), strings.Split(args, " "), os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "healthcode:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"fly"}, `unknown command "fly"`},
		{"bad flag", []string{"serve", "--nope"}, "flag provided but not defined: -nope"},
		{"stray argument", []string{"serve", "extra"}, `unexpected argument "extra"`},
		{"bad persons", []string{"demo", "--persons", "5"}, "--persons must be between"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := realMain(context.Background(), c.args, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if exitCode(err) != 2 {
				t.Errorf("exit code: got %d, want 2", exitCode(err))
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := realMain(context.Background(), []string{"version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "healthcode ") {
		t.Errorf("got %q", out.String())
	}
}

func TestEnvVarFlags(t *testing.T) {
	t.Setenv("HEALTHCODE_LOG_LEVEL", "loud")
	err := realMain(context.Background(), []string{"serve", "--data", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Fatalf("got %v, want HEALTHCODE_LOG_LEVEL to be read and refused", err)
	}
}

// child is a healthcode serve process.
type child struct {
	cmd  *exec.Cmd
	base string
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HEALTHCODE_TEST_MAIN=serve --addr 127.0.0.1:0 --data "+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "http://"); i >= 0 {
			base := strings.Fields(line[i:])[0]
			go io.Copy(io.Discard, stdout)
			return &child{cmd: cmd, base: base}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("child did not report its address: %v", sc.Err())
	return nil
}

func post(c *http.Client, url, token string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	err = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, err
}

// labAccount makes lab account lab on the data directory with the accounts
// command and returns its API key.
func labAccount(t *testing.T, dir, lab string) string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("a lab's long password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, "accounts", "add", "--data", dir, "--username", lab, "--role", "lab", "--region", "440000", "--password-file", pw); err != nil {
		t.Fatalf("accounts add: %v\n%s", err, out)
	}
	out, err := runCmd(t, "accounts", "issue-key", "--data", dir, "--username", lab, "--label", "test")
	if err != nil {
		t.Fatalf("accounts issue-key: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`hck_\S+`).FindString(out)
	if key == "" {
		t.Fatalf("no API key in %q", out)
	}
	return key
}

func idNum(i int) string {
	base := fmt.Sprintf("440106199001%02d%03d", 1+i/1000%28, i%1000)
	return base + string(health.IDCheckDigit(base))
}

// TestKill9KeepsAcknowledgedWrites kills the server with SIGKILL while
// clients write, restarts it on the same data, and checks that every write
// that was acknowledged is there.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes; skipped in -short")
	}
	dir := t.TempDir()
	labKey := labAccount(t, dir, "lab1")
	ch := startChild(t, dir)
	hc := &http.Client{Timeout: 10 * time.Second}
	// One person to attach results to.
	st, m, err := post(hc, ch.base+"/api/v1/persons", "", map[string]string{"id_number": idNum(0), "name": "王五", "phone": "13700137000", "home_region": "440106"})
	if err != nil || st != 201 {
		t.Fatalf("enrol: %d %v %v", st, m, err)
	}
	pid := m["person_id"].(string)

	var (
		mu       sync.Mutex
		enrolled = map[string]string{} // id number → person id, acknowledged
		samples  []string              // acknowledged sample ids
		acks     atomic.Int64
		wg       sync.WaitGroup
	)
	killed := make(chan struct{})
	enough := make(chan struct{})
	var once sync.Once
	acked := func() {
		if acks.Add(1) >= 400 {
			once.Do(func() { close(enough) })
		}
	}
	at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-killed:
					return
				default:
				}
				k := 1 + w*5000 + i
				if i%2 == 0 {
					st, m, err := post(hc, ch.base+"/api/v1/persons", "", map[string]string{"id_number": idNum(k), "name": "赵六", "phone": "13600136000", "home_region": "440106"})
					if err == nil && st == 201 {
						mu.Lock()
						enrolled[idNum(k)] = m["person_id"].(string)
						mu.Unlock()
						acked()
					}
				} else {
					sid := fmt.Sprintf("K%d", k)
					st, _, err := post(hc, ch.base+"/api/v1/labs/lab1/results", labKey, map[string]any{"results": []any{
						map[string]string{"sample_id": sid, "person_id": pid, "sampled_at": at, "result": "negative"}}})
					if err == nil && st == 200 {
						mu.Lock()
						samples = append(samples, sid)
						mu.Unlock()
						acked()
					}
				}
			}
		}(w)
	}
	// Kill once a good number of writes were acknowledged (bounded wait).
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
	}
	if err := ch.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(killed)
	ch.cmd.Wait()
	wg.Wait()
	if acks.Load() < 400 {
		t.Fatalf("only %d writes were acknowledged before the deadline", acks.Load())
	}

	ch2 := startChild(t, dir)
	defer func() { ch2.cmd.Process.Kill(); ch2.cmd.Wait() }()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("acknowledged before kill: %d enrolments, %d results", len(enrolled), len(samples))
	for idn, want := range enrolled {
		st, m, err := post(hc, ch2.base+"/api/v1/persons", "", map[string]string{"id_number": idn, "name": "赵六", "phone": "13600136000", "home_region": "440106"})
		if err != nil || st != 200 || m["person_id"] != want {
			t.Fatalf("acknowledged enrolment %s lost: got %d %v %v, want existing %s", idn, st, m, err, want)
		}
	}
	var results []any
	for _, sid := range samples {
		results = append(results, map[string]string{"sample_id": sid, "person_id": pid, "sampled_at": at, "result": "negative"})
	}
	st, m, err = post(hc, ch2.base+"/api/v1/labs/lab1/results", labKey, map[string]any{"results": results})
	if err != nil || st != 200 {
		t.Fatalf("re-upload: %d %v %v", st, m, err)
	}
	if m["duplicates"].(float64) != float64(len(samples)) || m["accepted"].(float64) != 0 {
		t.Errorf("acknowledged results lost: re-upload of %d gave %v", len(samples), m)
	}
}

// TestDemoIsDeterministic runs the real demo twice with one seed and once
// with another: the same seed must give the same summary (timings aside).
func TestDemoIsDeterministic(t *testing.T) {
	run := func(seed string) string {
		t.Helper()
		var out bytes.Buffer
		err := realMain(context.Background(), []string{"demo", "--no-serve", "--persons", "3000", "--days", "3", "--seed", seed}, &out, io.Discard)
		if err != nil {
			t.Fatalf("demo --seed %s: %v", seed, err)
		}
		s := out.String()
		i, j := strings.Index(s, "\nphases"), strings.Index(s, "\ninvestigation")
		if i < 0 || j < i {
			t.Fatalf("no phases and investigation sections in the summary:\n%s", s)
		}
		return s[:i] + s[j:] // everything but the timings
	}
	a, b, c := run("7"), run("7"), run("8")
	if a != b {
		t.Errorf("same seed, different summaries:\n%s\n---\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds gave the same summary:\n%s", a)
	}
	for _, want := range []string{"persons                    3000", "codes by colour", "green", "red", "top reasons", "cases opened", "close contacts"} {
		if !strings.Contains(a, want) {
			t.Errorf("summary lacks %q:\n%s", want, a)
		}
	}
}
