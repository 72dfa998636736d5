package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/uber/h3-go/v4"

	"healthcode/internal/health"
	"healthcode/internal/region"
)

// testEnd is not at midnight on purpose: the period ends at the start of its day.
var testEnd = time.Date(2022, 6, 13, 15, 30, 0, 0, health.CST)

func regionTable(t testing.TB) *region.Table {
	t.Helper()
	rt, err := region.Default()
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

var (
	cityCacheMu sync.Mutex
	cityCache   = map[Config]*City{}
)

// generate generates (once per config in this test binary) a city.
func generate(t testing.TB, cfg Config) *City {
	t.Helper()
	cityCacheMu.Lock()
	defer cityCacheMu.Unlock()
	if c, ok := cityCache[cfg]; ok {
		return c
	}
	c, err := Generate(cfg, regionTable(t))
	if err != nil {
		t.Fatalf("Generate(%+v): %v", cfg, err)
	}
	cityCache[cfg] = c
	return c
}

func TestGenerateDeterministic(t *testing.T) {
	base := Config{Persons: 1500, Days: 4, Seed: 7, End: testEnd}
	outbreak := Config{Persons: 3000, Days: 7, Seed: 3, City: "441900", End: testEnd} // risk areas and their measures
	tests := []struct {
		name      string
		a, b      Config
		wantEqual bool
	}{
		{"same seed", base, base, true},
		{"same seed, outbreak with risk areas in force", outbreak, outbreak, true},
		{"same seed, End elsewhere in the same day", base, func() Config { c := base; c.End = testEnd.Add(-3 * time.Hour); return c }(), false},
		{"different seed", base, func() Config { c := base; c.Seed = 8; return c }(), false},
		{"different city", base, func() Config { c := base; c.City = "110000"; return c }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Generate directly (not cached): two independent runs.
			a, err := Generate(tt.a, regionTable(t))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Generate(tt.b, regionTable(t))
			if err != nil {
				t.Fatal(err)
			}
			if tt.a == outbreak && len(a.RiskAreas) == 0 {
				t.Fatal("the outbreak city has no risk area")
			}
			if got := cmp.Equal(a, b); got != tt.wantEqual {
				t.Errorf("cmp.Equal = %v, want %v", got, tt.wantEqual)
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if got := string(ja) == string(jb); got != tt.wantEqual {
				t.Errorf("marshalled equal = %v, want %v", got, tt.wantEqual)
			}
			if tt.name == "same seed, End elsewhere in the same day" {
				// Only Config differs: the simulated period is the same.
				b.Config = a.Config
				if diff := cmp.Diff(a, b); diff != "" {
					t.Errorf("cities of the same day differ beyond Config (-a +b):\n%.2000s", diff)
				}
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no end", Config{Persons: 10}, "End is required"},
		{"negative persons", Config{Persons: -1, End: testEnd}, "Persons must be positive"},
		{"too many days", Config{Persons: 10, Days: 61, End: testEnd}, "Days must be"},
		{"unknown city", Config{Persons: 10, City: "449900", End: testEnd}, "not in the region table"},
		{"malformed city", Config{Persons: 10, City: "44", End: testEnd}, "not in the region table"},
		{"street", Config{Persons: 10, City: "440106001", End: testEnd}, "is a street"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.cfg, regionTable(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Generate error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

var (
	phoneRE    = regexp.MustCompile(`^1[358][0-9]{9}$`)
	sampleIDRE = regexp.MustCompile(`^S(gz-lab-0[1-4])-[1-9][0-9]*$`)
)

func TestGenerateInvariants(t *testing.T) {
	rt := regionTable(t)
	rs, err := health.NationalRuleset()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		cfg          Config
		centre       [2]float64 // expected centre of the places, or zero
		perDay       [2]float64 // visits per person per day, bounds
		wantOutbreak bool       // positives and a high-risk area expected
	}{
		{"guangzhou 20k persons 7 days", Config{Persons: 20000, Days: 7, Seed: 1, End: testEnd}, [2]float64{23.129, 113.264}, [2]float64{2.6, 3.4}, true},
		{"beijing by province code", Config{Persons: 4000, Days: 5, Seed: 2, City: "110000", End: testEnd}, [2]float64{39.904, 116.407}, [2]float64{2.6, 3.5}, false},
		// (Travellers make no visits in the city while away: 2% leave a day.)
		// Nearly every town of Dongguan (one county) ends up a risk area: many
		// residents may not leave their town and others keep out, hence fewer
		// visits.
		{"dongguan towns directly under the city", Config{Persons: 3000, Days: 7, Seed: 3, City: "441900", End: testEnd}, [2]float64{23.021, 113.752}, [2]float64{1.9, 3.4}, false},
		{"city without a centre entry", Config{Persons: 2000, Days: 3, Seed: 4, City: "445300", End: testEnd}, [2]float64{}, [2]float64{2.6, 3.6}, false},
		{"one day, tiny", Config{Persons: 300, Days: 1, Seed: 5, End: testEnd}, [2]float64{}, [2]float64{2.0, 4.5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := generate(t, tt.cfg)
			city := c.Config.City
			if city == "" {
				t.Fatal("Config.City was not defaulted")
			}
			endDay := health.StartOfDay(tt.cfg.End)
			start := endDay.AddDate(0, 0, -tt.cfg.Days)
			n := tt.cfg.Persons

			t.Run("persons", func(t *testing.T) {
				if len(c.Persons) != n {
					t.Fatalf("%d persons, want %d", len(c.Persons), n)
				}
				seen := map[string]int{}
				hh := map[int][]int{}
				for i, p := range c.Persons {
					id, err := health.ValidateIDNumber("id_number", p.IDNumber, endDay)
					if err != nil || id != p.IDNumber {
						t.Fatalf("person %d: ID number %q: %v", i, p.IDNumber, err)
					}
					if j, dup := seen[p.IDNumber]; dup {
						t.Fatalf("persons %d and %d share ID number %s", j, i, p.IDNumber)
					}
					seen[p.IDNumber] = i
					if y := health.BirthYear(p.IDNumber); y < 1940 || y > 2018 {
						t.Errorf("person %d: born %d, want 1940–2018", i, y)
					}
					if err := rt.Validate(p.HomeRegion); err != nil || len(p.HomeRegion) != 9 || !rt.Contains(city, p.HomeRegion) {
						t.Fatalf("person %d: home region %s not a street of %s (%v)", i, p.HomeRegion, city, err)
					}
					if co, _ := rt.Lookup(p.HomeRegion); co.Parent != p.IDNumber[:6] {
						t.Errorf("person %d: ID number region %s, home county %s", i, p.IDNumber[:6], co.Parent)
					}
					if rc := utf8.RuneCountInString(p.Name); rc < 2 || rc > 4 {
						t.Errorf("person %d: name %q", i, p.Name)
					}
					if !phoneRE.MatchString(p.Phone) {
						t.Errorf("person %d: phone %q", i, p.Phone)
					}
					if p.Work < -1 || p.Work >= len(c.Places) {
						t.Fatalf("person %d: work %d", i, p.Work)
					}
					if p.Work >= 0 && !slices.Contains([]string{"office", "factory", "school", "hospital", "mall", "supermarket", "restaurant"}, c.Places[p.Work].Kind) {
						t.Errorf("person %d works at a %s", i, c.Places[p.Work].Kind)
					}
					hh[p.Household] = append(hh[p.Household], i)
				}
				for h, ms := range hh {
					if len(ms) < 1 || len(ms) > 5 || ms[len(ms)-1]-ms[0] != len(ms)-1 {
						t.Errorf("household %d: members %v, want 1–5 contiguous persons", h, ms)
					}
					for _, m := range ms {
						if c.Persons[m].HomeRegion != c.Persons[ms[0]].HomeRegion {
							t.Errorf("household %d lives in several streets", h)
						}
					}
				}
			})

			t.Run("places", func(t *testing.T) {
				if want := max(20, (n+25)/50); len(c.Places) != want {
					t.Errorf("%d places, want %d", len(c.Places), want)
				}
				names := map[string]bool{}
				service := 0
				for i, p := range c.Places {
					if p.Kind == "highway_service" {
						service++
					}
					if _, ok := rs.PlaceKinds[p.Kind]; !ok || p.Kind == "train" || p.Kind == "flight" || p.Kind == "bus" {
						t.Errorf("place %d: kind %q", i, p.Kind)
					}
					if err := rt.Validate(p.Region); err != nil || len(p.Region) != 9 || !rt.Contains(city, p.Region) {
						t.Errorf("place %d: region %s not a street of %s (%v)", i, p.Region, city, err)
					}
					if p.Lat < 3 || p.Lat > 54 || p.Lng < 73 || p.Lng > 136 {
						t.Errorf("place %d: %v,%v outside China", i, p.Lat, p.Lng)
					}
					if tt.centre != [2]float64{} && (abs(p.Lat-tt.centre[0]) > 0.21 || abs(p.Lng-tt.centre[1]) > 0.21) {
						t.Errorf("place %d: %v,%v is more than 0.2° from the centre %v", i, p.Lat, p.Lng, tt.centre)
					}
					if p.Name == "" || names[p.Name] || len(p.Aliases) == 0 {
						t.Errorf("place %d: name %q (duplicate: %v), aliases %q", i, p.Name, names[p.Name], p.Aliases)
					}
					names[p.Name] = true
				}
				if service != serviceAreas {
					t.Errorf("%d highway service areas, want %d", service, serviceAreas)
				}
			})

			t.Run("visits", func(t *testing.T) {
				perDay := float64(len(c.Visits)) / float64(n) / float64(tt.cfg.Days)
				if perDay < tt.perDay[0] || perDay > tt.perDay[1] {
					t.Errorf("%.2f visits per person per day, want %.1f–%.1f", perDay, tt.perDay[0], tt.perDay[1])
				}
				t.Logf("%d visits, %.2f per person per day", len(c.Visits), perDay)
				for i, v := range c.Visits {
					if i > 0 && v.At.Before(c.Visits[i-1].At) {
						t.Fatalf("visit %d at %v is before visit %d at %v", i, v.At, i-1, c.Visits[i-1].At)
					}
					if !v.Until.After(v.At) || v.At.Before(start) || !v.Until.Before(tt.cfg.End) || v.Until.After(endDay) {
						t.Fatalf("visit %d: [%v, %v) not a non-empty interval in [%v, %v)", i, v.At, v.Until, start, endDay)
					}
					if s := v.At.Sub(health.StartOfDay(v.At)); s < 7*time.Hour || s > 22*time.Hour {
						t.Fatalf("visit %d starts at %v CST", i, v.At.In(health.CST).Format(time.TimeOnly))
					}
					if v.Person < 0 || v.Person >= n || v.Place < 0 || v.Place >= len(c.Places) {
						t.Fatalf("visit %d: person %d place %d out of range", i, v.Person, v.Place)
					}
				}
			})

			byPerson := make([][]int, n)
			for i, v := range c.Visits {
				byPerson[v.Person] = append(byPerson[v.Person], i)
			}
			inf := map[int]Infection{}
			for _, in := range c.Infections {
				inf[in.Person] = in
			}

			t.Run("infections", func(t *testing.T) {
				seeds := 0
				for i, in := range c.Infections {
					if i > 0 && in.At.Before(c.Infections[i-1].At) {
						t.Errorf("infection %d is out of order", i)
					}
					if in.At.Before(start) || !in.At.Before(endDay) {
						t.Errorf("infection %d at %v outside the period", i, in.At)
					}
					if inc := health.StartOfDay(in.Onset).Sub(health.StartOfDay(in.At)); inc < 2*24*time.Hour || inc > 5*24*time.Hour {
						t.Errorf("infection %d: onset %v days after infection", i, inc.Hours()/24)
					}
					if in.Source < 0 {
						seeds++
						if in.Place != -1 {
							t.Errorf("seed infection %d has place %d", i, in.Place)
						}
						continue
					}
					src, ok := inf[in.Source]
					if !ok || !health.StartOfDay(src.At).Before(health.StartOfDay(in.At)) {
						t.Errorf("infection %d: source %d was not infected on an earlier day", i, in.Source)
					}
					if in.Trip != "" {
						if in.Place != -1 || !onBoard(c, in) {
							t.Errorf("infection %d on trip %s (place %d): persons %d and %d did not sit together on it at %v", i, in.Trip, in.Place, in.Source, in.Person, in.At)
						}
						continue
					}
					if in.Place < 0 {
						if c.Persons[in.Source].Household != c.Persons[in.Person].Household {
							t.Errorf("household infection %d: persons %d and %d live apart", i, in.Source, in.Person)
						}
						continue
					}
					if !copresent(c, byPerson, in) {
						t.Errorf("infection %d: persons %d and %d have no overlapping visits at place %d around %v", i, in.Source, in.Person, in.Place, in.At)
					}
				}
				if want := max(2, (n+10000)/20000); seeds != want {
					t.Errorf("%d seed infections, want %d", seeds, want)
				}
				if len(inf) != len(c.Infections) {
					t.Errorf("%d infections of %d persons: someone was infected twice", len(c.Infections), len(inf))
				}
			})

			t.Run("trips", func(t *testing.T) {
				numberRE := map[string]*regexp.Regexp{ModeTrain: regexp.MustCompile(`^[GD][0-9]{4}$`),
					ModeFlight: regexp.MustCompile(`^[A-Z0-9]{2}[0-9]{4}$`), ModeBus: regexp.MustCompile(`^\p{Han}[A-Z][0-9]{5}$`)}
				ids := map[string]bool{}
				passengers := 0
				onTrip := make([][]Trip, n)
				for i, tr := range c.Trips {
					if i > 0 && cmpOr(tr.From.Compare(c.Trips[i-1].From), strings.Compare(tr.Trip, c.Trips[i-1].Trip)) <= 0 {
						t.Errorf("trip %d (%s) is out of order or repeated", i, tr.Trip)
					}
					number, date, _ := strings.Cut(tr.Trip, " ")
					if re := numberRE[tr.Mode]; re == nil || !re.MatchString(number) || date != tr.From.In(health.CST).Format(time.DateOnly) || ids[tr.Trip] {
						t.Errorf("trip %d: %q, mode %q, from %v: malformed or repeated", i, tr.Trip, tr.Mode, tr.From)
					}
					ids[tr.Trip] = true
					dep, arr := tr.From.Sub(health.StartOfDay(tr.From)), tr.To.Sub(health.StartOfDay(tr.From))
					if tr.From.Before(start) || !tr.To.Before(endDay) || dep < 7*time.Hour || arr > 23*time.Hour || arr-dep < 80*time.Minute || arr-dep > 6*time.Hour {
						t.Errorf("trip %d (%s): %v to %v", i, tr.Trip, tr.From, tr.To)
					}
					if len(tr.Passengers) == 0 {
						t.Errorf("trip %d (%s) has no passengers", i, tr.Trip)
					}
					seats := map[string]bool{}
					for j, p := range tr.Passengers {
						if j > 0 && p.Person <= tr.Passengers[j-1].Person || p.Person < 0 || p.Person >= n {
							t.Fatalf("trip %d (%s): passenger %d is person %d: out of order, repeated or not in the city", i, tr.Trip, j, p.Person)
						}
						var ok bool
						switch tr.Mode {
						case ModeTrain:
							ok = p.Carriage >= 1 && p.Carriage <= 16 && p.Row == 0 && regexp.MustCompile(`^(0[1-9]|1[0-8])[ABCDF]$`).MatchString(p.Seat)
						case ModeFlight:
							ok = p.Carriage == 0 && p.Row >= 1 && p.Row <= 40 && len(p.Seat) == len(fmt.Sprint(p.Row))+1 &&
								p.Seat[:len(p.Seat)-1] == fmt.Sprint(p.Row) && strings.Contains("ABCDEF", p.Seat[len(p.Seat)-1:])
						case ModeBus:
							var k int
							_, err := fmt.Sscanf(p.Seat, "%d", &k)
							ok = p.Carriage == 0 && p.Row == 0 && err == nil && k >= 1 && k <= 50 && fmt.Sprint(k) == p.Seat
						}
						seat := fmt.Sprint(p.Carriage, "/", p.Seat)
						if !ok || seats[seat] {
							t.Errorf("trip %d (%s): passenger %d at carriage %d, row %d, seat %q: malformed or taken", i, tr.Trip, j, p.Carriage, p.Row, p.Seat)
						}
						seats[seat] = true
						onTrip[p.Person] = append(onTrip[p.Person], tr)
					}
					passengers += len(tr.Passengers)
				}
				// About 2% leave each day, and most come back.
				if share := float64(passengers) / float64(n) / float64(tt.cfg.Days); share < 0.01 || share > 0.05 {
					t.Errorf("%.3f passengers per person and day, want 0.02 to 0.04", share)
				}
				t.Logf("%d trips, %d passengers", len(c.Trips), passengers)
				// On board, nobody is anywhere else, but a coach's passengers
				// stop at a service area together.
				stops := 0
				for p, trips := range onTrip {
					for k, tr := range trips {
						if k > 0 && trips[k-1].To.After(tr.From) {
							t.Errorf("person %d is on %s and %s at once", p, trips[k-1].Trip, tr.Trip)
						}
						for _, vi := range byPerson[p] {
							v := c.Visits[vi]
							if !v.At.Before(tr.To) || !v.Until.After(tr.From) {
								continue
							}
							if tr.Mode != ModeBus || c.Places[v.Place].Kind != "highway_service" || v.At.Before(tr.From) || v.Until.After(tr.To) ||
								v.Until.Sub(v.At) < 20*time.Minute || v.Until.Sub(v.At) > 30*time.Minute {
								t.Errorf("person %d on %s (%v to %v) visits %s from %v to %v", p, tr.Trip, tr.From, tr.To, c.Places[v.Place].Name, v.At, v.Until)
							}
							stops++
						}
					}
				}
				for _, v := range c.Visits {
					if c.Places[v.Place].Kind == "highway_service" {
						stops--
					}
				}
				if stops != 0 {
					t.Errorf("%d visits to service areas are not by a coach's passengers during its trip", -stops)
				}
			})

			t.Run("results", func(t *testing.T) {
				ids := map[string]bool{}
				tested := map[int]bool{}
				positives, invalid := 0, 0
				for i, r := range c.Results {
					if i > 0 && r.SampledAt.Before(c.Results[i-1].SampledAt) {
						t.Fatalf("result %d is out of order", i)
					}
					if m := sampleIDRE.FindStringSubmatch(r.SampleID); m == nil || m[1] != r.Lab || ids[r.SampleID] {
						t.Fatalf("result %d: sample id %q (lab %s) malformed or repeated", i, r.SampleID, r.Lab)
					}
					ids[r.SampleID] = true
					if r.SampledAt.Before(start) || !r.SampledAt.Before(endDay) {
						t.Errorf("result %d sampled at %v outside the period", i, r.SampledAt)
					}
					switch r.Result {
					case "positive":
						positives++
						in, ok := inf[r.Person]
						if !ok {
							t.Errorf("result %d: person %d is positive but was never infected", i, r.Person)
						} else if r.SampledAt.Sub(in.At) < 24*time.Hour {
							t.Errorf("result %d: positive %v after infection", i, r.SampledAt.Sub(in.At))
						}
					case "invalid":
						invalid++
					case "negative":
					default:
						t.Errorf("result %d: %q", i, r.Result)
					}
					tested[r.Person] = true
				}
				if share := float64(len(tested)) / float64(n); share < 0.5 || share > 0.7 {
					t.Errorf("%.2f of persons tested, want about 0.6", share)
				}
				if invalid > len(c.Results)/200+3 {
					t.Errorf("%d invalid results of %d", invalid, len(c.Results))
				}
				if tt.wantOutbreak && positives == 0 {
					t.Error("no positive result")
				}
				t.Logf("%d results, %d positive, %d invalid; %d infections", len(c.Results), positives, invalid, len(c.Infections))
			})

			t.Run("risk areas", func(t *testing.T) {
				firstPositive := map[string]time.Time{} // street → first positive of a resident
				for _, r := range c.Results {
					h := c.Persons[r.Person].HomeRegion
					if _, ok := firstPositive[h]; !ok && r.Result == "positive" {
						firstPositive[h] = r.SampledAt
					}
				}
				seen := map[string]bool{}
				level := map[string]RiskArea{} // street → its area of each level
				high := 0
				for i, a := range c.RiskAreas {
					if len(a.Region) != 9 || !rt.Contains(city, a.Region) {
						t.Errorf("area %d: region %s not a street of %s", i, a.Region, city)
					}
					// A street has one area, or a medium one upgraded later by a high one.
					if _, dup := level[a.Level+a.Region]; dup || a.Level == "medium" && seen[a.Region] {
						t.Errorf("area %d: %s area over %s repeated or after a high one", i, a.Level, a.Region)
					}
					if m, ok := level["medium"+a.Region]; ok && a.Level == "high" && !m.DeclareAt.Before(a.DeclareAt) {
						t.Errorf("area %d: high area over %s declared %v, its medium one %v", i, a.Region, a.DeclareAt, m.DeclareAt)
					}
					seen[a.Region] = true
					level[a.Level+a.Region] = a
					if i > 0 && a.DeclareAt.Before(c.RiskAreas[i-1].DeclareAt) {
						t.Errorf("area %d is out of order", i)
					}
					if !a.DeclareAt.Before(endDay) || !a.From.Equal(a.DeclareAt) || a.Until.Sub(a.From) != 7*24*time.Hour {
						t.Errorf("area %d: declared %v from %v until %v", i, a.DeclareAt, a.From, a.Until)
					}
					if h := a.DeclareAt.In(health.CST); h.Hour() != 9 || h.Minute() != 0 || h.Second() != 0 {
						t.Errorf("area %d declared at %v, want 09:00 CST", i, h)
					}
					switch a.Level {
					case "high":
						high++
						fp, ok := firstPositive[a.Region]
						if !ok || !fp.Before(a.DeclareAt) || a.DeclareAt.Sub(fp) > 48*time.Hour {
							t.Errorf("high area %d over %s declared %v, first positive resident %v", i, a.Region, a.DeclareAt, fp)
						}
					case "medium":
					default:
						t.Errorf("area %d: level %q", i, a.Level)
					}
				}
				for st, fp := range firstPositive {
					if declareAt(fp).Before(endDay) && !seen[st] {
						t.Errorf("street %s had a positive at %v but no area", st, fp)
					}
				}
				if tt.wantOutbreak && high == 0 {
					t.Error("no high-risk area")
				}
			})
		})
	}
}

// measureCities have risk areas of both levels in force during the period.
var measureCities = []struct {
	name   string
	cfg    Config
	expire bool // some high areas end before the period does
}{
	{"guangzhou 20k persons 7 days", Config{Persons: 20000, Days: 7, Seed: 1, End: testEnd}, false},
	{"dongguan 3k persons 7 days", Config{Persons: 3000, Days: 7, Seed: 3, City: "441900", End: testEnd}, false},
	{"guangzhou 5k persons 20 days", Config{Persons: 5000, Days: 20, Seed: 9, End: testEnd}, true},
}

// violations counts the visits of c that break the measures of its risk
// areas in force when the visit starts.
type violations struct {
	sealedPlace    int      // at a place in a high-risk street
	sealedResident int      // by a resident of a high-risk street
	leftMedium     int      // by a resident of a medium-risk street outside it
	enteredMedium  int      // at a place in a medium-risk street by a non-resident
	examples       []string // a few of them
}

func measureViolations(c *City) violations {
	var out violations
	byRegion := map[string][]RiskArea{}
	for _, a := range c.RiskAreas {
		byRegion[a.Region] = append(byRegion[a.Region], a)
	}
	inForce := func(a RiskArea, t time.Time) bool { return !t.Before(a.DeclareAt) && t.Before(a.Until) }
	note := func(n *int, v Visit, a RiskArea, what string) {
		*n++
		if len(out.examples) < 5 {
			out.examples = append(out.examples, fmt.Sprintf("person %d at place %d from %v: %s (%s area over %s declared %v)",
				v.Person, v.Place, v.At, what, a.Level, a.Region, a.DeclareAt))
		}
	}
	for _, v := range c.Visits {
		pr, hr := c.Places[v.Place].Region, c.Persons[v.Person].HomeRegion
		for _, a := range byRegion[pr] {
			switch {
			case !inForce(a, v.At):
			case a.Level == "high":
				note(&out.sealedPlace, v, a, "the place is sealed")
			case a.Level == "medium" && pr != hr:
				note(&out.enteredMedium, v, a, "a non-resident entered a medium-risk street")
			}
		}
		for _, a := range byRegion[hr] {
			switch {
			case !inForce(a, v.At):
			case a.Level == "high":
				note(&out.sealedResident, v, a, "the person's street is sealed")
			case a.Level == "medium" && pr != hr:
				note(&out.leftMedium, v, a, "the person left a medium-risk street")
			}
		}
	}
	return out
}

func TestRiskAreaMeasures(t *testing.T) {
	for _, tt := range measureCities {
		t.Run(tt.name, func(t *testing.T) {
			c := generate(t, tt.cfg)
			// The same city as if nobody complied: the areas are declared by
			// the same rules, the visits they forbid are made.
			free, err := generateCity(tt.cfg, regionTable(t), false)
			if err != nil {
				t.Fatal(err)
			}
			levels := map[string]int{}
			for _, a := range c.RiskAreas {
				levels[a.Level]++
			}
			if levels["high"] == 0 || levels["medium"] == 0 {
				t.Fatalf("areas by level %v, want both levels", levels)
			}
			got, base := measureViolations(c), measureViolations(free)
			t.Logf("%d areas %v, %d visits (%d without measures); violations without measures: %d sealed places, %d sealed residents, %d left medium",
				len(c.RiskAreas), levels, len(c.Visits), len(free.Visits), base.sealedPlace, base.sealedResident, base.leftMedium)

			tests := []struct {
				name      string
				got, base int
			}{
				{"no visit starts at a place in a high-risk street in force", got.sealedPlace, base.sealedPlace},
				{"residents of a high-risk street in force stay home", got.sealedResident, base.sealedResident},
				{"residents of a medium-risk street in force stay in it", got.leftMedium, base.leftMedium},
				{"others keep out of a medium-risk street in force", got.enteredMedium, base.enteredMedium},
			}
			for _, m := range tests {
				t.Run(m.name, func(t *testing.T) {
					if m.got != 0 {
						t.Errorf("%d visits break the measure, e.g.\n%s", m.got, strings.Join(got.examples, "\n"))
					}
					if m.base == 0 {
						t.Error("without measures no visit would break it either: the city does not test the measure")
					}
				})
			}

			t.Run("visits before the first declaration are made", func(t *testing.T) {
				first := c.RiskAreas[0].DeclareAt
				before := func(c *City) []Visit {
					var out []Visit
					for _, v := range c.Visits {
						if v.At.Before(first) {
							out = append(out, v)
						}
					}
					slices.SortFunc(out, func(a, b Visit) int {
						return cmpOr(a.At.Compare(b.At), a.Person-b.Person, a.Place-b.Place, a.Until.Compare(b.Until))
					})
					return out
				}
				if got, want := before(c), before(free); !slices.Equal(got, want) {
					t.Errorf("%d visits before %v, want the %d made without measures", len(got), first, len(want))
				}
			})

			t.Run("a sealed street is visited on the morning of its declaration", func(t *testing.T) {
				sealedAt := map[string]time.Time{}
				for _, a := range c.RiskAreas {
					if a.Level == "high" {
						sealedAt[a.Region] = a.DeclareAt
					}
				}
				n := 0
				for _, v := range c.Visits {
					if da, ok := sealedAt[c.Places[v.Place].Region]; ok && v.At.Before(da) && !v.At.Before(health.StartOfDay(da)) {
						n++
					}
				}
				if n == 0 {
					t.Error("no visit to a high-risk street on the day of its declaration before it: the measures start too early")
				}
			})

			t.Run("measures end with the area", func(t *testing.T) {
				if !tt.expire {
					t.Skip("no area ends within the period")
				}
				endDay := health.StartOfDay(tt.cfg.End)
				over := map[string]time.Time{} // high street → end of its area, within the period
				for _, a := range c.RiskAreas {
					if a.Level == "high" && a.Until.Before(endDay.Add(-24*time.Hour)) {
						over[a.Region] = a.Until
					}
				}
				if len(over) == 0 {
					t.Fatal("no high area ends a day before the period")
				}
				residents, places := 0, 0
				for _, v := range c.Visits {
					if u, ok := over[c.Persons[v.Person].HomeRegion]; ok && !v.At.Before(u) {
						residents++
					}
					if u, ok := over[c.Places[v.Place].Region]; ok && !v.At.Before(u) {
						places++
					}
				}
				if residents == 0 || places == 0 {
					t.Errorf("after their areas ended, %d visits by residents of %d streets and %d to their places, want some", residents, len(over), places)
				}
			})
		})
	}
}

func abs(x float64) float64 { return max(x, -x) }

// cmpOr is the first non-zero of cs.
func cmpOr(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// onBoard reports whether the source and the person of in sat together on
// in.Trip at in.At: the same carriage, rows within 3, the same coach.
func onBoard(c *City, in Infection) bool {
	for _, tr := range c.Trips {
		if tr.Trip != in.Trip || in.At.Before(tr.From) || !in.At.Before(tr.To) {
			continue
		}
		i := slices.IndexFunc(tr.Passengers, func(p Passenger) bool { return p.Person == in.Source })
		j := slices.IndexFunc(tr.Passengers, func(p Passenger) bool { return p.Person == in.Person })
		return i >= 0 && j >= 0 && together(tr.Mode, tr.Passengers[i], tr.Passengers[j], 3)
	}
	return false
}

// copresent reports whether the source and the person of in have visits at
// in.Place overlapping at in.At.
func copresent(c *City, byPerson [][]int, in Infection) bool {
	for _, i := range byPerson[in.Source] {
		a := c.Visits[i]
		if a.Place != in.Place {
			continue
		}
		for _, j := range byPerson[in.Person] {
			b := c.Visits[j]
			if b.Place != in.Place {
				continue
			}
			lo, hi := a.At, a.Until
			if b.At.After(lo) {
				lo = b.At
			}
			if b.Until.Before(hi) {
				hi = b.Until
			}
			if !in.At.Before(lo) && in.At.Before(hi) {
				return true
			}
		}
	}
	return false
}

func TestGenerateFullSize(t *testing.T) {
	if testing.Short() {
		t.Skip("100k persons in -short mode")
	}
	t0 := time.Now()
	c, err := Generate(Config{Seed: 1, End: testEnd}, regionTable(t))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	positives := 0
	for _, r := range c.Results {
		if r.Result == "positive" {
			positives++
		}
	}
	t.Logf("100k persons × 7 days in %v: %d persons, %d places, %d visits (%.2f/person/day), %d results (%d positive), %d infections, %d risk areas",
		took, len(c.Persons), len(c.Places), len(c.Visits), float64(len(c.Visits))/float64(len(c.Persons))/7,
		len(c.Results), positives, len(c.Infections), len(c.RiskAreas))
	if len(c.Persons) != DefaultPersons || len(c.Places) != DefaultPersons/50 {
		t.Errorf("defaults not applied: %d persons, %d places", len(c.Persons), len(c.Places))
	}
}

func BenchmarkGenerate100k(b *testing.B) {
	rt := regionTable(b)
	var c *City
	for b.Loop() {
		var err error
		if c, err = Generate(Config{Persons: 100000, Days: 7, Seed: 1, End: testEnd}, rt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(c.Visits)), "visits")
	b.ReportMetric(float64(len(c.Infections)), "infections")
}

// ---- client ----

const testToken = "admin-secret"

// fakeAPI records what a Client sends. It assigns ids like the real API but
// checks nothing beyond the shape of the requests.
type fakeAPI struct {
	t   *testing.T
	now time.Time

	failVisit bool // answer 400 to the visits batches

	mu            sync.Mutex
	personBatches []int
	idOf          map[string]string // ID number → person id
	codeOf        map[string]string // place name → place code
	visitBatches  []int
	visits        []visitRec
	manifests     []manifestJSON
	resultBatches map[string][]int
	results       []resultRec
	areas         []areaJSON
	paths         []string
}

type visitRec struct {
	PersonID  string `json:"person_id"`
	PlaceCode string `json:"place_code"`
	At        string `json:"at"`
	Until     string `json:"until"`
}

type resultRec struct {
	Lab       string `json:"-"`
	SampleID  string `json:"sample_id"`
	PersonID  string `json:"person_id"`
	SampledAt string `json:"sampled_at"`
	Result    string `json:"result"`
}

func newFakeAPI(t *testing.T, now time.Time) *fakeAPI {
	return &fakeAPI{t: t, now: now, idOf: map[string]string{}, codeOf: map[string]string{}, resultBatches: map[string][]int{}}
}

func (f *fakeAPI) fail(w http.ResponseWriter, status int, code, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"field":%q}}`+"\n", code, msg, field)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	if r.URL.Path == "/healthz" {
		fmt.Fprintf(w, `{"status":"ok","time":%q}`, health.FormatTime(f.now))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		f.fail(w, 401, "missing_token", "", "an Authorization: Bearer token is required")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.fail(w, 400, "unsupported_media_type", "", ct)
		return
	}
	body, _ := io.ReadAll(r.Body)
	dec := func(v any) bool {
		if err := json.Unmarshal(body, v); err != nil {
			f.fail(w, 400, "malformed_json", "", err.Error())
			return false
		}
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == "/api/v1/persons":
		var in struct {
			Persons []personJSON `json:"persons"`
		}
		if !dec(&in) {
			return
		}
		f.personBatches = append(f.personBatches, len(in.Persons))
		type enrolled struct {
			PersonID string `json:"person_id"`
			Token    string `json:"token"`
			Existing bool   `json:"existing"`
		}
		out := make([]enrolled, len(in.Persons))
		for i, p := range in.Persons {
			id, existing := f.idOf[p.IDNumber]
			if !existing {
				id = fmt.Sprintf("p%d", len(f.idOf)+1)
				f.idOf[p.IDNumber] = id
			}
			out[i] = enrolled{id, "tok-" + id, existing}
		}
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"persons": out})
	case r.URL.Path == "/api/v1/places":
		var in placeJSON
		if !dec(&in) {
			return
		}
		id := fmt.Sprintf("L%d", len(f.codeOf)+1)
		f.codeOf[in.Name] = health.PlaceCodePrefix + id
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"place_id": id, "place_code": health.PlaceCodePrefix + id, "name": in.Name})
	case r.URL.Path == "/api/v1/visits":
		var in struct {
			Visits []visitRec `json:"visits"`
		}
		if !dec(&in) {
			return
		}
		if f.failVisit {
			f.fail(w, 400, "invalid_interval", "visits[3].until", "must be after at and at most 72h later")
			return
		}
		f.visitBatches = append(f.visitBatches, len(in.Visits))
		f.visits = append(f.visits, in.Visits...)
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"accepted":%d}`, len(in.Visits))
	case r.URL.Path == "/api/v1/trips/manifest":
		var in manifestJSON
		if !dec(&in) {
			return
		}
		f.manifests = append(f.manifests, in)
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"recorded":%d}`, len(in.Passengers))
	case strings.HasPrefix(r.URL.Path, "/api/v1/labs/"):
		lab := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/labs/"), "/results")
		var in struct {
			Results []resultRec `json:"results"`
		}
		if !dec(&in) {
			return
		}
		f.resultBatches[lab] = append(f.resultBatches[lab], len(in.Results))
		for _, x := range in.Results {
			x.Lab = lab
			f.results = append(f.results, x)
		}
		fmt.Fprintf(w, `{"accepted":%d,"duplicates":0,"corrections":0}`, len(in.Results))
	case r.URL.Path == "/api/v1/risk-areas":
		var in areaJSON
		if !dec(&in) {
			return
		}
		f.areas = append(f.areas, in)
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"area_id":"e%d","affected":3}`, len(f.areas))
	default:
		f.fail(w, 404, "no_such_endpoint", "", r.URL.Path)
	}
}

// clientCity is a small generated city with results spread so that one lab
// needs several batches and with risk areas around the fake server's now.
func clientCity(t *testing.T, now time.Time) *City {
	src := generate(t, Config{Persons: 2500, Days: 2, Seed: 11, End: now})
	c := *src
	c.Results = nil
	for i := range 4501 {
		lab := Labs[0]
		if i%450 == 0 {
			lab = Labs[2]
		}
		c.Results = append(c.Results, Result{Lab: lab, SampleID: fmt.Sprintf("S%s-%d", lab, i+1), Person: i % len(c.Persons),
			SampledAt: now.Add(-time.Duration(i) * time.Minute), Result: "negative"})
	}
	c.RiskAreas = []RiskArea{
		{Region: "440106001", Level: "high", From: now.Add(-48 * time.Hour), Until: now.Add(5 * 24 * time.Hour)},
		{Region: "440106002", Level: "medium", From: now.Add(-20 * 24 * time.Hour), Until: now.Add(24 * time.Hour)},   // from clamped
		{Region: "440106003", Level: "high", From: now.Add(-9 * 24 * time.Hour), Until: now.Add(-2 * 24 * time.Hour)}, // over: skipped
	}
	for i := range c.RiskAreas {
		c.RiskAreas[i].DeclareAt = c.RiskAreas[i].From
	}
	return &c
}

func sizes(n, batch int) []int {
	var out []int
	for ; n > 0; n -= batch {
		out = append(out, min(n, batch))
	}
	return out
}

func TestClientLoad(t *testing.T) {
	now := time.Date(2022, 6, 13, 10, 0, 0, 0, time.UTC)
	city := clientCity(t, now)
	f := newFakeAPI(t, now)
	srv := httptest.NewServer(f)
	defer srv.Close()

	var pmu sync.Mutex
	last := map[string][2]int{} // phase → highest done, total
	var order []string
	progress := func(phase string, done, total int) {
		pmu.Lock()
		defer pmu.Unlock()
		if len(order) == 0 || order[len(order)-1] != phase {
			order = append(order, phase)
		}
		if done >= last[phase][0] {
			last[phase] = [2]int{done, total}
		}
	}
	cl := &Client{Base: srv.URL + "/", Token: testToken, Concurrency: 3}
	got, err := cl.Load(context.Background(), city, progress)
	if err != nil {
		t.Fatal(err)
	}

	sorted := func(s []int) []int { s = slices.Clone(s); slices.Sort(s); slices.Reverse(s); return s }
	t.Run("batch sizes", func(t *testing.T) {
		tests := []struct {
			name      string
			got, want []int
		}{
			{"persons", f.personBatches, sizes(len(city.Persons), PersonBatch)},
			{"visits", f.visitBatches, sizes(len(city.Visits), VisitBatch)},
			{"results " + Labs[0], f.resultBatches[Labs[0]], sizes(4490, ResultBatch)},
			{"results " + Labs[2], f.resultBatches[Labs[2]], sizes(11, ResultBatch)},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(sorted(tt.want), sorted(tt.got)); diff != "" {
				t.Errorf("%s batches (-want +got):\n%s", tt.name, diff)
			}
		}
		if len(f.resultBatches) != 2 {
			t.Errorf("results went to labs %v", f.resultBatches)
		}
	})

	t.Run("ids in order", func(t *testing.T) {
		if len(got.PersonIDs) != len(city.Persons) || len(got.Tokens) != len(city.Persons) {
			t.Fatalf("%d person ids, %d tokens for %d persons", len(got.PersonIDs), len(got.Tokens), len(city.Persons))
		}
		for i, p := range city.Persons {
			if want := f.idOf[p.IDNumber]; got.PersonIDs[i] != want || got.Tokens[i] != "tok-"+want {
				t.Fatalf("person %d: id %s token %s, want %s", i, got.PersonIDs[i], got.Tokens[i], want)
			}
		}
		for i, p := range city.Places {
			if want := f.codeOf[p.Name]; got.PlaceCodes[i] != want || "HCP1:"+got.PlaceIDs[i] != want {
				t.Fatalf("place %d: id %s code %s, want code %s", i, got.PlaceIDs[i], got.PlaceCodes[i], want)
			}
		}
	})

	t.Run("visits and results content", func(t *testing.T) {
		var want []visitRec
		for _, v := range city.Visits {
			want = append(want, visitRec{got.PersonIDs[v.Person], got.PlaceCodes[v.Place], health.FormatTime(v.At), health.FormatTime(v.Until)})
		}
		cmpRec := func(a, b visitRec) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
		gv := slices.Clone(f.visits)
		slices.SortFunc(want, cmpRec)
		slices.SortFunc(gv, cmpRec)
		if diff := cmp.Diff(want, gv); diff != "" {
			t.Errorf("visits (-want +got):\n%.3000s", diff)
		}
		var wr []resultRec
		for _, r := range city.Results {
			wr = append(wr, resultRec{r.Lab, r.SampleID, got.PersonIDs[r.Person], health.FormatTime(r.SampledAt), r.Result})
		}
		gr := slices.Clone(f.results)
		byID := func(a, b resultRec) int { return strings.Compare(a.SampleID, b.SampleID) }
		slices.SortFunc(wr, byID)
		slices.SortFunc(gr, byID)
		if diff := cmp.Diff(wr, gr); diff != "" {
			t.Errorf("results (-want +got):\n%.3000s", diff)
		}
	})

	t.Run("trips", func(t *testing.T) {
		if len(city.Trips) == 0 {
			t.Fatal("the city has no trips")
		}
		var want []manifestJSON
		for _, tr := range city.Trips {
			m := manifestJSON{Trip: tr.Trip, Mode: tr.Mode, From: health.FormatTime(tr.From), To: health.FormatTime(tr.To)}
			for _, p := range tr.Passengers {
				pj := passengerJSON{PersonID: got.PersonIDs[p.Person], Row: p.Row, Seat: p.Seat}
				if p.Carriage > 0 {
					pj.Carriage = fmt.Sprintf("%02d", p.Carriage)
				}
				m.Passengers = append(m.Passengers, pj)
			}
			want = append(want, m)
		}
		gm := slices.Clone(f.manifests)
		slices.SortFunc(gm, func(a, b manifestJSON) int {
			return cmpOr(strings.Compare(a.From, b.From), strings.Compare(a.Trip, b.Trip))
		})
		if diff := cmp.Diff(want, gm); diff != "" {
			t.Errorf("passenger lists (-want +got):\n%.3000s", diff)
		}
		if !slices.ContainsFunc(f.manifests, func(m manifestJSON) bool { return m.Mode == ModeTrain && m.Passengers[0].Carriage != "" }) {
			t.Error("no train with carriages")
		}
	})

	t.Run("risk areas", func(t *testing.T) {
		want := []areaJSON{
			{Region: "440106001", Level: "high", From: health.FormatTime(now.Add(-48 * time.Hour)), Until: health.FormatTime(now.Add(5 * 24 * time.Hour))},
			{Region: "440106002", Level: "medium", From: health.FormatTime(now.Add(-14*24*time.Hour + time.Hour)), Until: health.FormatTime(now.Add(24 * time.Hour))},
		}
		if diff := cmp.Diff(want, f.areas); diff != "" {
			t.Errorf("areas (-want +got):\n%s", diff)
		}
		if i, j := slices.Index(f.paths, "GET /healthz"), slices.Index(f.paths, "POST /api/v1/risk-areas"); i < 0 || j < i {
			t.Errorf("the server time was not asked before declaring areas: %v", f.paths[max(0, len(f.paths)-4):])
		}
	})

	t.Run("counts, phases and progress", func(t *testing.T) {
		passengers := 0
		for _, tr := range city.Trips {
			passengers += len(tr.Passengers)
		}
		wantCounts := map[string]int{
			"persons_enrolled": len(city.Persons), "persons_existing": 0, "places": len(city.Places),
			"visits_accepted": len(city.Visits), "trips_recorded": len(city.Trips), "passengers_recorded": passengers,
			"results_accepted": len(city.Results), "results_duplicates": 0, "results_corrections": 0,
			"risk_areas_declared": 2, "risk_areas_affected": 6, "risk_areas_skipped": 1,
		}
		if diff := cmp.Diff(wantCounts, got.Counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		phases := []string{"persons", "places", "visits", "trips", "results", "risk-areas"}
		var gotPhases []string
		for _, p := range got.Phases {
			gotPhases = append(gotPhases, p.Phase)
			if p.Took <= 0 {
				t.Errorf("phase %s took %v", p.Phase, p.Took)
			}
		}
		if diff := cmp.Diff(phases, gotPhases); diff != "" {
			t.Errorf("phases (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(phases, order); diff != "" {
			t.Errorf("progress phase order (-want +got):\n%s", diff)
		}
		for _, p := range phases {
			if l := last[p]; l[0] != l[1] || l[1] == 0 {
				t.Errorf("phase %s: last progress %d of %d", p, l[0], l[1])
			}
		}
	})
}

func TestClientErrors(t *testing.T) {
	now := time.Date(2022, 6, 13, 10, 0, 0, 0, time.UTC)
	city := clientCity(t, now)
	tests := []struct {
		name       string
		token      string
		failVisit  bool
		wantStatus int
		wantCode   string
		wantPhases []string
	}{
		{"400 on visits stops the load", testToken, true, 400, "invalid_interval", []string{"persons", "places", "visits"}},
		{"401 on persons", "wrong", false, 401, "missing_token", []string{"persons"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, now)
			f.failVisit = tt.failVisit
			srv := httptest.NewServer(f)
			defer srv.Close()
			cl := &Client{Base: srv.URL, Token: tt.token, Concurrency: 4}
			got, err := cl.Load(context.Background(), city, nil)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("Load error = %v, want an *APIError", err)
			}
			if ae.Status != tt.wantStatus || ae.Code != tt.wantCode || !IsAPIError(err, tt.wantStatus) {
				t.Errorf("APIError %+v, want status %d code %s", ae, tt.wantStatus, tt.wantCode)
			}
			for _, s := range []string{fmt.Sprint(tt.wantStatus), `"code":"` + tt.wantCode + `"`} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %s", err, s)
				}
			}
			var phases []string
			for _, p := range got.Phases {
				phases = append(phases, p.Phase)
			}
			if diff := cmp.Diff(tt.wantPhases, phases); diff != "" {
				t.Errorf("phases run (-want +got):\n%s", diff)
			}
			f.mu.Lock()
			paths := append([]string(nil), f.paths...)
			f.mu.Unlock()
			for _, p := range paths {
				if strings.Contains(p, "/labs/") || strings.Contains(p, "risk-areas") || strings.Contains(p, "/trips/") {
					t.Errorf("%s after the error", p)
				}
			}
		})
	}
}

