// Package bench measures the core goals of a node, each next to a peer in
// the same run: code lookups over HTTP, signed (a fresh token per request)
// and unsigned (?qr=none, against a bare net/http server with the same bytes
// and Redis GET), offline verification of signed codes (against
// crypto/ed25519.Verify), durable visit ingest (against PostgreSQL COPY), the
// memory of the code view (against a Go map) and the start-up rebuild
// (against a bare scan of the same log). cmd/healthcode's "bench" command
// drives it.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/httpapi"
	"healthcode/internal/node"
)

// Running is a started node (store, writer and HTTP API on Addr).
type Running struct {
	Addr  string
	Node  *node.Node
	Token string // a staff API key of an account that enrols persons and records visits
	Stop  func() error
}

// NodeStarter starts a node on 127.0.0.1:0 over a new data directory with a
// staff account for the benchmarks (Running.Token).
type NodeStarter func(ctx context.Context, dataDir string) (*Running, error)

// Config configures a bench run.
type Config struct {
	Persons       int
	Duration      time.Duration // per HTTP measurement
	Conns         int
	SkipPeers     bool
	PG            string // PostgreSQL DSN
	Redis         string // Redis address
	RebuildEvents int    // 0 skips the rebuild measurement
	MemoryPersons []int
	TracePersons  int // persons of the tracing world (tracegen); 0 skips tracing
	// TraceCovering also runs PostgreSQL and SQLite with covering indexes
	// (a stronger peer than the plain (person, time) and (place,
	// time) indexes, close contacts only; D49).
	TraceCovering bool
	ProfileDir    string // if set, CPU profiles of the timed phases are written there
	Start         NodeStarter
	Stderr        io.Writer // progress bars and phase lines
}

// Goal thresholds of the core issue.
const (
	GoalCodeRPS        = 20000 // GET /code?qr=none
	GoalSignedRPS      = 20000 // GET /code, a fresh token per request
	GoalVerifyRate     = 20000 // codesign.Verify per second on one core
	GoalCodeVsBare     = 0.8
	GoalIngestRate     = 200000
	GoalCodeViewBytes  = 64
	visitBatch         = 10000
	ingestClients      = 4
	maxRequestSet      = 100000
	maxVisits          = 2000000
	enrolBudget        = 4 * time.Minute
	sameAnswerSample   = 100
	sameAnswerNonGreen = 50
	verifyMinOps       = 20000
	verifyDuration     = 3 * time.Second
)

type runner struct {
	cfg      Config
	rep      *Report
	tmp      string
	token    string
	stderr   io.Writer
	enrolled map[int]memFigures
	rate     float64 // enrolments per second through node.Enrol

	verifyOps int           // offline verification: at least this many calls
	verifyDur time.Duration // and at least this long, each of codesign and the peer
}

type memFigures struct {
	codeView  int // node.Stats().CodeViewBytes
	heapDelta int // HeapAlloc growth from an empty node to n enrolled persons
}

// Run runs every measurement and returns the report. A measurement that
// fails is recorded in Report.Failures and the others still run; Run returns
// an error only for a bad configuration or cancellation.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Persons < 100 || cfg.Conns < 1 || cfg.Duration <= 0 || cfg.Start == nil {
		return nil, errors.New("bench: need --persons ≥ 100, --conns ≥ 1, a duration and a node starter")
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	tmp, err := os.MkdirTemp("", "healthcode-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	r := &runner{cfg: cfg, rep: &Report{Machine: DescribeMachine()}, tmp: tmp,
		stderr: cfg.Stderr, enrolled: map[int]memFigures{}, verifyOps: verifyMinOps, verifyDur: verifyDuration}
	r.rep.note("temporary data under %s (removed at the end); load generator, servers and peers share this machine's %d CPUs", tmp, r.rep.Machine.CPUs)
	r.rep.note("load average at start: %s", loadAvg())
	defer func() { r.rep.note("load average at end: %s", loadAvg()) }()
	if err := r.nodeSections(ctx); err != nil {
		r.rep.fail("node", err)
	}
	if ctx.Err() != nil {
		return r.rep, ctx.Err()
	}
	r.memory(ctx)
	if ctx.Err() != nil {
		return r.rep, ctx.Err()
	}
	if cfg.RebuildEvents > 0 {
		if err := r.rebuild(ctx); err != nil {
			r.rep.fail("start-up rebuild", err)
		}
	}
	if cfg.TracePersons > 0 && ctx.Err() == nil {
		if err := r.tracing(ctx); err != nil {
			r.rep.fail("tracing", err)
		}
	}
	return r.rep, ctx.Err()
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "st_" + hex.EncodeToString(b)
}

