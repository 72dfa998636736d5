package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/region"
	"healthcode/internal/sim"
)

// simConfig is the configuration of the sim command.
type simConfig struct {
	Persons     int
	Days        int
	Seed        int64
	City        string
	End         string // YYYY-MM-DD (CST): the period ends at the start of that day
	Out         string
	Target      string
	Token       string
	LabTokens   labTokens
	Rate        float64
	Concurrency int
	Timeout     time.Duration
	Check       bool
	Truth       string
	JSON        bool
}

const simUsage = `usage:
  healthcode sim [--persons N] [--days D] [--seed S] [--end YYYY-MM-DD] --out DIR
  healthcode sim [--persons N] [--days D] [--seed S] [--end YYYY-MM-DD] --target URL --token T [--rate R] [--concurrency C] [--timeout D] [--out DIR]
  healthcode sim --check --target URL --token T --truth DIR [--json]
  healthcode sim --load --target http://127.0.0.1:PORT --token T [--rate R] [--duration D] [--mix ...] [--json]

--out writes the city as files for 'healthcode import' with its ground truth
(truth/); --target feeds it to a running node through the API (both may be
given: the files are written first). --check opens a case for every positive
person of DIR, traces them on the node and scores the contacts found against
DIR's ground truth. --load holds a fixed mix of requests at a fixed rate
against a node on this machine and reports rates, latencies, errors and the
node's memory growth ('healthcode sim --load -h' for its flags).

flags:`

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if wantsLoad(args) {
		return runLoad(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), simUsage)
		fs.PrintDefaults()
	}
	var sc simConfig
	fs.IntVar(&sc.Persons, "persons", sim.DefaultPersons, "persons in the synthetic city")
	fs.IntVar(&sc.Days, "days", sim.DefaultDays, "days simulated")
	fs.Int64Var(&sc.Seed, "seed", 1, "random seed: the same seed (and --end) gives the same city, byte for byte")
	fs.StringVar(&sc.City, "city", sim.DefaultCity, "prefecture-level region code of the city")
	fs.StringVar(&sc.End, "end", "", "the simulated period ends at the start of this day, YYYY-MM-DD (CST; default: today)")
	fs.StringVar(&sc.Out, "out", "", "write the city and its ground truth to this directory (new or empty)")
	fs.StringVar(&sc.Target, "target", "", "base URL of a running node, e.g. http://127.0.0.1:8080")
	fs.StringVar(&sc.Token, "token", "", "a staff session token (an account with the investigator, community and official roles)")
	sc.LabTokens = labTokens{}
	fs.Var(sc.LabTokens, "lab-token", "LAB=TOKEN: the API key of lab account LAB, for its results (repeatable; a lab without one uses --token)")
	fs.Float64Var(&sc.Rate, "rate", 0, "at most this many requests per second (0: no cap)")
	fs.IntVar(&sc.Concurrency, "concurrency", sim.DefaultConcurrency, "concurrent requests")
	fs.DurationVar(&sc.Timeout, "timeout", 0, "give up after this long overall (0: no limit)")
	fs.BoolVar(&sc.Check, "check", false, "score the node's tracing against the ground truth of --truth")
	fs.StringVar(&sc.Truth, "truth", "", "with --check: a directory written by --out and loaded into the node")
	fs.BoolVar(&sc.JSON, "json", false, "with --check: print the scores as a JSON object")
	load := fs.Bool("load", false, "hold a request mix at a fixed rate against --target ('healthcode sim --load -h')")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *load { // from HEALTHCODE_LOAD
		return runLoad(ctx, args, stdout, stderr)
	}
	if sc.Timeout < 0 {
		return usageError{"--timeout must not be negative"}
	}
	if sc.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sc.Timeout)
		defer cancel()
	}
	if sc.Target == "" && (sc.Check || sc.Out == "") {
		if sc.Check {
			return usageError{"sim --check needs --target URL (the node to check)"}
		}
		return usageError{"give --out DIR (write files) or --target URL (feed a running node)"}
	}
	if err := checkTarget(sc.Target, sc.Token, sc.Rate, sc.Concurrency); err != nil {
		return err
	}
	if sc.Check {
		if sc.Truth == "" {
			return usageError{"sim --check needs --truth DIR (a directory written by sim --out)"}
		}
		if sc.Out != "" {
			return usageError{"sim --check takes no --out"}
		}
		return runCheck(ctx, sc, stdout, stderr)
	}
	if sc.Truth != "" || sc.JSON {
		return usageError{"--truth and --json go with --check"}
	}
	switch {
	case sc.Persons < 10 || sc.Persons > 20_000_000:
		return usageError{"--persons must be between 10 and 20000000"}
	case sc.Days < 1 || sc.Days > 28:
		return usageError{"--days must be between 1 and 28"}
	}
	end := health.StartOfDay(time.Now())
	if sc.End != "" {
		d, err := time.ParseInLocation("2006-01-02", sc.End, health.CST)
		if err != nil {
			return usageError{fmt.Sprintf("--end: %q is not a date YYYY-MM-DD", sc.End)}
		}
		end = d.UTC()
	}
	if sc.Out != "" {
		if entries, err := os.ReadDir(sc.Out); err == nil && len(entries) > 0 {
			return usageError{fmt.Sprintf("--out %s is not empty; sim writes into a new or empty directory", sc.Out)}
		} else if err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	regions, err := region.Default()
	if err != nil {
		return err
	}
	if _, ok := regions.Lookup(sc.City); !ok {
		return usageError{fmt.Sprintf("--city: %q is not in the region table", sc.City)}
	}

	var phases []phaseTime
	t0 := time.Now()
	fmt.Fprintf(stderr, "generating a city of %d persons over %d days (seed %d)…\n", sc.Persons, sc.Days, sc.Seed)
	city, err := sim.Generate(sim.Config{Persons: sc.Persons, Days: sc.Days, Seed: sc.Seed, City: sc.City, End: end}, regions)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	phases = append(phases, phaseTime{"generate", len(city.Persons), time.Since(t0)})
	fmt.Fprintf(stdout, "city: %d persons, %d places, %d visits, %d test results, %d risk areas, %d infections (seed %d, %d days to %s)\n",
		len(city.Persons), len(city.Places), len(city.Visits), len(city.Results), len(city.RiskAreas), len(city.Infections),
		sc.Seed, sc.Days, end.In(health.CST).Format("2006-01-02 15:04 MST"))

	if sc.Out != "" {
		t := time.Now()
		fmt.Fprintln(stderr, "computing the ground truth of tracing…")
		truth, err := sim.ComputeTruth(city)
		if err != nil {
			return err
		}
		phases = append(phases, phaseTime{"truth", len(truth.Cases), time.Since(t)})
		t = time.Now()
		bars := newBars(stderr)
		err = sim.WriteDir(sc.Out, city, truth, prefixed("write ", bars.progress))
		bars.finish()
		if err != nil {
			return err
		}
		phases = append(phases, phaseTime{"write", len(city.Visits), time.Since(t)})
		nc, ns := countDegrees(truth.Contacts)
		fmt.Fprintf(stdout, "wrote %s: truth: %d cases, %d close and %d secondary contacts\n", sc.Out, len(truth.Cases), nc, ns)
	}
	if sc.Target != "" {
		client := &sim.Client{Base: sc.Target, Token: sc.Token, LabTokens: sc.LabTokens, Concurrency: sc.Concurrency, Rate: sc.Rate}
		bars := newBars(stderr)
		loaded, err := client.Load(ctx, city, bars.progress)
		bars.finish()
		if loaded != nil {
			for _, p := range loaded.Phases {
				phases = append(phases, phaseTime{p.Phase, p.Items, p.Took})
			}
		}
		if err != nil {
			return fmt.Errorf("feeding the city to %s: %w", sc.Target, err)
		}
		printLoaded(stdout, sc.Target, loaded.Counts)
	}
	printPhases(stdout, phases, time.Since(t0))
	return nil
}

