package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/identity"
	"healthcode/internal/node"
)

const keysUsage = `usage: healthcode keys <action> --data DIR [flags]

actions:
  list      the keys: id, algorithm, region, validity, state
  rotate    replace a region's signing key (--region; default the node's code key);
            tokens signed by the old key verify until they expire
  revoke    revoke a key (--kid); its tokens are refused once verifiers load the new list
  export    write the signed trust list (--out FILE, default stdout)

The node must be stopped: the keystore has one writer.`

// lockData takes the data directory's lock (DIR/LOCK), held by a running
// node, so that key changes and a running node never race.
func lockData(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by a running node; stop it first", dir)
		}
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	return func() { f.Close() }, nil
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, keysUsage)
		return usageError{"keys: no action given (list, rotate, revoke or export)"}
	}
	action := args[0]
	fs := flag.NewFlagSet("keys "+action, flag.ContinueOnError)
	var data, key, region, kid, out string
	fs.StringVar(&data, "data", "healthcode-data", "data directory of the node")
	fs.StringVar(&key, "key", "", "master key, 64 hex digits (default: DATA/node.key)")
	fs.StringVar(&region, "region", defaultNodeRegion, "rotate: the key's region (the node id, or NODE/venue for the venue key)")
	fs.StringVar(&kid, "kid", "", "revoke: the key id (8 hex digits, see list)")
	fs.StringVar(&out, "out", "", "export: write the trust list to this file instead of stdout")
	var paperTTL time.Duration
	fs.DurationVar(&paperTTL, "paper-ttl", 24*time.Hour, "rotate: the node's paper-code lifetime (as given to serve); a rotated key stays trusted this long plus an hour")
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	switch action {
	case "list", "rotate", "revoke", "export":
	default:
		fmt.Fprintln(stderr, keysUsage)
		return usageError{fmt.Sprintf("keys: unknown action %q", action)}
	}
	if _, err := os.Stat(filepath.Join(data, codesign.KeystoreFile)); err != nil {
		return fmt.Errorf("keys: no keystore in %s (start the node there once): %w", data, err)
	}
	release, err := lockData(data)
	if err != nil {
		return err
	}
	defer release()
	master, err := identity.LoadOrCreateKey(data, key)
	if err != nil {
		return err
	}
	kek, err := codesign.DeriveKEK(master)
	if err != nil {
		return err
	}
	ks, err := codesign.OpenKeystore(filepath.Join(data, codesign.KeystoreFile), kek)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	ks.SetMaxTokenLifetime(max(paperTTL, node.DefaultScreenTTL) + time.Hour)
	now := time.Now()
	switch action {
	case "list":
		fmt.Fprintf(stdout, "%-8s  %-5s  %-14s  %-20s  %-20s  %s\n", "KID", "ALG", "REGION", "NOT BEFORE", "NOT AFTER", "STATE")
		for _, k := range ks.Keys() {
			state := "retired"
			switch {
			case k.Region == codesign.RootRegion:
				state = "root"
			case k.Revoked:
				state = "revoked " + k.RevokedAt.Format(time.RFC3339)
			case k.Active:
				state = "active"
			case !now.Before(k.NotAfter):
				state = "expired"
			}
			na := "-"
			if !k.NotAfter.IsZero() {
				na = k.NotAfter.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%-8s  %-5s  %-14s  %-20s  %-20s  %s\n", k.ID, k.Alg, k.Region, k.NotBefore.Format(time.RFC3339), na, state)
		}
		return nil
	case "rotate":
		k, err := ks.Rotate(region, now)
		if err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		fmt.Fprintf(stdout, "new key %s for %s; the old one verifies its tokens until they expire. Restart the node and re-publish the trust list.\n", k.ID, region)
		return nil
	case "revoke":
		if kid == "" {
			return usageError{"keys revoke: --kid is required"}
		}
		if err := ks.Revoke(kid, now); err != nil {
			return fmt.Errorf("keys revoke: %w", err)
		}
		fmt.Fprintf(stdout, "revoked %s; its tokens are refused by every verifier that loads the new trust list (keys export).\n", kid)
		return nil
	}
	tl, err := ks.TrustList(now)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = stdout.Write(append(tl, '\n'))
		return err
	}
	if err := os.WriteFile(out, tl, 0o644); err != nil {
		return fmt.Errorf("keys export: %w", err)
	}
	fmt.Fprintf(stdout, "wrote the trust list (%d bytes) to %s\n", len(tl), out)
	return nil
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var tlFile, root string
	fs.StringVar(&tlFile, "trust-list", "", "trust-list file saved from GET /api/v1/trust-list or keys export (required)")
	fs.StringVar(&root, "root", "", "pin the root key: its key id (8 hex digits); without it the list proves only its own integrity")
	if err := parseFlagsArgs(fs, args, stderr, 1); err != nil {
		return err
	}
	if tlFile == "" {
		return usageError{"verify: --trust-list is required"}
	}
	if fs.NArg() != 1 {
		return usageError{"verify: give one code payload (HCC1:…) or a PNG image of the QR code"}
	}
	data, err := os.ReadFile(tlFile)
	if err != nil {
		return fmt.Errorf("verify: trust list: %w", err)
	}
	tl, err := codesign.ParseTrustList(data, nil)
	if err != nil {
		return fmt.Errorf("verify: trust list %s refused: %w", tlFile, err)
	}
	if root != "" && !strings.EqualFold(tl.Root.ID, root) {
		return fmt.Errorf("verify: trust list %s is signed by root %s, not the pinned %s", tlFile, tl.Root.ID, root)
	}
	payload := fs.Arg(0)
	if strings.HasSuffix(strings.ToLower(payload), ".png") {
		img, err := os.ReadFile(payload)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if payload, err = codesign.DecodePNG(img); err != nil {
			return fmt.Errorf("verify: refused: %w", err)
		}
	}
	c, err := codesign.Verify(payload, tl, time.Now())
	if err != nil {
		return fmt.Errorf("verify: refused: %w", err)
	}
	star := ""
	if c.Star {
		star = " with star"
	}
	kind := "screen code"
	if c.Paper {
		kind = "paper code"
	}
	fmt.Fprintf(stdout, "valid %s: %s%s, %s, issued by %s at %s, valid until %s\n", kind, c.Colour, star, c.MaskedName,
		c.Issuer, c.IssuedAt.Format(time.RFC3339), c.ExpiresAt.Format(time.RFC3339))
	return nil
}
