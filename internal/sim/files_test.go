package sim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeCity generates a city (not cached: each call generates anew) and
// writes it with its truth into a new directory.
func writeCity(t *testing.T, cfg Config) (string, *City, *Truth) {
	t.Helper()
	c, err := Generate(cfg, regionTable(t))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ComputeTruth(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "city")
	if err := WriteDir(dir, c, tr, nil); err != nil {
		t.Fatal(err)
	}
	return dir, c, tr
}

var allFiles = []string{ManifestFile, PersonsFile, PlacesFile, VisitsFile, TripsFile, ResultsFile, RiskAreasFile, InfectionsFile, CasesFile, ContactsFile}

func TestWriteDirDeterministic(t *testing.T) {
	cfg := Config{Persons: 3000, Days: 5, Seed: 3, End: testEnd}
	a, _, tr := writeCity(t, cfg)
	b, _, _ := writeCity(t, cfg)
	other := cfg
	other.Seed = 4
	c, _, _ := writeCity(t, other)
	if len(tr.Cases) == 0 || len(tr.Contacts) == 0 {
		t.Fatalf("want cases and contacts in the truth, got %d and %d", len(tr.Cases), len(tr.Contacts))
	}
	differ := 0
	for _, f := range allFiles {
		fa, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		fc, err := os.ReadFile(filepath.Join(c, f))
		if err != nil {
			t.Fatal(err)
		}
		if len(fa) == 0 {
			t.Errorf("%s is empty", f)
		}
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s differs between two runs with the same seed", f)
		}
		if !bytes.Equal(fa, fc) {
			differ++
		}
	}
	if differ < len(allFiles)-1 {
		t.Errorf("another seed changed only %d of %d files", differ, len(allFiles))
	}
	if err := WriteDir(a, &City{}, &Truth{}, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("writing into a full directory: got %v, want a 'not empty' error", err)
	}
}