// profile starts a CPU profile of one timed phase if --profile-dir is set;
// the returned function stops it.
func (r *runner) profile(name string) func() {
	if r.cfg.ProfileDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(r.cfg.ProfileDir, 0o755); err != nil {
		r.rep.fail("profile", err)
		return func() {}
	}
	path := filepath.Join(r.cfg.ProfileDir, name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		r.rep.fail("profile", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		r.rep.fail("profile", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		r.rep.note("CPU profile of %s: %s", name, path)
	}
}

func (r *runner) phase(format string, args ...any) {
	fmt.Fprintf(r.stderr, "== "+format+"\n", args...)
}

func (r *runner) bar(total int, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(r.stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("%-26s", desc)), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(250*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(r.stderr) }))
}

// timeBar shows a phase that runs for a fixed time, in tenths of a second.
func (r *runner) timeBar(total time.Duration, desc string) (*progressbar.ProgressBar, func(time.Duration)) {
	b := progressbar.NewOptions(int(total/(100*time.Millisecond)), progressbar.OptionSetWriter(r.stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("%-26s", desc)), progressbar.OptionSetWidth(30),
		progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(250*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(r.stderr) }))
	return b, func(d time.Duration) { b.Set(int(d / (100 * time.Millisecond))) }
}

// nodeSections starts the node and runs measurements 1 (code lookup) and 2
// (visit ingest) on it, and records its memory at cfg.Persons.
func (r *runner) nodeSections(ctx context.Context) error {
	N := r.cfg.Persons
	dir := filepath.Join(r.tmp, "node")
	rn, err := r.cfg.Start(ctx, dir)
	if err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	r.token = rn.Token
	defer func() {
		if err := rn.Stop(); err != nil {
			r.rep.fail("stop node", err)
		}
		os.RemoveAll(dir)
	}()
	n := rn.Node
	r.phase("setup: enrol %d persons through node.Enrol (batches of 5,000, 4 at a time)", N)
	base := HeapAlloc()
	bar := r.bar(N, "enrol persons")
	t0 := time.Now()
	err = EnrolPersons(ctx, n, 0, N, func(d int) { bar.Set(d) })
	bar.Finish()
	if err != nil {
		return err
	}
	took := time.Since(t0)
	r.rate = float64(N) / took.Seconds()
	heap := HeapAlloc()
	st := n.Stats()
	if st.Persons != N {
		return fmt.Errorf("enrolled %d persons, node has %d", N, st.Persons)
	}
	r.enrolled[N] = memFigures{codeView: st.CodeViewBytes, heapDelta: int(heap) - int(base)}
	r.rep.note("setup: enrolled %d persons in %s (%.0f/s through node.Enrol, durable)", N, took.Round(time.Millisecond), r.rate)

	r.phase("setup: lab results (1%% red, 0.5%% yellow, 2%% negative)")
	results := ResultCount(N)
	bar = r.bar(results, "upload lab results")
	mix, err := UploadResults(ctx, n, N, func(d int) { bar.Set(d) })
	bar.Finish()
	if err != nil {
		return err
	}
	heap2 := HeapAlloc()
	st = n.Stats()
	withTests := mix.Red + mix.Yellow + mix.Negative
	r.rep.note("setup: %d results uploaded; codes green %d, yellow %d, red %d; heap for tests, samples and reasons: %.0f B per person with a result",
		results, st.Codes[health.Green], st.Codes[health.Yellow], st.Codes[health.Red], float64(int(heap2)-int(heap))/float64(max(1, withTests)))

	tokens, err := r.codeLookup(ctx, rn)
	if err != nil {
		r.rep.fail("code lookup", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := r.offlineVerify(ctx, n, tokens); err != nil {
		r.rep.fail("offline verification", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := r.ingest(ctx, rn); err != nil {
		r.rep.fail("visit ingest", err)
	}
	return nil
}

// httpRun is one load run of the code lookup.
type httpRun struct {
	name string
	addr string
	reqs *Requests
}

// codeLookup runs measurement 1 on the node: GET /code signed (a fresh
// token per request) and unsigned (?qr=none), the bare net/http server with
// the unsigned bytes and Redis GET, all on the same request set. It returns
// the tokens fetched for the same-answer check, for the offline verification.
func (r *runner) codeLookup(ctx context.Context, rn *Running) ([]SignedToken, error) {
	n, N := rn.Node, r.cfg.Persons
	rng := mrand.New(mrand.NewPCG(1, 2))
	k := min(N, maxRequestSet)
	set := make([]uint32, k)
	for i, p := range rng.Perm(N)[:k] {
		set[i] = uint32(p) + 1
	}
	r.phase("code lookup: %d persons in the request set; bare server bodies from node.Code + AppendCodeJSON(…, nil)", k)
	bodies := make(map[string][]byte, k)
	var nonGreen []uint32
	for _, p := range set {
		v, err := n.Code(p)
		if err != nil {
			return nil, err
		}
		bodies[health.PersonID(p)] = httpapi.AppendCodeJSON(nil, &v, nil)
		if v.Colour != health.Green && len(nonGreen) < sameAnswerNonGreen {
			nonGreen = append(nonGreen, p)
		}
	}
	var bare *BareServer
	if !r.cfg.SkipPeers {
		var err error
		if bare, err = StartBare(bodies); err != nil {
			return nil, err
		}
		defer bare.Close()
	}
	signedReqs, unsignedReqs, bareReqs := &Requests{}, &Requests{}, &Requests{}
	for _, p := range set {
		pid, tok := health.PersonID(p), n.PersonToken(p)
		signedReqs.Add(CodeRequest(rn.Addr, pid, tok, ""))
		unsignedReqs.Add(CodeRequest(rn.Addr, pid, tok, "qr=none"))
		if bare != nil {
			bareReqs.Add(CodeRequest(bare.Addr, pid, tok, "qr=none"))
		}
	}

	sample := append([]uint32(nil), set[:min(sameAnswerSample, len(set))]...)
	for _, p := range nonGreen {
		if !slices.Contains(sample[:min(sameAnswerSample, len(set))], p) {
			sample = append(sample, p)
		}
	}
	tokens, sameU, sameS, err := r.codeSameAnswer(rn, bare, sample, len(nonGreen))
	if err != nil {
		return nil, err
	}

	dur, conns := r.cfg.Duration, r.cfg.Conns
	warm := min(2*time.Second, dur/5)
	run := func(h httpRun) (LoadResult, error) {
		b, tick := r.timeBar(warm+dur, h.name)
		defer r.profile(profileName(h.name))()
		cpu0, t0 := processCPU(), time.Now()
		res, err := RunHTTPLoad(ctx, LoadConfig{Addr: h.addr, Reqs: h.reqs, Conns: conns, Duration: dur, Warmup: warm, Seed: 11, Tick: tick})
		b.Finish()
		r.rep.note("%s: this process (server and load generator) used %.2f CPUs on average", h.name, (processCPU()-cpu0).Seconds()/time.Since(t0).Seconds())
		if err == nil && res.Errors > 0 {
			err = fmt.Errorf("%d failed requests, first: %w", res.Errors, res.FirstErr)
		}
		return res, err
	}
	r.phase("code lookup: %d connections, %s warm-up + %s measured, per server: healthcode ?qr=none, bare net/http, (fill), healthcode signed, Redis", conns, warm, dur)
	unsignedRes, err := run(httpRun{"GET code?qr=none: healthcode", rn.Addr, unsignedReqs})
	if err != nil {
		return tokens, fmt.Errorf("healthcode ?qr=none: %w", err)
	}
	nan := -1.0
	bareRate, bareP := nan, [3]float64{nan, nan, nan}
	bareName := "bare net/http, same bytes from a map"
	if bare == nil {
		bareName = "bare net/http: skipped (--skip-peers)"
	} else if res, err := run(httpRun{"GET code: bare net/http", bare.Addr, bareReqs}); err != nil {
		bareName = "bare net/http: failed: " + err.Error()
	} else {
		bareRate = res.Rate()
		bareP = latencies(res.Hist)
	}
	if err := r.fillMasks(ctx, n, set); err != nil {
		return tokens, err
	}
	signedRes, err := run(httpRun{"GET code signed: healthcode", rn.Addr, signedReqs})
	if err != nil {
		return tokens, fmt.Errorf("healthcode signed: %w", err)
	}
	redisRate, redisP := nan, [3]float64{nan, nan, nan}
	redisName := fmt.Sprintf("Redis GET %d B (go-redis, unpipelined)", RedisValueSize)
	if r.cfg.SkipPeers {
		redisName = "Redis GET: skipped (--skip-peers)"
	} else {
		b, tick := r.timeBar(warm+dur, "GET: Redis")
		cpu0, t0 := processCPU(), time.Now()
		res, err := RunRedisGet(ctx, r.cfg.Redis, conns, dur, warm, tick)
		b.Finish()
		cpu := (processCPU() - cpu0).Seconds() / time.Since(t0).Seconds()
		if err == nil && res.Errors > 0 {
			err = fmt.Errorf("%d failed GETs, first: %w", res.Errors, res.FirstErr)
		}
		if err != nil {
			redisName = "Redis GET: could not run: " + err.Error()
		} else {
			r.rep.note("GET: Redis: this process (go-redis clients) used %.2f CPUs on average; redis-server is a separate process", cpu)
			redisRate = res.Rate()
			redisP = latencies(res.Hist)
		}
	}
	c := fmt.Sprintf("%d conns", conns)
	uRate, uP := unsignedRes.Rate(), latencies(unsignedRes.Hist)
	sRate, sP := signedRes.Rate(), latencies(signedRes.Hist)
	r.rep.add("code lookup unsigned, GET /persons/{id}/code?qr=none ("+c+")", "req/s", uRate, bareName, bareRate, sameU)
	r.rep.add("unsigned code lookup latency p50", "µs", uP[0], bareName, bareP[0], nil)
	r.rep.add("unsigned code lookup latency p99", "µs", uP[1], bareName, bareP[1], nil)
	r.rep.add("unsigned code lookup latency p99.9", "µs", uP[2], bareName, bareP[2], nil)
	r.rep.add("code lookup unsigned vs Redis ("+c+")", "req/s", uRate, redisName, redisRate, nil)
	r.rep.add("unsigned code lookup latency p50 vs Redis", "µs", uP[0], redisName, redisP[0], nil)
	r.rep.add("unsigned code lookup latency p99 vs Redis", "µs", uP[1], redisName, redisP[1], nil)
	r.rep.add("code lookup signed, GET /persons/{id}/code, fresh token per request ("+c+")", "req/s", sRate, redisName, redisRate, nil)
	r.rep.add("signed code lookup latency p50 vs Redis", "µs", sP[0], redisName, redisP[0], nil)
	r.rep.add("signed code lookup latency p99 vs Redis", "µs", sP[1], redisName, redisP[1], nil)
	r.rep.add("signed code lookup latency p99.9 vs Redis", "µs", sP[2], redisName, redisP[2], nil)
	unsignedName := "healthcode GET /code?qr=none, same run"
	r.rep.add("signed vs unsigned code lookup ("+c+")", "req/s", sRate, unsignedName, uRate, sameS)
	r.rep.add("signed vs unsigned latency p50", "µs", sP[0], unsignedName, uP[0], nil)
	r.rep.add("signed vs unsigned latency p99", "µs", sP[1], unsignedName, uP[1], nil)
	r.rep.note("code lookup: in the %s windows healthcode served %d requests with ?qr=none and %d signed (%d persons in the request set of %d enrolled)",
		dur, unsignedRes.Requests, signedRes.Requests, k, N)
	r.rep.Goals = append(r.rep.Goals,
		Goal{Text: "signed code lookup ≥ 20,000 req/s", Value: fmtNum(sRate) + " req/s", Met: sRate >= GoalSignedRPS},
		Goal{Text: "code lookup ?qr=none ≥ 20,000 req/s", Value: fmtNum(uRate) + " req/s", Met: uRate >= GoalCodeRPS})
	g := Goal{Text: "code lookup ?qr=none ≥ 0.8× the bare net/http server"}
	if bareRate > 0 {
		g.Value = fmt.Sprintf("%.2f×", uRate/bareRate)
		g.Met = uRate/bareRate >= GoalCodeVsBare
	} else {
		g.Reason = bareName
	}
	r.rep.Goals = append(r.rep.Goals, g)
	return tokens, nil
}

// fillMasks signs each person's code once through node.SignCode before the
// signed run. The node caches masked names lazily, so the first token for a
// person also reads and decrypts the identity; a node that has been up for
// a while has them cached, and the request set is too large for the load
// generator's warm-up to reach them all. The time it takes is the cost of
// those first tokens and goes into a note.
func (r *runner) fillMasks(ctx context.Context, n *node.Node, set []uint32) error {
	r.phase("code lookup: node.SignCode once for each of the %d persons in the request set (fills the masked-name cache), 4 goroutines", len(set))
	bar := r.bar(len(set), "sign once per person")
	var done atomic.Int64
	t0 := time.Now()
	err := parallel(ctx, len(set), 4, func(i int) error {
		if _, err := n.SignCode(ctx, set[i], false); err != nil {
			return err
		}
		if d := done.Add(1); d%1000 == 0 || int(d) == len(set) {
			bar.Set(int(d))
		}
		return nil
	})
	bar.Finish()
	if err != nil {
		return fmt.Errorf("sign once per person: %w", err)
	}
	took := time.Since(t0)
	r.rep.note("code lookup, signed: before the signed run, node.SignCode was called once for each of the %d persons in the request set (4 goroutines, %s, %.1f µs per person of wall time), which fills the node's masked-name cache as a node that has been up a while has it; without it the first signed request for each person also reads and decrypts the identity",
		len(set), took.Round(time.Millisecond), us(took)/float64(len(set)))
	return nil
}

// latencies returns p50, p99 and p99.9 in microseconds.
func latencies(h *Histogram) [3]float64 {
	return [3]float64{us(h.Quantile(0.5)), us(h.Quantile(0.99)), us(h.Quantile(0.999))}
}

// codeSameAnswer fetches the sample's codes from the node, signed and with
// ?qr=none, and from the bare server (if it runs). The unsigned answer must
// equal the bare server's byte for byte once valid_until is masked
// (sameU; nil without the bare server). Every signed answer must pass
// checkSigned, and two requests for the same person must get different
// tokens (sameS). It returns the verified tokens.
func (r *runner) codeSameAnswer(rn *Running, bare *BareServer, sample []uint32, nonGreen int) (tokens []SignedToken, sameU, sameS *bool, err error) {
	n := rn.Node
	if len(sample) == 0 {
		return nil, nil, nil, errors.New("no persons to check")
	}
	tl, err := codesign.ParseTrustList(n.TrustListJSON(), nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("node trust list: %w", err)
	}
	okU, okS := true, true
	examples := map[health.Colour][]byte{} // a signed body of each colour
	for _, p := range sample {
		pid, tok := health.PersonID(p), n.PersonToken(p)
		v, err := n.Code(p)
		if err != nil {
			return nil, nil, nil, err
		}
		ub, err := fetchOnce(rn.Addr, CodeRequest(rn.Addr, pid, tok, "qr=none"))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("same-answer fetch from node (?qr=none): %w", err)
		}
		sb, err := fetchOnce(rn.Addr, CodeRequest(rn.Addr, pid, tok, ""))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("same-answer fetch from node (signed): %w", err)
		}
		t, err := checkSigned(sb, ub, &v, tl, n.Now())
		if err != nil {
			if okS {
				r.rep.note("code lookup: signed answer for %s fails its check: %v; signed %s, unsigned %s", pid, err, sb, ub)
			}
			okS = false
		} else {
			tokens = append(tokens, t)
			if examples[v.Colour] == nil {
				examples[v.Colour] = sb
			}
		}
		if bare == nil {
			continue
		}
		bb, err := fetchOnce(bare.Addr, CodeRequest(bare.Addr, pid, tok, "qr=none"))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("same-answer fetch from bare server: %w", err)
		}
		if !sameUnsigned(ub, bb) {
			if okU {
				r.rep.note("code lookup: answers differ for %s: node %s, bare %s", pid, ub, bb)
			}
			okU = false
		}
	}
	// A fresh token per request: two answers for one person differ in "qr".
	p := sample[0]
	req := CodeRequest(rn.Addr, health.PersonID(p), n.PersonToken(p), "")
	a, err1 := fetchOnce(rn.Addr, req)
	b, err2 := fetchOnce(rn.Addr, req)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, nil, fmt.Errorf("same-answer fetch from node (signed): %w", err)
	}
	if qa, qb := qrOf(a), qrOf(b); qa == "" || qa == qb {
		r.rep.note("code lookup: two signed answers for %s carry the same token %q", health.PersonID(p), qa)
		okS = false
	}
	sameS = &okS
	r.rep.note("code lookup, signed: %d persons checked (%d of them not green): every token verified with codesign.Verify against the node's trust list, colour and star equal to node.Code, qr_expires_at equal to the token's expiry, the body equal to the ?qr=none body apart from qr, qr_expires_at and valid_until, and a second request gets a different token",
		len(sample), nonGreen)
	if bare != nil {
		sameU = &okU
		r.rep.note("code lookup, ?qr=none: same answer checked on %d persons (%d of them not green), bodies compared byte for byte with the bare server's with valid_until masked", len(sample), nonGreen)
	}
	for _, c := range []health.Colour{health.Green, health.Yellow, health.Red} {
		if b := examples[c]; b != nil {
			r.rep.note("code lookup: example %s signed body (%d bytes; ?qr=none: %d bytes): %s", c, len(b), len(maskQRFields.ReplaceAll(b, []byte(`"$1":null`))), b)
		}
	}
	return tokens, sameU, sameS, nil
}

