package bench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// getKind is a soak kind sending GET path.
func getKind(name string, weight int, host, path string) SoakKind {
	return SoakKind{Name: name, Weight: weight, Build: func(buf []byte, _ int64, _ time.Time, _ *rand.Rand) []byte {
		return append(buf, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n"...)
	}}
}

// TestRunSoakCounts: every answer lands in its kind's class (2xx, 4xx, 5xx,
// transport error), the mix is exact, and only 2xx answers are timed.
func TestRunSoakCounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"ok":true}`))
		case "/bad":
			http.Error(w, "no such thing", http.StatusNotFound)
		case "/boom":
			http.Error(w, "it broke", http.StatusServiceUnavailable)
		case "/drop":
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		}
	}))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	res, err := RunSoak(context.Background(), SoakConfig{Addr: host, Rate: 500, Duration: 200 * time.Millisecond, Conns: 16, Timeout: 5 * time.Second,
		Kinds: []SoakKind{getKind("ok", 5, host, "/ok"), getKind("bad", 2, host, "/bad"), getKind("boom", 2, host, "/boom"), getKind("drop", 1, host, "/drop")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Planned != 100 || res.Total.Scheduled != 100 || res.Total.Missed != 0 {
		t.Fatalf("got %d planned, %d scheduled, %d missed; want 100, 100, 0", res.Planned, res.Total.Scheduled, res.Total.Missed)
	}
	type row struct{ sched, ok, s4, s5, tr int64 }
	want := map[string]row{"ok": {50, 50, 0, 0, 0}, "bad": {20, 0, 20, 0, 0}, "boom": {20, 0, 0, 20, 0}, "drop": {10, 0, 0, 0, 10}}
	for _, k := range res.Kinds {
		got := row{k.Scheduled, k.OK, k.Status4xx, k.Status5xx, k.Transport}
		if got != want[k.Name] {
			t.Errorf("%s: got scheduled, ok, 4xx, 5xx, transport %v, want %v", k.Name, got, want[k.Name])
		}
		if k.Hist.Count() != uint64(k.OK) {
			t.Errorf("%s: %d latencies recorded for %d 2xx answers", k.Name, k.Hist.Count(), k.OK)
		}
	}
	if res.Errors() != 30 {
		t.Errorf("Errors: got %d, want 30 (20 5xx + 10 transport)", res.Errors())
	}
	if !strings.Contains(res.Total.First5xx, "boom: status 503: it broke") || !strings.Contains(res.Total.First4xx, "status 404") || res.Total.FirstErr == "" {
		t.Errorf("first errors: got 4xx %q, 5xx %q, transport %q", res.Total.First4xx, res.Total.First5xx, res.Total.FirstErr)
	}
	if res.Lag.Count() != 100 {
		t.Errorf("send lags: got %d, want one per send (100)", res.Lag.Count())
	}
}

// TestRunSoakMissesWhenBusy: the generator does not queue behind a stuck
// node; sends due while every connection is busy are missed, and the
// requests in flight are timed from their intended start.
func TestRunSoakMissesWhenBusy(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	defer once.Do(func() { close(release) })
	host := srv.Listener.Addr().String()
	var releasedAt time.Time
	start := time.Now()
	res, err := RunSoak(context.Background(), SoakConfig{Addr: host, Rate: 1000, Duration: 100 * time.Millisecond, Conns: 2, Timeout: 10 * time.Second,
		Kinds: []SoakKind{getKind("slow", 1, host, "/")},
		Tick: func(p SoakProgress) {
			if p.Scheduled == p.Planned {
				once.Do(func() { releasedAt = time.Now(); close(release) })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	k := res.Kinds[0]
	if k.Scheduled != 100 || k.OK != 2 || k.Missed != 98 {
		t.Fatalf("got scheduled %d, ok %d, missed %d; want 100, 2, 98", k.Scheduled, k.OK, k.Missed)
	}
	// The first send was intended at the start and answered after the
	// release: its latency covers the whole wait.
	if wait := releasedAt.Sub(start); k.Hist.Quantile(1) < wait*9/10 {
		t.Errorf("max latency %s, want at least about the %s the node held the request", k.Hist.Quantile(1), wait)
	}
}

// TestRunSoakRedialsIdleClosed: a keep-alive connection the node closed
// while idle is not an error: the request goes out again on a new one.
func TestRunSoakRedialsIdleClosed(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.Config.IdleTimeout = 10 * time.Millisecond
	srv.Start()
	defer srv.Close()
	host := srv.Listener.Addr().String()
	res, err := RunSoak(context.Background(), SoakConfig{Addr: host, Rate: 20, Duration: 500 * time.Millisecond, Conns: 1,
		Kinds: []SoakKind{getKind("idle", 1, host, "/")}})
	if err != nil {
		t.Fatal(err)
	}
	if k := res.Kinds[0]; k.OK != 10 || k.Transport != 0 {
		t.Errorf("got %d ok, %d transport errors (first %q); want 10 and 0", k.OK, k.Transport, k.FirstErr)
	}
}

func TestRunSoakRefusesBadConfig(t *testing.T) {
	ok := getKind("x", 1, "h", "/")
	for name, cfg := range map[string]SoakConfig{
		"no kinds":      {Addr: "127.0.0.1:1", Rate: 1, Duration: time.Second, Conns: 1},
		"zero weights":  {Addr: "127.0.0.1:1", Rate: 1, Duration: time.Second, Conns: 1, Kinds: []SoakKind{{Name: "x", Build: ok.Build}}},
		"no rate":       {Addr: "127.0.0.1:1", Duration: time.Second, Conns: 1, Kinds: []SoakKind{ok}},
		"no conns":      {Addr: "127.0.0.1:1", Rate: 1, Duration: time.Second, Kinds: []SoakKind{ok}},
		"nil build":     {Addr: "127.0.0.1:1", Rate: 1, Duration: time.Second, Conns: 1, Kinds: []SoakKind{{Name: "x", Weight: 1}}},
		"negative mix":  {Addr: "127.0.0.1:1", Rate: 1, Duration: time.Second, Conns: 1, Kinds: []SoakKind{ok, {Name: "y", Weight: -1, Build: ok.Build}}},
		"zero duration": {Addr: "127.0.0.1:1", Rate: 1, Conns: 1, Kinds: []SoakKind{ok}},
	} {
		if _, err := RunSoak(context.Background(), cfg); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

func TestRequestBodies(t *testing.T) {
	at := time.Date(2022, 6, 13, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"scan", ScanBody(nil, "p12", `HC "odd"`, at), `{"at":"2022-06-13T00:00:00Z","person_id":"p12","place_code":"HC \"odd\""}`},
		{"result", ResultBody(nil, "ld1-7", "p3", at, "negative"),
			`{"results":[{"person_id":"p3","result":"negative","sample_id":"ld1-7","sampled_at":"2022-06-13T00:00:00Z"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal(tt.body, &v); err != nil {
				t.Fatalf("%s is not JSON: %v", tt.body, err)
			}
			got, _ := json.Marshal(v) // sorted keys
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	req := string(PostRequest(nil, "127.0.0.1:1", "/api/v1/visits", "tok", []byte(`{"a":1}`)))
	if want := "POST /api/v1/visits HTTP/1.1\r\nHost: 127.0.0.1:1\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"; req != want {
		t.Errorf("got %q, want %q", req, want)
	}
}
