package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/sim"
)

const importUsage = `usage: healthcode import DIR --target URL --token T [--rate R] [--concurrency C] [--timeout D]

Loads a directory written by 'healthcode sim --out' (or made by hand in the
same shapes) into a running node through the API: persons, places, visits,
trips (carriers' passenger lists), test results, risk areas. Every line is
checked first; a malformed one stops the import before anything is sent.
Importing again enrols nobody twice and uploads no result twice (the API is
idempotent there), reuses the places and risk areas the node has, and
records the visits and passenger lists again (the API has no idempotency key
for them).

flags:`

type importConfig struct {
	Dir         string
	Target      string
	Token       string
	LabTokens   labTokens
	Rate        float64
	Concurrency int
	Timeout     time.Duration
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), importUsage)
		fs.PrintDefaults()
	}
	var ic importConfig
	fs.StringVar(&ic.Target, "target", "", "base URL of a running node, e.g. http://127.0.0.1:8080")
	fs.StringVar(&ic.Token, "token", "", "a staff session token (an account with the investigator, community and official roles)")
	ic.LabTokens = labTokens{}
	fs.Var(ic.LabTokens, "lab-token", "LAB=TOKEN: the API key of lab account LAB, for its results (repeatable; a lab without one uses --token)")
	fs.Float64Var(&ic.Rate, "rate", 0, "at most this many requests per second (0: no cap)")
	fs.IntVar(&ic.Concurrency, "concurrency", sim.DefaultConcurrency, "concurrent requests")
	fs.DurationVar(&ic.Timeout, "timeout", 0, "give up after this long overall (0: no limit)")
	pos, err := parseInterleaved(fs, args, stderr)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageError{"import needs a directory: healthcode import DIR --target URL --token T"}
	case len(pos) > 1:
		return usageError{fmt.Sprintf("import: unexpected argument %q", pos[1])}
	case ic.Target == "":
		return usageError{"import needs --target URL (the node to load)"}
	case ic.Timeout < 0:
		return usageError{"--timeout must not be negative"}
	}
	ic.Dir = pos[0]
	if err := checkTarget(ic.Target, ic.Token, ic.Rate, ic.Concurrency); err != nil {
		return err
	}
	if st, err := os.Stat(ic.Dir); err != nil || !st.IsDir() {
		return usageError{fmt.Sprintf("import: %s is not a directory", ic.Dir)}
	}
	if ic.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ic.Timeout)
		defer cancel()
	}
	t0 := time.Now()
	bars := newBars(stderr)
	d, err := sim.ReadDir(ic.Dir, sim.ReadOptions{Now: time.Now()}, prefixed("read ", bars.progress))
	bars.finish()
	if err != nil {
		return err
	}
	phases := []phaseTime{{"read", len(d.City.Visits), time.Since(t0)}}
	city := d.City
	client := &sim.Client{Base: ic.Target, Token: ic.Token, LabTokens: ic.LabTokens, Concurrency: ic.Concurrency, Rate: ic.Rate, SkipExisting: true}
	// The node refuses visits, trips and samples in its future: say so up
	// front rather than after the persons and places are in.
	var latest time.Time
	for _, v := range city.Visits {
		if v.At.After(latest) {
			latest = v.At
		}
	}
	for _, t := range city.Trips {
		if t.From.After(latest) {
			latest = t.From
		}
	}
	for _, r := range city.Results {
		if r.SampledAt.After(latest) {
			latest = r.SampledAt
		}
	}
	if now := client.ServerTime(ctx); latest.After(now.Add(5 * time.Minute)) {
		return fmt.Errorf("import: %s has visits, trips or samples until %s, after the node's time %s: the node refuses them",
			ic.Dir, health.FormatTime(latest), health.FormatTime(now))
	}
	bars = newBars(stderr)
	loaded, err := client.Load(ctx, city, bars.progress)
	bars.finish()
	if loaded != nil {
		for _, p := range loaded.Phases {
			phases = append(phases, phaseTime{p.Phase, p.Items, p.Took})
		}
	}
	if err != nil {
		return fmt.Errorf("import %s into %s: %w", ic.Dir, ic.Target, err)
	}
	passengers := 0
	for _, t := range city.Trips {
		passengers += len(t.Passengers)
	}
	fmt.Fprintf(stdout, "read %s: %d persons, %d places, %d visits, %d trips (%d passengers), %d test results, %d risk areas\n",
		ic.Dir, len(city.Persons), len(city.Places), len(city.Visits), len(city.Trips), passengers, len(city.Results), len(city.RiskAreas))
	printLoaded(stdout, ic.Target, loaded.Counts)
	fmt.Fprintf(stdout, "  trips: %d passenger lists, %d passengers recorded\n", loaded.Counts["trips_recorded"], loaded.Counts["passengers_recorded"])
	if n := loaded.Counts["persons_existing"]; n > 0 && n == len(city.Persons) && len(city.Visits)+len(city.Trips) > 0 {
		fmt.Fprintln(stdout, "note: every person was enrolled already (a re-import?): the visits were recorded again, the API has no idempotency key for them")
	}
	printPhases(stdout, phases, time.Since(t0))
	return nil
}

// parseInterleaved parses flags that may come before and after the
// positional arguments (healthcode import DIR --target URL), then reads the
// HEALTHCODE_<FLAG> variables as parseFlags does. It returns the positional
// arguments.
func parseInterleaved(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	var flags, pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		flags = append(flags, rest[:len(rest)-fs.NArg()]...)
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	// Parse the flags once more (same values) so that parseFlags sees which
	// were given.
	if err := parseFlagsArgs(fs, flags, stderr, 0); err != nil {
		return nil, err
	}
	return pos, nil
}