// offlineVerify times codesign.Verify of tokens signed by the node against
// the node's trust list, on one goroutine, next to crypto/ed25519.Verify of
// the same signatures.
func (r *runner) offlineVerify(ctx context.Context, n *node.Node, tokens []SignedToken) error {
	tl, err := codesign.ParseTrustList(n.TrustListJSON(), nil)
	if err != nil {
		return fmt.Errorf("node trust list: %w", err)
	}
	if len(tokens) == 0 {
		// The code lookup did not get to fetch any: sign some directly.
		for p := uint32(1); p <= uint32(min(r.cfg.Persons, sameAnswerSample)); p++ {
			sc, err := n.SignCode(ctx, p, false)
			if err != nil {
				return err
			}
			tokens = append(tokens, SignedToken{Payload: sc.Payload, At: n.Now(), Colour: sc.Claims.Colour, Star: sc.Claims.Star})
		}
	}
	r.phase("offline verification: codesign.Verify of %d tokens signed by the node, 1 goroutine, ≥ %s; then crypto/ed25519.Verify of their Sig_structures", len(tokens), r.verifyDur)
	stop := r.profile("offline-verification")
	t, err := TimeVerify(ctx, tokens, tl, r.verifyOps, r.verifyDur, !r.cfg.SkipPeers)
	stop()
	if err != nil {
		return err
	}
	size := fmt.Sprintf("%d B", t.TBSMin)
	if t.TBSMax != t.TBSMin {
		size = fmt.Sprintf("%d–%d B", t.TBSMin, t.TBSMax)
	}
	var plen []int
	for _, tk := range tokens {
		plen = append(plen, len(tk.Payload))
	}
	slices.Sort(plen)
	peer, peerNs, peerRate, same := "crypto/ed25519.Verify of the token's COSE Sig_structure ("+size+")", t.PeerNsPerOp(), 1e9/t.PeerNsPerOp(), &t.Same
	if r.cfg.SkipPeers {
		peer, peerNs, peerRate, same = "crypto/ed25519.Verify: skipped (--skip-peers)", -1, -1, nil
	}
	ns := t.NsPerOp()
	r.rep.add("offline verification, codesign.Verify of a signed code (1 goroutine)", "ns/op", ns, peer, peerNs, same)
	r.rep.add("offline verifications per core", "verifications/s", 1e9/ns, peer, peerRate, nil)
	r.rep.note("offline verification: %d codesign.Verify calls in %s and %d crypto/ed25519.Verify calls in %s, cycling through %d tokens (payloads %d–%d characters, Sig_structures %s); every call accepted its token",
		t.Ops, t.Took.Round(time.Millisecond), t.PeerOps, t.PeerTook.Round(time.Millisecond), len(tokens), plen[0], plen[len(plen)-1], size)
	rate := 1e9 / ns
	r.rep.Goals = append(r.rep.Goals, Goal{Text: "offline verification ≥ 20,000/s per core", Value: fmtNum(rate) + "/s", Met: rate >= GoalVerifyRate})
	return nil
}

