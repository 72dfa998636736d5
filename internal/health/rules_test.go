package health

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// evalNow is the fixed evaluation time of the rule tests: 2022-06-20 12:00 CST.
var evalNow = time.Date(2022, 6, 20, 4, 0, 0, 0, time.UTC)

// ago returns evalNow - d.
func ago(d time.Duration) time.Time { return evalNow.Add(-d) }

// in returns evalNow + d.
func in(d time.Duration) time.Time { return evalNow.Add(d) }

const (
	hour = time.Hour
	day  = 24 * time.Hour
	week = 7 * day
)

func mustNational(tb testing.TB) *Ruleset {
	tb.Helper()
	rs, err := NationalRuleset()
	if err != nil {
		tb.Fatalf("NationalRuleset: %v", err)
	}
	return rs
}

func test(seq uint64, r Result, at time.Time) TestResult {
	return TestResult{Seq: seq, Lab: "lab1", SampleID: "S" + EventID(seq), Person: 7, SampledAt: at, Result: r}
}

func override(approval, request, cleared uint64, c Colour, until time.Time) OverrideItem {
	return OverrideItem{Event: approval, Request: request, Cleared: cleared, Colour: c, Reason: "close_contact_by_phone",
		Until: until, RequesterRegion: "440106", ApproverRegion: "440100"}
}

func stay(visit, area uint64, l RiskLevel, from, to time.Time) Stay {
	return Stay{Visit: visit, Area: area, Place: 3, From: from, To: to, Level: l, Region: "110105"}
}

