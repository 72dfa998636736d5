package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/httpapi"
	"healthcode/internal/node"
)

func reader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func TestReadResponse(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		br := reader("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
		body, err := readOK(br, nil)
		if err != nil || string(body) != `{"a":1}` {
			t.Fatalf("first response: %q, %v", body, err)
		}
		body, err = readOK(br, body)
		if err != nil || string(body) != `{}` {
			t.Fatalf("second (keep-alive) response: %q, %v", body, err)
		}
	})
	t.Run("non-200", func(t *testing.T) {
		br := reader("HTTP/1.1 401 Unauthorized\r\nContent-Length: 15\r\n\r\n{\"error\":\"no\"}\n")
		_, err := readOK(br, nil)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != 401 || !strings.Contains(se.Body, "error") {
			t.Fatalf("got %v, want a StatusError 401 with the body", err)
		}
	})
	t.Run("truncated body", func(t *testing.T) {
		br := reader("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"person_id\":")
		_, err := readOK(br, nil)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("got %v, want ErrTruncated", err)
		}
	})
	t.Run("truncated head", func(t *testing.T) {
		if _, err := readOK(reader("HTTP/1.1 200 OK\r\nContent-Len"), nil); err == nil {
			t.Fatal("a response cut inside its head was accepted")
		}
	})
	for name, resp := range map[string]string{
		"no content-length": "HTTP/1.1 200 OK\r\n\r\n{}",
		"chunked":           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"bad status line":   "HTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
		"bad length":        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := readOK(reader(resp), nil); err == nil {
				t.Fatalf("%q was accepted", resp)
			}
		})
	}
}