func profileName(s string) string {
	return regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), "-")
}

// loadAvg returns the 1, 5 and 15 minute load averages of the machine.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// processCPU returns the user plus system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (r *runner) ingest(ctx context.Context, rn *Running) error {
	n, N := rn.Node, r.cfg.Persons
	places := min(2000, max(10, N/50))
	total := min(maxVisits, 20*N)
	if total >= visitBatch {
		total -= total % visitBatch
	}
	batch := min(visitBatch, total)
	r.phase("visit ingest: register %d places through node.RegisterPlace", places)
	bar := r.bar(places, "register places")
	err := RegisterPlaces(ctx, n, places, func(d int) { bar.Set(d) })
	bar.Finish()
	if err != nil {
		return err
	}
	rows := GenVisits(total, N, places, n.Now(), 5)
	bodies := EncodeVisitBatches(rows, batch)
	perBatch := make([]int, len(bodies))
	size := 0
	for i := range bodies {
		perBatch[i] = min(batch, total-i*batch)
		size += len(bodies[i])
	}
	r.phase("visit ingest: %d visits as %d pre-encoded POST bodies of %d (%.0f MB JSON), %d clients", total, len(bodies), batch, float64(size)/1e6, ingestClients)
	before := n.Stats().Visits
	bar = r.bar(total, "POST visits: healthcode")
	stop := r.profile("visit-ingest")
	res, err := PostVisits(ctx, "http://"+rn.Addr, r.token, bodies, perBatch, ingestClients, func(d int) { bar.Set(d) })
	stop()
	bar.Finish()
	if err != nil {
		return err
	}
	delta := int64(n.Stats().Visits - before)
	bodies = nil
	r.rep.note("visit ingest: %d visits acknowledged in %s; node.Stats().Visits grew by %d", res.Accepted, res.Elapsed.Round(time.Millisecond), delta)

	peer, peerRate := "", -1.0
	var same *bool
	if r.cfg.SkipPeers {
		peer = "PostgreSQL COPY: skipped (--skip-peers)"
	} else {
		r.phase("visit ingest peer: PostgreSQL COPY of the same %d rows, %d per batch, %d connections", total, batch, ingestClients)
		bar = r.bar(total, "COPY visits: PostgreSQL")
		pg, err := RunPGCopy(ctx, r.cfg.PG, rows, batch, ingestClients, func(d int) { bar.Set(d) })
		bar.Finish()
		if err != nil {
			peer = "PostgreSQL COPY: could not run: " + err.Error()
		} else {
			peer = fmt.Sprintf("PostgreSQL %s COPY (pgx, synchronous_commit=%s, fsync=%s, 2 indexes)", strings.Fields(pg.Version + " ?")[0], pg.SyncCommit, pg.Fsync)
			peerRate = pg.Rate()
			ok := pg.Counted == delta && delta == res.Accepted
			same = &ok
			r.rep.note("visit ingest: PostgreSQL acknowledged %d rows in %s; count(*) = %d", pg.Rows, pg.Elapsed.Round(time.Millisecond), pg.Counted)
		}
	}
	rate := res.Rate()
	r.rep.add(fmt.Sprintf("visit ingest, durable (%s visits, POST %s/batch, %d clients)", groupThousands(fmt.Sprint(total)), groupThousands(fmt.Sprint(batch)), ingestClients), "visits/s", rate, peer, peerRate, same)
	r.rep.Goals = append(r.rep.Goals, Goal{Text: "visit ingest ≥ 200,000 visits/s (durable)", Value: fmtNum(rate) + " visits/s", Met: rate >= GoalIngestRate})
	return nil
}

