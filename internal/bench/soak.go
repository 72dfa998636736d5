package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SoakKind is one kind of request of a soak's mix.
type SoakKind struct {
	Name   string
	Weight int // share of the sends, relative to the other kinds' weights; 0: none
	// Build appends the raw HTTP/1.1 keep-alive request of the seq-th send
	// (unique in the run), intended to start at at, to buf and returns it.
	// It is called on the connection's goroutine, with that goroutine's rng.
	Build func(buf []byte, seq int64, at time.Time, rng *rand.Rand) []byte
}

// SoakConfig configures an open-loop soak: sends at a fixed rate for a fixed
// time, whatever the answers take.
type SoakConfig struct {
	Addr     string // host:port of the node, dialled for every connection
	Kinds    []SoakKind
	Rate     float64       // sends per second, > 0
	Duration time.Duration // the sends' schedule; the run ends at most Timeout later
	// Conns is the number of keep-alive connections, one request in flight
	// on each: a send due while Conns requests are in flight is missed
	// (counted, not sent, not queued).
	Conns   int
	Timeout time.Duration // per request, from its send; default 10s
	Seed    uint64
	// Tick, if set, is called about every 250ms with the progress.
	Tick func(SoakProgress)
}

// SoakProgress is the state of a running soak.
type SoakProgress struct {
	Elapsed   time.Duration
	Planned   int64 // sends of the whole schedule
	Scheduled int64 // sends due so far (sent or missed)
	Done      int64 // answers and transport errors so far
	Errors    int64 // 5xx answers and transport errors so far
	Missed    int64
}

// SoakKindResult is what one kind of request got.
type SoakKindResult struct {
	Name      string
	Scheduled int64      // sends due (sent or missed)
	OK        int64      // 2xx answers
	Status4xx int64      // 4xx answers
	Status5xx int64      // 5xx answers
	Other     int64      // 1xx and 3xx answers
	Transport int64      // sends without an answer: connection, I/O, timeout or protocol errors
	Missed    int64      // not sent: Conns requests were in flight
	Hist      *Histogram // latency of the 2xx answers, from the intended send time
	First4xx  string     // the first 4xx answer, status and start of the body
	First5xx  string
	FirstErr  string // the first transport error
}

// Answers returns the number of HTTP answers of any status.
func (k *SoakKindResult) Answers() int64 { return k.OK + k.Status4xx + k.Status5xx + k.Other }

// SoakResult is the outcome of a soak.
type SoakResult struct {
	Elapsed time.Duration // from the first intended send to the last answer
	Planned int64
	Kinds   []SoakKindResult
	Total   SoakKindResult // all kinds together (Name "all")
	// Lag is the delay from each send's intended time to the moment its
	// connection starts writing it: the generator's own lateness (timer
	// granularity, CPU contention), never a wait for the node, since a send
	// is dispatched only to a free connection. The latencies include it.
	Lag *Histogram
}

// Errors returns the 5xx answers and transport errors.
func (r *SoakResult) Errors() int64 { return r.Total.Status5xx + r.Total.Transport }

// defaultSoakTimeout is SoakConfig.Timeout's default.
const defaultSoakTimeout = 10 * time.Second

// soakJob is one due send.
type soakJob struct {
	seq      int64
	intended time.Time
	kind     int
}

// soakCounts are a kind's live counters.
type soakCounts struct {
	scheduled, ok, s4xx, s5xx, other, transport, missed atomic.Int64
}

// soakFirst keeps the first error of each category.
type soakFirst struct {
	mu                     sync.Mutex
	first4xx, first5xx, tr []string // per kind
}

func (f *soakFirst) set(slot []string, kind int, msg func() string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slot[kind] == "" {
		slot[kind] = msg()
	}
}

