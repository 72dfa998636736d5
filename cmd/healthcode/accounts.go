package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
	"healthcode/internal/staff"
)

const accountsUsage = `usage: healthcode accounts <action> --data DIR [flags]

actions:
  add         create a staff account: --username U --role R[,R2] --region CODE;
              the password is read from stdin (one line; not echoed on a terminal)
              or --password-file; prints the TOTP secret once where a role needs one
              (official, auditor, operator). Region 000000 is a national account.
  list        the accounts and API keys
  suspend     suspend an account: --username U --reason TEXT
  reinstate   reinstate a suspended account: --username U --reason TEXT
  issue-key   issue an API key for a machine client: --username U [--label TEXT];
              prints the key once
  revoke-key  revoke an API key: --key-id ID [--reason TEXT]

Roles: investigator, community, lab, verifier, official, auditor, operator.
The node must be stopped: the command writes to the data directory's event log.
Bootstrap a node with its first national operator and auditor:
  healthcode accounts add --data DIR --username ops --role operator --region 000000
  healthcode accounts add --data DIR --username audit --role auditor --region 000000`

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, accountsUsage)
		return usageError{"accounts: no action given (add, list, suspend, reinstate, issue-key or revoke-key)"}
	}
	action := args[0]
	fs := flag.NewFlagSet("accounts "+action, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), accountsUsage)
		fs.PrintDefaults()
	}
	var data, key, username, roles, regionCode, passwordFile, reason, label, keyID string
	fs.StringVar(&data, "data", "healthcode-data", "data directory of the node")
	fs.StringVar(&key, "key", "", "master key, 64 hex digits (default: DATA/node.key)")
	fs.StringVar(&username, "username", "", "the account: 1 to 32 of a-z 0-9 . _ -")
	fs.StringVar(&roles, "role", "", "add: the account's roles, comma-separated")
	fs.StringVar(&regionCode, "region", "", "add: the account's region, a 6-digit code of a county or above, or 000000 (national); must be given on the command line")
	fs.StringVar(&passwordFile, "password-file", "-", "add: read the password from the first line of this file (- is stdin)")
	fs.StringVar(&reason, "reason", "", "suspend, reinstate, revoke-key: why")
	fs.StringVar(&label, "label", "", "issue-key: what the key is for")
	fs.StringVar(&keyID, "key-id", "", "revoke-key: the key id (16 hex digits, see list)")
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	need := func(names ...string) error {
		for _, n := range names {
			v := fs.Lookup(n).Value.String()
			if v == "" || (n == "region" && !given[n]) {
				return usageError{fmt.Sprintf("accounts %s needs --%s", action, n)}
			}
		}
		return nil
	}
	actor := "cli:local"
	if u, err := user.Current(); err == nil && u.Username != "" {
		actor = "cli:" + u.Username
	}
	switch action {
	case "add":
		// Everything that can be checked without the node is checked before
		// the data directory is touched, so bad input changes nothing.
		if err := need("username", "role", "region"); err != nil {
			return err
		}
		in, err := accountInput(username, roles, regionCode)
		if err != nil {
			return err
		}
		if in.Password, err = readPassword(passwordFile, username, stderr); err != nil {
			return err
		}
		if err := staff.CheckPassword(in.Username, in.Password); err != nil {
			return err
		}
		return withAccountsNode(ctx, data, key, true, stderr, func(n *node.Node) error {
			acct, url, err := n.AddAccount(ctx, actor, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "account %s created: %s, region %s (%s)\n", acct.Username, acct.Roles, acct.Region, acct.Level)
			if url != "" {
				secret, err := staff.TOTPSecretOf(url)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "second factor (TOTP), shown only now; add it to an authenticator app:\n  secret: %s\n  url:    %s\n", secret, url)
			}
			return nil
		})
	case "list":
		return withAccountsNode(ctx, data, key, false, stderr, func(n *node.Node) error {
			printAccounts(stdout, n.Accounts(), n.APIKeys(""))
			return nil
		})
	case "suspend", "reinstate":
		if err := need("username", "reason"); err != nil {
			return err
		}
		return withAccountsNode(ctx, data, key, false, stderr, func(n *node.Node) error {
			if action == "suspend" {
				if err := n.SuspendAccount(ctx, actor, username, reason); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "account %s suspended\n", username)
				return nil
			}
			if err := n.ReinstateAccount(ctx, actor, username, reason); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "account %s reinstated\n", username)
			return nil
		})
	case "issue-key":
		if err := need("username"); err != nil {
			return err
		}
		return withAccountsNode(ctx, data, key, false, stderr, func(n *node.Node) error {
			tok, k, err := n.IssueAPIKey(ctx, actor, username, label)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "API key %s for %s, shown only now:\n  %s\n", k.ID, k.Username, tok)
			return nil
		})
	case "revoke-key":
		if err := need("key-id"); err != nil {
			return err
		}
		return withAccountsNode(ctx, data, key, false, stderr, func(n *node.Node) error {
			if err := n.RevokeAPIKey(ctx, actor, keyID, reason); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "API key %s revoked\n", keyID)
			return nil
		})
	}
	fmt.Fprintln(stderr, accountsUsage)
	return usageError{fmt.Sprintf("accounts: unknown action %q", action)}
}