// checkGolden compares got with the golden file at path, or rewrites the
// file when -update is set.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file: %v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestEvaluateNational evaluates the national ruleset at evalNow. The
// reasons of each row are in testdata/reasons/<name>.golden.
func TestEvaluateNational(t *testing.T) {
	t.Parallel()
	rs := mustNational(t)

	cases := []struct {
		name         string
		ev           Evidence
		wantColour   Colour
		wantStar     bool
		wantNextEval time.Time
		wantRules    []string // the rule of each reason, in order
	}{
		{
			name:       "no-evidence",
			ev:         Evidence{},
			wantColour: Green,
		},
		{
			name:       "positive",
			ev:         Evidence{Tests: []TestResult{test(11, Positive, ago(2*day))}},
			wantColour: Red,
			wantRules:  []string{"positive-result"},
		},
		{
			name: "positive-then-one-negative",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(2*day)),
			}},
			wantColour: Red,
			wantRules:  []string{"positive-result"},
		},
		{
			name: "positive-two-negatives-under-24h",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(3*day)),
				test(13, Negative, ago(3*day-23*hour-59*time.Minute)),
			}},
			wantColour: Red,
			wantRules:  []string{"positive-result"},
		},
		{
			name: "positive-negatives-before-positive",
			ev: Evidence{Tests: []TestResult{
				test(11, Negative, ago(6*day)),
				test(12, Negative, ago(5*day)),
				test(13, Positive, ago(4*day)),
			}},
			wantColour: Red,
			wantRules:  []string{"positive-result"},
		},
		{
			name: "positive-negative-same-instant",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(4*day)),
				test(13, Negative, ago(3*day)),
			}},
			wantColour: Red,
			wantRules:  []string{"positive-result"},
		},
		{
			name: "positive-invalid-does-not-clear",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(3*day)),
				test(13, InvalidResult, ago(2*day)),
			}},
			wantColour: Red,
			wantRules:  []string{"positive-result"},
		},
		{
			// Cleared at ago(1d) by negatives exactly 24h apart; yellow until
			// ago(1d)+72h = in(2d).
			name: "positive-two-negatives-24h-apart",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(2*day)),
				test(13, Negative, ago(1*day)),
			}},
			wantColour:   Yellow,
			wantNextEval: in(2 * day),
			wantRules:    []string{"post-positive-monitoring"},
		},
		{
			// Results arrive out of order: the engine must sort by sampling time.
			name: "positive-negatives-unordered",
			ev: Evidence{Tests: []TestResult{
				test(13, Negative, ago(1*day)),
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(2*day)),
			}},
			wantColour:   Yellow,
			wantNextEval: in(2 * day),
			wantRules:    []string{"post-positive-monitoring"},
		},
		{
			// The second negative is only 10h after the first and does not
			// count; the clearing negative is the third, at ago(70h), 30h
			// after the first: yellow until in(2h).
			name: "positive-second-negative-skipped",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(120*hour)),
				test(12, Negative, ago(100*hour)),
				test(13, Negative, ago(90*hour)),
				test(14, Negative, ago(70*hour)),
			}},
			wantColour:   Yellow,
			wantNextEval: in(2 * hour),
			wantRules:    []string{"post-positive-monitoring"},
		},
		{
			name: "monitoring-last-second",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(5*day)),
				test(12, Negative, ago(96*hour)),
				test(13, Negative, ago(72*hour-time.Second)),
			}},
			wantColour:   Yellow,
			wantNextEval: in(time.Second),
			wantRules:    []string{"post-positive-monitoring"},
		},
		{
			name: "monitoring-over",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(5*day)),
				test(12, Negative, ago(96*hour)),
				test(13, Negative, ago(72*hour)),
			}},
			wantColour: Green,
		},
		{
			// The first positive was cleared long ago; a new positive is red.
			name: "positive-again-after-clearing",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(20*day)),
				test(12, Negative, ago(18*day)),
				test(13, Negative, ago(17*day)),
				test(14, Positive, ago(1*day)),
			}},
			wantColour: Red,
			wantRules:  []string{"positive-result"},
		},
		{
			name:       "negative-only",
			ev:         Evidence{Tests: []TestResult{test(11, Negative, ago(1*day)), test(12, Negative, ago(2*hour))}},
			wantColour: Green,
		},
		{
			name:       "invalid-result",
			ev:         Evidence{Tests: []TestResult{test(11, InvalidResult, ago(1*day))}},
			wantColour: Green,
		},
		{
			name:         "high-risk-stay",
			ev:           Evidence{Stays: []Stay{stay(21, 31, High, ago(50*hour), ago(48*hour))}},
			wantColour:   Red,
			wantNextEval: in(week - 48*hour),
			wantRules:    []string{"high-risk-stay"},
		},
		{
			name:         "high-risk-stay-last-second",
			ev:           Evidence{Stays: []Stay{stay(21, 31, High, ago(week+hour), ago(week-time.Second))}},
			wantColour:   Red,
			wantNextEval: in(time.Second),
			wantRules:    []string{"high-risk-stay"},
		},
		{
			name:       "high-risk-stay-expired",
			ev:         Evidence{Stays: []Stay{stay(21, 31, High, ago(week+hour), ago(week))}},
			wantColour: Green,
		},
		{
			name:         "medium-risk-stay",
			ev:           Evidence{Stays: []Stay{stay(21, 32, Medium, ago(50*hour), ago(48*hour))}},
			wantColour:   Yellow,
			wantNextEval: in(week - 48*hour),
			wantRules:    []string{"medium-risk-stay"},
		},
		{
			name:       "medium-risk-stay-expired",
			ev:         Evidence{Stays: []Stay{stay(21, 32, Medium, ago(8*day), ago(week))}},
			wantColour: Green,
		},
		{
			name: "unverified-high-risk-stay",
			ev: Evidence{Stays: []Stay{func() Stay {
				s := stay(21, 31, High, ago(50*hour), ago(48*hour))
				s.Unverified = true
				return s
			}()}},
			wantColour: Green,
		},
		{
			name: "unverified-medium-risk-stay",
			ev: Evidence{Stays: []Stay{func() Stay {
				s := stay(21, 32, Medium, ago(50*hour), ago(48*hour))
				s.Unverified = true
				return s
			}()}},
			wantColour: Green,
		},
		{
			// Star until the visit leaves the 7-day window: ago(1d)+7d = in(6d).
			name: "city-stay",
			ev: Evidence{CityStays: []CityStay{
				{City: "110100", LastVisit: 41, At: ago(day), Area: 31, Level: High, AreaUntil: in(10 * day)},
			}},
			wantColour:   Green,
			wantStar:     true,
			wantNextEval: in(6 * day),
			wantRules:    []string{"risk-city-star"},
		},
		{
			// The area ends before the window closes: the star ends with it.
			name: "city-stay-area-ends-first",
			ev: Evidence{CityStays: []CityStay{
				{City: "110100", LastVisit: 41, At: ago(day), Area: 32, Level: Medium, AreaUntil: in(day)},
			}},
			wantColour:   Green,
			wantStar:     true,
			wantNextEval: in(day),
			wantRules:    []string{"risk-city-star"},
		},
		{
			name: "city-stay-visit-out-of-window",
			ev: Evidence{CityStays: []CityStay{
				{City: "110100", LastVisit: 41, At: ago(week), Area: 31, Level: High, AreaUntil: in(10 * day)},
			}},
			wantColour: Green,
		},
		{
			name: "city-stay-unverified",
			ev: Evidence{CityStays: []CityStay{
				{City: "110100", LastVisit: 41, At: ago(day), Area: 31, Level: High, AreaUntil: in(10 * day), Unverified: true},
			}},
			wantColour: Green,
		},
		{
			name: "two-high-risk-stays-sorted-by-evidence",
			ev: Evidence{Stays: []Stay{
				stay(23, 31, High, ago(30*hour), ago(29*hour)),
				stay(22, 31, High, ago(60*hour), ago(59*hour)),
			}},
			wantColour:   Red,
			wantNextEval: in(week - 59*hour),
			wantRules:    []string{"high-risk-stay", "high-risk-stay"},
		},
		{
			name: "monitoring-and-medium-stay",
			ev: Evidence{
				Tests: []TestResult{
					test(11, Positive, ago(4*day)),
					test(12, Negative, ago(2*day)),
					test(13, Negative, ago(1*day)),
				},
				Stays: []Stay{stay(21, 32, Medium, ago(6*day), ago(6*day-hour))},
			},
			wantColour:   Yellow,
			wantNextEval: in(day + hour),
			wantRules:    []string{"medium-risk-stay", "post-positive-monitoring"},
		},
		{
			name:         "close-contact",
			ev:           Evidence{Contacts: []ContactItem{{Event: 41, Case: "GZ01-20220611-001", Degree: 1, LastExposure: ago(2 * day)}}},
			wantColour:   Red,
			wantNextEval: in(5 * day),
			wantRules:    []string{"close-contact", "close-contact-monitoring"},
		},
		{
			name:         "close-contact-monitoring",
			ev:           Evidence{Contacts: []ContactItem{{Event: 41, Case: "GZ01-20220611-001", Degree: 1, LastExposure: ago(8 * day)}}},
			wantColour:   Yellow,
			wantNextEval: in(2 * day),
			wantRules:    []string{"close-contact-monitoring"},
		},
		{
			name:       "close-contact-over",
			ev:         Evidence{Contacts: []ContactItem{{Event: 41, Case: "GZ01-20220611-001", Degree: 1, LastExposure: ago(10 * day)}}},
			wantColour: Green,
		},
		{
			name:       "close-contact-unverified",
			ev:         Evidence{Contacts: []ContactItem{{Event: 41, Case: "GZ01-20220611-001", Degree: 1, LastExposure: ago(day), Unverified: true}}},
			wantColour: Green,
		},
		{
			name:         "secondary-contact",
			ev:           Evidence{Contacts: []ContactItem{{Event: 42, Case: "GZ01-20220611-001", Degree: 2, LastExposure: ago(day)}}},
			wantColour:   Yellow,
			wantNextEval: in(6 * day),
			wantRules:    []string{"secondary-contact"},
		},
		{
			name: "several-reasons",
			ev: Evidence{
				Tests: []TestResult{test(11, Positive, ago(2*day))},
				Stays: []Stay{
					stay(21, 32, Medium, ago(3*day), ago(3*day-hour)),
					stay(22, 31, High, ago(5*day), ago(5*day-hour)),
					func() Stay {
						s := stay(23, 31, High, ago(day), ago(day-hour))
						s.Unverified = true
						return s
					}(),
				},
				CityStays: []CityStay{
					{City: "110100", LastVisit: 22, At: ago(5 * day), Area: 31, Level: High, AreaUntil: in(10 * day)},
				},
			},
			wantColour:   Red,
			wantStar:     true,
			wantNextEval: in(2 * day), // the city star, ago(5d)+7d
			wantRules:    []string{"high-risk-stay", "positive-result", "medium-risk-stay", "risk-city-star"},
		},
		{
			// An approved manual change holds until its expiry and cites
			// the approval and the request.
			name:         "override-red",
			ev:           Evidence{Overrides: []OverrideItem{override(52, 51, 0, Red, in(3*day))}},
			wantColour:   Red,
			wantNextEval: in(3 * day),
			wantRules:    []string{"manual-override-red"},
		},
		{
			// Released by an auditor: the release is cited too.
			name:         "override-yellow-cleared",
			ev:           Evidence{Overrides: []OverrideItem{override(52, 51, 53, Yellow, in(day))}},
			wantColour:   Yellow,
			wantNextEval: in(day),
			wantRules:    []string{"manual-override-yellow"},
		},
		{
			name:       "override-expired",
			ev:         Evidence{Overrides: []OverrideItem{override(52, 51, 0, Red, evalNow)}},
			wantColour: Green,
		},
		{
			// A yellow override does not hide a stronger reason.
			name: "override-yellow-and-close-contact",
			ev: Evidence{
				Contacts:  []ContactItem{{Event: 41, Case: "GZ01-20220611-001", Degree: 1, LastExposure: ago(2 * day)}},
				Overrides: []OverrideItem{override(52, 51, 0, Yellow, in(14*day))},
			},
			wantColour:   Red,
			wantNextEval: in(5 * day),
			wantRules:    []string{"close-contact", "close-contact-monitoring", "manual-override-yellow"},
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			code, err := rs.Evaluate(&tc.ev, evalNow)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if code.Colour != tc.wantColour {
				t.Errorf("got colour %v, want %v", code.Colour, tc.wantColour)
			}
			if code.Star != tc.wantStar {
				t.Errorf("got star %t, want %t", code.Star, tc.wantStar)
			}
			if !code.NextEval.Equal(tc.wantNextEval) {
				t.Errorf("got NextEval %v, want %v", code.NextEval, tc.wantNextEval)
			}
			if code.Ruleset != "national" || code.RulesetVersion != 2 {
				t.Errorf("got ruleset %s v%d, want national v2", code.Ruleset, code.RulesetVersion)
			}
			var gotRules []string
			for _, r := range code.Reasons {
				gotRules = append(gotRules, r.Rule)
				if r.RuleVersion != 1 {
					t.Errorf("reason %s: got rule version %d, want 1", r.Rule, r.RuleVersion)
				}
				if !r.Until.IsZero() && !r.Until.After(evalNow) {
					t.Errorf("reason %s: got Until %v, want after now %v", r.Rule, r.Until, evalNow)
				}
			}
			if diff := cmp.Diff(tc.wantRules, gotRules); diff != "" {
				t.Errorf("reason rules mismatch (-want +got):\n%s", diff)
			}
			// NextEval is the earliest Until of the reasons.
			var minUntil time.Time
			for _, r := range code.Reasons {
				if !r.Until.IsZero() && (minUntil.IsZero() || r.Until.Before(minUntil)) {
					minUntil = r.Until
				}
			}
			if !code.NextEval.Equal(minUntil) {
				t.Errorf("got NextEval %v, want the earliest reason Until %v", code.NextEval, minUntil)
			}

			got, err := json.MarshalIndent(code.Reasons, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "reasons", tc.name+".golden"), append(got, '\n'))
		})
	}
}

