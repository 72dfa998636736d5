package health

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// validRuleset is a small ruleset that parses; the error cases below each
// break one thing in it.
const validRuleset = `id: test
version: 2
published: 2022-06-01T08:00:00+08:00
title: {en: Test rules}
params:
  gap: 24h
  n: 2
rules:
  - id: red-positive
    version: 1
    title: {en: Positive}
    colour: red
    each: tests
    when: e.result == "positive" && negatives_after(tests, e.sampled_at, params.gap) < params.n
  - id: star-city
    version: 4
    star: true
    each: city_stays
    when: "!e.unverified"
    until: earliest(e.last_visit + duration("168h"), e.area_until)
place_kinds:
  restaurant: {dwell: 90m, min_overlap: 15m, zh: 餐饮}
  office:     {dwell: 8h, min_overlap: 15m, zh: 办公楼}
`

func TestParseRulesetValid(t *testing.T) {
	t.Parallel()

	rs, err := ParseRuleset([]byte(validRuleset))
	if err != nil {
		t.Fatalf("ParseRuleset: %v", err)
	}
	if rs.ID != "test" || rs.Version != 2 {
		t.Errorf("got ruleset %s v%d, want test v2", rs.ID, rs.Version)
	}
	if want := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC); !rs.Published.Equal(want) || rs.Published.Location() != time.UTC {
		t.Errorf("got Published %v, want %v in UTC", rs.Published, want)
	}
	var ids []string
	for _, r := range rs.Rules {
		ids = append(ids, r.ID)
	}
	if diff := cmp.Diff([]string{"red-positive", "star-city"}, ids); diff != "" {
		t.Errorf("rule ids mismatch (-want +got):\n%s", diff)
	}
	if r := rs.Rules[1]; !r.Star || r.Colour != "" || r.Version != 4 || r.Each != "city_stays" {
		t.Errorf("got rule %+v, want a version 4 star-only rule over city_stays", r)
	}
	if got, want := rs.Rules[0].When, `e.result == "positive" && negatives_after(tests, e.sampled_at, params.gap) < params.n`; got != want {
		t.Errorf("got when %q, want %q", got, want)
	}
	wantKinds := map[string]PlaceKind{
		"restaurant": {Name: "restaurant", Dwell: 90 * time.Minute, MinOverlap: 15 * time.Minute, Zh: "餐饮"},
		"office":     {Name: "office", Dwell: 8 * time.Hour, MinOverlap: 15 * time.Minute, Zh: "办公楼"},
	}
	if diff := cmp.Diff(wantKinds, rs.PlaceKinds); diff != "" {
		t.Errorf("place kinds mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"office", "restaurant"}, rs.KindNames()); diff != "" {
		t.Errorf("KindNames mismatch (-want +got):\n%s", diff)
	}
	if !bytes.Equal(rs.Source, []byte(validRuleset)) {
		t.Errorf("got Source %q, want the parsed text", rs.Source)
	}
}

