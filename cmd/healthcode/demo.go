package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/sim"
)

type demoConfig struct {
	Persons int
	Days    int
	Seed    int64
	NoServe bool
	Addr    string
	Data    string
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var dc demoConfig
	fs.IntVar(&dc.Persons, "persons", 100000, "persons in the synthetic city")
	fs.IntVar(&dc.Days, "days", 7, "days of visits")
	fs.Int64Var(&dc.Seed, "seed", 1, "random seed: the same seed gives the same city and the same result")
	fs.BoolVar(&dc.NoServe, "no-serve", false, "print the summary and exit instead of serving")
	fs.StringVar(&dc.Addr, "addr", "127.0.0.1:8080", "listen address while serving")
	fs.StringVar(&dc.Data, "data", "", "data directory (must be new or empty; default: a temporary directory)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if dc.Persons < 100 || dc.Persons > 20_000_000 {
		return usageError{"--persons must be between 100 and 20000000"}
	}
	if dc.Days < 1 || dc.Days > 28 {
		return usageError{"--days must be between 1 and 28"}
	}
	data := dc.Data
	if data == "" {
		tmp, err := os.MkdirTemp("", "healthcode-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		data = tmp
	} else if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		return usageError{fmt.Sprintf("--data %s is not empty; the demo needs a new directory", data)}
	}
	addr := dc.Addr
	if dc.NoServe {
		addr = "127.0.0.1:0"
	}
	log, err := newLogger(io.Discard, "error")
	if err != nil {
		return err
	}
	phases := []phaseTime{}
	t0 := time.Now()

	// The city's period ends at the start of today (CST); the node's clock
	// runs from 08:00 today, so the same seed gives the same result any day.
	end := health.StartOfDay(time.Now())
	clockStart := time.Now()
	nodeNow := func() time.Time { return end.Add(8 * time.Hour).Add(time.Since(clockStart)) }

	regions, err := region.Default()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "generating a city of %d persons over %d days (seed %d)…\n", dc.Persons, dc.Days, dc.Seed)
	city, err := sim.Generate(sim.Config{Persons: dc.Persons, Days: dc.Days, Seed: dc.Seed, End: end}, regions)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	phases = append(phases, phaseTime{"generate", len(city.Persons), time.Since(t0)})

	rn, err := startNode(ctx, serveConfig{Addr: addr, Data: data, Now: nodeNow}, log)
	if err != nil {
		return err
	}
	// The demo's staff: a national investigator, community worker and
	// official (signed in with its second factor), and one account per lab.
	ls, err := provisionStaff(ctx, rn.Node, "demo", true)
	if err != nil {
		rnStop(rn)
		return err
	}
	// A second official, who approves the first one's overrides (four eyes).
	approverPass, approverSecret, err := provisionApprover(ctx, rn.Node, "demo-approver")
	if err != nil {
		rnStop(rn)
		return err
	}
	token := ls.Token
	base := "http://" + rn.Addr
	client := &sim.Client{Base: base, Token: token, LabTokens: ls.LabTokens, Concurrency: 4,
		HTTP: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	bars := newBars(stderr)
	loaded, loadErr := client.Load(ctx, city, bars.progress)
	bars.finish()
	if loadErr != nil {
		rnStop(rn)
		return fmt.Errorf("feeding the city through the API: %w", loadErr)
	}
	for _, p := range loaded.Phases {
		phases = append(phases, phaseTime{p.Phase, p.Items, p.Took})
	}
	fmt.Fprintln(stderr, "investigating: a case for every positive, then tracing them…")
	inv, err := investigate(ctx, client.HTTP, base, token, rn.Node, city, loaded)
	if err != nil {
		rnStop(rn)
		return fmt.Errorf("investigating the cases through the API: %w", err)
	}
	phases = append(phases, phaseTime{"investigate", inv.Cases, inv.Took})
	printSummary(stdout, rn.Node, city, loaded, phases, time.Since(t0), base, dc)
	printInvestigation(stdout, inv)
	if dc.NoServe {
		return rnStop(rn)
	}
	fmt.Fprintf(stdout, "\nserving on %s (console: %s/ , API: %s/api/v1/…) — Ctrl-C to stop\n", base, base, base)
	fmt.Fprintf(stdout, "staff account for the console (/login, then /cases, /overrides, /appeals) and the API: username %s, password %s, TOTP secret %s\n", ls.Username, ls.Password, ls.TOTPSecret)
	fmt.Fprintf(stdout, "a second official, who approves the first one's override requests (four eyes): username %s, password %s, TOTP secret %s\n", "demo-approver", approverPass, approverSecret)
	fmt.Fprintf(stdout, "its session token (Authorization: Bearer; ends after 30 minutes unused): %s\n", token)
	return rn.Wait()
}

// rnStop is used when the demo stops the node itself (no signal came).
func rnStop(rn *runningNode) error {
	rn.cancel()
	return rn.Wait()
}

type phaseTime struct {
	Name  string
	Items int
	Took  time.Duration
}

// bars shows one progress bar per phase of the load.
type bars struct {
	mu    sync.Mutex
	w     io.Writer
	phase string
	bar   *progressbar.ProgressBar
}

