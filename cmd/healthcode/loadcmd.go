package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"healthcode/internal/bench"
	"healthcode/internal/sim"
)

// loadConfig is the configuration of sim --load.
type loadConfig struct {
	Target    string
	Token     string
	LabToken  string
	Rate      float64
	Duration  time.Duration
	Mix       string
	Persons   int
	Conns     int
	Seed      int
	MaxErrors int64
	JSON      bool
}

const loadUsage = `usage:
  healthcode sim --load --target http://127.0.0.1:PORT --token T --lab-token L [--rate R] [--duration D]
                 [--mix code=90,scan=8,result=2] [--persons N] [--conns C] [--seed S] [--max-errors N] [--json]

Holds a fixed mix of requests at a fixed rate against a node on this machine
(the target must be a loopback address: 127.0.0.0/8, ::1 or localhost) for a
fixed time, and reports the answers per second, latency quantiles per kind,
4xx and 5xx answers, transport errors, missed sends and the node's memory
growth (GET /metrics before, during and after).

Before the run it enrols --persons persons (ID numbers derived from --seed,
so a second run reuses them) and registers a few places (reused by name).
The kinds of request: code = GET /api/v1/persons/{id}/code with the person's
token (a signed code; the node hands a token out again within its
--screen-reuse window, D50); scan = POST /api/v1/visits with the person's
token, a signed place code and the node's current time; result = POST
/api/v1/labs/{lab}/results with the lab account's token, one negative result.

The generator is open-loop: send i is due at start + i/rate whatever the
earlier answers took, and its latency is measured from then (so a slow answer
is not hidden by sending less, the coordinated omission of closed-loop
tools). Each of --conns keep-alive connections carries one request at a time;
a send due while all are busy is missed: counted, not sent. The run ends at
most 10s after --duration (the request timeout).

It exits 1 if more than --max-errors requests got a 5xx answer or a
transport error.

flags:`

// Bounds of the load flags.
const (
	loadMinRate, loadMaxRate         = 1, 100_000
	loadMinDuration, loadMaxDuration = time.Second, 30 * time.Minute
	loadMinPersons, loadMaxPersons   = 10, 1_000_000
	loadMaxConns                     = 1024
	loadMaxSeed                      = 20
	loadPlaces                       = 20
	loadRequestTimeout               = 10 * time.Second
	loadSetupTimeout                 = 5 * time.Minute
)

// loadKinds are the kinds of request of a load, in report order.
var loadKinds = []string{"code", "scan", "result"}