// memory reports measurement 3 for each size of --memory-persons.
func (r *runner) memory(ctx context.Context) {
	for _, N := range r.cfg.MemoryPersons {
		if ctx.Err() != nil {
			return
		}
		r.phase("memory per person at %d persons", N)
		fig, measured := r.enrolled[N]
		if !measured && r.rate > 0 {
			projected := time.Duration(float64(N) / r.rate * float64(time.Second))
			if projected <= enrolBudget {
				var err error
				if fig, err = r.enrolFresh(ctx, N); err != nil {
					r.rep.fail(fmt.Sprintf("memory at %d persons", N), err)
				} else {
					measured = true
				}
			} else {
				r.rep.note("memory at %d persons: enrolling them through node.Enrol would take about %s at the %.0f/s measured above (budget %s), so the code view figure is the structure's formula (whole 64Ki chunks × 8 B); the same structure allocated in this process measured %.3f B/person by HeapAlloc",
					N, projected.Round(time.Second), r.rate, enrolBudget, float64(EquivalentCodeViewHeap(N))/float64(N))
			}
		}
		peer, peerVal := "Go map[uint32]uint64, HeapAlloc growth", -1.0
		if r.cfg.SkipPeers {
			peer = "Go map: skipped (--skip-peers)"
		} else {
			peerVal = float64(MapPeerHeap(N)) / float64(N)
		}
		label := groupThousands(fmt.Sprint(N))
		if measured {
			cv := float64(fig.codeView) / float64(N)
			r.rep.add("code view bytes per person @ "+label+" (node.Stats)", "B/person", cv, peer, peerVal, nil)
			r.rep.add("whole heap per enrolled person @ "+label, "B/person", float64(fig.heapDelta)/float64(N), "none", -1, nil)
			r.rep.Goals = append(r.rep.Goals, Goal{Text: "code view ≤ 64 B/person @ " + label, Value: fmt.Sprintf("%.2f B/person", cv), Met: cv <= GoalCodeViewBytes})
		} else {
			cv := float64(CodeViewFormulaBytes(N)) / float64(N)
			r.rep.add("code view bytes per person @ "+label+" (formula)", "B/person", cv, peer, peerVal, nil)
			r.rep.Goals = append(r.rep.Goals, Goal{Text: "code view ≤ 64 B/person @ " + label, Value: fmt.Sprintf("%.2f B/person (formula)", cv), Met: cv <= GoalCodeViewBytes})
		}
	}
	if len(r.enrolled) > 0 {
		r.rep.note("whole heap per enrolled person = HeapAlloc growth (after GC) from an empty running node to N enrolled persons: the ID-hash index (map[[32]byte]uint32), the persons slice, the code view chunks, and the node's other per-person views; SQLite's page cache lives outside the Go heap and is not included")
		r.rep.note("code view bytes per person = node.Stats().CodeViewBytes / N: whole 64Ki-entry chunks of 8 B; the reasons map of non-green codes is not in that figure")
	}
}