// checkTarget checks the flags of a command that talks to a node (none if
// target is empty).
func checkTarget(target, token string, rate float64, conc int) error {
	switch {
	case target == "":
		return nil
	case token == "":
		return usageError{"--target needs --token (a staff session token: POST /api/v1/sessions)"}
	case rate < 0:
		return usageError{"--rate must not be negative"}
	case conc < 1 || conc > 256:
		return usageError{"--concurrency must be between 1 and 256"}
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("--target: %q is not a URL like http://127.0.0.1:8080", target)}
	}
	return nil
}

func countDegrees(cs []sim.Contact) (close1, secondary int) {
	for _, c := range cs {
		if c.Degree == 1 {
			close1++
		} else {
			secondary++
		}
	}
	return close1, secondary
}

// printLoaded prints what a load did, from sim.Loaded.Counts.
func printLoaded(w io.Writer, target string, c map[string]int) {
	fmt.Fprintf(w, "loaded into %s:\n", target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  persons\t%d enrolled, %d existing\n", c["persons_enrolled"], c["persons_existing"])
	fmt.Fprintf(tw, "  places\t%d registered, %d existing\n", c["places"], c["places_existing"])
	fmt.Fprintf(tw, "  visits\t%d recorded\n", c["visits_accepted"])
	fmt.Fprintf(tw, "  test results\t%d accepted, %d duplicates, %d corrections\n", c["results_accepted"], c["results_duplicates"], c["results_corrections"])
	fmt.Fprintf(tw, "  risk areas\t%d declared, %d existing, %d over at the node's time (codes re-evaluated: %d)\n",
		c["risk_areas_declared"], c["risk_areas_existing"], c["risk_areas_skipped"], c["risk_areas_affected"])
	tw.Flush()
}

func printPhases(w io.Writer, phases []phaseTime, total time.Duration) {
	var b strings.Builder
	b.WriteString("phases:")
	for _, p := range phases {
		fmt.Fprintf(&b, " %s %s;", p.Name, p.Took.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, " total %s", total.Round(time.Millisecond))
	fmt.Fprintln(w, b.String())
}

// prefixed names the phases of p with a prefix ("write persons.jsonl").
func prefixed(prefix string, p sim.Progress) sim.Progress {
	return func(phase string, done, total int) { p(prefix+phase, done, total) }
}

// labTokens is a repeatable LAB=TOKEN flag: the lab accounts' tokens.
type labTokens map[string]string

func (l labTokens) String() string {
	labs := make([]string, 0, len(l))
	for lab := range l {
		labs = append(labs, lab)
	}
	slices.Sort(labs)
	return strings.Join(labs, ",")
}

func (l labTokens) Set(v string) error {
	lab, tok, ok := strings.Cut(v, "=")
	if !ok || lab == "" || tok == "" {
		return fmt.Errorf("want LAB=TOKEN, got %q", v)
	}
	l[lab] = tok
	return nil
}