// wantsLoad reports whether args ask for sim --load (before any "--").
func wantsLoad(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "load" {
			b, err := strconv.ParseBool(val)
			return !hasVal || (err == nil && b)
		}
	}
	return false
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim --load", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), loadUsage)
		fs.PrintDefaults()
	}
	var lc loadConfig
	fs.Bool("load", true, "hold a request mix at a fixed rate against --target")
	fs.StringVar(&lc.Target, "target", "", "base URL of a node on this machine, e.g. http://127.0.0.1:8080")
	fs.StringVar(&lc.Token, "token", "", "a staff token (session or API key) of an account that enrols persons and registers places")
	fs.StringVar(&lc.LabToken, "lab-token", "", "the API key (or session) of a lab account, for the result uploads (its username is the lab id)")
	fs.Float64Var(&lc.Rate, "rate", 1000, "requests per second, 1 to 100000")
	fs.DurationVar(&lc.Duration, "duration", time.Minute, "how long to send, 1s to 30m")
	fs.StringVar(&lc.Mix, "mix", "code=90,scan=8,result=2", "relative weights of the kinds of request: code, scan, result")
	fs.IntVar(&lc.Persons, "persons", 10_000, "persons to enrol and send requests for")
	fs.IntVar(&lc.Conns, "conns", 64, "keep-alive connections: the most requests in flight")
	fs.IntVar(&lc.Seed, "seed", 1, "1 to 20: selects the persons' ID numbers and the random choices")
	fs.Int64Var(&lc.MaxErrors, "max-errors", 0, "exit 1 if more requests than this got a 5xx answer or a transport error")
	fs.BoolVar(&lc.JSON, "json", false, "print the report as a JSON object")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case lc.Target == "":
		return usageError{"sim --load needs --target URL (a node on this machine)"}
	case lc.Token == "":
		return usageError{"sim --load needs --token (a staff token)"}
	case !(lc.Rate >= loadMinRate && lc.Rate <= loadMaxRate):
		return usageError{fmt.Sprintf("--rate must be between %d and %d", loadMinRate, loadMaxRate)}
	case lc.Duration < loadMinDuration || lc.Duration > loadMaxDuration:
		return usageError{fmt.Sprintf("--duration must be between %s and %s", loadMinDuration, loadMaxDuration)}
	case lc.Persons < loadMinPersons || lc.Persons > loadMaxPersons:
		return usageError{fmt.Sprintf("--persons must be between %d and %d", loadMinPersons, loadMaxPersons)}
	case lc.Conns < 1 || lc.Conns > loadMaxConns:
		return usageError{fmt.Sprintf("--conns must be between 1 and %d", loadMaxConns)}
	case lc.Seed < 1 || lc.Seed > loadMaxSeed:
		return usageError{fmt.Sprintf("--seed must be between 1 and %d", loadMaxSeed)}
	case lc.MaxErrors < 0:
		return usageError{"--max-errors must not be negative"}
	}
	mix, err := parseMix(lc.Mix)
	if err != nil {
		return err
	}
	base, host, err := loopbackTarget(lc.Target)
	if err != nil {
		return err
	}
	addr, err := dialLoopback(ctx, host)
	if err != nil {
		return err
	}

	// Set-up: persons and places, bounded.
	setupCtx, cancel := context.WithTimeout(ctx, loadSetupTimeout)
	defer cancel()
	client := &sim.Client{Base: base, Token: lc.Token, SkipExisting: true}
	lab := ""
	if mix["result"] > 0 {
		if lc.LabToken == "" {
			return usageError{"a mix with results needs --lab-token (a lab account's API key)"}
		}
		if lab, err = client.Username(setupCtx, lc.LabToken); err != nil {
			return fmt.Errorf("sim --load: the lab token: %w", err)
		}
	}
	bars := newBars(stderr)
	loaded, err := client.Load(setupCtx, &sim.City{Persons: loadPersons(lc.Seed, lc.Persons), Places: loadPlaceList()},
		func(phase string, done, total int) {
			if phase == "persons" || phase == "places" {
				bars.progress(phase, done, total)
			}
		})
	bars.finish()
	if err != nil {
		return fmt.Errorf("sim --load: setting up persons and places on %s: %w", base, err)
	}
	offset := client.ServerTime(setupCtx).Sub(time.Now()).Round(time.Second)
	hc := &http.Client{Timeout: 5 * time.Second}
	before, err := scrapeMetrics(ctx, hc, base)
	if err != nil {
		return fmt.Errorf("sim --load: %w", err)
	}

	kinds := loadRequests(mix, host, lab, lc.LabToken, loaded, offset)
	mem := newMemSampler(hc, base, max(time.Second, lc.Duration/60), before)
	bars = newBars(stderr)
	desc := fmt.Sprintf("hold %g req/s", lc.Rate)
	res, runErr := bench.RunSoak(ctx, bench.SoakConfig{Addr: addr, Kinds: kinds, Rate: lc.Rate, Duration: lc.Duration, Conns: lc.Conns,
		Timeout: loadRequestTimeout, Seed: uint64(lc.Seed), Tick: func(p bench.SoakProgress) { bars.progress(desc, int(p.Done), int(p.Planned)) }})
	bars.finish()
	series, failures := mem.stop()
	if res == nil {
		return fmt.Errorf("sim --load: %w", runErr)
	}
	// A node that stopped answering still gets its report (the transport
	// errors say what happened).
	after, afterErr := scrapeMetrics(context.WithoutCancel(ctx), hc, base)
	if afterErr == nil {
		series = append(series, memSample{Seconds: time.Since(mem.start).Round(time.Millisecond).Seconds(), HeapInuse: after.HeapInuse, RSS: after.RSS})
	}
	rep := newLoadReport(lc, mix, base, loaded, res, before, after, series, failures)
	if afterErr != nil {
		rep.Node.Error = "after the run: " + afterErr.Error()
	}
	if lc.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printLoad(stdout, rep)
	}
	if runErr != nil {
		return fmt.Errorf("sim --load: stopped after %s: %w", res.Elapsed.Round(time.Millisecond), runErr)
	}
	if n := res.Errors(); n > lc.MaxErrors {
		first := res.Total.First5xx
		if first == "" {
			first = res.Total.FirstErr
		}
		return fmt.Errorf("sim --load: %d 5xx answers and %d transport errors, more than --max-errors %d (first: %s)",
			res.Total.Status5xx, res.Total.Transport, lc.MaxErrors, first)
	}
	return nil
}

