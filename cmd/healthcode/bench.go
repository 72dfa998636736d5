package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"healthcode/internal/bench"
)

// intList is a comma-separated list of positive integers ("1000000,10000000";
// underscores are allowed as digit separators).
type intList []int

func (l *intList) String() string {
	parts := make([]string, len(*l))
	for i, v := range *l {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(s string) error {
	var out intList
	for _, f := range strings.Split(s, ",") {
		f = strings.ReplaceAll(strings.TrimSpace(f), "_", "")
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	*l = out
	return nil
}

// benchScales are the --scale presets.
var benchScales = map[string]struct {
	persons  int
	duration time.Duration
	rebuild  int
	memory   []int
	trace    int
}{
	"small":  {20000, 2 * time.Second, 200000, []int{100000}, 20000},
	"medium": {200000, 5 * time.Second, 2000000, []int{1000000}, 200000},
	"large":  {1000000, 10 * time.Second, 10000000, []int{1000000, 10000000}, 1000000},
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg := bench.Config{MemoryPersons: []int{1000000, 10000000}}
	var asJSON bool
	fs.IntVar(&cfg.Persons, "persons", 1000000, "persons to enrol in the node under test")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time of each HTTP measurement (after a warm-up of up to 2s)")
	fs.IntVar(&cfg.Conns, "conns", 16, "keep-alive connections of the load generator (and of the Redis peer)")
	fs.BoolVar(&asJSON, "json", false, "print the results as a JSON list instead of a table")
	fs.BoolVar(&cfg.SkipPeers, "skip-peers", false, "do not run the peers (bare net/http, Redis, crypto/ed25519, PostgreSQL, Go map, bare scan)")
	fs.StringVar(&cfg.PG, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL DSN of the ingest peer (or HEALTHCODE_PG)")
	fs.StringVar(&cfg.Redis, "redis", "127.0.0.1:6379", "Redis address of the code lookup peer")
	fs.IntVar(&cfg.RebuildEvents, "rebuild-events", 10000000, "events in the log of the start-up rebuild measurement (0 skips it)")
	fs.Var((*intList)(&cfg.MemoryPersons), "memory-persons", "persons counts for the memory measurement, comma-separated")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "write CPU profiles of the timed phases to this directory")
	fs.BoolVar(&cfg.TraceCovering, "trace-covering", true, "also run the tracing peers PostgreSQL and SQLite with covering indexes (close contacts), besides the issue's plain indexes")
	fs.IntVar(&cfg.TracePersons, "trace-persons", 1000000, "persons of the tracing world (7 days, 3 visits a day, 100 cases; 0 skips tracing)")
	scale := fs.String("scale", "large", "preset sizes: small (under two minutes), medium, or large (the issues' figures); explicit flags override it")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	preset, ok := benchScales[*scale]
	if !ok {
		return usageError{"--scale must be small, medium or large"}
	}
	if !set["persons"] {
		cfg.Persons = preset.persons
	}
	if !set["duration"] {
		cfg.Duration = preset.duration
	}
	if !set["rebuild-events"] {
		cfg.RebuildEvents = preset.rebuild
	}
	if !set["memory-persons"] {
		cfg.MemoryPersons = preset.memory
	}
	if !set["trace-persons"] {
		cfg.TracePersons = preset.trace
	}
	switch {
	case cfg.Persons < 100 || cfg.Persons > 20_000_000:
		return usageError{"--persons must be between 100 and 20000000"}
	case cfg.Duration < 100*time.Millisecond || cfg.Duration > 10*time.Minute:
		return usageError{"--duration must be between 100ms and 10m"}
	case cfg.Conns < 1 || cfg.Conns > 1024:
		return usageError{"--conns must be between 1 and 1024"}
	case cfg.RebuildEvents < 0 || cfg.RebuildEvents > 100_000_000:
		return usageError{"--rebuild-events must be between 0 and 100000000"}
	case cfg.TracePersons < 0 || cfg.TracePersons > 5_000_000:
		return usageError{"--trace-persons must be between 0 and 5000000"}
	}
	for _, n := range cfg.MemoryPersons {
		if n < 100 || n > 100_000_000 {
			return usageError{"--memory-persons values must be between 100 and 100000000"}
		}
	}
	log, err := newLogger(stderr, "warn")
	if err != nil {
		return err
	}
	cfg.Stderr = stderr
	cfg.Start = func(ctx context.Context, dir string) (*bench.Running, error) {
		rn, err := startNode(ctx, serveConfig{Addr: "127.0.0.1:0", Data: dir}, log)
		if err != nil {
			return nil, err
		}
		stop := func() error { rn.cancel(); return rn.Wait() }
		ls, err := provisionStaff(ctx, rn.Node, "bench", false)
		if err != nil {
			stop()
			return nil, err
		}
		return &bench.Running{Addr: rn.Addr, Node: rn.Node, Token: ls.Token, Stop: stop}, nil
	}
	fmt.Fprintf(stderr, "healthcode bench %s\n", strings.Join(args, " "))
	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		if asJSON {
			if e := rep.WriteJSON(stdout, stderr); e != nil && err == nil {
				err = e
			}
		} else {
			rep.WriteTable(stdout)
		}
		if err == nil && len(rep.Failures) > 0 {
			err = fmt.Errorf("bench: %d measurement(s) failed: %s", len(rep.Failures), strings.Join(rep.Failures, "; "))
		}
	}
	return err
}