func (r *runner) enrolFresh(ctx context.Context, N int) (memFigures, error) {
	dir := filepath.Join(r.tmp, fmt.Sprintf("memory-%d", N))
	defer os.RemoveAll(dir)
	rn, err := r.cfg.Start(ctx, dir)
	if err != nil {
		return memFigures{}, err
	}
	defer rn.Stop()
	base := HeapAlloc()
	bar := r.bar(N, "enrol persons")
	err = EnrolPersons(ctx, rn.Node, 0, N, func(d int) { bar.Set(d) })
	bar.Finish()
	if err != nil {
		return memFigures{}, err
	}
	heap := HeapAlloc()
	st := rn.Node.Stats()
	return memFigures{codeView: st.CodeViewBytes, heapDelta: int(heap) - int(base)}, nil
}

func (r *runner) rebuild(ctx context.Context) error {
	dir := filepath.Join(r.tmp, "rebuild")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	plan := PlanLog(r.cfg.RebuildEvents)
	r.phase("start-up rebuild: write %d events (%d enrolments, %d places, %d visits) with sqlite.Append, 100,000 per transaction",
		plan.Events(), plan.Persons, plan.Places, plan.Visits)
	cfg, err := NodeConfig(ctx, dir, nil)
	if err != nil {
		return err
	}
	bar := r.bar(plan.Events(), "write event log")
	t0 := time.Now()
	err = WriteLog(ctx, cfg, plan, func(d int) { bar.Set(d) })
	bar.Finish()
	cfg.Store.Close()
	if err != nil {
		return err
	}
	wrote := time.Since(t0)
	var dbSize int64
	if fi, err := os.Stat(filepath.Join(dir, "healthcode.db")); err == nil {
		dbSize = fi.Size()
	}
	r.rep.note("start-up rebuild: wrote %d events in %s (%.0f events/s); database file %.0f MB", plan.Events(), wrote.Round(time.Millisecond),
		float64(plan.Events())/wrote.Seconds(), float64(dbSize)/1e6)
	cfg, err = NodeConfig(ctx, dir, nil)
	if err != nil {
		return err
	}
	defer cfg.Store.Close()
	r.phase("start-up rebuild: timing node.Open over the log")
	stop := r.profile("rebuild")
	res, err := TimeRebuild(ctx, cfg)
	stop()
	if err != nil {
		return err
	}
	label := groupThousands(fmt.Sprint(plan.Events()))
	rate := float64(res.Events) / res.Took.Seconds()
	scanRate := float64(res.ScanEvents) / res.ScanTook.Seconds()
	same := res.Events == plan.Events() && res.ScanEvents == plan.Events()
	peer := "sqlite.Scan of the same log, no views"
	if r.cfg.SkipPeers {
		peer, scanRate = "sqlite.Scan: skipped (--skip-peers)", -1
	}
	r.rep.add("start-up rebuild, node.Open over "+label+" events", "s", res.Took.Seconds(), "none", -1, nil)
	r.rep.add("start-up rebuild rate", "events/s", rate, peer, scanRate, &same)
	r.rep.add("heap after rebuild (whole process)", "MiB", float64(res.HeapAfter)/(1<<20), "none", -1, nil)
	r.rep.note("start-up rebuild: node.Open took %s for %d events; heap grew by %.0f MiB with the node open; the bare scan took %s",
		res.Took.Round(time.Millisecond), res.Events, float64(res.HeapDelta)/(1<<20), res.ScanTook.Round(time.Millisecond))
	return nil
}
