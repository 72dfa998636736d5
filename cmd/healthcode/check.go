package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/sim"
)

// checkReport is what sim --check found (its --json output).
type checkReport struct {
	Truth     string `json:"truth"`
	Target    string `json:"target"`
	Cases     int    `json:"cases"`
	Opened    int    `json:"cases_opened"`
	Existing  int    `json:"cases_existing"` // already open on the node
	Close     score  `json:"close"`
	Secondary score  `json:"secondary"`
	// Infections: the true infections (truth/infections.jsonl) and their
	// codes on the node.
	Infections infectionCodes `json:"infections"`
	Notes      []string       `json:"notes,omitempty"`
}

// score compares the contacts of one degree found by the node with the truth.
type score struct {
	Truth     int     `json:"truth"`
	Traced    int     `json:"traced"`
	Matched   int     `json:"matched"`
	Precision float64 `json:"precision"` // matched / traced (1 if none traced)
	Recall    float64 `json:"recall"`    // matched / truth (1 if none true)
	// Up to 10 examples each, as "p12 (node p345)": the directory's id and
	// the node's.
	Missed []string `json:"missed,omitempty"` // true contacts the node did not find
	Extra  []string `json:"extra,omitempty"`  // contacts the node found that are not true ones
}

// infectionCodes are the node's codes of the truly infected persons.
type infectionCodes struct {
	Total int `json:"total"`
	// CodeAt says which code is counted: "current" — the API shows a
	// person's current code only, not the code at a past time.
	CodeAt string `json:"code_at"`
	// TestedPositive: infected persons with a positive result (the cases);
	// their current code is after the positive.
	TestedPositive colourCount `json:"tested_positive"`
	// NotTestedPositive: infected persons without a positive result; their
	// current code is the code they had before any positive test.
	NotTestedPositive colourCount `json:"not_tested_positive"`
	// RedOrYellowBeforePositive counts the infected persons whose code was
	// red or yellow without a positive test (NotTestedPositive's red and
	// yellow).
	RedOrYellowBeforePositive int `json:"red_or_yellow_before_positive"`
}

type colourCount struct {
	Green  int `json:"green"`
	Yellow int `json:"yellow"`
	Red    int `json:"red"`
}

func (c *colourCount) add(colour string) {
	switch colour {
	case "green":
		c.Green++
	case "yellow":
		c.Yellow++
	case "red":
		c.Red++
	}
}

// maxTraceCases is the API's limit of cases in one trace.
const maxTraceCases = 10000