func TestClientCancelled(t *testing.T) {
	now := time.Date(2022, 6, 13, 10, 0, 0, 0, time.UTC)
	city := clientCity(t, now)
	srv := httptest.NewServer(newFakeAPI(t, now))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Client{Base: srv.URL, Token: testToken}).Load(ctx, city, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load error = %v, want context.Canceled", err)
	}
}

func TestAreaBody(t *testing.T) {
	now := time.Date(2022, 6, 13, 10, 0, 0, 0, time.UTC)
	ft := health.FormatTime
	tests := []struct {
		name   string
		area   RiskArea
		want   areaJSON
		wantOK bool
	}{
		{"in force", RiskArea{Region: "440106001", Level: "high", From: now.Add(-time.Hour), Until: now.Add(time.Hour)},
			areaJSON{"440106001", "high", ft(now.Add(-time.Hour)), ft(now.Add(time.Hour))}, true},
		{"over", RiskArea{Region: "440106001", Level: "high", From: now.Add(-48 * time.Hour), Until: now}, areaJSON{}, false},
		{"from older than 14 days", RiskArea{Region: "440106001", Level: "medium", From: now.Add(-15 * 24 * time.Hour), Until: now.Add(time.Hour)},
			areaJSON{"440106001", "medium", ft(now.Add(-14*24*time.Hour + time.Hour)), ft(now.Add(time.Hour))}, true},
		{"from in the future", RiskArea{Region: "440106001", Level: "high", From: now.Add(time.Hour), Until: now.Add(48 * time.Hour)},
			areaJSON{"440106001", "high", "", ft(now.Add(48 * time.Hour))}, true},
		{"until beyond 30 days", RiskArea{Region: "440106001", Level: "high", From: now, Until: now.Add(40 * 24 * time.Hour)},
			areaJSON{"440106001", "high", ft(now), ft(now.Add(30*24*time.Hour - time.Hour))}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := areaBody(tt.area, now)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("areaBody = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Venues sit at the centres of resolution-VenueRes H3 cells, each within the
// disk of cells around its county's centre, and venues spread over many cells.
func TestPlacesOnH3Cells(t *testing.T) {
	c := generate(t, Config{Persons: 5000, Days: 2, Seed: 3, End: time.Date(2022, 6, 12, 0, 0, 0, 0, health.CST)})
	byRegion := map[string][]Place{}
	cells := map[h3.Cell]bool{}
	for _, p := range c.Places {
		if !p.Cell.IsValid() || p.Cell.Resolution() != VenueRes {
			t.Fatalf("place %s: cell %v is not a valid resolution-%d cell", p.Name, p.Cell, VenueRes)
		}
		if got := h3.LatLngToCell(h3.NewLatLng(p.Lat, p.Lng), VenueRes); got != p.Cell {
			t.Errorf("place %s at %.6f,%.6f is in cell %v, want its own cell %v", p.Name, p.Lat, p.Lng, got, p.Cell)
		}
		cells[p.Cell] = true
		byRegion[p.Region[:6]] = append(byRegion[p.Region[:6]], p)
	}
	if len(cells) < len(c.Places)*9/10 {
		t.Errorf("%d places on %d cells: venues are not spread", len(c.Places), len(cells))
	}
	// The disk of areaK rings of resolution-areaRes cells is under 20 km across.
	for county, ps := range byRegion {
		for _, p := range ps[1:] {
			if d := h3.GreatCircleDistanceKm(h3.NewLatLng(ps[0].Lat, ps[0].Lng), h3.NewLatLng(p.Lat, p.Lng)); d > 20 {
				t.Errorf("county %s: places %s and %s are %.1f km apart", county, ps[0].Name, p.Name, d)
			}
		}
	}
}