func newBars(w io.Writer) *bars { return &bars{w: w} }

var phaseNames = map[string]string{"persons": "enrol persons", "places": "register places", "visits": "record visits",
	"results": "upload lab results", "risk-areas": "declare risk areas", "trips": "record passenger lists"}

func (b *bars) progress(phase string, done, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if phase != b.phase {
		if b.bar != nil {
			b.bar.Finish()
			fmt.Fprintln(b.w)
		}
		b.phase = phase
		name := phaseNames[phase]
		if name == "" {
			name = phase
		}
		b.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(b.w), progressbar.OptionSetDescription(fmt.Sprintf("%-20s", name)),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond))
	}
	b.bar.Set(done)
}

func (b *bars) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.bar.Finish()
		fmt.Fprintln(b.w)
	}
}

func printSummary(w io.Writer, n *node.Node, city *sim.City, loaded *sim.Loaded, phases []phaseTime, total time.Duration, base string, dc demoConfig) {
	st := n.Stats()
	fmt.Fprintf(w, "\n== healthcode demo: seed %d, %d persons, %d days ==\n", dc.Seed, dc.Persons, dc.Days)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "persons\t%d\n", st.Persons)
	fmt.Fprintf(tw, "places\t%d\n", st.Places)
	fmt.Fprintf(tw, "visits\t%d\n", st.Visits)
	fmt.Fprintf(tw, "test results\t%d\n", st.Tests)
	fmt.Fprintf(tw, "risk areas in force\t%d\n", len(n.RiskAreas(false)))
	fmt.Fprintf(tw, "infections (ground truth)\t%d\n", len(city.Infections))
	fmt.Fprintf(tw, "events in the log\t%d\n", st.Events)
	tw.Flush()
	fmt.Fprintf(w, "\ncodes by colour\n")
	for c := health.Green; c <= health.Red; c++ {
		pct := 0.0
		if st.Persons > 0 {
			pct = float64(st.Codes[c]) * 100 / float64(st.Persons)
		}
		fmt.Fprintf(w, "  %-7s %8d  %5.1f%%  %s\n", c, st.Codes[c], pct, strings.Repeat("█", int(pct/2.5+0.5)))
	}
	fmt.Fprintf(w, "  starred %8d\n", st.Starred)
	fmt.Fprintf(w, "\ntop reasons (rule: persons)\n")
	if len(st.TopReasons) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for i, r := range st.TopReasons {
		if i == 5 {
			break
		}
		fmt.Fprintf(w, "  %-26s %7d  %s\n", r.Rule, r.Count, r.Title["zh"])
	}
	fmt.Fprintf(w, "\nphases\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, p := range phases {
		rate := ""
		if p.Took > 0 && p.Items > 0 {
			rate = fmt.Sprintf("%.0f/s", float64(p.Items)/p.Took.Seconds())
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t\n", p.Name, p.Items, p.Took.Round(time.Millisecond), rate)
	}
	fmt.Fprintf(tw, "  total\t\t%s\t\t\n", total.Round(time.Millisecond))
	tw.Flush()
	if ex := example(n, loaded); ex != "" && !dc.NoServe {
		fmt.Fprintf(w, "\ntry a code (and why it has its colour):\n  curl -s -H 'Authorization: Bearer %s' %s/api/v1/persons/%s/code\n",
			loaded.Tokens[exIndex(loaded, ex)], base, ex)
	}
}

// example picks the first red (else yellow, else any) person for the hint.
func example(n *node.Node, loaded *sim.Loaded) string {
	best, bestColour := "", health.Colour(0)
	for _, id := range loaded.PersonIDs {
		p, _ := health.ParsePersonID(id)
		v, err := n.Code(p)
		if err != nil {
			continue
		}
		if best == "" || v.Colour > bestColour {
			best, bestColour = id, v.Colour
			if bestColour == health.Red {
				break
			}
		}
	}
	return best
}

func exIndex(loaded *sim.Loaded, id string) int {
	for j, x := range loaded.PersonIDs {
		if x == id {
			return j
		}
	}
	return 0
}

// printInvestigation shows what tracing found and how the contacts' codes
// look (a contact's code changes only through the rules: a stay in a risk
// area, a test; being traced alone does not colour it).
func printInvestigation(w io.Writer, inv investigation) {
	fmt.Fprintf(w, "\ninvestigation (流调)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  cases opened\t%d\n", inv.Cases)
	fmt.Fprintf(tw, "  close contacts (recorded)\t%d\n", inv.Close)
	fmt.Fprintf(tw, "  close contacts' codes\tgreen %d, yellow %d, red %d\n", inv.Codes[health.Green], inv.Codes[health.Yellow], inv.Codes[health.Red])
	fmt.Fprintf(tw, "  secondary contacts (counted)\t%d\n", inv.Secondary)
	fmt.Fprintf(tw, "  true infections\t%d, %d of them cases; of the others %d were found as close, %d as secondary contacts\n",
		inv.Infected, inv.InfectedCases, inv.InfectedClose, inv.InfectedSecondary)
	tw.Flush()
}
