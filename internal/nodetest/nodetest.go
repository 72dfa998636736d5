// Package nodetest starts real nodes (embedded store in a temp directory,
// running writer) for tests of the packages above node.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
	"healthcode/internal/staff"
)

// Clock is an injectable clock that tests step by hand.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Node is a running node for a test.
type Node struct {
	*node.Node
	Regions *region.Table
	Clock   *Clock
	Dir     string // the data directory
	Close   func() // stops the writer and closes the store; idempotent, also run at cleanup
}

// Start opens a node on the embedded store in dir (a new temp directory if
// dir is ""), with the national ruleset and clock, and runs its writer.
func Start(t testing.TB, dir string, clock *Clock) *Node {
	t.Helper()
	return StartWith(t, Options{Dir: dir, Clock: clock})
}

// Options configure StartWith. Zero values take Start's defaults; Region
// defaults to "440000".
type Options struct {
	Dir    string
	Clock  *Clock
	Region string
	Trust  []*codesign.TrustList // other nodes' trust lists
}

// StartWith is Start with more options.
func StartWith(t testing.TB, o Options) *Node {
	t.Helper()
	dir, clock := o.Dir, o.Clock
	if o.Region == "" {
		o.Region = "440000"
	}
	if dir == "" {
		dir = t.TempDir()
	}
	if clock == nil {
		clock = NewClock(time.Date(2022, 6, 11, 2, 0, 0, 0, time.UTC))
	}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := sqlite.Open(ctx, filepath.Join(dir, "healthcode.db"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	vault, err := identity.NewVault(key)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := node.OpenKeys(dir, key, o.Region, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	regions, err := region.Default()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := health.NationalRuleset()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(ctx, node.Config{Store: store, Vault: vault, Regions: regions, Ruleset: rules, Now: clock.Now, Keys: keys, Region: o.Region, Trust: o.Trust,
		// Cheap password hashes: tests create many accounts (the
		// default argon2id takes 64 MiB and about 0.1 s each).
		Staff:  staff.Config{Password: staff.PasswordParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node.Run: %v", err)
			}
			store.Close()
		})
	}
	t.Cleanup(closeAll)
	return &Node{Node: n, Regions: regions, Clock: clock, Dir: dir, Close: closeAll}
}

// IDNumber returns a valid synthetic resident ID number for serial (0–27999).
func IDNumber(serial int) string {
	base := "44010619850" + string(rune('1'+serial/1000%9)) + twoDigits(1+serial/9000%28) + threeDigits(serial%1000)
	return base + string(health.IDCheckDigit(base))
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }
func threeDigits(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
