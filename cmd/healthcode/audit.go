package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/mod/sumdb/note"

	"healthcode/internal/audit"
	"healthcode/internal/health"
	"healthcode/internal/sqlite"
)

const auditUsage = `usage: healthcode audit <action> --data DIR [flags]

actions:
  verify   recompute the audit log from every event and check it against the
           stored block hashes (one per 256 events), every signed head the
           node stored and, with --head FILE, a head saved earlier (the
           "note" of GET /api/v1/audit/head, or the whole JSON answer); it
           fails naming the first seq deleted or reordered, or the block of
           256 seqs in which an event was edited
  head     print the latest signed head the node stored, to save for a
           later 'audit verify --head FILE'

Both read the store without writing and without the data directory's lock,
so the node may be running or stopped. Heads are checked with the key in
DIR/audit.key unless --key gives the verifier key (an outside auditor
should give the key it was told, not the one in the directory).`

// auditSchema is the first store schema version with the audit log as it
// is now (block hashes, D51).
const auditSchema = 4

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, auditUsage)
		return usageError{"audit: no action given (verify or head)"}
	}
	action := args[0]
	fs := flag.NewFlagSet("audit "+action, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), auditUsage+"\n\nflags:")
		fs.PrintDefaults()
	}
	var (
		data, key string
		heads     stringList
		asJSON    bool
		quiet     bool
	)
	fs.StringVar(&data, "data", "healthcode-data", "data directory of the node")
	fs.StringVar(&key, "key", "", "the audit verifier key, name+hash+base64 (default: from DATA/audit.key)")
	fs.Var(&heads, "head", "verify: a signed head saved earlier (repeatable)")
	fs.BoolVar(&asJSON, "json", false, "head: print the head as the API's JSON instead of the note")
	fs.BoolVar(&quiet, "quiet", false, "verify: no progress bar")
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	switch action {
	case "verify", "head":
	default:
		fmt.Fprintln(stderr, auditUsage)
		return usageError{fmt.Sprintf("audit: unknown action %q", action)}
	}
	db, err := openAuditStore(ctx, data)
	if err != nil {
		return err
	}
	defer db.Close()
	v, vkey, err := auditVerifier(data, key)
	if err != nil {
		return err
	}
	if action == "head" {
		return auditHead(ctx, db, v, vkey, asJSON, stdout, stderr)
	}
	var bar io.Writer = stderr
	if quiet {
		bar = io.Discard
	}
	res, took, err := verifyAudit(ctx, db, v, heads, bar)
	if err != nil {
		return err
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("audit verify: FAILED: %w", err)
	}
	per := time.Duration(0)
	if res.Events > 0 {
		per = took / time.Duration(res.Events)
	}
	fmt.Fprintf(stdout, "audit verify: ok: %d events, %d block hashes and %d signed heads match (the largest covers seqs 1..%d); %s, %d ns/event\n",
		res.Events, res.Blocks, res.Heads, res.LargestHead, took.Round(time.Millisecond), per.Nanoseconds())
	if res.LargestHead < res.Events {
		fmt.Fprintf(stdout, "audit verify: seqs %d..%d are after the largest signed head: only a later head can prove them unchanged (the stored block hashes match seqs 1..%d)\n",
			res.LargestHead+1, res.Events, res.Blocks*audit.BlockSize)
	}
	return nil
}

// openAuditStore opens the store read-only and checks that it has the
// audit log's tables.
func openAuditStore(ctx context.Context, data string) (*sqlite.DB, error) {
	db, err := sqlite.OpenReadOnly(ctx, filepath.Join(data, "healthcode.db"))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	if v < auditSchema {
		db.Close()
		return nil, fmt.Errorf("audit: the store in %s has no audit log in this version's layout yet (schema version %d, want %d): start the node once with this version", data, v, auditSchema)
	}
	return db, nil
}

// auditVerifier returns the verifier of the given key, or of DATA/audit.key.
func auditVerifier(data, key string) (note.Verifier, string, error) {
	if key == "" {
		var err error
		if key, err = audit.ReadVerifierKey(data); err != nil {
			return nil, "", fmt.Errorf("audit: %w (give the verifier key with --key)", err)
		}
	}
	v, err := audit.NewVerifier(key)
	if err != nil {
		return nil, "", err
	}
	return v, strings.TrimSpace(key), nil
}