// RunSoak runs an open-loop soak: a scheduler dispatches send i of kind
// picked by smooth weighted round robin (so every window of sum(weights)
// sends has the exact mix) at Start+i/Rate to Conns connection goroutines
// over a queue that holds no more than the free connections; a send due
// while all Conns are busy is missed. Latency is measured from the intended
// send time, so a late generator or a queue does not hide the wait
// (coordinated omission). A connection that fails is dialled again for the
// next send; a request on a reused connection that the node closed while
// idle is sent once more on a new one.
//
// It returns when every send has had its answer, error or timeout: at most
// Duration plus Timeout after it started. If ctx ends first, it stops
// sending, waits for the requests in flight and returns the result so far
// with ctx's error.
func RunSoak(ctx context.Context, cfg SoakConfig) (*SoakResult, error) {
	total := 0
	for _, k := range cfg.Kinds {
		if k.Weight < 0 || (k.Weight > 0 && k.Build == nil) {
			return nil, fmt.Errorf("bench: soak kind %q: negative weight or no Build", k.Name)
		}
		total += k.Weight
	}
	switch {
	case total == 0:
		return nil, errors.New("bench: soak needs a kind with a positive weight")
	case cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Conns <= 0:
		return nil, errors.New("bench: soak needs a rate, a duration and connections")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultSoakTimeout
	}
	nk := len(cfg.Kinds)
	counts := make([]soakCounts, nk)
	first := &soakFirst{first4xx: make([]string, nk), first5xx: make([]string, nk), tr: make([]string, nk)}
	planned := int64(cfg.Rate * cfg.Duration.Seconds())
	if planned < 1 {
		planned = 1
	}
	var (
		scheduled, done, errs, missed atomic.Int64
		inflight                      atomic.Int64
	)
	jobs := make(chan soakJob, cfg.Conns)
	hists := make([][]*Histogram, cfg.Conns) // per connection, per kind
	lags := make([]*Histogram, cfg.Conns)    // per connection
	var lastDone atomic.Int64                // unix nanos of the last answer
	var wg sync.WaitGroup
	for w := range cfg.Conns {
		hists[w] = make([]*Histogram, nk)
		lags[w] = NewHistogram()
		wg.Go(func() {
			sc := &soakConn{addr: cfg.Addr, timeout: cfg.Timeout}
			defer sc.close()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)+1))
			var req []byte
			for j := range jobs {
				req = cfg.Kinds[j.kind].Build(req[:0], j.seq, j.intended, rng)
				lags[w].Record(time.Since(j.intended))
				status, body, err := sc.do(req)
				end := time.Now()
				c := &counts[j.kind]
				switch {
				case err != nil:
					c.transport.Add(1)
					errs.Add(1)
					first.set(first.tr, j.kind, func() string { return err.Error() })
				case status >= 200 && status <= 299:
					c.ok.Add(1)
					h := hists[w][j.kind]
					if h == nil {
						h = NewHistogram()
						hists[w][j.kind] = h
					}
					h.Record(end.Sub(j.intended))
				case status >= 400 && status <= 499:
					c.s4xx.Add(1)
					first.set(first.first4xx, j.kind, func() string { return answerText(status, body) })
				case status >= 500:
					c.s5xx.Add(1)
					errs.Add(1)
					first.set(first.first5xx, j.kind, func() string { return answerText(status, body) })
				default:
					c.other.Add(1)
				}
				done.Add(1)
				lastDone.Store(end.UnixNano())
				inflight.Add(-1)
			}
		})
	}

	start := time.Now()
	stopTick := make(chan struct{})
	var tickWG sync.WaitGroup
	if cfg.Tick != nil {
		tickWG.Go(func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopTick:
					return
				case now := <-t.C:
					cfg.Tick(SoakProgress{Elapsed: now.Sub(start), Planned: planned, Scheduled: scheduled.Load(),
						Done: done.Load(), Errors: errs.Load(), Missed: missed.Load()})
				}
			}
		})
	}

	// The scheduler: smooth weighted round robin over the kinds.
	current := make([]int, nk)
	interval := float64(time.Second) / cfg.Rate
	var seq int64
	for seq < planned && ctx.Err() == nil {
		now := time.Now()
		due := min(planned, int64(float64(now.Sub(start))/interval)+1)
		for ; seq < due; seq++ {
			best := -1
			for i, k := range cfg.Kinds {
				current[i] += k.Weight
				if k.Weight > 0 && (best < 0 || current[i] > current[best]) {
					best = i
				}
			}
			current[best] -= total
			intended := start.Add(time.Duration(float64(seq) * interval))
			counts[best].scheduled.Add(1)
			scheduled.Add(1)
			if inflight.Add(1) > int64(cfg.Conns) {
				inflight.Add(-1)
				counts[best].missed.Add(1)
				missed.Add(1)
				continue
			}
			jobs <- soakJob{seq: seq, intended: intended, kind: best} // never blocks: in flight <= Conns = cap(jobs)
		}
		if seq < planned {
			next := start.Add(time.Duration(float64(seq) * interval))
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
	}
	close(jobs)
	wg.Wait()
	close(stopTick)
	tickWG.Wait()

	res := &SoakResult{Planned: planned, Kinds: make([]SoakKindResult, nk), Lag: NewHistogram(),
		Total: SoakKindResult{Name: "all", Hist: NewHistogram()}}
	for _, h := range lags {
		res.Lag.Merge(h)
	}
	res.Elapsed = time.Since(start)
	if ld := lastDone.Load(); ld != 0 {
		res.Elapsed = time.Unix(0, ld).Sub(start)
	}
	for i, k := range cfg.Kinds {
		c := &counts[i]
		kr := SoakKindResult{Name: k.Name, Scheduled: c.scheduled.Load(), OK: c.ok.Load(), Status4xx: c.s4xx.Load(),
			Status5xx: c.s5xx.Load(), Other: c.other.Load(), Transport: c.transport.Load(), Missed: c.missed.Load(),
			Hist: NewHistogram(), First4xx: first.first4xx[i], First5xx: first.first5xx[i], FirstErr: first.tr[i]}
		for w := range hists {
			if h := hists[w][i]; h != nil {
				kr.Hist.Merge(h)
			}
		}
		res.Kinds[i] = kr
		t := &res.Total
		t.Scheduled += kr.Scheduled
		t.OK += kr.OK
		t.Status4xx += kr.Status4xx
		t.Status5xx += kr.Status5xx
		t.Other += kr.Other
		t.Transport += kr.Transport
		t.Missed += kr.Missed
		t.Hist.Merge(kr.Hist)
		firstOf(&t.First4xx, k.Name, kr.First4xx)
		firstOf(&t.First5xx, k.Name, kr.First5xx)
		firstOf(&t.FirstErr, k.Name, kr.FirstErr)
	}
	return res, ctx.Err()
}

