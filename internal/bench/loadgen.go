package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Requests is a set of pre-built raw HTTP/1.1 requests kept in one backing
// array (one object for the garbage collector, however many requests).
type Requests struct {
	buf  []byte
	offs []int
}

// Add appends one raw request.
func (r *Requests) Add(req []byte) {
	if len(r.offs) == 0 {
		r.offs = append(r.offs, 0)
	}
	r.buf = append(r.buf, req...)
	r.offs = append(r.offs, len(r.buf))
}

// Len returns the number of requests.
func (r *Requests) Len() int {
	if len(r.offs) == 0 {
		return 0
	}
	return len(r.offs) - 1
}

// At returns request i.
func (r *Requests) At(i int) []byte { return r.buf[r.offs[i]:r.offs[i+1]:r.offs[i+1]] }

// CodeRequest builds the raw keep-alive request for a person's code, with
// query (e.g. "qr=none") after a "?" unless it is empty.
func CodeRequest(host, personID, token, query string) []byte {
	b := make([]byte, 0, 128+len(token)+len(query))
	b = append(b, "GET /api/v1/persons/"...)
	b = append(b, personID...)
	b = append(b, "/code"...)
	if query != "" {
		b = append(b, '?')
		b = append(b, query...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, token...)
	b = append(b, "\r\n\r\n"...)
	return b
}

// maxBody bounds a response body the load generator accepts.
const maxBody = 1 << 20

// ErrTruncated is returned when a response ends before its Content-Length.
var ErrTruncated = errors.New("truncated response body")

// readResponse reads one HTTP/1.1 response head from br, parses its status and
// Content-Length, and reads the body into buf (grown as needed). It refuses a
// response without Content-Length (chunked or close-delimited bodies are not
// produced by the servers under test and would make the timing ambiguous).
func readResponse(br *bufio.Reader, buf []byte) (status int, body []byte, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, buf[:0], fmt.Errorf("status line: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, buf[:0], fmt.Errorf("malformed status line %q", trimCRLF(line))
	}
	status, err = atoi3(line[9:12])
	if err != nil {
		return 0, buf[:0], fmt.Errorf("malformed status line %q", trimCRLF(line))
	}
	clen := -1
	for i := 0; ; i++ {
		if i > 100 {
			return status, buf[:0], errors.New("more than 100 header lines")
		}
		h, err := br.ReadSlice('\n')
		if err != nil {
			return status, buf[:0], fmt.Errorf("header: %w", err)
		}
		h = trimCRLF(h)
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon < 0 {
			return status, buf[:0], fmt.Errorf("malformed header line %q", h)
		}
		name, val := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.Atoi(string(val))
			if err != nil || n < 0 || n > maxBody {
				return status, buf[:0], fmt.Errorf("bad Content-Length %q", val)
			}
			clen = n
		case asciiEqualFold(name, "transfer-encoding"):
			return status, buf[:0], fmt.Errorf("unsupported Transfer-Encoding %q", val)
		}
	}
	if clen < 0 {
		if status == 204 || status == 304 || status/100 == 1 {
			return status, buf[:0], nil
		}
		return status, buf[:0], errors.New("response has no Content-Length")
	}
	if cap(buf) < clen {
		buf = make([]byte, clen)
	}
	body = buf[:clen]
	if n, err := io.ReadFull(br, body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return status, body[:n], fmt.Errorf("%w: got %d of %d bytes", ErrTruncated, n, clen)
		}
		return status, body[:n], fmt.Errorf("body: %w", err)
	}
	return status, body, nil
}

// readOK reads one response and returns an error unless it is a complete 200.
func readOK(br *bufio.Reader, buf []byte) ([]byte, error) {
	status, body, err := readResponse(br, buf)
	if err != nil {
		return body, err
	}
	if status != 200 {
		return body, &StatusError{Status: status, Body: string(truncate(body, 200))}
	}
	return body, nil
}

// StatusError is a complete response whose status is not 200.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

func atoi3(b []byte) (int, error) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// fetchOnce sends one raw request on a new connection and returns the body
// of a 200 response (used for the same-answer checks).
func fetchOnce(addr string, req []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	body, err := readOK(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), body...), nil
}

// LoadConfig configures one closed-loop load run.
type LoadConfig struct {
	Addr     string
	Reqs     *Requests
	Conns    int
	Duration time.Duration // measured window
	Warmup   time.Duration // before the window; not recorded
	Seed     uint64
	Tick     func(elapsed time.Duration) // called about every 100ms (may be nil)
}