// runCheck opens the cases of the directory's city on the node, traces them
// (depth 2, not recorded) and scores the contacts against the truth.
func runCheck(ctx context.Context, sc simConfig, stdout, stderr io.Writer) error {
	t0 := time.Now()
	var phases []phaseTime
	phase := func(name string, items int, since time.Time) {
		phases = append(phases, phaseTime{name, items, time.Since(since)})
	}
	bars := newBars(stderr)
	d, err := sim.ReadDir(sc.Truth, sim.ReadOptions{SkipVisits: true, Truth: true, Now: time.Now()}, prefixed("read ", bars.progress))
	bars.finish()
	if err != nil {
		return err
	}
	city := d.City
	phase("read", len(city.Persons), t0)
	client := &sim.Client{Base: sc.Target, Token: sc.Token, LabTokens: sc.LabTokens, Concurrency: sc.Concurrency, Rate: sc.Rate}
	rep := checkReport{Truth: sc.Truth, Target: sc.Target, Infections: infectionCodes{CodeAt: "current"}}

	// The node's ids of the directory's persons: enrolling an enrolled ID
	// number again writes nothing and answers the person's id.
	fmt.Fprintln(stderr, "mapping the directory's persons to the node's ids (re-enrolment writes nothing for enrolled persons)…")
	t := time.Now()
	bars = newBars(stderr)
	ids, existing, err := client.Enrol(ctx, city.Persons, bars.progress)
	bars.finish()
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if existing < len(city.Persons) {
		return fmt.Errorf("check: %d of the %d persons of %s were not on the node (they are enrolled now): import %s first",
			len(city.Persons)-existing, len(city.Persons), sc.Truth, sc.Truth)
	}

	phase("map persons", len(ids), t)

	// Cases, as the demo's investigators open them (cmd/healthcode
	// investigate.go): isolation capped at the end of the period and at the
	// node's time.
	now := client.ServerTime(ctx)
	isolateBy := now
	if end := d.Manifest.End; !end.IsZero() && end.Before(isolateBy) {
		isolateBy = end
	}
	cases, err := sim.Cases(city.Results, city.Infections, isolateBy)
	if err != nil {
		return err
	}
	if !sameCases(cases, d.Truth.Cases) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the cases opened differ from %s (isolation capped at the node's time %s?): the truth assumes those",
			sim.CasesFile, health.FormatTime(now)))
	}
	rep.Cases = len(cases)
	if len(cases) > maxTraceCases {
		return fmt.Errorf("check: %d cases, more than the %d one trace takes", len(cases), maxTraceCases)
	}
	t = time.Now()
	caseIDs, opened, err := openCases(ctx, client, cases, ids, stderr)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	rep.Opened, rep.Existing = opened, len(caseIDs)-opened
	phase("open cases", len(caseIDs), t)
	t = time.Now()

	// Trace all of them at once, as the demo does, without recording.
	var truth, found [3]map[string]bool
	for deg := 1; deg <= 2; deg++ {
		truth[deg], found[deg] = map[string]bool{}, map[string]bool{}
	}
	if len(caseIDs) > 0 {
		fmt.Fprintf(stderr, "tracing %d cases (depth 2, not recorded)…\n", len(caseIDs))
		body := map[string]any{"cases": caseIDs, "depth": 2, "record": false}
		err := client.Stream(ctx, http.MethodPost, "/api/v1/trace", body, func(r io.Reader) error {
			return readContacts(r, func(personID string, degree int) error {
				if degree != 1 && degree != 2 {
					return fmt.Errorf("a contact of degree %d", degree)
				}
				found[degree][personID] = true
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("check: trace: %w", err)
		}
	}
	phase("trace", len(found[1])+len(found[2]), t)
	fileOf := make(map[string]int, len(ids))
	for i, id := range ids {
		fileOf[id] = i
	}
	for _, ct := range d.Truth.Contacts {
		truth[ct.Degree][ids[ct.Person]] = true
	}
	name := func(id string) string {
		if i, ok := fileOf[id]; ok {
			return fmt.Sprintf("p%d (node %s)", i+1, id)
		}
		return "node " + id + " (not in the directory)"
	}
	rep.Close = scoreOf(truth[1], found[1], name)
	rep.Secondary = scoreOf(truth[2], found[2], name)

	// The codes of the truly infected.
	fmt.Fprintln(stderr, "reading the codes of the infected…")
	t = time.Now()
	positive := map[int]bool{}
	for _, c := range cases {
		positive[c.Person] = true
	}
	infected := []int{}
	seen := map[int]bool{}
	for _, in := range city.Infections {
		if !seen[in.Person] {
			seen[in.Person] = true
			infected = append(infected, in.Person)
		}
	}
	colours, err := codes(ctx, client, infected, ids, sc.Concurrency)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	phase("codes", len(infected), t)
	rep.Infections.Total = len(infected)
	for i, p := range infected {
		if positive[p] {
			rep.Infections.TestedPositive.add(colours[i])
		} else {
			rep.Infections.NotTestedPositive.add(colours[i])
		}
	}
	rep.Infections.RedOrYellowBeforePositive = rep.Infections.NotTestedPositive.Red + rep.Infections.NotTestedPositive.Yellow
	rep.Notes = append(rep.Notes, "codes are the current ones: the API gives a person's current code only, not the code at the first positive test; "+
		"for the infected without a positive test that is the code before any positive")

	if sc.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printCheck(stdout, rep)
	printPhases(stdout, phases, time.Since(t0))
	return nil
}

// readContacts reads the answer of POST /api/v1/trace one contact at a
// time (a large trace's answer, exposures and all, runs to hundreds of
// megabytes), calling fn with each contact's person id and degree.
func readContacts(r io.Reader, fn func(personID string, degree int) error) error {
	dec := json.NewDecoder(r)
	delim := func(want json.Delim) error {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("the answer: %w", err)
		}
		if t != want {
			return fmt.Errorf("the answer: got %v, want %v", t, want)
		}
		return nil
	}
	if err := delim('{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return fmt.Errorf("the answer: %w", err)
		}
		if key != "contacts" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("the answer: %w", err)
			}
			continue
		}
		if err := delim('['); err != nil {
			return err
		}
		for dec.More() {
			var c struct {
				PersonID string `json:"person_id"`
				Degree   int    `json:"degree"`
			}
			if err := dec.Decode(&c); err != nil {
				return fmt.Errorf("the answer's contacts: %w", err)
			}
			if err := fn(c.PersonID, c.Degree); err != nil {
				return err
			}
		}
		if err := delim(']'); err != nil {
			return err
		}
	}
	return delim('}')
}

// sameCases reports whether two lists of cases agree on everything the
// node is told.
func sameCases(a, b []sim.Case) bool {
	return slices.EqualFunc(a, b, func(x, y sim.Case) bool {
		return x.Person == y.Person && x.Classification == y.Classification && x.Onset.Equal(y.Onset) &&
			x.FirstPositive.Equal(y.FirstPositive) && x.IsolatedAt.Equal(y.IsolatedAt)
	})
}

