// Package bench measures the core goals of a node, each next to a peer in
// the same run: code lookups over HTTP (against a bare net/http server and
// Redis GET), durable visit ingest (against PostgreSQL COPY), the memory of
// the code view (against a Go map) and the start-up rebuild (against a bare
// scan of the same log). cmd/healthcode's "bench" command drives it.
package bench

import (
	"bytes"
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
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"healthcode/internal/health"
	"healthcode/internal/httpapi"
	"healthcode/internal/node"
)

// Running is a started node (store, writer and HTTP API on Addr).
type Running struct {
	Addr string
	Node *node.Node
	Stop func() error
}

// NodeStarter starts a node on 127.0.0.1:0 over a new data directory with
// the given staff token.
type NodeStarter func(ctx context.Context, dataDir, adminToken string) (*Running, error)

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
	ProfileDir    string // if set, CPU profiles of the timed phases are written there
	Start         NodeStarter
	Stderr        io.Writer // progress bars and phase lines
}

// Goal thresholds of the core issue.
const (
	GoalCodeRPS        = 20000
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
)

type runner struct {
	cfg      Config
	rep      *Report
	tmp      string
	token    string
	stderr   io.Writer
	enrolled map[int]memFigures
	rate     float64 // enrolments per second through node.Enrol
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
	r := &runner{cfg: cfg, rep: &Report{Machine: DescribeMachine()}, tmp: tmp, token: randomToken(),
		stderr: cfg.Stderr, enrolled: map[int]memFigures{}}
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
	rn, err := r.cfg.Start(ctx, dir, r.token)
	if err != nil {
		return fmt.Errorf("start node: %w", err)
	}
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

	if err := r.codeLookup(ctx, rn); err != nil {
		r.rep.fail("code lookup", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := r.ingest(ctx, rn); err != nil {
		r.rep.fail("visit ingest", err)
	}
	return nil
}

var (
	maskValidUntil = regexp.MustCompile(`"valid_until":"[^"]*"`)
	maskQR         = regexp.MustCompile(`(HCU1:[^":]*:[^":]*:[01]:)[0-9]+"`)
)

// maskTimes blanks the fields that depend on the time of the answer.
func maskTimes(b []byte) []byte {
	b = maskValidUntil.ReplaceAll(b, []byte(`"valid_until":"*"`))
	return maskQR.ReplaceAll(b, []byte(`${1}*"`))
}

func (r *runner) codeLookup(ctx context.Context, rn *Running) error {
	n, N := rn.Node, r.cfg.Persons
	rng := mrand.New(mrand.NewPCG(1, 2))
	k := min(N, maxRequestSet)
	set := make([]uint32, k)
	for i, p := range rng.Perm(N)[:k] {
		set[i] = uint32(p) + 1
	}
	r.phase("code lookup: %d persons in the request set; bare server bodies from node.Code + AppendCodeJSON", k)
	bodies := make(map[string][]byte, k)
	var nonGreen []uint32
	for _, p := range set {
		v, err := n.Code(p)
		if err != nil {
			return err
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
			return err
		}
		defer bare.Close()
	}
	nodeReqs, bareReqs := &Requests{}, &Requests{}
	for _, p := range set {
		pid, tok := health.PersonID(p), n.PersonToken(p)
		nodeReqs.Add(CodeRequest(rn.Addr, pid, tok))
		if bare != nil {
			bareReqs.Add(CodeRequest(bare.Addr, pid, tok))
		}
	}

	// Same answer: the node's body and the bare server's body for a sample,
	// byte for byte once valid_until and the QR payload's time are masked.
	var same *bool
	if bare != nil {
		sample := append(append([]uint32(nil), set[:min(sameAnswerSample, len(set))]...), nonGreen...)
		ok, compared := true, 0
		for _, p := range sample {
			pid, tok := health.PersonID(p), n.PersonToken(p)
			nb, err := fetchOnce(rn.Addr, CodeRequest(rn.Addr, pid, tok))
			if err != nil {
				return fmt.Errorf("same-answer fetch from node: %w", err)
			}
			bb, err := fetchOnce(bare.Addr, CodeRequest(bare.Addr, pid, tok))
			if err != nil {
				return fmt.Errorf("same-answer fetch from bare server: %w", err)
			}
			compared++
			if !bytes.Equal(maskTimes(nb), maskTimes(bb)) {
				if ok {
					r.rep.note("code lookup: answers differ for %s: node %s, bare %s", pid, nb, bb)
				}
				ok = false
			}
		}
		same = &ok
		r.rep.note("code lookup: same answer checked on %d persons (%d of them not green), bodies compared byte for byte with valid_until and the QR time masked", compared, len(nonGreen))
		if len(nonGreen) > 0 {
			v, _ := n.Code(nonGreen[0])
			b := httpapi.AppendCodeJSON(nil, &v, nil)
			r.rep.note("code lookup: example non-green body (%d bytes): %s", len(b), b)
		}
		if v, err := n.Code(set[0]); err == nil {
			r.rep.note("code lookup: example green body (%d bytes): %s", len(httpapi.AppendCodeJSON(nil, &v, nil)), httpapi.AppendCodeJSON(nil, &v, nil))
		}
	}

	dur, conns := r.cfg.Duration, r.cfg.Conns
	warm := min(2*time.Second, dur/5)
	run := func(name, addr string, reqs *Requests) (LoadResult, error) {
		b, tick := r.timeBar(warm+dur, name)
		defer r.profile(profileName(name))()
		cpu0, t0 := processCPU(), time.Now()
		res, err := RunHTTPLoad(ctx, LoadConfig{Addr: addr, Reqs: reqs, Conns: conns, Duration: dur, Warmup: warm, Seed: 11, Tick: tick})
		b.Finish()
		r.rep.note("%s: this process (server and load generator) used %.2f CPUs on average", name, (processCPU()-cpu0).Seconds()/time.Since(t0).Seconds())
		if err == nil && res.Errors > 0 {
			err = fmt.Errorf("%d failed requests, first: %w", res.Errors, res.FirstErr)
		}
		return res, err
	}
	r.phase("code lookup: %d connections, %s warm-up + %s measured, per server", conns, warm, dur)
	nodeRes, err := run("GET code: healthcode", rn.Addr, nodeReqs)
	if err != nil {
		return fmt.Errorf("healthcode: %w", err)
	}
	nan := -1.0
	bareRate, bareP := nan, [3]float64{nan, nan, nan}
	bareName := "bare net/http, same bytes from a map"
	if bare == nil {
		bareName = "bare net/http: skipped (--skip-peers)"
	} else if res, err := run("GET code: bare net/http", bare.Addr, bareReqs); err != nil {
		bareName = "bare net/http: failed: " + err.Error()
	} else {
		bareRate = res.Rate()
		bareP = [3]float64{us(res.Hist.Quantile(0.5)), us(res.Hist.Quantile(0.99)), us(res.Hist.Quantile(0.999))}
	}
	redisRate, redisP := nan, [2]float64{nan, nan}
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
			redisP = [2]float64{us(res.Hist.Quantile(0.5)), us(res.Hist.Quantile(0.99))}
		}
	}
	c := fmt.Sprintf("%d conns", conns)
	rate := nodeRes.Rate()
	r.rep.add("code lookup, GET /persons/{id}/code ("+c+")", "req/s", rate, bareName, bareRate, same)
	r.rep.add("code lookup latency p50", "µs", us(nodeRes.Hist.Quantile(0.5)), bareName, bareP[0], nil)
	r.rep.add("code lookup latency p99", "µs", us(nodeRes.Hist.Quantile(0.99)), bareName, bareP[1], nil)
	r.rep.add("code lookup latency p99.9", "µs", us(nodeRes.Hist.Quantile(0.999)), bareName, bareP[2], nil)
	r.rep.add("code lookup vs Redis ("+c+")", "req/s", rate, redisName, redisRate, nil)
	r.rep.add("code lookup latency p50 vs Redis", "µs", us(nodeRes.Hist.Quantile(0.5)), redisName, redisP[0], nil)
	r.rep.add("code lookup latency p99 vs Redis", "µs", us(nodeRes.Hist.Quantile(0.99)), redisName, redisP[1], nil)
	r.rep.note("code lookup: healthcode served %d requests in the %s window (%d persons in the request set of %d enrolled)", nodeRes.Requests, dur, k, N)
	r.rep.Goals = append(r.rep.Goals, Goal{Text: "code lookup ≥ 20,000 req/s", Value: fmtNum(rate) + " req/s", Met: rate >= GoalCodeRPS})
	g := Goal{Text: "code lookup ≥ 0.8× the bare net/http server"}
	if bareRate > 0 {
		g.Value = fmt.Sprintf("%.2f×", rate/bareRate)
		g.Met = rate/bareRate >= GoalCodeVsBare
	} else {
		g.Reason = bareName
	}
	r.rep.Goals = append(r.rep.Goals, g)
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
	rn, err := r.cfg.Start(ctx, dir, r.token)
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
