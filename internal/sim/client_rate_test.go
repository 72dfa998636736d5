package sim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientRate(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	cl := &Client{Base: srv.URL, Token: testToken, Concurrency: 4, Rate: 40} // one request per 25ms
	start := time.Now()
	var wg sync.WaitGroup
	for range 9 {
		wg.Go(func() {
			if err := cl.Do(context.Background(), http.MethodGet, "/x", nil, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, min := time.Since(start), 8*25*time.Millisecond; got < min {
		t.Errorf("9 requests at 40/s took %s, want at least %s", got, min)
	}
	if n.Load() != 9 {
		t.Errorf("the server got %d requests, want 9", n.Load())
	}
	// A cancelled context ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&Client{Base: srv.URL, Rate: 0.001}).Do(ctx, http.MethodGet, "/x", nil, nil); err == nil {
		t.Error("a cancelled request: got no error")
	}
}

func TestClientEnrol(t *testing.T) {
	now := time.Date(2022, 6, 13, 10, 0, 0, 0, time.UTC)
	city := clientCity(t, now)
	srv := httptest.NewServer(newFakeAPI(t, now))
	defer srv.Close()
	cl := &Client{Base: srv.URL, Token: testToken}
	ids, existing, err := cl.Enrol(context.Background(), city.Persons[:1500], nil)
	if err != nil || existing != 0 || len(ids) != 1500 {
		t.Fatalf("first enrolment: got %d ids, %d existing, %v; want 1500, 0, nil", len(ids), existing, err)
	}
	again, existing, err := cl.Enrol(context.Background(), city.Persons[:2000], nil)
	if err != nil || existing != 1500 || len(again) != 2000 {
		t.Fatalf("second enrolment: got %d ids, %d existing, %v; want 2000, 1500, nil", len(again), existing, err)
	}
	for i, id := range ids {
		if again[i] != id {
			t.Fatalf("person %d: got %s the second time, %s the first", i, again[i], id)
		}
	}
}