// TestEvaluateReasonDetails pins the fields the brief names explicitly, so
// that a wrong golden file cannot hide them.
func TestEvaluateReasonDetails(t *testing.T) {
	t.Parallel()
	rs := mustNational(t)

	cases := []struct {
		name string
		ev   Evidence
		want []Reason // Title is not compared
	}{
		{
			name: "positive",
			ev:   Evidence{Tests: []TestResult{test(11, Positive, ago(2*day))}},
			want: []Reason{{Rule: "positive-result", RuleVersion: 1, Colour: Red, Evidence: []uint64{11}}},
		},
		{
			name: "monitoring",
			ev: Evidence{Tests: []TestResult{
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(2*day)),
				test(13, Negative, ago(1*day)),
			}},
			want: []Reason{{Rule: "post-positive-monitoring", RuleVersion: 1, Colour: Yellow, Evidence: []uint64{11}, Until: ago(day).Add(72 * hour)}},
		},
		{
			name: "high-risk-stay",
			ev:   Evidence{Stays: []Stay{stay(21, 31, High, ago(50*hour), ago(48*hour))}},
			want: []Reason{{Rule: "high-risk-stay", RuleVersion: 1, Colour: Red, Evidence: []uint64{21, 31}, Until: ago(48 * hour).Add(168 * hour)}},
		},
		{
			name: "medium-risk-stay",
			ev:   Evidence{Stays: []Stay{stay(21, 32, Medium, ago(50*hour), ago(48*hour))}},
			want: []Reason{{Rule: "medium-risk-stay", RuleVersion: 1, Colour: Yellow, Evidence: []uint64{21, 32}, Until: ago(48 * hour).Add(168 * hour)}},
		},
		{
			name: "city-stay",
			ev: Evidence{CityStays: []CityStay{
				{City: "110100", LastVisit: 41, At: ago(day), Area: 31, Level: High, AreaUntil: in(10 * day)},
			}},
			want: []Reason{{Rule: "risk-city-star", RuleVersion: 1, Colour: Green, Star: true, Evidence: []uint64{41, 31}, Until: ago(day).Add(168 * hour)}},
		},
		{
			name: "override",
			ev:   Evidence{Overrides: []OverrideItem{override(52, 51, 0, Red, in(3*day))}},
			want: []Reason{{Rule: "manual-override-red", RuleVersion: 1, Colour: Red, Evidence: []uint64{52, 51}, Until: in(3 * day)}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, err := rs.Evaluate(&tc.ev, evalNow)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			ignoreTitle := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Title" }, cmp.Ignore())
			if diff := cmp.Diff(tc.want, code.Reasons, ignoreTitle); diff != "" {
				t.Errorf("reasons mismatch (-want +got):\n%s", diff)
			}
			for _, r := range code.Reasons {
				if r.Title["en"] == "" || r.Title["zh"] == "" {
					t.Errorf("reason %s: got title %v, want en and zh", r.Rule, r.Title)
				}
			}
		})
	}
}