// parseMix parses "code=90,scan=8,result=2" into weights by kind; a kind
// left out has weight 0.
func parseMix(s string) (map[string]int, error) {
	mix := map[string]int{}
	sum := 0
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.Atoi(val)
		switch {
		case !ok || err != nil || w < 0 || w > 1_000_000:
			return nil, usageError{fmt.Sprintf("--mix: %q is not KIND=WEIGHT (a whole number from 0 to 1000000)", part)}
		case !slices.Contains(loadKinds, name):
			return nil, usageError{fmt.Sprintf("--mix: %q is not a kind of request (%s)", name, strings.Join(loadKinds, ", "))}
		}
		if _, dup := mix[name]; dup {
			return nil, usageError{fmt.Sprintf("--mix: %s is given twice", name)}
		}
		mix[name] = w
		sum += w
	}
	if sum == 0 {
		return nil, usageError{"--mix: every weight is 0"}
	}
	return mix, nil
}

// loopbackTarget checks that target is http://HOST[:PORT][/] with a
// loopback HOST and returns the base URL and host:port.
func loopbackTarget(target string) (base, host string, err error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", "", usageError{fmt.Sprintf("--target: %q is not a URL like http://127.0.0.1:8080 (plain HTTP, no path)", target)}
	}
	name := u.Hostname()
	if ip, err := netip.ParseAddr(name); err == nil {
		if !ip.Unmap().IsLoopback() {
			return "", "", usageError{fmt.Sprintf("--target: %s is not a loopback address (127.0.0.0/8, ::1 or localhost): sim --load only loads a node on this machine", name)}
		}
	} else if !strings.EqualFold(name, "localhost") {
		return "", "", usageError{fmt.Sprintf("--target: %s is not a loopback address (127.0.0.0/8, ::1 or localhost): sim --load only loads a node on this machine", name)}
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	host = net.JoinHostPort(name, port)
	return "http://" + host, host, nil
}

// dialLoopback resolves host (a loopback IP or localhost), checks that every
// address it names is a loopback one, and returns the first that accepts a
// connection.
func dialLoopback(ctx context.Context, host string) (string, error) {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		return "", err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return "", fmt.Errorf("sim --load: resolving %s: %w", name, err)
	}
	var firstErr error
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return "", fmt.Errorf("sim --load: %s resolves to %s, not a loopback address", name, ip)
		}
	}
	for _, ip := range ips {
		addr := net.JoinHostPort(ip.Unmap().String(), port)
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return addr, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", fmt.Errorf("sim --load: no node answers at %s: %w", host, firstErr)
}

// loadPersons returns the load's persons: ID numbers from block seed of a
// million synthetic ones, so that the same seed enrols the same persons.
func loadPersons(seed, n int) []sim.Person {
	const homes = "440103 440104 440105 440106 440111 440112 440113 440114 440115 440117 440118"
	regions := strings.Fields(homes)
	ps := make([]sim.Person, n)
	first := (seed - 1) * 1_000_000
	for i := range ps {
		ps[i] = sim.Person{IDNumber: bench.IDNumber(first + i), Name: "压测" + strconv.Itoa(i), Phone: fmt.Sprintf("139%08d", first+i),
			HomeRegion: regions[i%len(regions)]}
	}
	return ps
}

// loadPlaceList returns the load's places (reused by name when they exist).
func loadPlaceList() []sim.Place {
	kinds := []string{"restaurant", "supermarket", "mall", "office", "market"}
	ps := make([]sim.Place, loadPlaces)
	for i := range ps {
		ps[i] = sim.Place{Name: fmt.Sprintf("压测场所 %02d", i+1), Kind: kinds[i%len(kinds)], Region: "440106",
			Lat: 23.12 + float64(i)*0.001, Lng: 113.32 + float64(i)*0.001}
	}
	return ps
}

