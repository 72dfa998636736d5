package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/sim"
)

// runCmd runs the real command line and returns its standard output.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := realMain(context.Background(), args, &out, io.Discard)
	return out.String(), err
}

// simEnd is the end of the test cities' period (--end 2022-06-13).
var simEnd = time.Date(2022, 6, 13, 0, 0, 0, 0, health.CST)

// startTestNode starts a node in this process whose clock runs from 08:00 on
// the day the test cities end, with the demo's staff accounts.
func startTestNode(t *testing.T) (string, localStaff) {
	t.Helper()
	log, err := newLogger(io.Discard, "error")
	if err != nil {
		t.Fatal(err)
	}
	clockStart := time.Now()
	now := func() time.Time { return simEnd.Add(8 * time.Hour).Add(time.Since(clockStart)) }
	rn, err := startNode(context.Background(), serveConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), Now: now}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rnStop(rn); err != nil {
			t.Errorf("stopping the node: %v", err)
		}
	})
	st, err := provisionStaff(context.Background(), rn.Node, "tester", true)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + rn.Addr, st
}

// loadArgs returns args with the staff token and one lab's token (sim --load).
func (st localStaff) loadArgs(args ...string) []string {
	return append(args, "--token", st.Token, "--lab-token", st.LabTokens[sim.Labs[0]])
}

// args returns args with the staff token and the labs' tokens as flags.
func (st localStaff) args(args ...string) []string {
	args = append(args, "--token", st.Token)
	for lab, tok := range st.LabTokens {
		args = append(args, "--lab-token", lab+"="+tok)
	}
	return args
}