// verifyAudit reads the store in one snapshot and checks the audit log;
// progress goes to bar.
func verifyAudit(ctx context.Context, db *sqlite.DB, v note.Verifier, headFiles []string, bar io.Writer) (*audit.Result, time.Duration, error) {
	start := time.Now()
	snap, err := db.Snapshot(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer snap.Close()
	last, err := snap.LastSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	stored, err := snap.AuditHeads(ctx)
	if err != nil {
		return nil, 0, err
	}
	blocks, err := snap.AuditBlocks(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer blocks.Close()
	c := audit.NewChecker(v, blocks)
	for _, h := range stored {
		c.AddHead(h.Note, "stored head")
	}
	for _, f := range headFiles {
		msg, err := readHeadFile(f)
		if err != nil {
			return nil, 0, err
		}
		c.AddHead(msg, "head "+filepath.Base(f))
	}
	pb := progressbar.NewOptions64(int64(last), progressbar.OptionSetWriter(bar), progressbar.OptionSetDescription("audit verify"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"), progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(250*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(bar) }))
	var done, readTo uint64
	err, checkErr := scanPipelined(ctx, snap, c.Add, func(e *health.Event) {
		readTo = e.Seq
		if done++; done&0xffff == 0 {
			pb.Set64(int64(done))
		}
	})
	pb.Set64(int64(done))
	pb.Finish()
	if checkErr != nil {
		return nil, 0, fmt.Errorf("audit verify: %w", checkErr)
	}
	if err != nil {
		// A damaged visit block's error names the visit's seq.
		read := "no event could be read"
		if readTo > 0 {
			read = fmt.Sprintf("the events up to seq %d were read", readTo)
		}
		return nil, 0, fmt.Errorf("audit verify: FAILED: the log cannot be read, it was tampered with or is damaged: %w (%s)", err, read)
	}
	res, err := c.Finish()
	if err != nil {
		return nil, 0, err
	}
	return res, time.Since(start), nil
}

// eventBatch is a run of events copied out of a Scan, with their data.
type eventBatch struct {
	events []health.Event
	data   []byte
}

const verifyBatch = 4096

// scanPipelined reads every event of the snapshot in seq order on this
// goroutine (read is called for each) and hands them, copied in batches,
// to check on another, so that reading and decoding the store and hashing
// use a core each. It returns the error of the scan and that of check:
// after check's first error it stops reading.
func scanPipelined(ctx context.Context, snap *sqlite.Snapshot, check func(*health.Event) error, read func(*health.Event)) (scanErr, checkErr error) {
	const inFlight = 4
	free, full := make(chan *eventBatch, inFlight), make(chan *eventBatch, inFlight)
	for range inFlight {
		free <- &eventBatch{events: make([]health.Event, 0, verifyBatch)}
	}
	stop, checked := make(chan struct{}), make(chan error, 1)
	go func() {
		for b := range full {
			for i := range b.events {
				if err := check(&b.events[i]); err != nil {
					close(stop)
					checked <- err
					return
				}
			}
			b.events, b.data = b.events[:0], b.data[:0]
			free <- b
		}
		checked <- nil
	}()
	errStopped := errors.New("stopped")
	cur := <-free
	send := func() error {
		select {
		case full <- cur:
		case <-stop:
			return errStopped
		}
		select {
		case cur = <-free:
			return nil
		case <-stop:
			return errStopped
		}
	}
	scanErr = snap.Scan(ctx, 0, func(e *health.Event) error {
		read(e)
		c := *e
		if e.Data != nil {
			off := len(cur.data)
			cur.data = append(cur.data, e.Data...)
			c.Data = cur.data[off:len(cur.data):len(cur.data)]
		}
		cur.events = append(cur.events, c)
		if len(cur.events) == verifyBatch {
			return send()
		}
		return nil
	})
	if scanErr == nil && len(cur.events) > 0 {
		scanErr = send()
	}
	close(full)
	checkErr = <-checked
	if errors.Is(scanErr, errStopped) {
		scanErr = nil
	}
	return scanErr, checkErr
}

// readHeadFile reads a saved head: a signed note, or the JSON answer of GET
// /api/v1/audit/head (its "note").
func readHeadFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: --head: %w", err)
	}
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		var h struct {
			Note string `json:"note"`
		}
		if err := json.Unmarshal(b, &h); err != nil || h.Note == "" {
			return nil, fmt.Errorf("audit: --head %s: JSON without a \"note\"", path)
		}
		return []byte(h.Note), nil
	}
	return b, nil
}

// auditHead prints the latest stored head after checking its signature.
func auditHead(ctx context.Context, db *sqlite.DB, v note.Verifier, vkey string, asJSON bool, stdout, stderr io.Writer) error {
	sh, ok, err := db.LastAuditHead(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("audit head: no signed head is stored yet (the node signs one after its first write, every 5 minutes and at stop)")
	}
	h, err := audit.OpenHead(sh.Note, v)
	if err != nil {
		return fmt.Errorf("audit head: the stored head of size %d: %w", sh.Size, err)
	}
	last, err := db.LastSeq(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "head of size %d signed %s; the store has %d events\n", h.Size, h.Time.Format(time.RFC3339), last)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"size": h.Size, "root": base64.StdEncoding.EncodeToString(h.Root[:]),
			"time": health.FormatTime(h.Time), "note": string(h.Note), "key": vkey})
	}
	_, err = stdout.Write(h.Note)
	return err
}