// loadRequests returns the kinds of request of the mix. Person i scans
// place i mod the number of places (always the same one, so that no scan
// looks like impossible travel).
func loadRequests(mix map[string]int, host, lab, labToken string, l *sim.Loaded, offset time.Duration) []bench.SoakKind {
	n := len(l.PersonIDs)
	var codes bench.Requests
	if mix["code"] > 0 {
		for i := range n {
			codes.Add(bench.CodeRequest(host, l.PersonIDs[i], l.Tokens[i], ""))
		}
	}
	run := "ld" + strconv.FormatInt(time.Now().Unix(), 36) + "-"
	return []bench.SoakKind{
		{Name: "code", Weight: mix["code"], Build: func(buf []byte, _ int64, _ time.Time, rng *rand.Rand) []byte {
			return append(buf, codes.At(rng.IntN(n))...)
		}},
		{Name: "scan", Weight: mix["scan"], Build: func(buf []byte, _ int64, at time.Time, rng *rand.Rand) []byte {
			p := rng.IntN(n)
			body := bench.ScanBody(make([]byte, 0, 192), l.PersonIDs[p], l.PlaceCodes[p%len(l.PlaceCodes)], at.Add(offset))
			return bench.PostRequest(buf, host, "/api/v1/visits", l.Tokens[p], body)
		}},
		{Name: "result", Weight: mix["result"], Build: func(buf []byte, seq int64, at time.Time, rng *rand.Rand) []byte {
			p := rng.IntN(n)
			body := bench.ResultBody(make([]byte, 0, 160), run+strconv.FormatInt(seq, 10), l.PersonIDs[p], at.Add(offset-30*time.Minute), "negative")
			return bench.PostRequest(buf, host, "/api/v1/labs/"+lab+"/results", labToken, body)
		}},
	}
}

// nodeMetrics are the figures of the node's GET /metrics a load reports.
type nodeMetrics struct {
	HeapInuse  float64            // go_memstats_heap_inuse_bytes
	RSS        float64            // process_resident_memory_bytes (0 where not exported)
	Goroutines float64            // go_goroutines
	Answers    map[string]float64 // healthcode_http_requests_total by class ("2xx", …)
}

// scrapeMetrics reads the node's GET /metrics (Prometheus text format).
func scrapeMetrics(ctx context.Context, hc *http.Client, base string) (nodeMetrics, error) {
	m := nodeMetrics{Answers: map[string]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return m, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	heap := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(line[:sp], "{")
		switch name {
		case "go_memstats_heap_inuse_bytes":
			m.HeapInuse, heap = v, true
		case "process_resident_memory_bytes":
			m.RSS = v
		case "go_goroutines":
			m.Goroutines = v
		case "healthcode_http_requests_total":
			if _, rest, ok := strings.Cut(labels, `class="`); ok {
				if class, _, ok := strings.Cut(rest, `"`); ok {
					m.Answers[class] += v
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("GET /metrics: %w", err)
	}
	if !heap {
		return m, errors.New("GET /metrics: no go_memstats_heap_inuse_bytes")
	}
	return m, nil
}

// memSample is the node's memory at a time of the run.
type memSample struct {
	Seconds   float64 `json:"t"` // since the first sample, just before the run
	HeapInuse float64 `json:"heap_inuse_bytes"`
	RSS       float64 `json:"rss_bytes"`
}

// memSampler reads the node's memory every so often during a load.
type memSampler struct {
	start    time.Time
	mu       sync.Mutex
	series   []memSample
	failures int
	done     chan struct{}
	wg       sync.WaitGroup
}

// newMemSampler starts sampling; first is the sample taken before the run.
func newMemSampler(hc *http.Client, base string, every time.Duration, first nodeMetrics) *memSampler {
	s := &memSampler{start: time.Now(), done: make(chan struct{})}
	s.add(first, nil)
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				m, err := scrapeMetrics(context.Background(), hc, base)
				s.add(m, err)
			}
		}
	})
	return s
}

func (s *memSampler) add(m nodeMetrics, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failures++
		return
	}
	s.series = append(s.series, memSample{Seconds: time.Since(s.start).Round(time.Millisecond).Seconds(), HeapInuse: m.HeapInuse, RSS: m.RSS})
}

// stop stops sampling and returns the series.
func (s *memSampler) stop() (series []memSample, failures int) {
	close(s.done)
	s.wg.Wait()
	return s.series, s.failures
}

// loadReport is what sim --load prints (--json: as this object).
type loadReport struct {
	Target          string         `json:"target"`
	Rate            float64        `json:"rate"`
	DurationSeconds float64        `json:"duration_seconds"`
	Mix             map[string]int `json:"mix"`
	Persons         int            `json:"persons"`
	PersonsEnrolled int            `json:"persons_enrolled"`
	Places          int            `json:"places"`
	Conns           int            `json:"conns"`
	Seed            int            `json:"seed"`
	ElapsedSeconds  float64        `json:"elapsed_seconds"`
	AchievedRate    float64        `json:"achieved_rate"` // answers of any status per second
	Kinds           []loadKind     `json:"kinds"`         // the kinds of the mix, then "all"
	Errors          int64          `json:"errors"`        // 5xx answers and transport errors
	Missed          int64          `json:"missed"`
	LagP50Ms        float64        `json:"send_lag_p50_ms"` // intended send time to the start of the write
	LagP99Ms        float64        `json:"send_lag_p99_ms"`
	LagMaxMs        float64        `json:"send_lag_max_ms"`
	Node            loadNode       `json:"node"`
}