func TestReadDirRoundTrip(t *testing.T) {
	cfg := Config{Persons: 2000, Days: 7, Seed: 5, City: "441900", End: testEnd} // with risk areas
	dir, c, tr := writeCity(t, cfg)
	var phases []string
	d, err := ReadDir(dir, ReadOptions{Truth: true, Now: testEnd}, func(phase string, done, total int) {
		if len(phases) == 0 || phases[len(phases)-1] != phase {
			phases = append(phases, phase)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := cfg
	wantCfg.End = PeriodEnd(cfg)
	if d.City.Config.Persons != cfg.Persons || d.City.Config.Seed != cfg.Seed || d.City.Config.City != cfg.City || !d.City.Config.End.Equal(wantCfg.End) {
		t.Errorf("config: got %+v, want %+v", d.City.Config, wantCfg)
	}
	persons := make([]Person, len(c.Persons))
	for i, p := range c.Persons {
		persons[i] = Person{IDNumber: p.IDNumber, Name: p.Name, Phone: p.Phone, HomeRegion: p.HomeRegion, Household: -1, Work: -1}
	}
	for _, x := range []struct {
		name      string
		got, want any
	}{
		{"persons", d.City.Persons, persons},
		{"places", d.City.Places, c.Places},
		{"visits", d.City.Visits, c.Visits},
		{"trips", d.City.Trips, c.Trips},
		{"results", d.City.Results, c.Results},
		{"risk areas", d.City.RiskAreas, c.RiskAreas},
		{"infections", d.City.Infections, c.Infections},
		{"cases", d.Truth.Cases, tr.Cases},
		{"contacts", d.Truth.Contacts, tr.Contacts},
	} {
		if diff := cmp.Diff(x.want, x.got); diff != "" {
			t.Errorf("%s (-written +read):\n%s", x.name, diff)
		}
	}
	if len(c.RiskAreas) == 0 || len(tr.Cases) == 0 || len(c.Trips) == 0 {
		t.Errorf("want risk areas, cases and trips in the city, got %d, %d and %d", len(c.RiskAreas), len(tr.Cases), len(c.Trips))
	}
	want := []string{PersonsFile, PlacesFile, VisitsFile, TripsFile, ResultsFile, RiskAreasFile, InfectionsFile, CasesFile, ContactsFile}
	if diff := cmp.Diff(want, phases); diff != "" {
		t.Errorf("progress phases (-want +got):\n%s", diff)
	}
	// Without visits and truth.
	d, err = ReadDir(dir, ReadOptions{SkipVisits: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.City.Visits) != 0 || d.Truth != nil || len(d.City.Persons) != len(c.Persons) || len(d.City.Trips) != len(c.Trips) {
		t.Errorf("SkipVisits without Truth: got %d visits, truth %v, %d persons, %d trips", len(d.City.Visits), d.Truth != nil, len(d.City.Persons), len(d.City.Trips))
	}
}

func TestReadDirMalformed(t *testing.T) {
	dir, c, _ := writeCity(t, Config{Persons: 40, Days: 2, Seed: 1, End: testEnd})
	p1 := c.Persons[0]
	if len(c.Trips) == 0 {
		t.Fatal("the city has no trips (the repeated trip below needs one); pick another seed")
	}
	validFirst := map[string]string{
		TripsFile:     `{"trip":"G1234 2022-06-11","mode":"train","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p1","carriage":"05"}]}`,
		RiskAreasFile: `{"region":"440106","level":"high","from":"2022-06-11T08:00:00Z","until":"2022-06-12T08:00:00Z"}`,
		ContactsFile:  `{"person_id":"p2","degree":1,"source_case_person":"p1"}`,
	}
	okVisit := `{"person_id":"p1","place_id":"L1","at":"2022-06-11T08:00:00Z","until":"2022-06-11T09:00:00Z"}`
	tests := []struct {
		name, file, line string // line replaces the file's second line ("" and file persons.jsonl: see below)
		want             string
	}{
		{"bad time", VisitsFile, `{"person_id":"p1","place_id":"L1","at":"yesterday","until":"2022-06-11T09:00:00Z"}`,
			`visits.jsonl:2: at: "yesterday" is not an RFC 3339 time (e.g. 2022-06-11T08:30:00Z)`},
		{"unknown person", VisitsFile, `{"person_id":"p41","place_id":"L1","at":"2022-06-11T08:00:00Z","until":"2022-06-11T09:00:00Z"}`,
			`visits.jsonl:2: person_id: "p41" is not a person of persons.jsonl (p1 to p40)`},
		{"malformed place id", VisitsFile, `{"person_id":"p1","place_id":"1","at":"2022-06-11T08:00:00Z","until":"2022-06-11T09:00:00Z"}`,
			`visits.jsonl:2: place_id: "1" is not a place of places.jsonl (L1 to L20)`},
		{"unknown field", VisitsFile, `{"person_id":"p1","place_id":"L1","at":"2022-06-11T08:00:00Z","untill":"2022-06-11T09:00:00Z"}`,
			`visits.jsonl:2: untill: is not a known field`},
		{"missing field", VisitsFile, `{"person_id":"p1","place_id":"L1","at":"2022-06-11T08:00:00Z"}`,
			`visits.jsonl:2: until: is required`},
		{"wrong type", VisitsFile, `{"person_id":"p1","place_id":"L1","at":5,"until":"2022-06-11T09:00:00Z"}`,
			`visits.jsonl:2: at: is a JSON number, want a string`},
		{"backwards", VisitsFile, `{"person_id":"p1","place_id":"L1","at":"2022-06-11T09:00:00Z","until":"2022-06-11T08:00:00Z"}`,
			`visits.jsonl:2: until: must be after at and at most 72h later`},
		{"escaped but fine", VisitsFile, `{"person_id":"p\u0031","place_id":"L1","at":"2022-06-11T08:00:00Z","until":"2022-06-11T09:00:00Z"}`, ""},
		{"reordered but fine", VisitsFile, `{"at":"2022-06-11T08:00:00Z","until":"2022-06-11T09:00:00Z","person_id":"p1","place_id":"L1"}`, ""},
		{"not an object", VisitsFile, `hello`, `visits.jsonl:2: not a JSON object`},
		{"cut short", VisitsFile, `{"person_id":`, `visits.jsonl:2: malformed JSON: unexpected EOF`},
		{"two objects", VisitsFile, okVisit + " " + okVisit, `visits.jsonl:2: data after the JSON object`},
		{"blank line", VisitsFile, ``, `visits.jsonl:2: blank line (every line is one item; pK is line K)`},
		{"bad id number", PersonsFile, `{"id_number":"110101199001011234","name":"王五","phone":"13700137000","home_region":"440106"}`,
			`persons.jsonl:2: id_number: check character is 4, want 7`},
		{"repeated id number", PersonsFile, `{"id_number":"` + p1.IDNumber + `","name":"王五","phone":"13700137000","home_region":"440106"}`,
			`persons.jsonl:2: id_number: is the ID number of line 1 too`},
		{"bad region", PersonsFile, `{"id_number":"110101199001011237","name":"王五","phone":"13700137000","home_region":"999999"}`,
			`persons.jsonl:2: home_region: 999999 is not in the GB/T 2260 table`},
		{"bad kind", PlacesFile, `{"name":"x","kind":"spaceport","region":"440106","lat":23,"lng":113}`,
			`places.jsonl:2: kind: "spaceport" is not a place kind of the national ruleset`},
		{"no lat", PlacesFile, `{"name":"x","kind":"bar","region":"440106","lng":113}`, `places.jsonl:2: lat: is required`},
		{"bad result", ResultsFile, `{"lab":"gz-lab-01","sample_id":"X1","person_id":"p1","sampled_at":"2022-06-11T08:00:00Z","result":"maybe"}`,
			`results.jsonl:2: result: "maybe" is not positive, negative or invalid`},
		{"repeated sample", ResultsFile, strings.SplitN(readFile(t, filepath.Join(dir, ResultsFile)), "\n", 2)[0],
			`results.jsonl:2: sample_id: sample "Sgz-lab-`},
		{"bad level", RiskAreasFile, `{"region":"440106","level":"low","from":"2022-06-11T08:00:00Z","until":"2022-06-12T08:00:00Z"}`,
			`risk_areas.jsonl:2: level: "low" is not high or medium`},
		{"bad degree", ContactsFile, `{"person_id":"p3","degree":3,"source_case_person":"p1"}`,
			`truth/contacts.jsonl:2: degree: must be 1 (close) or 2 (secondary), got 3`},
		{"trip without a date", TripsFile, `{"trip":"G1234","mode":"train","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p1","carriage":"05"}]}`,
			`trips.jsonl:2: trip: must be the number and the date`},
		{"trip's mode unknown", TripsFile, `{"trip":"粤A12345 2022-06-11","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p1"}]}`,
			`trips.jsonl:2: mode: cannot tell the mode of 粤A12345: give train, flight or bus`},
		{"train without carriage", TripsFile, `{"trip":"G1234 2022-06-11","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p1","carriage":"05"},{"person_id":"p2","seat":"01A"}]}`,
			`trips.jsonl:2: passengers[1].carriage: a train passenger needs the carriage, 1 to 30`},
		{"flight row out of range", TripsFile, `{"trip":"CA1234 2022-06-11","mode":"flight","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p1","row":121}]}`,
			`trips.jsonl:2: passengers[0].row: a flight passenger needs the row, 1 to 120`},
		{"passenger not in the city", TripsFile, `{"trip":"CA1234 2022-06-11","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p41","row":3}]}`,
			`trips.jsonl:2: passengers[0].person_id: "p41" is not a person of persons.jsonl (p1 to p40)`},
		{"no passengers", TripsFile, `{"trip":"CA1234 2022-06-11","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[]}`,
			`trips.jsonl:2: passengers: give 1 to 5000 passengers, got 0`},
		{"trip backwards", TripsFile, `{"trip":"CA1234 2022-06-11","from":"2022-06-11T08:00:00Z","to":"2022-06-11T08:00:00Z","passengers":[{"person_id":"p1","row":3}]}`,
			`trips.jsonl:2: to: must be after from and at most 72h later`},
		{"passenger's unknown field", TripsFile, `{"trip":"CA1234 2022-06-11","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p1","row":3,"gate":"B12"}]}`,
			`trips.jsonl:2: gate: is not a known field`},
		{"bus, mode given", TripsFile, `{"trip":"粤a12345 2022-06-11","mode":"bus","from":"2022-06-11T08:00:00Z","to":"2022-06-11T09:00:00Z","passengers":[{"person_id":"p1","seat":"7"}]}`, ""},
		{"repeated trip", TripsFile, strings.SplitN(readFile(t, filepath.Join(dir, TripsFile)), "\n", 2)[0], `trips.jsonl:2: trip: `},
		{"infection on an unknown trip", InfectionsFile, `{"person_id":"p3","source_person_id":"p1","trip":"G1 2022-06-11","at":"2022-06-11T08:00:00Z","onset":"2022-06-13T08:00:00Z","asymptomatic":false}`,
			`truth/infections.jsonl:2: trip: "G1 2022-06-11" is not a trip of trips.jsonl`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t, dir)
			path := filepath.Join(d, filepath.FromSlash(tt.file))
			lines := strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
			if lines[0] == "" {
				lines[0] = validFirst[tt.file] // a small city may leave it empty
			}
			lines = append(lines[:1], append([]string{tt.line}, lines[min(2, len(lines)):]...)...)
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadDir(d, ReadOptions{Truth: true, Now: testEnd}, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var le *LineError
			if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want a *LineError starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
		})
	}
	t.Run("missing persons", func(t *testing.T) {
		d := copyDir(t, dir)
		os.Remove(filepath.Join(d, PersonsFile))
		if _, err := ReadDir(d, ReadOptions{}, nil); err == nil || !strings.Contains(err.Error(), PersonsFile) {
			t.Errorf("got %v, want an error naming %s", err, PersonsFile)
		}
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyDir copies a city directory into a new one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}
