package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"healthcode/internal/health"
)

// TestSimLoad holds the default mix against a node in this process for 2s
// and checks the report against itself and against the node's own count of
// its answers; a second run reuses the persons.
func TestSimLoad(t *testing.T) {
	base, st := startTestNode(t)
	out, err := runCmd(t, st.loadArgs("sim", "--load", "--target", base, "--rate", "400", "--duration", "2s", "--persons", "300", "--json")...)
	if err != nil {
		t.Fatalf("sim --load: %v\n%s", err, out)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("sim --load --json printed no JSON object: %v\n%s", err, out)
	}
	if rep.Persons != 300 || rep.PersonsEnrolled != 300 || rep.Places != loadPlaces {
		t.Errorf("got %d persons (%d enrolled), %d places; want 300 (300), %d", rep.Persons, rep.PersonsEnrolled, rep.Places, loadPlaces)
	}
	if len(rep.Kinds) != 4 || rep.Kinds[3].Name != "all" {
		t.Fatalf("got kinds %+v, want code, scan, result and all", rep.Kinds)
	}
	all := rep.Kinds[3]
	if all.Scheduled != 800 || all.OK == 0 || all.OK+all.Missed != all.Scheduled {
		t.Errorf("all: got %d scheduled, %d ok, %d missed; want 800 scheduled, each answered 2xx or missed", all.Scheduled, all.OK, all.Missed)
	}
	if all.Status4xx+all.Status5xx+all.Transport+all.Other != 0 || rep.Errors != 0 {
		t.Errorf("all: got %d 4xx (%s), %d 5xx (%s), %d transport errors (%s), %d other; want none",
			all.Status4xx, all.First4xx, all.Status5xx, all.First5xx, all.Transport, all.FirstErr, all.Other)
	}
	for i, name := range []string{"code", "scan", "result"} {
		k := rep.Kinds[i]
		want := all.Scheduled * int64(rep.Mix[name]) / 100
		if k.Name != name || k.Scheduled < want-1 || k.Scheduled > want+1 {
			t.Errorf("kind %d: got %s with %d scheduled, want %s with %d±1 (%d%% of %d)", i, k.Name, k.Scheduled, name, want, rep.Mix[name], all.Scheduled)
		}
		if k.OK > 0 && !(k.P50Ms > 0 && k.P50Ms <= k.P99Ms && k.P99Ms <= k.P999Ms && k.P999Ms <= k.MaxMs) {
			t.Errorf("%s: latencies p50 %v, p99 %v, p999 %v, max %v are not positive and ordered", name, k.P50Ms, k.P99Ms, k.P999Ms, k.MaxMs)
		}
	}
	if rep.AchievedRate < 200 || rep.AchievedRate > 600 || rep.ElapsedSeconds < 1.9 {
		t.Errorf("got %.1f answers/s over %.2fs, want about 400 over about 2s", rep.AchievedRate, rep.ElapsedSeconds)
	}
	// The node counted the same answers: every one 2xx.
	if got := rep.Node.Answers; got["2xx"] != float64(all.OK) || len(got) != 1 {
		t.Errorf("the node's own count of its answers: got %v, want 2xx: %d and nothing else", got, all.OK)
	}
	if n := rep.Node; n.HeapInuseBefore <= 0 || n.HeapInuseAfter <= 0 || n.HeapInuseMax < n.HeapInuseAfter || len(n.Series) < 2 || n.SampleFailures != 0 {
		t.Errorf("node memory: got %+v, want heap figures and at least 2 samples", n)
	}

	// Again, the same seed: the persons are enrolled already. Scans only.
	out, err = runCmd(t, st.loadArgs("sim", "--load", "--target", base, "--rate", "100", "--duration", "1s", "--persons", "300", "--mix", "scan=1")...)
	if err != nil {
		t.Fatalf("second sim --load: %v\n%s", err, out)
	}
	for _, re := range []string{`300 persons \(0 enrolled now\)`, `(?m)^ +scan +100 +\d+ `, `(?m)^ +all +100 +\d+ `, `(?m)node's own count of its answers during the run: 2xx \d+$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("second run's report lacks %q:\n%s", re, out)
		}
	}
	if strings.Contains(out, " code ") {
		t.Errorf("a scan-only run reports code views:\n%s", out)
	}
}

// fakeNode answers the few endpoints sim --load uses; its visits endpoint
// fails with 503.
func fakeNode(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"ok","time":%q}`, health.FormatTime(time.Now()))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes 1.048576e+06\n")
	})
	mux.HandleFunc("POST /api/v1/persons", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Persons []json.RawMessage }
		json.NewDecoder(r.Body).Decode(&in)
		var b bytes.Buffer
		b.WriteString(`{"persons":[`)
		for i := range in.Persons {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"person_id":"p%d","token":"t%d"}`, i+1, i+1)
		}
		b.WriteString(`]}`)
		w.WriteHeader(http.StatusCreated)
		w.Write(b.Bytes())
	})
	mux.HandleFunc("GET /api/v1/places", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"places":[]}`) })
	mux.HandleFunc("POST /api/v1/places", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"place_id":"L1","place_code":"HCP1:L1"}`)
	})
	mux.HandleFunc("GET /api/v1/persons/{id}/code", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"colour":"green"}`) })
	mux.HandleFunc("POST /api/v1/visits", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":"overloaded"}}`, http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSimLoadFailsOn5xx: a 5xx answer makes the run fail (exit 1) after its
// report, unless --max-errors allows it; this is what CI relies on.
func TestSimLoadFailsOn5xx(t *testing.T) {
	base := fakeNode(t)
	args := []string{"sim", "--load", "--target", base, "--token", "tok", "--rate", "50", "--duration", "1s", "--persons", "10", "--mix", "code=1,scan=1"}
	out, err := runCmd(t, args...)
	if want := "sim --load: 25 5xx answers and 0 transport errors, more than --max-errors 0 (first: scan: status 503: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want an error starting %q", err, want)
	}
	if exitCode(err) != 1 || strings.Contains(err.Error(), "\n") {
		t.Errorf("got exit code %d for %q, want 1 and one line", exitCode(err), err)
	}
	if !regexp.MustCompile(`(?m)^ +scan +25 +0 .* 25 +0 +0$`).MatchString(out) {
		t.Errorf("the report does not show 25 scans answered 503:\n%s", out)
	}
	if _, err := runCmd(t, append(args, "--max-errors", "25")...); err != nil {
		t.Errorf("--max-errors 25: got %v, want success", err)
	}
}

