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
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
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
	cfg.Start = func(ctx context.Context, dir, token string) (*bench.Running, error) {
		rn, err := startNode(ctx, serveConfig{Addr: "127.0.0.1:0", Data: dir, AdminToken: token}, log)
		if err != nil {
			return nil, err
		}
		return &bench.Running{Addr: rn.Addr, Node: rn.Node, Stop: func() error { rn.cancel(); return rn.Wait() }}, nil
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