func TestLoadCountsFailures(t *testing.T) {
	bare, err := StartBare(map[string][]byte{"p1": []byte(`{"person_id":"p1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	reqs := &Requests{}
	reqs.Add(CodeRequest(bare.Addr, "p1", "tok", ""))
	res, err := RunHTTPLoad(context.Background(), LoadConfig{Addr: bare.Addr, Reqs: reqs, Conns: 2, Duration: 150 * time.Millisecond, Seed: 1})
	if err != nil || res.Errors != 0 || res.Requests == 0 || res.Hist.Count() != uint64(res.Requests) {
		t.Fatalf("good run: %+v, %v", res, err)
	}
	reqs.Add(CodeRequest(bare.Addr, "p2", "tok", "qr=none")) // unknown: 404
	res, err = RunHTTPLoad(context.Background(), LoadConfig{Addr: bare.Addr, Reqs: reqs, Conns: 2, Duration: 150 * time.Millisecond, Seed: 1})
	var se *StatusError
	if err != nil || res.Errors == 0 || !errors.As(res.FirstErr, &se) || se.Status != 404 {
		t.Fatalf("run with 404s: errors %d, first %v, err %v", res.Errors, res.FirstErr, err)
	}
}

func TestHistogram(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d > 0.01 || d < -0.01 {
			t.Errorf("q%v = %v, want %v ±1%%", c.q, got, c.want)
		}
	}
	for v := uint64(0); v < 1<<20; v = v*3/2 + 1 {
		lo, w := bucketRange(bucketOf(v))
		if v < lo || v >= lo+w {
			t.Fatalf("value %d outside its bucket [%d, %d)", v, lo, lo+w)
		}
	}
}

func TestSyntheticData(t *testing.T) {
	now := time.Now()
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 999, 1000, 999999, 9999999} {
		id := IDNumber(i)
		if _, err := health.ValidateIDNumber("id", id, now); err != nil {
			t.Errorf("IDNumber(%d) = %s: %v", i, id, err)
		}
		if seen[id] {
			t.Errorf("IDNumber(%d) = %s repeats", i, id)
		}
		seen[id] = true
	}
	a := []byte(`{"colour":"green","valid_until":"2026-01-01T00:00:00Z","qr":null,"qr_expires_at":null}`)
	b := []byte(`{"colour":"green","valid_until":"2026-01-02T00:00:00Z","qr":null,"qr_expires_at":null}`)
	if !sameUnsigned(a, b) {
		t.Errorf("masking left time fields: %s", maskTimes(a))
	}
	if c := bytes.Replace(b, []byte("green"), []byte("red"), 1); sameUnsigned(a, c) {
		t.Errorf("%s and %s compare equal", a, c)
	}
	s := []byte(`{"colour":"green","valid_until":"2026-01-01T00:05:00Z","qr":"HCC1:6BF...","qr_expires_at":"2026-01-01T00:05:00Z"}`)
	if got, want := string(maskSigned(s)), string(maskSigned(a)); got != want || !strings.Contains(got, `"qr":*,"qr_expires_at":*`) {
		t.Errorf("maskSigned: %s and %s", got, want)
	}
	if p := PlanLog(10000000); p.Events() != 10000000 || p.Persons != 200000 || p.Places != 20000 {
		t.Errorf("PlanLog(10M) = %+v", p)
	}
}

// testNode opens a node on a temporary store, starts its writer and enrols
// persons persons.
func testNode(tb testing.TB, persons int) *node.Node {
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := NodeConfig(ctx, tb.TempDir(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := node.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-done
		cfg.Store.Close()
	})
	// Run marks the node running when it starts; wait for that.
	for i := 0; ; i++ {
		err = EnrolPersons(ctx, n, 0, 1, nil)
		if !errors.Is(err, node.ErrStopped) || i > 1000 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
	if persons > 1 {
		if err := EnrolPersons(ctx, n, 1, persons-1, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return n
}

// BenchmarkCodeHandler: the node's code handler for one person, through the
// whole API handler (routing, token check, code view, JSON), signed (a fresh
// token per request) and unsigned (?qr=none), against a bare handler
// returning the unsigned bytes.
func BenchmarkCodeHandler(b *testing.B) {
	n := testNode(b, 1)
	tok := n.PersonToken(1)
	v, err := n.Code(1)
	if err != nil {
		b.Fatal(err)
	}
	body := httpapi.AppendCodeJSON(nil, &v, nil)
	bareMux := http.NewServeMux()
	bareMux.HandleFunc("GET /api/v1/persons/{id}/code", BareHandler(map[string][]byte{"p1": body}))
	api := httpapi.New(httpapi.Config{Node: n})
	for _, c := range []struct {
		name, target string
		h            http.Handler
	}{
		{"healthcode-signed", "/api/v1/persons/p1/code", api},
		{"healthcode-unsigned", "/api/v1/persons/p1/code?qr=none", api},
		{"bare", "/api/v1/persons/p1/code?qr=none", bareMux},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", c.target, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkOfflineVerify: codesign.Verify of a token signed by a node,
// against crypto/ed25519.Verify of the token's COSE Sig_structure.
func BenchmarkOfflineVerify(b *testing.B) {
	n := testNode(b, 1)
	tl, err := codesign.ParseTrustList(n.TrustListJSON(), nil)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := n.SignCode(context.Background(), 1, false)
	if err != nil {
		b.Fatal(err)
	}
	cases, err := prepareVerify([]SignedToken{{Payload: sc.Payload, At: n.Now(), Colour: sc.Claims.Colour}}, tl)
	if err != nil {
		b.Fatal(err)
	}
	c := cases[0]
	b.Run("codesign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := codesign.Verify(c.tok.Payload, tl, c.tok.At); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ed25519", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(c.pub, c.tbs, c.sig) {
				b.Fatal("rejected")
			}
		}
	})
}

// BenchmarkRecordVisits: durable batches of 1,000 visits through
// node.RecordVisits on a temporary store.
func BenchmarkRecordVisits(b *testing.B) {
	const persons, places, batch = 1000, 10, 1000
	n := testNode(b, persons)
	ctx := context.Background()
	if err := RegisterPlaces(ctx, n, places, nil); err != nil {
		b.Fatal(err)
	}
	rows := GenVisits(batch, persons, places, n.Now(), 1)
	in := make([]node.VisitInput, batch)
	for i, r := range rows {
		in[i] = node.VisitInput{Person: r.Person, PlaceCode: health.PlaceCode(r.Place), Trusted: true,
			At: time.Unix(r.At, 0), Until: time.Unix(r.Until, 0)}
	}
	for b.Loop() {
		if _, err := n.RecordVisits(ctx, "staff:admin", in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "visits/s")
}