// TestEvaluateDeterministic evaluates the same evidence twice (and
// concurrently) and checks the codes are equal and the evidence untouched.
func TestEvaluateDeterministic(t *testing.T) {
	t.Parallel()
	rs := mustNational(t)

	mk := func() Evidence {
		return Evidence{
			Tests: []TestResult{
				test(13, Negative, ago(1*day)),
				test(11, Positive, ago(4*day)),
				test(12, Negative, ago(2*day)),
				test(14, Positive, ago(3*hour)),
			},
			Stays: []Stay{
				stay(23, 31, High, ago(30*hour), ago(29*hour)),
				stay(21, 32, Medium, ago(60*hour), ago(59*hour)),
				stay(22, 31, High, ago(60*hour), ago(59*hour)),
			},
			CityStays: []CityStay{
				{City: "310100", LastVisit: 42, At: ago(2 * day), Area: 33, Level: Medium, AreaUntil: in(day)},
				{City: "110100", LastVisit: 23, At: ago(30 * hour), Area: 31, Level: High, AreaUntil: in(10 * day)},
			},
		}
	}
	ev := mk()

	first, err := rs.Evaluate(&ev, evalNow)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if len(first.Reasons) != 7 {
		t.Fatalf("got %d reasons, want 7: %+v", len(first.Reasons), first.Reasons)
	}
	second, err := rs.Evaluate(&ev, evalNow)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if !cmp.Equal(first, second) {
		t.Errorf("second evaluation differs (-first +second):\n%s", cmp.Diff(first, second))
	}
	if diff := cmp.Diff(mk(), ev); diff != "" {
		t.Errorf("Evaluate modified its evidence (-before +after):\n%s", diff)
	}

	// Reversing the input order of items does not change the code.
	rev := mk()
	rev.Tests[0], rev.Tests[3] = rev.Tests[3], rev.Tests[0]
	rev.Stays[0], rev.Stays[2] = rev.Stays[2], rev.Stays[0]
	rev.CityStays[0], rev.CityStays[1] = rev.CityStays[1], rev.CityStays[0]
	reordered, err := rs.Evaluate(&rev, evalNow)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if diff := cmp.Diff(first, reordered); diff != "" {
		t.Errorf("reordered evidence gives a different code (-original +reordered):\n%s", diff)
	}

	// The ruleset is safe for concurrent use.
	var wg sync.WaitGroup
	codes := make([]Code, 8)
	errs := make([]error, len(codes))
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := mk()
			codes[i], errs[i] = rs.Evaluate(&ev, evalNow)
		}()
	}
	wg.Wait()
	for i := range codes {
		if errs[i] != nil {
			t.Errorf("concurrent Evaluate %d: %v", i, errs[i])
			continue
		}
		if !cmp.Equal(first, codes[i]) {
			t.Errorf("concurrent Evaluate %d differs (-want +got):\n%s", i, cmp.Diff(first, codes[i]))
		}
	}
}