// firstOf sets *dst to "kind: msg" unless it is set or msg is empty.
func firstOf(dst *string, kind, msg string) {
	if *dst == "" && msg != "" {
		*dst = kind + ": " + msg
	}
}

// answerText is "status 503: " and the start of the body, on one line.
func answerText(status int, body []byte) string {
	return "status " + strconv.Itoa(status) + ": " + strings.Join(strings.Fields(string(truncate(body, 200))), " ")
}

// soakConn is one keep-alive connection of a soak, dialled when needed.
type soakConn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
	buf     []byte
	used    bool // a request was answered on c
}

func (s *soakConn) close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// do sends req and reads its answer. A request that fails on a reused
// connection before any answer (the node closed it while idle) is sent
// once more on a new connection. Any error closes the connection.
func (s *soakConn) do(req []byte) (status int, body []byte, err error) {
	for attempt := 0; ; attempt++ {
		reused := s.c != nil && s.used
		status, body, err = s.try(req)
		if err == nil {
			s.used = true
			return status, body, nil
		}
		s.close()
		if attempt > 0 || !reused || status != 0 || !staleConn(err) {
			return status, body, err
		}
	}
}

func (s *soakConn) try(req []byte) (int, []byte, error) {
	if s.c == nil {
		c, err := net.DialTimeout("tcp", s.addr, s.timeout)
		if err != nil {
			return 0, nil, err
		}
		s.c, s.used = c, false
		if s.br == nil {
			s.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			s.br.Reset(c)
		}
	}
	if err := s.c.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		return 0, nil, err
	}
	if _, err := s.c.Write(req); err != nil {
		return 0, nil, err
	}
	status, body, err := readResponse(s.br, s.buf)
	if cap(body) > cap(s.buf) {
		s.buf = body[:0]
	}
	return status, body, err
}

// staleConn reports whether err is what a write to or read from a
// connection the peer closed gives.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// PostRequest appends a raw keep-alive POST of a JSON body to buf.
func PostRequest(buf []byte, host, path, token string, body []byte) []byte {
	buf = append(buf, "POST "...)
	buf = append(buf, path...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, host...)
	buf = append(buf, "\r\nAuthorization: Bearer "...)
	buf = append(buf, token...)
	buf = append(buf, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, body...)
}

// ScanBody appends the body of a person's own scan (POST /api/v1/visits) of
// a place code at at to buf.
func ScanBody(buf []byte, personID, placeCode string, at time.Time) []byte {
	buf = append(buf, `{"person_id":`...)
	buf = appendJSONString(buf, personID)
	buf = append(buf, `,"place_code":`...)
	buf = appendJSONString(buf, placeCode)
	buf = append(buf, `,"at":"`...)
	buf = at.UTC().AppendFormat(buf, time.RFC3339)
	return append(buf, `"}`...)
}

// ResultBody appends the body of a batch of one test result (POST
// /api/v1/labs/{lab}/results) to buf.
func ResultBody(buf []byte, sampleID, personID string, sampledAt time.Time, result string) []byte {
	buf = append(buf, `{"results":[{"sample_id":`...)
	buf = appendJSONString(buf, sampleID)
	buf = append(buf, `,"person_id":`...)
	buf = appendJSONString(buf, personID)
	buf = append(buf, `,"sampled_at":"`...)
	buf = sampledAt.UTC().AppendFormat(buf, time.RFC3339)
	buf = append(buf, `","result":`...)
	buf = appendJSONString(buf, result)
	return append(buf, `}]}`...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