// loadKind is one row of the report.
type loadKind struct {
	Name      string  `json:"name"`
	Scheduled int64   `json:"scheduled"`
	OK        int64   `json:"ok"`
	Status4xx int64   `json:"status_4xx"`
	Status5xx int64   `json:"status_5xx"`
	Other     int64   `json:"status_other"`
	Transport int64   `json:"transport_errors"`
	Missed    int64   `json:"missed"`
	Rate      float64 `json:"rate"` // answers per second
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
	First4xx  string  `json:"first_4xx,omitempty"`
	First5xx  string  `json:"first_5xx,omitempty"`
	FirstErr  string  `json:"first_transport_error,omitempty"`
}

// loadNode is the node's side: memory before, at most and after, and its own
// count of the answers it gave during the run.
type loadNode struct {
	HeapInuseBefore  float64            `json:"heap_inuse_bytes_before"`
	HeapInuseAfter   float64            `json:"heap_inuse_bytes_after"`
	HeapInuseMax     float64            `json:"heap_inuse_bytes_max"`
	RSSBefore        float64            `json:"rss_bytes_before"`
	RSSAfter         float64            `json:"rss_bytes_after"`
	RSSMax           float64            `json:"rss_bytes_max"`
	GoroutinesBefore float64            `json:"goroutines_before"`
	GoroutinesAfter  float64            `json:"goroutines_after"`
	Series           []memSample        `json:"memory_series"` // before, every 1/60 of the run (at least 1s), after
	SampleFailures   int                `json:"memory_sample_failures"`
	Answers          map[string]float64 `json:"answers"`         // healthcode_http_requests_total growth by class
	Error            string             `json:"error,omitempty"` // GET /metrics failed after the run
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newLoadReport(lc loadConfig, mix map[string]int, base string, l *sim.Loaded, res *bench.SoakResult, before, after nodeMetrics,
	series []memSample, failures int) loadReport {
	rep := loadReport{Target: base, Rate: lc.Rate, DurationSeconds: lc.Duration.Seconds(), Mix: mix, Persons: len(l.PersonIDs),
		PersonsEnrolled: l.Counts["persons_enrolled"], Places: len(l.PlaceIDs), Conns: lc.Conns, Seed: lc.Seed,
		ElapsedSeconds: res.Elapsed.Seconds(), Errors: res.Errors(), Missed: res.Total.Missed,
		LagP50Ms: ms(res.Lag.Quantile(0.5)), LagP99Ms: ms(res.Lag.Quantile(0.99)), LagMaxMs: ms(res.Lag.Quantile(1))}
	secs := max(res.Elapsed.Seconds(), 1e-9)
	rep.AchievedRate = float64(res.Total.Answers()) / secs
	row := func(k bench.SoakKindResult) loadKind {
		return loadKind{Name: k.Name, Scheduled: k.Scheduled, OK: k.OK, Status4xx: k.Status4xx, Status5xx: k.Status5xx, Other: k.Other,
			Transport: k.Transport, Missed: k.Missed, Rate: float64(k.Answers()) / secs,
			P50Ms: ms(k.Hist.Quantile(0.5)), P99Ms: ms(k.Hist.Quantile(0.99)), P999Ms: ms(k.Hist.Quantile(0.999)), MaxMs: ms(k.Hist.Quantile(1)),
			First4xx: k.First4xx, First5xx: k.First5xx, FirstErr: k.FirstErr}
	}
	for _, k := range res.Kinds {
		if mix[k.Name] > 0 {
			rep.Kinds = append(rep.Kinds, row(k))
		}
	}
	rep.Kinds = append(rep.Kinds, row(res.Total))
	rep.Node = loadNode{HeapInuseBefore: before.HeapInuse, HeapInuseAfter: after.HeapInuse, RSSBefore: before.RSS, RSSAfter: after.RSS,
		GoroutinesBefore: before.Goroutines, GoroutinesAfter: after.Goroutines, Series: series, SampleFailures: failures, Answers: map[string]float64{}}
	for _, m := range series {
		rep.Node.HeapInuseMax, rep.Node.RSSMax = max(rep.Node.HeapInuseMax, m.HeapInuse), max(rep.Node.RSSMax, m.RSS)
	}
	for class, v := range after.Answers {
		if d := v - before.Answers[class]; d != 0 {
			rep.Node.Answers[class] = d
		}
	}
	return rep
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func signedMiB(b float64) string {
	if b >= 0 {
		return "+" + mib(b)
	}
	return "-" + mib(-b)
}

// printLoad prints the report as text.
func printLoad(w io.Writer, r loadReport) {
	var mix []string
	for _, k := range loadKinds {
		if r.Mix[k] > 0 {
			mix = append(mix, k+"="+strconv.Itoa(r.Mix[k]))
		}
	}
	fmt.Fprintf(w, "sim --load: %g req/s for %s against %s\n", r.Rate, time.Duration(r.DurationSeconds*float64(time.Second)), r.Target)
	fmt.Fprintf(w, "  mix %s; %d persons (%d enrolled now), %d places; %d connections; seed %d\n",
		strings.Join(mix, ","), r.Persons, r.PersonsEnrolled, r.Places, r.Conns, r.Seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tscheduled\tok\treq/s\tp50 ms\tp99 ms\tp999 ms\tmax ms\t4xx\t5xx\ttransport\tmissed\t")
	for _, k := range r.Kinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t\n", k.Name, k.Scheduled, k.OK, k.Rate,
			k.P50Ms, k.P99Ms, k.P999Ms, k.MaxMs, k.Status4xx, k.Status5xx, k.Transport, k.Missed)
	}
	tw.Flush()
	fmt.Fprintf(w, "achieved: %.1f answers/s over %.1fs (target %g req/s); latency from each send's intended time\n",
		r.AchievedRate, r.ElapsedSeconds, r.Rate)
	all := r.Kinds[len(r.Kinds)-1]
	fmt.Fprintf(w, "generator: %d sends missed (%.2f%%; missed: due while all %d connections were busy); send lag (intended time to write) p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		r.Missed, 100*float64(r.Missed)/float64(max(1, all.Scheduled)), r.Conns, r.LagP50Ms, r.LagP99Ms, r.LagMaxMs)
	n := r.Node
	if n.Error != "" {
		fmt.Fprintf(w, "node: GET /metrics failed %s; the figures after the run are missing\n", n.Error)
	}
	fmt.Fprintf(w, "node memory: heap in use %s -> %s (%s, max %s); RSS %s -> %s (%s, max %s); goroutines %.0f -> %.0f\n",
		mib(n.HeapInuseBefore), mib(n.HeapInuseAfter), signedMiB(n.HeapInuseAfter-n.HeapInuseBefore), mib(n.HeapInuseMax),
		mib(n.RSSBefore), mib(n.RSSAfter), signedMiB(n.RSSAfter-n.RSSBefore), mib(n.RSSMax), n.GoroutinesBefore, n.GoroutinesAfter)
	if len(n.Series) > 2 {
		var pts []string
		for i := range 11 { // the first, the last and evenly between
			m := n.Series[i*(len(n.Series)-1)/10]
			if p := fmt.Sprintf("%.0fs %.0f/%.0f", m.Seconds, m.HeapInuse/(1<<20), m.RSS/(1<<20)); len(pts) == 0 || pts[len(pts)-1] != p {
				pts = append(pts, p)
			}
		}
		fmt.Fprintf(w, "node memory over the run (heap in use/RSS MiB; %d samples, %d failed): %s\n", len(n.Series), n.SampleFailures, strings.Join(pts, ", "))
	}
	classes := make([]string, 0, len(n.Answers))
	for c := range n.Answers {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	var parts []string
	for _, c := range classes {
		parts = append(parts, fmt.Sprintf("%s %.0f", c, n.Answers[c]))
	}
	fmt.Fprintf(w, "node's own count of its answers during the run: %s\n", strings.Join(parts, ", "))
	for _, k := range r.Kinds[:len(r.Kinds)-1] {
		for _, f := range []struct{ what, msg string }{{"first 4xx", k.First4xx}, {"first 5xx", k.First5xx}, {"first transport error", k.FirstErr}} {
			if f.msg != "" {
				fmt.Fprintf(w, "%s (%s): %s\n", f.what, k.Name, f.msg)
			}
		}
	}
}