// TestSimLoadRefuses: a target off this machine and bad flags stop sim
// --load before it sends anything, with one line and exit code 2.
func TestSimLoadRefuses(t *testing.T) {
	const target = "http://127.0.0.1:1"
	load := func(args ...string) []string { return append([]string{"sim", "--load"}, args...) }
	ok := func(args ...string) []string {
		return load(append([]string{"--target", target, "--token", "t"}, args...)...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"private address", load("--target", "http://10.1.2.3:8080", "--token", "t"), "--target: 10.1.2.3 is not a loopback address (127.0.0.0/8, ::1 or localhost)"},
		{"public name", load("--target", "http://example.com:8080", "--token", "t"), "--target: example.com is not a loopback address"},
		{"IPv6 not loopback", load("--target", "http://[2001:db8::1]:8080", "--token", "t"), "--target: 2001:db8::1 is not a loopback address"},
		{"https", load("--target", "https://127.0.0.1:8443", "--token", "t"), `--target: "https://127.0.0.1:8443" is not a URL like http://127.0.0.1:8080`},
		{"path", load("--target", "http://127.0.0.1:1/api/v1", "--token", "t"), "is not a URL like"},
		{"no target", load("--token", "t"), "sim --load needs --target URL"},
		{"no token", load("--target", target), "sim --load needs --token"},
		{"rate 0", ok("--rate", "0"), "--rate must be between 1 and 100000"},
		{"rate too high", ok("--rate", "100001"), "--rate must be between 1 and 100000"},
		{"duration too short", ok("--duration", "500ms"), "--duration must be between 1s and 30m0s"},
		{"duration too long", ok("--duration", "31m"), "--duration must be between 1s and 30m0s"},
		{"persons", ok("--persons", "5"), "--persons must be between 10 and 1000000"},
		{"conns", ok("--conns", "0"), "--conns must be between 1 and 1024"},
		{"seed", ok("--seed", "21"), "--seed must be between 1 and 20"},
		{"max errors", ok("--max-errors", "-1"), "--max-errors must not be negative"},
		{"unknown kind", ok("--mix", "code=90,walk=10"), `--mix: "walk" is not a kind of request (code, scan, result)`},
		{"bad weight", ok("--mix", "code=ninety"), `--mix: "code=ninety" is not KIND=WEIGHT`},
		{"twice", ok("--mix", "code=1,code=2"), "--mix: code is given twice"},
		{"all zero", ok("--mix", "code=0,scan=0"), "--mix: every weight is 0"},
		{"sim flag", ok("--days", "3"), "flag provided but not defined: -days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := realMain(context.Background(), tt.args, &stdout, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if exitCode(err) != 2 || strings.Contains(err.Error(), "\n") {
				t.Errorf("got exit code %d for %q, want 2 and one line", exitCode(err), err)
			}
			if stdout.Len() > 0 {
				t.Errorf("a refused run printed %q", stdout.String())
			}
		})
	}
	// A loopback target where no node listens: exit 1, one line.
	_, err := runCmd(t, ok()...)
	if err == nil || !strings.Contains(err.Error(), "no node answers at 127.0.0.1:1") || exitCode(err) != 1 || strings.Contains(err.Error(), "\n") {
		t.Errorf("no node: got %v, want one line naming 127.0.0.1:1, exit code 1", err)
	}
}

func TestWantsLoad(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"--load"}, true},
		{[]string{"--target", "http://127.0.0.1:1", "-load"}, true},
		{[]string{"--load=true"}, true},
		{[]string{"--load=false"}, false},
		{[]string{"--out", "dir"}, false},
		{[]string{"--out", "dir", "--", "--load"}, false},
		{[]string{"--loader"}, false},
	}
	for _, tt := range tests {
		if got := wantsLoad(tt.args); got != tt.want {
			t.Errorf("wantsLoad(%q): got %t, want %t", tt.args, got, tt.want)
		}
	}
}