// TestEvaluateCustomRuleset covers engine paths the national rules do not
// reach: an until that is never reached, a rule without until, and run-time
// expression errors.
func TestEvaluateCustomRuleset(t *testing.T) {
	t.Parallel()

	const head = "id: custom\nversion: 3\nparams: {gap: 24h}\nrules:\n"
	posTest := Evidence{Tests: []TestResult{test(11, Positive, ago(2*day))}}

	cases := []struct {
		name         string
		rules        string
		ev           Evidence
		wantErr      string // substring; "" for success
		wantColour   Colour
		wantUntil    time.Time // of the only reason
		wantNextEval time.Time
	}{
		{
			name: "until never reached is zero",
			rules: `  - {id: r, version: 1, colour: red, each: tests, when: 'e.result == "positive"',
       until: 'cleared_at(tests, e.sampled_at, 5, params.gap)'}`,
			ev:         posTest,
			wantColour: Red,
		},
		{
			name:       "no until holds with zero Until",
			rules:      `  - {id: r, version: 1, colour: yellow, each: tests, when: 'e.result == "positive"'}`,
			ev:         posTest,
			wantColour: Yellow,
		},
		{
			name: "until in the future",
			rules: `  - {id: r, version: 1, colour: yellow, each: tests, when: 'e.result == "positive"',
       until: 'e.sampled_at + duration("72h")'}`,
			ev:           posTest,
			wantColour:   Yellow,
			wantUntil:    in(day),
			wantNextEval: in(day),
		},
		{
			name:    "when fails at run time",
			rules:   `  - {id: r, version: 2, colour: red, each: tests, when: 'e.no_such_key == "x"'}`,
			ev:      posTest,
			wantErr: "rule r v2 when",
		},
		{
			name:    "until of the wrong type at run time",
			rules:   `  - {id: r, version: 1, colour: red, each: tests, when: 'true', until: 'e.result'}`,
			ev:      posTest,
			wantErr: "want a timestamp",
		},
		{
			name:    "until fails at run time",
			rules:   `  - {id: r, version: 1, colour: red, each: tests, when: 'true', until: 'e.no_such_key'}`,
			ev:      posTest,
			wantErr: "rule r v1 until",
		},
		{
			name:       "failing rule not reached without items",
			rules:      `  - {id: r, version: 1, colour: red, each: tests, when: 'e.no_such_key == "x"'}`,
			ev:         Evidence{Stays: []Stay{stay(21, 31, High, ago(2*day), ago(day))}},
			wantColour: Green,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs, err := ParseRuleset([]byte(head + tc.rules + "\n"))
			if err != nil {
				t.Fatalf("ParseRuleset: %v", err)
			}
			code, err := rs.Evaluate(&tc.ev, evalNow)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Evaluate: got error %v, want one containing %q", err, tc.wantErr)
				}
				if !cmp.Equal(code, Code{}) {
					t.Errorf("Evaluate: got code %+v with an error, want zero Code", code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if code.Ruleset != "custom" || code.RulesetVersion != 3 {
				t.Errorf("got ruleset %s v%d, want custom v3", code.Ruleset, code.RulesetVersion)
			}
			if code.Colour != tc.wantColour {
				t.Errorf("got colour %v, want %v", code.Colour, tc.wantColour)
			}
			if !code.NextEval.Equal(tc.wantNextEval) {
				t.Errorf("got NextEval %v, want %v", code.NextEval, tc.wantNextEval)
			}
			if tc.wantColour == Green {
				if len(code.Reasons) != 0 {
					t.Errorf("got reasons %+v, want none", code.Reasons)
				}
				return
			}
			if len(code.Reasons) != 1 {
				t.Fatalf("got %d reasons, want 1", len(code.Reasons))
			}
			if got := code.Reasons[0].Until; !got.Equal(tc.wantUntil) {
				t.Errorf("got Until %v, want %v", got, tc.wantUntil)
			}
		})
	}
}