// accountInput checks the flags of accounts add (all but the password).
func accountInput(username, roles, code string) (node.AccountInput, error) {
	in := node.AccountInput{Username: username, Region: code}
	if err := staff.CheckUsername(username); err != nil {
		return in, err
	}
	rs, err := staff.ParseRoles(roles)
	if err != nil {
		return in, err
	}
	in.Roles = rs
	regions, err := region.Default()
	if err != nil {
		return in, err
	}
	if _, err := staff.AccountRegion(regions, code); err != nil {
		return in, err
	}
	return in, nil
}

// readPassword reads one line from path ("-": stdin). On a terminal it asks
// twice without echo.
func readPassword(path, username string, stderr io.Writer) (string, error) {
	if path == "-" {
		if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
			fmt.Fprintf(stderr, "password for %s: ", username)
			p1, err := term.ReadPassword(fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			fmt.Fprintf(stderr, "again: ")
			p2, err := term.ReadPassword(fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			if string(p1) != string(p2) {
				return "", errors.New("the two passwords differ; nothing was changed")
			}
			return string(p1), nil
		}
		return firstLine(os.Stdin, "stdin")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	defer f.Close()
	return firstLine(f, path)
}

func firstLine(r io.Reader, name string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from %s: %w", name, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usageError{fmt.Sprintf("no password on %s (one line is expected)", name)}
	}
	return line, nil
}

// withAccountsNode opens the node of a data directory without serving it,
// runs its writer, calls f and closes everything. The directory is created
// only if create is set (accounts add, to bootstrap a new node). The node
// signs nothing here, so its signing keys are a throwaway set outside the
// data directory: the command never creates or rotates the node's own.
func withAccountsNode(ctx context.Context, data, hexKey string, create bool, stderr io.Writer, f func(n *node.Node) error) (err error) {
	dbPath := filepath.Join(data, "healthcode.db")
	if create {
		if err := os.MkdirAll(data, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	} else if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("accounts: no node data in %s (add an account or start the node there first)", data)
	}
	release, err := lockData(data)
	if err != nil {
		return err
	}
	defer release()
	master, err := identity.LoadOrCreateKey(data, hexKey)
	if err != nil {
		return err
	}
	vault, err := identity.NewVault(master)
	if err != nil {
		return err
	}
	regions, err := region.Default()
	if err != nil {
		return err
	}
	rules, err := health.NationalRuleset()
	if err != nil {
		return fmt.Errorf("national ruleset: %w", err)
	}
	scratch, err := os.MkdirTemp("", "healthcode-accounts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	keys, err := node.OpenKeys(scratch, master, defaultNodeRegion, time.Now())
	if err != nil {
		return fmt.Errorf("scratch signing keys: %w", err)
	}
	store, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.Open(ctx, node.Config{Store: store, Vault: vault, Regions: regions, Ruleset: rules, Keys: keys, Logger: log})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	err = f(n)
	stop()
	if rerr := <-done; rerr != nil && err == nil {
		err = rerr
	}
	return err
}

func printAccounts(w io.Writer, accts []staff.Account, keys []staff.APIKey) {
	fmt.Fprintf(w, "%-32s  %-34s  %-6s  %-8s  %-9s  %-4s  %s\n", "USERNAME", "ROLES", "REGION", "LEVEL", "STATUS", "TOTP", "CREATED")
	for _, a := range accts {
		totp := "no"
		if a.TOTP {
			totp = "yes"
		}
		fmt.Fprintf(w, "%-32s  %-34s  %-6s  %-8s  %-9s  %-4s  %s\n", a.Username, a.Roles, a.Region, a.Level, a.Status, totp, a.Created.UTC().Format(time.RFC3339))
	}
	if len(keys) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%-16s  %-32s  %-20s  %-20s  %s\n", "KEY ID", "ACCOUNT", "ISSUED", "STATE", "LABEL")
	for _, k := range keys {
		state := "in force"
		if !k.Revoked.IsZero() {
			state = "revoked " + k.Revoked.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%-16s  %-32s  %-20s  %-20s  %s\n", k.ID, k.Username, k.Issued.UTC().Format(time.RFC3339), state, k.Label)
	}
}
