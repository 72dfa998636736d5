package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/httpapi"
	"healthcode/internal/identity"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
	"healthcode/internal/web"
)

// serveConfig is the configuration of a running node, read only here in cmd.
type serveConfig struct {
	Addr      string
	Data      string
	Key       string // hex master key; empty: DATA/node.key
	LogLevel  string
	Region    string        // the node's id: the province or city it serves
	ScreenTTL time.Duration // lifetime of a code token shown on a screen
	PaperTTL  time.Duration // lifetime of a printed code token
	// ScreenReuse: how long a signed screen token is handed out again
	// while its claims are unchanged; negative: never.
	ScreenReuse time.Duration
	Trust       []string // trust-list files of other nodes whose codes are accepted
	Now         func() time.Time
}

const defaultNodeRegion = "440000"

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// readTrustList reads and verifies a trust-list file (its signature and
// content; the root is the one inside it).
func readTrustList(path string) (*codesign.TrustList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	tl, err := codesign.ParseTrustList(data, nil)
	if err != nil {
		return nil, fmt.Errorf("trust list %s: %w", path, err)
	}
	return tl, nil
}

// screenReuse maps the flag (0: sign every view) to node.Config's form
// (0: the default; negative: sign every view).
func screenReuse(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// addNodeFlags registers the flags shared by serve and demo.
func addNodeFlags(fs *flag.FlagSet, cfg *serveConfig) {
	fs.StringVar(&cfg.Region, "region", defaultNodeRegion, "the node's id: the province or city code it serves (the issuer of its codes)")
	fs.DurationVar(&cfg.ScreenTTL, "screen-ttl", 5*time.Minute, "lifetime of a signed code shown on a screen")
	fs.DurationVar(&cfg.PaperTTL, "paper-ttl", 24*time.Hour, "lifetime of a printed (paper) code")
	fs.DurationVar(&cfg.ScreenReuse, "screen-reuse", node.DefaultScreenReuse, "hand out the same signed screen code again for this long while the code is unchanged (0: sign every view)")
	fs.Var((*stringList)(&cfg.Trust), "trust", "trust-list file of another node whose codes this node accepts (repeatable)")
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := serveConfig{}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&cfg.Data, "data", "healthcode-data", "data directory (created if missing)")
	fs.StringVar(&cfg.Key, "key", "", "master key, 64 hex digits (default: DATA/node.key, created at first start)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	addNodeFlags(fs, &cfg)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	rn, err := startNode(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "healthcode %s serving on http://%s (data %s)\n", version, rn.Addr, cfg.Data)
	if len(rn.Node.Accounts()) == 0 {
		fmt.Fprintf(stderr, "no staff accounts yet: create the first operator and auditor with `healthcode accounts add --data %s ...` (staff sign in with POST /api/v1/sessions)\n", cfg.Data)
	}
	return rn.Wait()
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level: %q is not debug, info, warn or error", level)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "st_" + hex.EncodeToString(b)
}

// runningNode is a started node: store, writer and HTTP server.
type runningNode struct {
	Addr   string
	Node   *node.Node
	store  *sqlite.DB
	errc   chan error
	done   chan struct{}
	cancel context.CancelFunc
}

// startNode opens the data directory, replays the log, starts the writer and
// the HTTP server. The node stops when ctx is cancelled; Wait returns then.
func startNode(ctx context.Context, cfg serveConfig, log *slog.Logger) (*runningNode, error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	release, err := lockData(cfg.Data)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			release()
		}
	}()
	key, err := identity.LoadOrCreateKey(cfg.Data, cfg.Key)
	if err != nil {
		return nil, err
	}
	vault, err := identity.NewVault(key)
	if err != nil {
		return nil, err
	}

	regions, err := region.Default()
	if err != nil {
		return nil, err
	}
	rules, err := health.NationalRuleset()
	if err != nil {
		return nil, fmt.Errorf("national ruleset: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultNodeRegion
	}
	if r, ok := regions.Lookup(cfg.Region); !ok || r.Level > region.City {
		return nil, usageError{fmt.Sprintf("--region: %q is not a province or city code", cfg.Region)}
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	keys, err := node.OpenKeys(cfg.Data, key, cfg.Region, now())
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	var trust []*codesign.TrustList
	for _, f := range cfg.Trust {
		tl, err := readTrustList(f)
		if err != nil {
			return nil, err
		}
		trust = append(trust, tl)
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "healthcode.db"))
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n, err := node.Open(ctx, node.Config{Store: store, Vault: vault, Regions: regions, Ruleset: rules, Logger: log, Registry: reg, Now: cfg.Now,
		Keys: keys, Region: cfg.Region, ScreenTTL: cfg.ScreenTTL, PaperTTL: cfg.PaperTTL,
		ScreenReuse: screenReuse(cfg.ScreenReuse), Trust: trust})
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	api := httpapi.New(httpapi.Config{Node: n, Logger: log, Gatherer: reg, Registry: reg, Regions: regions,
		Version: version, Web: web.New(web.Config{Node: n, Regions: regions})})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	rn := &runningNode{Addr: ln.Addr().String(), Node: n, store: store, errc: make(chan error, 2), done: make(chan struct{}), cancel: cancel}
	writerCtx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan error, 1)
	go func() { writerDone <- n.Run(writerCtx) }()
	httpDone := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		httpDone <- err
	}()
	go func() {
		defer close(rn.done)
		var first error
		select {
		case <-ctx.Done():
		case first = <-httpDone:
			httpDone <- nil
		}
		// Stop taking requests, let running ones finish, then stop the writer
		// (it drains what it took) and close the store.
		shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := srv.Shutdown(shutCtx); err != nil && first == nil {
			first = err
		}
		cancel()
		<-httpDone
		stopWriter()
		if err := <-writerDone; err != nil && first == nil {
			first = err
		}
		if err := store.Close(); err != nil && first == nil {
			first = err
		}
		release()
		log.Info("stopped")
		cancel()
		rn.errc <- first
	}()
	started = true
	return rn, nil
}

// Wait blocks until the node has stopped and returns the first error.
func (rn *runningNode) Wait() error {
	<-rn.done
	return <-rn.errc
}