func TestEvidenceEmpty(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		ev   Evidence
		want bool
	}{
		{name: "zero", ev: Evidence{}, want: true},
		{name: "empty slices", ev: Evidence{Tests: []TestResult{}, Stays: []Stay{}, CityStays: []CityStay{}}, want: true},
		{name: "a test", ev: Evidence{Tests: []TestResult{test(1, Negative, ago(day))}}, want: false},
		{name: "a stay", ev: Evidence{Stays: []Stay{stay(1, 2, Medium, ago(day), ago(day))}}, want: false},
		{name: "a city stay", ev: Evidence{CityStays: []CityStay{{City: "110100"}}}, want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.ev.Empty(); got != tc.want {
				t.Errorf("Empty() = %t, want %t", got, tc.want)
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	rs := mustNational(b)
	ev := &Evidence{Tests: []TestResult{
		test(11, Positive, ago(4*day)),
		test(12, Negative, ago(2*day)),
		test(13, Negative, ago(1*day)),
	}}
	b.ReportAllocs()
	for b.Loop() {
		code, err := rs.Evaluate(ev, evalNow)
		if err != nil || code.Colour != Yellow {
			b.Fatalf("Evaluate = %v, %v; want yellow", code.Colour, err)
		}
	}
}

func BenchmarkEvaluateEmpty(b *testing.B) {
	rs := mustNational(b)
	ev := &Evidence{}
	b.ReportAllocs()
	for b.Loop() {
		code, err := rs.Evaluate(ev, evalNow)
		if err != nil || code.Colour != Green {
			b.Fatalf("Evaluate = %v, %v; want green", code.Colour, err)
		}
	}
}