// TestSimImportCheck writes a small city with sim --out, imports it into a
// node, and checks the node's tracing against the ground truth: every close
// and secondary contact found, and nothing else. A second import changes
// nothing that the check sees.
func TestSimImportCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "city")
	if _, err := runCmd(t, "sim", "--persons", "2000", "--days", "5", "--seed", "3", "--end", "2022-06-13", "--out", dir); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir)
	areas := itoa(m.Counts["risk_areas"])
	base, st := startTestNode(t)
	out, err := runCmd(t, st.args("import", dir, "--target", base, "--concurrency", "3")...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{"2000 enrolled, 0 existing", "40 registered, 0 existing", areas + " declared",
		fmt.Sprintf("trips: %d passenger lists, %d passengers recorded", m.Counts["trips"], m.Counts["passengers"])} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}

	check := func(t *testing.T) checkReport {
		t.Helper()
		out, err := runCmd(t, st.args("sim", "--check", "--target", base, "--truth", dir, "--json")...)
		if err != nil {
			t.Fatalf("sim --check: %v\n%s", err, out)
		}
		var rep checkReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("sim --check --json printed no JSON object: %v\n%s", err, out)
		}
		for _, s := range []struct {
			name string
			s    score
		}{{"close", rep.Close}, {"secondary", rep.Secondary}} {
			if s.s.Precision != 1 || s.s.Recall != 1 || s.s.Matched != s.s.Truth || s.s.Traced != s.s.Truth {
				t.Errorf("%s contacts: got precision %v, recall %v (truth %d, traced %d, matched %d; missed %v, extra %v), want 1 and 1",
					s.name, s.s.Precision, s.s.Recall, s.s.Truth, s.s.Traced, s.s.Matched, s.s.Missed, s.s.Extra)
			}
		}
		if rep.Close.Truth == 0 || rep.Secondary.Truth == 0 || rep.Cases == 0 {
			t.Errorf("want cases, close and secondary contacts in the truth, got %d, %d and %d", rep.Cases, rep.Close.Truth, rep.Secondary.Truth)
		}
		if in := rep.Infections; in.Total == 0 || in.TestedPositive.Red != rep.Cases || in.CodeAt != "current" {
			t.Errorf("infections: got %+v, want some, every case red, code_at current", in)
		}
		return rep
	}
	rep := check(t)
	if rep.Opened != rep.Cases || rep.Existing != 0 {
		t.Errorf("first check: opened %d and found %d open of %d cases, want all opened", rep.Opened, rep.Existing, rep.Cases)
	}
	if rep.Close.Truth != m.Counts["close_contacts"] || rep.Secondary.Truth != m.Counts["secondary_contacts"] || rep.Cases != m.Counts["cases"] {
		t.Errorf("the check's truth (%d cases, %d close, %d secondary) is not sim.json's %v", rep.Cases, rep.Close.Truth, rep.Secondary.Truth, m.Counts)
	}

	// Import again: enrolment, places, results and risk areas are not
	// repeated; the visits are recorded twice, which changes no contact.
	out, err = runCmd(t, st.args("import", dir, "--target", base)...)
	if err != nil {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	for _, want := range []string{"0 enrolled, 2000 existing", "0 registered, 40 existing", "0 accepted, " + itoa(m.Counts["results"]) + " duplicates",
		"0 declared, " + areas + " existing", "the visits were recorded again"} {
		if !strings.Contains(out, want) {
			t.Errorf("second import's output lacks %q:\n%s", want, out)
		}
	}
	// The text report, of the second check: the cases are open already.
	out, err = runCmd(t, st.args("sim", "--check", "--target", base, "--truth", dir)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{fmt.Sprintf(`cases: %d \(0 opened, %d open already\)`, rep.Cases, rep.Cases),
		`close contacts +\d+ +\d+ +\d+ +1\.0000 +1\.0000`, `secondary contacts +\d+ +\d+ +\d+ +1\.0000 +1\.0000`,
		`red or yellow before a positive test: \d+`, `current code`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the check's report lacks %q:\n%s", re, out)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func readManifest(t *testing.T, dir string) sim.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, sim.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m sim.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSimOutDeterministic: the same seed gives byte-identical files, another
// seed other ones.
func TestSimOutDeterministic(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, seed string) string {
		dir := filepath.Join(tmp, name)
		if _, err := runCmd(t, "sim", "--persons", "1500", "--days", "3", "--seed", seed, "--end", "2022-06-13", "--out", dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	a, b, c := write("a", "5"), write("b", "5"), write("c", "6")
	files := []string{sim.ManifestFile, sim.PersonsFile, sim.PlacesFile, sim.VisitsFile, sim.TripsFile, sim.ResultsFile, sim.RiskAreasFile,
		sim.InfectionsFile, sim.CasesFile, sim.ContactsFile}
	same := 0
	for _, f := range files {
		fa, fb, fc := readBytes(t, a, f), readBytes(t, b, f), readBytes(t, c, f)
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s: the same seed gave different files", f)
		}
		if bytes.Equal(fa, fc) {
			same++
		}
	}
	if same > 1 { // risk_areas.jsonl may be empty for both
		t.Errorf("another seed gave %d identical files of %d", same, len(files))
	}
}

func readBytes(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSimUsageErrors(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	const target = "http://127.0.0.1:1"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"sim without output", []string{"sim"}, "give --out DIR (write files) or --target URL"},
		{"too few persons", []string{"sim", "--persons", "5", "--out", out}, "--persons must be between 10 and"},
		{"too many days", []string{"sim", "--days", "29", "--out", out}, "--days must be between 1 and 28"},
		{"bad end", []string{"sim", "--end", "13/06/2022", "--out", out}, `--end: "13/06/2022" is not a date YYYY-MM-DD`},
		{"full out", []string{"sim", "--out", full}, "is not empty"},
		{"unknown city", []string{"sim", "--city", "999999", "--out", out}, `--city: "999999" is not in the region table`},
		{"target without token", []string{"sim", "--target", target}, "--target needs --token"},
		{"target not a URL", []string{"sim", "--target", "127.0.0.1:1", "--token", "t"}, "--target: \"127.0.0.1:1\" is not a URL"},
		{"negative rate", []string{"sim", "--target", target, "--token", "t", "--rate", "-1"}, "--rate must not be negative"},
		{"no concurrency", []string{"sim", "--target", target, "--token", "t", "--concurrency", "0"}, "--concurrency must be between"},
		{"bad timeout", []string{"sim", "--timeout", "soon", "--out", out}, `invalid value "soon" for flag -timeout`},
		{"check without truth", []string{"sim", "--check", "--target", target, "--token", "t"}, "sim --check needs --truth DIR"},
		{"check without target", []string{"sim", "--check", "--truth", full}, "sim --check needs --target URL"},
		{"truth without check", []string{"sim", "--truth", full, "--out", out}, "--truth and --json go with --check"},
		{"import without directory", []string{"import", "--target", target, "--token", "t"}, "import needs a directory"},
		{"import without target", []string{"import", full}, "import needs --target URL"},
		{"import two directories", []string{"import", full, full, "--target", target, "--token", "t"}, `import: unexpected argument`},
		{"import no directory", []string{"import", filepath.Join(full, "nope"), "--target", target, "--token", "t"}, "is not a directory"},
		{"import unknown flag", []string{"import", full, "--nope"}, "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCmd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if exitCode(err) != 2 {
				t.Errorf("exit code: got %d, want 2", exitCode(err))
			}
			if strings.Contains(oneLine(err), "\n") {
				t.Errorf("the message is not one line: %q", err)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused sim wrote %s", out)
	}
}

// TestImportMalformed: a malformed line stops import and check before they
// send anything (the target does not even listen), naming file, line and
// field.
func TestImportMalformed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "city")
	if _, err := runCmd(t, "sim", "--persons", "200", "--days", "2", "--seed", "1", "--end", "2022-06-13", "--out", dir); err != nil {
		t.Fatal(err)
	}
	corrupt := func(file string, line int, text string) {
		t.Helper()
		path := filepath.Join(dir, filepath.FromSlash(file))
		lines := strings.Split(string(readBytes(t, dir, file)), "\n")
		lines[line-1] = text
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const target = "http://127.0.0.1:1"
	corrupt(sim.ContactsFile, 2, `{"person_id":"p2","degree":"close","source_case_person":"p1"}`)
	_, err := runCmd(t, "sim", "--check", "--target", target, "--token", "t", "--truth", dir)
	if want := "truth/contacts.jsonl:2: degree: is a JSON string, want a number"; err == nil || err.Error() != want {
		t.Errorf("check: got %v, want %q", err, want)
	}
	corrupt(sim.VisitsFile, 3, `{"person_id":"p1","place_id":"L1","at":"2022-06-11 08:00","until":"2022-06-11T09:00:00Z"}`)
	_, err = runCmd(t, "import", dir, "--target", target, "--token", "t")
	want := `visits.jsonl:3: at: "2022-06-11 08:00" is not an RFC 3339 time (e.g. 2022-06-11T08:30:00Z)`
	if err == nil || err.Error() != want {
		t.Fatalf("import: got %v, want %q", err, want)
	}
	if exitCode(err) != 1 {
		t.Errorf("exit code: got %d, want 1", exitCode(err))
	}
}

// TestSimTarget feeds a city straight to a node (and writes its files), then
// checks it; a run that cannot finish within --timeout fails.
func TestSimTarget(t *testing.T) {
	base, st := startTestNode(t)
	dir := filepath.Join(t.TempDir(), "city")
	out, err := runCmd(t, st.args("sim", "--persons", "1500", "--days", "3", "--seed", "5", "--end", "2022-06-13",
		"--target", base, "--rate", "2000", "--timeout", "2m", "--out", dir)...)
	if err != nil {
		t.Fatalf("sim --target: %v\n%s", err, out)
	}
	if !strings.Contains(out, "1500 enrolled, 0 existing") || !strings.Contains(out, "wrote "+dir) {
		t.Errorf("sim --target --out output:\n%s", out)
	}
	out, err = runCmd(t, st.args("sim", "--check", "--target", base, "--truth", dir, "--json")...)
	if err != nil {
		t.Fatalf("sim --check: %v\n%s", err, out)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Close.Precision != 1 || rep.Close.Recall != 1 || rep.Secondary.Precision != 1 || rep.Secondary.Recall != 1 || rep.Close.Truth == 0 {
		t.Errorf("got close %+v, secondary %+v; want precision and recall 1", rep.Close, rep.Secondary)
	}

	_, err = runCmd(t, st.args("sim", "--persons", "1500", "--days", "3", "--seed", "6", "--end", "2022-06-13",
		"--target", base, "--timeout", "1ms")...)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || exitCode(err) != 1 {
		t.Errorf("--timeout 1ms: got %v, want a deadline error with exit code 1", err)
	}
}