// openCases opens a case for each of cases (in order, as investigate.go
// does) and returns the case ids, reusing the case a person has already.
func openCases(ctx context.Context, client *sim.Client, cases []sim.Case, ids []string, stderr io.Writer) (caseIDs []string, opened int, err error) {
	bars := newBars(stderr)
	defer bars.finish()
	bars.progress("open cases", 0, len(cases))
	for i, c := range cases {
		body := map[string]string{"person_id": ids[c.Person], "site": sim.CaseSite, "isolated_at": health.FormatTime(c.IsolatedAt),
			"classification": c.Classification}
		if c.Classification == sim.Confirmed {
			body["onset"] = health.FormatTime(c.Onset)
		} else {
			body["first_positive"] = health.FormatTime(c.FirstPositive)
		}
		var out struct {
			CaseID string `json:"case_id"`
		}
		err := client.Do(ctx, http.MethodPost, "/api/v1/cases", body, &out)
		var ae *sim.APIError
		switch {
		case err == nil:
			opened++
		case errors.As(err, &ae) && ae.Code == "case_exists":
			var existing struct {
				Cases []struct {
					CaseID string `json:"case_id"`
				} `json:"cases"`
			}
			if err := client.Do(ctx, http.MethodGet, "/api/v1/cases?person_id="+ids[c.Person], nil, &existing); err != nil {
				return nil, opened, err
			}
			if len(existing.Cases) != 1 {
				return nil, opened, fmt.Errorf("%s has %d cases, want 1", ids[c.Person], len(existing.Cases))
			}
			out.CaseID = existing.Cases[0].CaseID
		default:
			return nil, 0, fmt.Errorf("opening the case of %s: %w", ids[c.Person], err)
		}
		caseIDs = append(caseIDs, out.CaseID)
		bars.progress("open cases", i+1, len(cases))
	}
	return caseIDs, opened, nil
}

// codes reads the current colour of each person (GET code, ?qr=none).
func codes(ctx context.Context, client *sim.Client, persons []int, ids []string, conc int) ([]string, error) {
	out := make([]string, len(persons))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conc)
	for w := range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(persons) || ctx.Err() != nil {
					return
				}
				var v struct {
					Colour string `json:"colour"`
				}
				if err := client.Do(ctx, http.MethodGet, "/api/v1/persons/"+url.PathEscape(ids[persons[i]])+"/code?qr=none", nil, &v); err != nil {
					errs[w] = err
					return
				}
				out[i] = v.Colour
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

func scoreOf(truth, found map[string]bool, name func(string) string) score {
	s := score{Truth: len(truth), Traced: len(found), Precision: 1, Recall: 1}
	var missed, extra []string
	for id := range truth {
		if found[id] {
			s.Matched++
		} else {
			missed = append(missed, id)
		}
	}
	for id := range found {
		if !truth[id] {
			extra = append(extra, id)
		}
	}
	if s.Traced > 0 {
		s.Precision = float64(s.Matched) / float64(s.Traced)
	}
	if s.Truth > 0 {
		s.Recall = float64(s.Matched) / float64(s.Truth)
	}
	s.Missed, s.Extra = examples(missed, name), examples(extra, name)
	return s
}

// examples names up to 10 of ids, in id order.
func examples(ids []string, name func(string) string) []string {
	slices.SortFunc(ids, func(a, b string) int {
		pa, _ := health.ParsePersonID(a)
		pb, _ := health.ParsePersonID(b)
		return int(int64(pa) - int64(pb))
	})
	var out []string
	for _, id := range ids[:min(len(ids), 10)] {
		out = append(out, name(id))
	}
	return out
}

func printCheck(w io.Writer, rep checkReport) {
	fmt.Fprintf(w, "tracing check of %s against %s\n", rep.Target, rep.Truth)
	fmt.Fprintf(w, "cases: %d (%d opened, %d open already)\n", rep.Cases, rep.Opened, rep.Existing)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\ttruth\ttraced\tmatched\tprecision\trecall\t\n")
	for _, r := range []struct {
		name string
		s    score
	}{{"close contacts", rep.Close}, {"secondary contacts", rep.Secondary}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.4f\t%.4f\t\n", r.name, r.s.Truth, r.s.Traced, r.s.Matched, r.s.Precision, r.s.Recall)
	}
	tw.Flush()
	for _, r := range []struct {
		name string
		s    score
	}{{"close", rep.Close}, {"secondary", rep.Secondary}} {
		if len(r.s.Missed) > 0 {
			fmt.Fprintf(w, "  %s contacts missed (first %d): %v\n", r.name, len(r.s.Missed), r.s.Missed)
		}
		if len(r.s.Extra) > 0 {
			fmt.Fprintf(w, "  %s contacts not in the truth (first %d): %v\n", r.name, len(r.s.Extra), r.s.Extra)
		}
	}
	in := rep.Infections
	fmt.Fprintf(w, "true infections: %d\n", in.Total)
	fmt.Fprintf(w, "  with a positive test:    %d  (current code: red %d, yellow %d, green %d)\n",
		in.TestedPositive.Red+in.TestedPositive.Yellow+in.TestedPositive.Green, in.TestedPositive.Red, in.TestedPositive.Yellow, in.TestedPositive.Green)
	fmt.Fprintf(w, "  without a positive test: %d  (current code: red %d, yellow %d, green %d)\n",
		in.NotTestedPositive.Red+in.NotTestedPositive.Yellow+in.NotTestedPositive.Green, in.NotTestedPositive.Red, in.NotTestedPositive.Yellow, in.NotTestedPositive.Green)
	fmt.Fprintf(w, "  red or yellow before a positive test: %d\n", in.RedOrYellowBeforePositive)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
