// Command healthcode runs a node of the national health-code and contact
// tracing system, and its tools.
//
//	healthcode serve   --addr 127.0.0.1:8080 --data DIR
//	healthcode demo    [--persons N] [--days D] [--seed S] [--no-serve]
//	healthcode sim     [--persons N] [--days D] [--seed S] --out DIR | --target URL --token T
//	healthcode sim     --check --target URL --token T --truth DIR [--json]
//	healthcode import  DIR --target URL --token T
//	healthcode keys    list|rotate|revoke|export --data DIR
//	healthcode accounts add|list|suspend|reinstate|issue-key|revoke-key --data DIR
//	healthcode audit   verify|head --data DIR [--head FILE]
//	healthcode verify  --trust-list FILE PAYLOAD|IMAGE.png
//	healthcode version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "healthcode:", oneLine(err))
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

const usage = `usage: healthcode <command> [flags]

commands:
  serve     run a node on the embedded store
  demo      generate a synthetic city, feed it through the API and serve it
  bench     measure the core goals next to their peers (see BENCHMARKS.md)
  sim       generate a synthetic city with its ground truth: as files (--out),
            into a running node (--target), or check a node's tracing (--check)
  import    load a directory written by 'sim --out' into a running node
  keys      list, rotate, revoke or export the node's signing keys (node stopped)
  accounts  add, list, suspend staff accounts; issue API keys (node stopped)
  audit     verify the tamper-evident audit log (audit verify), print its signed head (audit head)
  verify    verify a code token or a QR image offline against a trust list
  version   print the version

Every flag can also be set as HEALTHCODE_<FLAG> (e.g. HEALTHCODE_DATA=/var/lib/healthcode).
Run 'healthcode <command> -h' for its flags.`

// realMain is the whole program with one exit.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "sim":
		return runSim(ctx, args[1:], stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], stdout, stderr)
	case "keys":
		return runKeys(ctx, args[1:], stdout, stderr)
	case "accounts":
		return runAccounts(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "healthcode", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// parseFlags parses args and then fills every flag not given on the command
// line from HEALTHCODE_<NAME> (upper case, '-' as '_').
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	return parseFlagsArgs(fs, args, stderr, 0)
}

// parseFlagsArgs is parseFlags for a command that takes up to maxArgs
// positional arguments after its flags.
func parseFlagsArgs(fs *flag.FlagSet, args []string, stderr io.Writer, maxArgs int) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > maxArgs {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(maxArgs))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "HEALTHCODE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = usageError{fmt.Sprintf("%s=%q: %v", env, v, e)}
			}
		}
	})
	return err
}