// LoadResult is the outcome of a load run over the measured window.
type LoadResult struct {
	Requests int64         // completed, status 200, started inside the window
	Errors   int64         // failed requests (I/O, parse, non-200), whole run
	FirstErr error         // the first failure, if any
	Window   time.Duration // length of the measured window
	Hist     *Histogram    // latency of the counted requests
}

// Rate returns requests per second over the window.
func (r LoadResult) Rate() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Window.Seconds()
}

// RunHTTPLoad runs Conns keep-alive connections, each a goroutine sending one
// request and reading the full response before the next (closed loop), for
// Warmup+Duration. Requests are picked at random from Reqs.
func RunHTTPLoad(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	if cfg.Reqs == nil || cfg.Reqs.Len() == 0 || cfg.Conns <= 0 || cfg.Duration <= 0 {
		return LoadResult{}, errors.New("bench: load needs requests, connections and a duration")
	}
	conns := make([]net.Conn, cfg.Conns)
	for i := range conns {
		c, err := net.DialTimeout("tcp", cfg.Addr, 5*time.Second)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return LoadResult{}, fmt.Errorf("bench: dial %s: %w", cfg.Addr, err)
		}
		conns[i] = c
	}
	return runClosedLoop(ctx, cfg.Conns, cfg.Duration, cfg.Warmup, cfg.Tick, func(i int) (func(rng *rand.Rand) error, func()) {
		c := conns[i]
		c.SetDeadline(time.Now().Add(cfg.Warmup + cfg.Duration + 15*time.Second))
		br := bufio.NewReaderSize(c, 16<<10)
		buf := make([]byte, 4096)
		n := cfg.Reqs.Len()
		return func(rng *rand.Rand) error {
				if _, err := c.Write(cfg.Reqs.At(rng.IntN(n))); err != nil {
					return err
				}
				var err error
				buf, err = readOK(br, buf)
				return err
			}, func() {
				c.Close()
			}
	}, cfg.Seed)
}

// runClosedLoop drives one goroutine per connection. setup returns the
// per-connection operation and its cleanup. An I/O error ends that
// connection; a StatusError is counted and the connection goes on.
func runClosedLoop(ctx context.Context, conns int, dur, warmup time.Duration, tick func(time.Duration),
	setup func(i int) (op func(*rand.Rand) error, done func()), seed uint64) (LoadResult, error) {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(dur)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    = NewHistogram()
		count    atomic.Int64
		errs     atomic.Int64
		firstErr error
	)
	stopTick := make(chan struct{})
	if tick != nil {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopTick:
					return
				case now := <-t.C:
					tick(now.Sub(start))
				}
			}
		}()
	}
	for i := 0; i < conns; i++ {
		op, done := setup(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)+1))
			h := NewHistogram()
			var n int64
			fail := func(err error) {
				errs.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			for {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					break
				}
				err := op(rng)
				lat := time.Since(t0)
				if err != nil {
					fail(err)
					var se *StatusError
					if errors.As(err, &se) {
						continue
					}
					break
				}
				if !t0.Before(measureFrom) {
					n++
					h.Record(lat)
				}
			}
			count.Add(n)
			mu.Lock()
			total.Merge(h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopTick)
	res := LoadResult{Requests: count.Load(), Errors: errs.Load(), FirstErr: firstErr, Window: dur, Hist: total}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// Histogram is a log-linear latency histogram (like HDR histogram): values
// in nanoseconds, 128 sub-buckets per power of two, so a reported quantile
// is within 0.8% of the true value.
type Histogram struct {
	counts [64 << subBits]uint64
	n      uint64
	max    uint64
}

const subBits = 7

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{} }

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1
	return (e+1)<<subBits + int((v>>e)&(1<<subBits-1))
}

// bucketRange returns the smallest value of bucket b and its width.
func bucketRange(b int) (lo, width uint64) {
	e := b>>subBits - 1
	if e < 0 {
		return uint64(b), 1
	}
	m := uint64(b&(1<<subBits-1)) | 1<<subBits
	return m << e, 1 << e
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// Merge adds o into h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the q-quantile (0 < q <= 1): the middle of the bucket
// holding the value of rank ceil(q·n).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(b)
			v := lo + w/2
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