func TestParseRulesetErrors(t *testing.T) {
	t.Parallel()

	rule := func(fields string) string {
		return "id: t\nversion: 1\nrules:\n  - " + fields + "\n"
	}
	const okRule = `{id: a, version: 1, colour: red, each: tests, when: 'e.result == "positive"'}`

	cases := []struct {
		name      string
		src       string
		wantField string
		wantMsg   string // a substring of the message
	}{
		{name: "malformed YAML", src: "id: t\nversion: 1\nrules: [\n", wantField: "", wantMsg: "YAML"},
		{name: "wrong YAML type", src: "id: t\nversion: 1\nrules: {a: 1}\n", wantField: "", wantMsg: "YAML"},
		{name: "missing ruleset id", src: "version: 1\nrules: []\n", wantField: "id", wantMsg: "needs an id"},
		{name: "missing ruleset version", src: "id: t\nrules: []\n", wantField: "id", wantMsg: "version >= 1"},
		{name: "missing rule id", src: rule(`{version: 1, colour: red, each: tests, when: "true"}`), wantField: "rules[0]", wantMsg: "needs an id"},
		{name: "missing rule version", src: rule(`{id: a, colour: red, each: tests, when: "true"}`), wantField: "rules[0]", wantMsg: "version >= 1"},
		{
			name:      "duplicate rule id",
			src:       rule(okRule) + "  - " + okRule + "\n",
			wantField: "rules[1]",
			wantMsg:   `duplicate rule id "a"`,
		},
		{name: "unknown colour", src: rule(`{id: a, version: 1, colour: amber, each: tests, when: "true"}`), wantField: "rules[0].colour", wantMsg: `"amber"`},
		{name: "colour in upper case", src: rule(`{id: a, version: 1, colour: Red, each: tests, when: "true"}`), wantField: "rules[0].colour", wantMsg: `"Red"`},
		{name: "neither colour nor star", src: rule(`{id: a, version: 1, each: tests, when: "true"}`), wantField: "rules[0]", wantMsg: "neither a colour nor a star"},
		{name: "unknown each", src: rule(`{id: a, version: 1, colour: red, each: visits, when: "true"}`), wantField: "rules[0].each", wantMsg: `"visits"`},
		{name: "missing each", src: rule(`{id: a, version: 1, colour: red, when: "true"}`), wantField: "rules[0].each", wantMsg: `""`},
		{name: "missing when", src: rule(`{id: a, version: 1, colour: red, each: tests}`), wantField: "rules[0].when", wantMsg: "is required"},
		{name: "blank when", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "  "}`), wantField: "rules[0].when", wantMsg: "is required"},
		{name: "when does not parse", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "e.result =="}`), wantField: "rules[0].when", wantMsg: "Syntax error"},
		{name: "when uses an unknown function", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "positives(tests) > 0"}`), wantField: "rules[0].when", wantMsg: "undeclared reference"},
		{name: "when refers to now", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "e.sampled_at > now"}`), wantField: "rules[0].when", wantMsg: "undeclared reference to 'now'"},
		{name: "when calls now()", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "e.sampled_at > now()"}`), wantField: "rules[0].when", wantMsg: "undeclared reference to 'now'"},
		{name: "when of int type", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "size(tests)"}`), wantField: "rules[0].when", wantMsg: "want bool"},
		{name: "when of string type", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "'yes'"}`), wantField: "rules[0].when", wantMsg: "want bool"},
		{name: "when of timestamp type", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "cleared_at(tests, timestamp('2022-01-01T00:00:00Z'), 2, duration('24h'))"}`), wantField: "rules[0].when", wantMsg: "want bool"},
		{name: "until of duration type", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "true", until: "duration('72h')"}`), wantField: "rules[0].until", wantMsg: "want google.protobuf.Timestamp"},
		{name: "until of int type", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "true", until: "negatives_after(tests, timestamp('2022-01-01T00:00:00Z'), duration('24h'))"}`), wantField: "rules[0].until", wantMsg: "want google.protobuf.Timestamp"},
		{name: "until of bool type", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "true", until: "true"}`), wantField: "rules[0].until", wantMsg: "want google.protobuf.Timestamp"},
		{name: "until refers to now", src: rule(`{id: a, version: 1, colour: red, each: tests, when: "true", until: "now"}`), wantField: "rules[0].until", wantMsg: "undeclared reference to 'now'"},
		{name: "error in the second rule", src: rule(okRule) + "  - {id: b, version: 1, colour: red, each: stays, when: 'e.to >'}\n", wantField: "rules[1].when", wantMsg: "Syntax error"},
		{name: "place kind dwell not a duration", src: "id: t\nversion: 1\nplace_kinds:\n  bar: {dwell: long, min_overlap: 15m}\n", wantField: "place_kinds.bar", wantMsg: "positive durations"},
		{name: "place kind dwell zero", src: "id: t\nversion: 1\nplace_kinds:\n  bar: {dwell: 0s, min_overlap: 15m}\n", wantField: "place_kinds.bar", wantMsg: "positive durations"},
		{name: "place kind dwell without unit", src: "id: t\nversion: 1\nplace_kinds:\n  bar: {dwell: 90, min_overlap: 15m}\n", wantField: "place_kinds.bar", wantMsg: "positive durations"},
		{name: "place kind min_overlap negative", src: "id: t\nversion: 1\nplace_kinds:\n  bar: {dwell: 2h, min_overlap: -5m}\n", wantField: "place_kinds.bar", wantMsg: "positive durations"},
		{name: "place kind min_overlap missing", src: "id: t\nversion: 1\nplace_kinds:\n  bar: {dwell: 2h}\n", wantField: "place_kinds.bar", wantMsg: "positive durations"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs, err := ParseRuleset([]byte(tc.src))
			if err == nil {
				t.Fatalf("ParseRuleset: got ruleset %+v, want an error", rs)
			}
			if rs != nil {
				t.Errorf("ParseRuleset: got a ruleset with the error, want nil")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseRuleset: got error of type %T (%v), want *Error", err, err)
			}
			if e.Kind != Invalid {
				t.Errorf("got kind %v, want %v", e.Kind, Invalid)
			}
			if e.Code != "invalid_ruleset" {
				t.Errorf("got code %q, want %q", e.Code, "invalid_ruleset")
			}
			if e.Field != tc.wantField {
				t.Errorf("got field %q, want %q (error: %v)", e.Field, tc.wantField, err)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", e.Message, tc.wantMsg)
			}
		})
	}
}

func TestNationalRuleset(t *testing.T) {
	t.Parallel()

	rs := mustNational(t)
	if rs.ID != "national" || rs.Version != 2 {
		t.Errorf("got ruleset %s v%d, want national v2", rs.ID, rs.Version)
	}
	if want := time.Date(2022, 6, 10, 0, 0, 0, 0, time.UTC); !rs.Published.Equal(want) {
		t.Errorf("got Published %v, want %v", rs.Published, want)
	}

	type ruleSummary struct {
		ID, Colour, Each string
		Version          int
		Star, HasUntil   bool
	}
	var got []ruleSummary
	for _, r := range rs.Rules {
		got = append(got, ruleSummary{ID: r.ID, Colour: r.Colour, Each: r.Each, Version: r.Version, Star: r.Star, HasUntil: r.Until != ""})
		if r.Title["zh"] == "" || r.Title["en"] == "" {
			t.Errorf("rule %s: got title %v, want zh and en", r.ID, r.Title)
		}
	}
	want := []ruleSummary{
		{ID: "positive-result", Colour: "red", Each: "tests", Version: 1},
		{ID: "post-positive-monitoring", Colour: "yellow", Each: "tests", Version: 1, HasUntil: true},
		{ID: "high-risk-stay", Colour: "red", Each: "stays", Version: 1, HasUntil: true},
		{ID: "medium-risk-stay", Colour: "yellow", Each: "stays", Version: 1, HasUntil: true},
		{ID: "risk-city-star", Each: "city_stays", Version: 1, Star: true, HasUntil: true},
		{ID: "close-contact", Colour: "red", Each: "contacts", Version: 1, HasUntil: true},
		{ID: "close-contact-monitoring", Colour: "yellow", Each: "contacts", Version: 1, HasUntil: true},
		{ID: "secondary-contact", Colour: "yellow", Each: "contacts", Version: 1, HasUntil: true},
		{ID: "manual-override-red", Colour: "red", Each: "overrides", Version: 1, HasUntil: true},
		{ID: "manual-override-yellow", Colour: "yellow", Each: "overrides", Version: 1, HasUntil: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("national rules mismatch (-want +got):\n%s", diff)
	}

	if len(rs.PlaceKinds) == 0 {
		t.Fatal("got no place kinds, want some")
	}
	for _, name := range []string{"restaurant", "hospital", "residence", "train", "other"} {
		if _, ok := rs.PlaceKinds[name]; !ok {
			t.Errorf("place kind %q missing", name)
		}
	}
	for name, pk := range rs.PlaceKinds {
		if pk.Name != name {
			t.Errorf("place kind %q: got Name %q", name, pk.Name)
		}
		if pk.Dwell <= 0 {
			t.Errorf("place kind %q: got dwell %v, want > 0", name, pk.Dwell)
		}
		if pk.MinOverlap <= 0 {
			t.Errorf("place kind %q: got min_overlap %v, want > 0", name, pk.MinOverlap)
		}
		if pk.MinOverlap > pk.Dwell {
			t.Errorf("place kind %q: got min_overlap %v longer than dwell %v", name, pk.MinOverlap, pk.Dwell)
		}
		if pk.Zh == "" {
			t.Errorf("place kind %q: got no zh name", name)
		}
	}
	if got, want := rs.PlaceKinds["office"].Dwell, 8*time.Hour; got != want {
		t.Errorf("office dwell: got %v, want %v", got, want)
	}
	if got, want := rs.PlaceKinds["pharmacy"].MinOverlap, 5*time.Minute; got != want {
		t.Errorf("pharmacy min_overlap: got %v, want %v", got, want)
	}
}

func TestNationalRulesetSource(t *testing.T) {
	t.Parallel()

	src := NationalRulesetSource()
	if !bytes.HasPrefix(bytes.TrimLeft(src, "# \n"), []byte("The national default ruleset")) {
		t.Errorf("got source starting %q, want the national.yaml header", src[:min(40, len(src))])
	}
	rs := mustNational(t)
	if !bytes.Equal(rs.Source, src) {
		t.Errorf("Ruleset.Source differs from NationalRulesetSource()")
	}
	// The returned slice is a copy: changing it changes nothing else.
	src[0] ^= 0xff
	if bytes.Equal(NationalRulesetSource(), src) {
		t.Errorf("NationalRulesetSource returned shared storage, want a copy")
	}
	again, err := ParseRuleset(NationalRulesetSource())
	if err != nil {
		t.Fatalf("ParseRuleset(NationalRulesetSource()): %v", err)
	}
	if len(again.Rules) != 10 {
		t.Errorf("got %d rules, want 10", len(again.Rules))
	}
}
