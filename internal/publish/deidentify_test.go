package publish

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
)

// day0 is the first day of the test data (midnight CST).
var day0 = time.Date(2022, 6, 11, 0, 0, 0, 0, health.CST)

// at returns hh:mm on day0 in CST.
func at(hh, mm int) time.Time {
	return day0.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

// hour returns the start of hour hh of day0 in UTC, as the report has it.
func hour(hh int) time.Time { return at(hh, 0).UTC() }

// stop returns an ordinary stop at place from..to.
func stop(place uint32, from, to time.Time) Stop {
	return Stop{Place: place, PlaceName: "place " + strconv.Itoa(int(place)), PlaceRegion: "440106", From: from, To: to}
}

// win returns the published window of place from hour fh to hour th.
func win(place uint32, fh, th int) Window {
	return Window{Place: PlaceID(place), PlaceName: "place " + strconv.Itoa(int(place)), PlaceRegion: "440106", From: hour(fh), To: hour(th)}
}

func TestTrajectory(t *testing.T) {
	home := Stop{Place: 9, PlaceName: "home", PlaceRegion: "440106", Home: true, From: at(9, 30), To: at(9, 40)}
	tests := []struct {
		name  string
		stops []Stop
		want  []Window
	}{
		{"floor from, ceil to", []Stop{stop(1, at(9, 10), at(9, 50))}, []Window{win(1, 9, 10)}},
		{"on the hour stays", []Stop{stop(1, at(9, 0), at(10, 0))}, []Window{win(1, 9, 10)}},
		{"crossing the hour", []Stop{stop(1, at(9, 59), at(10, 1))}, []Window{win(1, 9, 11)}},
		{"zero length gets an hour", []Stop{stop(1, at(9, 0), at(9, 0))}, []Window{win(1, 9, 10)}},
		{"home removed", []Stop{stop(1, at(8, 0), at(9, 0)), home}, []Window{win(1, 8, 9)}},
		{"only home", []Stop{home}, []Window{}},
		{"overlapping merged", []Stop{stop(1, at(9, 10), at(9, 40)), stop(1, at(9, 50), at(10, 20))}, []Window{win(1, 9, 11)}},
		{"touching merged", []Stop{stop(1, at(9, 10), at(9, 50)), stop(1, at(10, 5), at(10, 30))}, []Window{win(1, 9, 11)}},
		{"merged across a removed home stop", []Stop{stop(1, at(9, 10), at(9, 30)), home, stop(1, at(9, 45), at(10, 10))}, []Window{win(1, 9, 11)}},
		{"gap kept apart", []Stop{stop(1, at(9, 10), at(9, 20)), stop(1, at(13, 0), at(14, 0))}, []Window{win(1, 9, 10), win(1, 13, 14)}},
		{"other place not merged", []Stop{stop(1, at(9, 10), at(9, 50)), stop(2, at(9, 50), at(10, 30))}, []Window{win(1, 9, 10), win(2, 9, 11)}},
		{"sorted by time", []Stop{stop(2, at(15, 0), at(16, 0)), stop(1, at(9, 0), at(10, 0))}, []Window{win(1, 9, 10), win(2, 15, 16)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Deidentify([]Case{{ID: "X", Region: "440106", Age: 30, Reported: at(20, 0), Stops: tt.stops}}, Options{K: 1})
			got := r.Regions[0].Records[0].Stops
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stops (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOtherCasesHomeRemoved(t *testing.T) {
	cases := []Case{
		{ID: "A", Region: "440106", Age: 30, Stops: []Stop{{Place: 7, PlaceName: "幸福小区3栋", Home: true, From: at(0, 0), To: at(8, 0)}}},
		{ID: "B", Region: "440106", Age: 30, Stops: []Stop{{Place: 7, PlaceName: "幸福小区3栋", From: at(19, 0), To: at(21, 0)}, stop(1, at(9, 0), at(10, 0))}},
	}
	for _, k := range []int{1, 5} {
		r := Deidentify(cases, Options{K: k})
		for _, p := range PublishedStops(r) {
			if p.Place == 7 {
				t.Errorf("k=%d: published %+v at case A's home", k, p)
			}
		}
		if n := len(PublishedStops(r)); n != 1 {
			t.Errorf("k=%d: got %d published stops, want 1 (place 1)", k, n)
		}
	}
}

func TestNoIdentifiersLeak(t *testing.T) {
	ages := []int{37, 53, 68, 75, 28, 38, 57, 63, 72, 34, 47, 58} // none ends in 0 or 9, like a band
	var cases []Case
	for i, age := range ages {
		c := Case{
			ID:             fmt.Sprintf("GZ01-20220611-%03d", i+1),
			Region:         []string{"440106", "440104"}[i%2],
			Chain:          []string{"", "CHAIN-GZ01-20220611-001", "CHAIN-GZ01-20220611-002"}[i%3],
			Age:            age,
			Sex:            []string{"M", "F"}[i/2%2],
			Classification: "confirmed",
			Reported:       at(10+i, 17),
			Stops: []Stop{
				{Place: 1000 + uint32(i), PlaceName: "家 幸福小区", PlaceRegion: "440106", Home: true, From: at(0, 0), To: at(7, 0)},
				stop(2000+uint32(i%4), at(8, i), at(9, 3*i)),
			},
		}
		cases = append(cases, c)
	}
	for _, k := range []int{1, 2, 5, 20} {
		b, err := json.Marshal(Deidentify(cases, Options{K: k}))
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		walk(doc, func(leaf any) {
			switch v := leaf.(type) {
			case string:
				for _, c := range cases {
					if strings.Contains(v, c.ID) || strings.Contains(v, c.Chain) && c.Chain != "" || strings.Contains(v, "幸福小区") {
						t.Errorf("k=%d: %q reveals %q, %q or a home", k, v, c.ID, c.Chain)
					}
					if strings.Contains(v, strconv.Itoa(c.Age)) {
						t.Errorf("k=%d: %q contains the exact age %d", k, v, c.Age)
					}
				}
			case float64:
				if slices.Contains(ages, int(v)) {
					t.Errorf("k=%d: number %v is an exact age", k, v)
				}
			}
		})
		if t.Failed() {
			t.Logf("report: %s", b)
			return
		}
	}
}

// walk calls f on every leaf of a decoded JSON document.
func walk(doc any, f func(any)) {
	switch v := doc.(type) {
	case map[string]any:
		for _, e := range v {
			walk(e, f)
		}
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	default:
		f(v)
	}
}

// person is a case's demographics for the generalisation tests.
type person struct {
	age int
	sex string
}

func TestGeneralisation(t *testing.T) {
	rep := func(n int, p person) []person { return slices.Repeat([]person{p}, n) }
	tests := []struct {
		name   string
		k      int
		people []person
		want   []string // "age_band/sex" of the records, sorted
	}{
		{
			name:   "sex first, then age",
			k:      3,
			people: slices.Concat(rep(3, person{34, "M"}), rep(2, person{45, "F"}), rep(1, person{41, "M"}), []person{{61, "F"}, {77, "M"}, {22, "F"}}),
			want:   []string{"*/*", "*/*", "*/*", "30-39/M", "30-39/M", "30-39/M", "40-49/*", "40-49/*", "40-49/*"},
		},
		{
			name:   "small generalised class absorbs the smallest other",
			k:      3,
			people: slices.Concat(rep(4, person{34, "M"}), rep(3, person{25, "F"}), rep(1, person{51, "M"})),
			want:   []string{"*/*", "*/*", "*/*", "*/*", "30-39/M", "30-39/M", "30-39/M", "30-39/M"},
		},
		{
			name:   "k=1 keeps everything",
			k:      1,
			people: []person{{34, "M"}, {45, "F"}, {61, ""}},
			want:   []string{"30-39/M", "40-49/F", "60-69/unknown"},
		},
		{
			name:   "age bands",
			k:      1,
			people: []person{{-1, "F"}, {0, "F"}, {9, "F"}, {10, "F"}, {79, "F"}, {80, "F"}, {101, "F"}},
			want:   []string{"0-9/F", "0-9/F", "10-19/F", "70-79/F", "80+/F", "80+/F", "unknown/F"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cases []Case
			for i, p := range tt.people {
				cases = append(cases, Case{ID: strconv.Itoa(i), Region: "440106", Age: p.age, Sex: p.sex, Reported: at(i, 0)})
			}
			r := Deidentify(cases, Options{K: tt.k})
			var got []string
			for _, rec := range r.Regions[0].Records {
				got = append(got, rec.AgeBand+"/"+rec.Sex)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSuppressedGroupStillWarns(t *testing.T) {
	var cases []Case
	for i := range 5 {
		cases = append(cases, Case{ID: "B" + strconv.Itoa(i), Region: "440104", Age: 30, Sex: "M", Reported: at(i, 0),
			Stops: []Stop{stop(3, at(12, 0), at(13, 0))}})
	}
	cases = append(cases,
		Case{ID: "A1", Region: "440106", Age: 30, Sex: "F", Reported: at(1, 0), Stops: []Stop{stop(1, at(9, 10), at(9, 50)), stop(2, at(11, 0), at(11, 30))}},
		Case{ID: "A2", Region: "440106", Age: 70, Sex: "M", Reported: at(2, 0), Stops: []Stop{stop(1, at(9, 30), at(9, 45))}},
	)
	r := Deidentify(cases, Options{})
	want := Group{Region: "440106", Suppressed: true, Cases: "<5", Stops: []Aggregate{
		{Window: win(1, 9, 10), Cases: 2},
		{Window: win(2, 11, 12), Cases: 1},
	}}
	if diff := cmp.Diff(want, r.Regions[1]); diff != "" {
		t.Errorf("suppressed group (-want +got):\n%s", diff)
	}
	if got := r.Regions[0]; got.Suppressed || got.Cases != "5" || len(got.Records) != 5 {
		t.Errorf("group %s: suppressed %v, cases %q, %d records; want a published group of 5", got.Region, got.Suppressed, got.Cases, len(got.Records))
	}

	hits := NewMatcher(PublishedStops(r)).Match([]Query{{Place: 1, From: at(9, 55), To: at(10, 30)}, {Place: 3, From: at(12, 30), To: at(12, 40)}})
	wantHits := []Hit{
		{Query: 0, Place: 1, PlaceName: "place 1", From: hour(9), To: hour(10), CaseRegion: "440106", Cases: 2},
		{Query: 1, Place: 3, PlaceName: "place 3", From: hour(12), To: hour(13), CaseRegion: "440104", Cases: 5},
	}
	if diff := cmp.Diff(wantHits, hits); diff != "" {
		t.Errorf("self-check (-want +got):\n%s", diff)
	}
}

func TestK1PublishesEverything(t *testing.T) {
	cases := []Case{
		{ID: "A", Region: "440106", Chain: "c", Age: 34, Sex: "M", Classification: "confirmed", Reported: at(9, 0), Stops: []Stop{stop(1, at(9, 0), at(10, 0))}},
		{ID: "B", Region: "440104", Chain: "c", Age: 45, Sex: "F", Classification: "asymptomatic", Reported: at(10, 0)},
	}
	r := Deidentify(cases, Options{K: 1})
	rec := func(region, age, sex, class string, stops ...Window) Record {
		return Record{Label: "病例1", Region: region, AgeBand: age, Sex: sex, Classification: class, Reported: "2022-06-11", Stops: append([]Window{}, stops...)}
	}
	a := rec("440106", "30-39", "M", "confirmed", win(1, 9, 10))
	b := rec("440104", "40-49", "F", "asymptomatic")
	b2 := b
	b2.Label = "病例2"
	want := Report{K: 1,
		Regions: []Group{{Region: "440104", Cases: "1", Records: []Record{b}}, {Region: "440106", Cases: "1", Records: []Record{a}}},
		Chains:  []Group{{Chain: "传播链1", Cases: "2", Records: []Record{a, b2}}},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestChains(t *testing.T) {
	c := func(id, region, chain string, reported time.Time) Case {
		return Case{ID: id, Region: region, Chain: chain, Age: 34, Sex: "M", Classification: "confirmed", Reported: reported}
	}
	cases := []Case{
		c("1", "440106", "chain-x", at(10, 0)),
		c("2", "440106", "chain-x", at(11, 0)),
		c("3", "440104", "chain-x", at(12, 0)),
		c("4", "440104", "chain-x", at(13, 0)),
		c("5", "440104", "chain-y", at(9, 0)),
		c("6", "440106", "", at(8, 0)),
	}
	r := Deidentify(cases, Options{K: 3})
	var chains []string
	for _, g := range r.Chains {
		chains = append(chains, fmt.Sprintf("%s %s %v", g.Chain, g.Cases, g.Suppressed))
	}
	// chain-y was reported first; the case without a chain is in no chain group.
	if diff := cmp.Diff([]string{"传播链1 <3 true", "传播链2 4 false"}, chains); diff != "" {
		t.Fatalf("chains (-want +got):\n%s", diff)
	}
	// Two cases per county: the chain generalises region to the city.
	for _, rec := range r.Chains[1].Records {
		if rec.Region != "440100" || rec.AgeBand != "*" || rec.Sex != "*" {
			t.Errorf("chain record %s: region %s, age %s, sex %s; want 440100, *, *", rec.Label, rec.Region, rec.AgeBand, rec.Sex)
		}
	}
	// 440106 has three cases, all M 30-39, and would publish them exactly;
	// but two are generalised in the chain, and the shared level spreads.
	for _, rec := range r.Regions[1].Records {
		if rec.AgeBand != "*" || rec.Sex != "*" {
			t.Errorf("region record %s: age %s, sex %s; want *, * as in the chain", rec.Label, rec.AgeBand, rec.Sex)
		}
	}
	noChain := Deidentify([]Case{cases[0], cases[1], cases[5]}, Options{K: 3})
	for _, rec := range noChain.Regions[0].Records {
		if rec.AgeBand != "30-39" || rec.Sex != "M" {
			t.Errorf("without chains, region record %s: age %s, sex %s; want 30-39, M", rec.Label, rec.AgeBand, rec.Sex)
		}
	}
}

func TestRegionFilter(t *testing.T) {
	var cases []Case
	for i, region := range []string{"440106", "440106", "440104", "310101", "310101", "310104"} {
		chain := ""
		if i%3 == 0 {
			chain = "x" // 440106 and 310101
		}
		cases = append(cases, Case{ID: strconv.Itoa(i), Region: region, Chain: chain, Age: 20 + i, Sex: "F", Reported: at(i, 0),
			Stops: []Stop{stop(uint32(i), at(9, 0), at(10, 0))}})
	}
	full := Deidentify(cases, Options{K: 2})
	tests := []struct {
		prefix  string
		regions []string
		chains  []string
	}{
		{"", []string{"310101", "310104", "440104", "440106"}, []string{"传播链1"}},
		{"4401", []string{"440104", "440106"}, []string{"传播链1"}},
		{"310104", []string{"310104"}, nil},
		{"12", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			r := Deidentify(cases, Options{K: 2, Region: tt.prefix})
			var regions, chains []string
			for _, g := range r.Regions {
				regions = append(regions, g.Region)
				// A filtered report is a part of the full one.
				i := slices.IndexFunc(full.Regions, func(f Group) bool { return f.Region == g.Region })
				if diff := cmp.Diff(full.Regions[i], g); diff != "" {
					t.Errorf("region %s differs from the full report (-full +filtered):\n%s", g.Region, diff)
				}
			}
			for _, g := range r.Chains {
				chains = append(chains, g.Chain)
				if diff := cmp.Diff(full.Chains[0], g); diff != "" {
					t.Errorf("chain differs from the full report (-full +filtered):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.regions, regions); diff != "" {
				t.Errorf("regions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.chains, chains); diff != "" {
				t.Errorf("chains (-want +got):\n%s", diff)
			}
			if r.Region != tt.prefix {
				t.Errorf("report region %q, want %q", r.Region, tt.prefix)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	r := Deidentify(nil, Options{})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"k":5,"regions":[],"chains":[]}`; got != want {
		t.Errorf("empty report %s, want %s", got, want)
	}
	if ps := PublishedStops(r); ps != nil {
		t.Errorf("published stops of an empty report: %v, want nil", ps)
	}
	if hits := NewMatcher(nil).Match([]Query{{Place: 1, From: at(9, 0), To: at(10, 0)}}); hits != nil {
		t.Errorf("hits against nothing: %v, want nil", hits)
	}
}

func TestLabelsFollowReportTime(t *testing.T) {
	var cases []Case
	for i, h := range []int{15, 9, 12} {
		cases = append(cases, Case{ID: "GZ01-20220611-00" + strconv.Itoa(i), Region: "440106", Age: 30 + h, Reported: at(h, 0)})
	}
	var got []string
	for _, rec := range Deidentify(cases, Options{K: 1}).Regions[0].Records {
		got = append(got, rec.Label+" "+rec.AgeBand)
	}
	if diff := cmp.Diff([]string{"病例1 30-39", "病例2 40-49", "病例3 40-49"}, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

// randomCases returns n random cases over a few counties, chains and places,
// with one home place per case (places from 10,000 on) and ordinary places
// below 200.
func randomCases(rng *rand.Rand, n int) []Case {
	regions := []string{"440106", "440104", "440103", "440305", "310101", "310104"}
	cases := make([]Case, n)
	for i := range cases {
		c := Case{
			ID:             fmt.Sprintf("ID-%06d", i),
			Region:         regions[rng.IntN(len(regions))],
			Age:            rng.IntN(95) - 1,
			Sex:            []string{"M", "F", ""}[rng.IntN(3)],
			Classification: []string{"confirmed", "asymptomatic"}[rng.IntN(2)],
			Reported:       day0.Add(time.Duration(rng.IntN(14*24*60)) * time.Minute),
		}
		if rng.IntN(3) > 0 {
			c.Chain = "chain-" + strconv.Itoa(rng.IntN(n/10+1))
		}
		home := uint32(10_000 + i)
		for range rng.IntN(8) {
			from := day0.Add(time.Duration(rng.IntN(14*24*60)) * time.Minute)
			s := Stop{Place: uint32(rng.IntN(200)), PlaceName: "p", PlaceRegion: c.Region, From: from, To: from.Add(time.Duration(rng.IntN(180)) * time.Minute)}
			if rng.IntN(10) == 0 {
				s.Place, s.Home = home, true
			}
			c.Stops = append(c.Stops, s)
		}
		cases[i] = c
	}
	return cases
}

func TestDeidentifyProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		cases := randomCases(rng, 50+rng.IntN(300))
		k := 1 + rng.IntN(6)
		r := Deidentify(cases, Options{K: k})

		shuffled := slices.Clone(cases)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if diff := cmp.Diff(r, Deidentify(shuffled, Options{K: k})); diff != "" {
			t.Fatalf("round %d: the report depends on input order (-sorted +shuffled):\n%s", round, diff)
		}

		for _, g := range slices.Concat(r.Regions, r.Chains) {
			checkGroup(t, g, k)
		}
		checkComplete(t, cases, r)
		if t.Failed() {
			t.Fatalf("round %d (k=%d) failed", round, k)
		}
	}
}

// checkGroup checks that g is suppressed exactly when it is small and that
// its records are k-anonymous on (region, age band, sex).
func checkGroup(t *testing.T, g Group, k int) {
	t.Helper()
	if g.Suppressed {
		if g.Cases != "<"+strconv.Itoa(k) || g.Records != nil {
			t.Errorf("suppressed group %s%s: cases %q, %d records", g.Region, g.Chain, g.Cases, len(g.Records))
		}
		return
	}
	if n, _ := strconv.Atoi(g.Cases); n < k || n != len(g.Records) || g.Stops != nil {
		t.Errorf("group %s%s: cases %q, %d records, %d stops; k=%d", g.Region, g.Chain, g.Cases, len(g.Records), len(g.Stops), k)
	}
	classes := make(map[[3]string]int)
	for i, rec := range g.Records {
		if want := "病例" + strconv.Itoa(i+1); rec.Label != want {
			t.Errorf("group %s%s: record %d labelled %s, want %s", g.Region, g.Chain, i, rec.Label, want)
		}
		classes[[3]string{rec.Region, rec.AgeBand, rec.Sex}]++
	}
	for class, n := range classes {
		if n < k {
			t.Errorf("group %s%s: class %v has %d records, k=%d", g.Region, g.Chain, class, n, k)
		}
	}
}

// checkComplete checks that every non-home stop of every case can be found
// by a self-check, with the case's region, and that no home place appears;
// and that a case's demographics agree between its region and chain records.
func checkComplete(t *testing.T, cases []Case, r Report) {
	t.Helper()
	homes := make(map[uint32]bool)
	for _, c := range cases {
		for _, s := range c.Stops {
			if s.Home {
				homes[s.Place] = true
			}
		}
	}
	published := PublishedStops(r)
	for _, p := range published {
		if homes[uint32(p.Place)] {
			t.Errorf("home place published: %+v", p)
		}
	}
	m := NewMatcher(published)
	for _, c := range cases {
		for _, s := range c.Stops {
			if homes[s.Place] {
				continue
			}
			q := Query{Place: s.Place, From: s.From, To: s.To.Add(time.Nanosecond)}
			if !slices.ContainsFunc(m.Match([]Query{q}), func(h Hit) bool {
				return h.CaseRegion == c.Region && !h.From.After(s.From) && !h.To.Before(s.To)
			}) {
				t.Errorf("case %s: stop %+v not found by a self-check", c.ID, s)
			}
		}
	}

	// Records of one case carry the same trajectory in both views; the
	// random trajectories (with at least two stops) are unique enough.
	demo := make(map[string]string)
	for _, g := range slices.Concat(r.Regions, r.Chains) {
		for _, rec := range g.Records {
			if len(rec.Stops) < 2 {
				continue
			}
			key := fmt.Sprint(rec.Stops, rec.Reported, rec.Classification)
			d := rec.AgeBand + "/" + rec.Sex
			if prev, ok := demo[key]; ok && prev != d {
				t.Errorf("trajectory %s published as %s and as %s", key, prev, d)
			}
			demo[key] = d
		}
	}
}
