package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uber/h3-go/v4"

	"healthcode/internal/health"
	"healthcode/internal/region"
)

// A city directory (written by [WriteDir], read by [ReadDir]) holds a city
// as JSON Lines in the API's own body shapes, one item a line, and its
// ground truth:
//
//	sim.json                the configuration and counts ([Manifest])
//	persons.jsonl           {"id_number","name","phone","home_region"}   (POST /api/v1/persons)
//	places.jsonl            {"name","aliases","kind","region","lat","lng"} (POST /api/v1/places)
//	visits.jsonl            {"person_id","place_id","at","until"}         (POST /api/v1/visits)
//	trips.jsonl             {"trip","mode","from","to","passengers":[{"person_id","carriage","row","seat"}]} (POST /api/v1/trips/manifest)
//	results.jsonl           {"lab","sample_id","person_id","sampled_at","result"} (POST /api/v1/labs/{lab}/results)
//	risk_areas.jsonl        {"region","level","from","until"}             (POST /api/v1/risk-areas)
//	truth/infections.jsonl  {"person_id","source_person_id","place_id","trip","at","onset","asymptomatic"}
//	truth/cases.jsonl       {"person_id","classification","onset","first_positive","site","isolated_at","infectious_from","infectious_until"}
//	truth/contacts.jsonl    {"person_id","degree","source_case_person","first_exposure"}
//
// Ids are references inside the directory: person_id "pK" is line K of
// persons.jsonl and place_id "LK" line K of places.jsonl (both from 1).
// The node assigns its own ids when the directory is loaded (import maps
// them), and they are the same only on a new node loading persons and
// places in file order. A visit names its place by place_id because the
// signed place_code exists only once the node has registered the place; a
// result carries its lab, which the API takes from the path. A trip is one
// carrier's passenger list, named by its "trip" (number and date), which an
// infection on board names too. Times are RFC 3339 in UTC, whole seconds.

// File names of a city directory.
const (
	ManifestFile   = "sim.json"
	PersonsFile    = "persons.jsonl"
	PlacesFile     = "places.jsonl"
	VisitsFile     = "visits.jsonl"
	TripsFile      = "trips.jsonl"
	ResultsFile    = "results.jsonl"
	RiskAreasFile  = "risk_areas.jsonl"
	InfectionsFile = "truth/infections.jsonl"
	CasesFile      = "truth/cases.jsonl"
	ContactsFile   = "truth/contacts.jsonl"
)

const truthPhase = "truth/"

// FormatVersion is the Format of the manifests WriteDir writes.
const FormatVersion = "healthcode-sim/1"

// CaseSite is the isolation site of the cases (their ids start with it).
const CaseSite = "GZ01"

// Manifest is sim.json: how the directory was made and what it holds.
type Manifest struct {
	Format  string `json:"format"`
	Persons int    `json:"persons"`
	Days    int    `json:"days"`
	Seed    int64  `json:"seed"`
	City    string `json:"city"`
	// End is the end of the simulated period (the start of a day, CST).
	End    time.Time      `json:"end"`
	Counts map[string]int `json:"counts"`
}

// Truth is the ground truth of tracing for a city.
type Truth struct {
	Cases    []Case
	Contacts []Contact
}

// PeriodEnd returns the end of the period a Config simulates: the start
// (CST) of End's day.
func PeriodEnd(cfg Config) time.Time { return health.StartOfDay(cfg.End) }

// ComputeTruth returns the cases of the city (isolation capped at the end of
// its period) and their close and secondary contacts (see [Cases] and
// [Contacts]). It returns their errors.
func ComputeTruth(c *City) (*Truth, error) {
	cases, err := Cases(c.Results, c.Infections, PeriodEnd(c.Config))
	if err != nil {
		return nil, err
	}
	contacts, err := Contacts(c, cases)
	if err != nil {
		return nil, err
	}
	return &Truth{Cases: cases, Contacts: contacts}, nil
}

// WriteDir writes the city and its truth into dir, which must be new or
// empty, reporting progress in lines by file (phases named after the files,
// one phase "truth/" for the truth; progress may be nil). The same city and
// truth give the same bytes. It returns an error if dir is not empty or a
// file cannot be written.
func WriteDir(dir string, c *City, tr *Truth, progress Progress) error {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("sim: %s is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sim: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "truth"), 0o755); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	pid := func(p int) string { return "p" + strconv.Itoa(p+1) }
	lid := func(p int) string { return "L" + strconv.Itoa(p+1) }
	files := []struct {
		name, phase string
		n           int
		line        func(b []byte, i int) []byte
	}{
		{PersonsFile, PersonsFile, len(c.Persons), func(b []byte, i int) []byte {
			p := &c.Persons[i]
			b = append(b, `{"id_number":`...)
			b = appendJSONString(b, p.IDNumber)
			b = append(b, `,"name":`...)
			b = appendJSONString(b, p.Name)
			b = append(b, `,"phone":`...)
			b = appendJSONString(b, p.Phone)
			b = append(b, `,"home_region":`...)
			b = appendJSONString(b, p.HomeRegion)
			return append(b, '}')
		}},
		{PlacesFile, PlacesFile, len(c.Places), func(b []byte, i int) []byte {
			p := &c.Places[i]
			b = append(b, `{"name":`...)
			b = appendJSONString(b, p.Name)
			if len(p.Aliases) > 0 {
				b = append(b, `,"aliases":[`...)
				for j, a := range p.Aliases {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendJSONString(b, a)
				}
				b = append(b, ']')
			}
			b = append(b, `,"kind":`...)
			b = appendJSONString(b, p.Kind)
			b = append(b, `,"region":`...)
			b = appendJSONString(b, p.Region)
			b = append(b, `,"lat":`...)
			b = strconv.AppendFloat(b, p.Lat, 'f', -1, 64)
			b = append(b, `,"lng":`...)
			b = strconv.AppendFloat(b, p.Lng, 'f', -1, 64)
			return append(b, '}')
		}},
		{VisitsFile, VisitsFile, len(c.Visits), func(b []byte, i int) []byte {
			v := &c.Visits[i]
			b = append(b, `{"person_id":"`...)
			b = append(b, pid(v.Person)...)
			b = append(b, `","place_id":"`...)
			b = append(b, lid(v.Place)...)
			b = append(b, `","at":`...)
			b = appendTime(b, v.At)
			b = append(b, `,"until":`...)
			b = appendTime(b, v.Until)
			return append(b, '}')
		}},
		{TripsFile, TripsFile, len(c.Trips), func(b []byte, i int) []byte {
			t := &c.Trips[i]
			b = append(b, `{"trip":`...)
			b = appendJSONString(b, t.Trip)
			b = append(b, `,"mode":`...)
			b = appendJSONString(b, t.Mode)
			b = append(b, `,"from":`...)
			b = appendTime(b, t.From)
			b = append(b, `,"to":`...)
			b = appendTime(b, t.To)
			b = append(b, `,"passengers":[`...)
			for j, p := range t.Passengers {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"person_id":"`...)
				b = append(b, pid(p.Person)...)
				b = append(b, '"')
				if p.Carriage > 0 {
					b = append(b, `,"carriage":"`...)
					b = append(b, fmt.Sprintf("%02d", p.Carriage)...)
					b = append(b, '"')
				}
				if p.Row > 0 {
					b = append(b, `,"row":`...)
					b = strconv.AppendInt(b, int64(p.Row), 10)
				}
				if p.Seat != "" {
					b = append(b, `,"seat":`...)
					b = appendJSONString(b, p.Seat)
				}
				b = append(b, '}')
			}
			return append(b, "]}"...)
		}},
		{ResultsFile, ResultsFile, len(c.Results), func(b []byte, i int) []byte {
			r := &c.Results[i]
			b = append(b, `{"lab":`...)
			b = appendJSONString(b, r.Lab)
			b = append(b, `,"sample_id":`...)
			b = appendJSONString(b, r.SampleID)
			b = append(b, `,"person_id":"`...)
			b = append(b, pid(r.Person)...)
			b = append(b, `","sampled_at":`...)
			b = appendTime(b, r.SampledAt)
			b = append(b, `,"result":`...)
			b = appendJSONString(b, r.Result)
			return append(b, '}')
		}},
		{RiskAreasFile, RiskAreasFile, len(c.RiskAreas), func(b []byte, i int) []byte {
			a := &c.RiskAreas[i]
			b = append(b, `{"region":`...)
			b = appendJSONString(b, a.Region)
			b = append(b, `,"level":`...)
			b = appendJSONString(b, a.Level)
			b = append(b, `,"from":`...)
			b = appendTime(b, a.From)
			b = append(b, `,"until":`...)
			b = appendTime(b, a.Until)
			return append(b, '}')
		}},
		{InfectionsFile, truthPhase, len(c.Infections), func(b []byte, i int) []byte {
			in := &c.Infections[i]
			b = append(b, `{"person_id":"`...)
			b = append(b, pid(in.Person)...)
			b = append(b, '"')
			if in.Source >= 0 {
				b = append(b, `,"source_person_id":"`...)
				b = append(b, pid(in.Source)...)
				b = append(b, '"')
			}
			if in.Place >= 0 {
				b = append(b, `,"place_id":"`...)
				b = append(b, lid(in.Place)...)
				b = append(b, '"')
			}
			if in.Trip != "" {
				b = append(b, `,"trip":`...)
				b = appendJSONString(b, in.Trip)
			}
			b = append(b, `,"at":`...)
			b = appendTime(b, in.At)
			b = append(b, `,"onset":`...)
			b = appendTime(b, in.Onset)
			b = append(b, `,"asymptomatic":`...)
			b = strconv.AppendBool(b, in.Asymptomatic)
			return append(b, '}')
		}},
		{CasesFile, truthPhase, len(tr.Cases), func(b []byte, i int) []byte {
			cs := &tr.Cases[i]
			b = append(b, `{"person_id":"`...)
			b = append(b, pid(cs.Person)...)
			b = append(b, `","classification":`...)
			b = appendJSONString(b, cs.Classification)
			if !cs.Onset.IsZero() {
				b = append(b, `,"onset":`...)
				b = appendTime(b, cs.Onset)
			}
			b = append(b, `,"first_positive":`...)
			b = appendTime(b, cs.FirstPositive)
			b = append(b, `,"site":"`+CaseSite+`","isolated_at":`...)
			b = appendTime(b, cs.IsolatedAt)
			b = append(b, `,"infectious_from":`...)
			b = appendTime(b, cs.From)
			b = append(b, `,"infectious_until":`...)
			b = appendTime(b, cs.Until)
			return append(b, '}')
		}},
		{ContactsFile, truthPhase, len(tr.Contacts), func(b []byte, i int) []byte {
			ct := &tr.Contacts[i]
			b = append(b, `{"person_id":"`...)
			b = append(b, pid(ct.Person)...)
			b = append(b, `","degree":`...)
			b = strconv.AppendInt(b, int64(ct.Degree), 10)
			b = append(b, `,"source_case_person":"`...)
			b = append(b, pid(ct.SourceCase)...)
			b = append(b, `","first_exposure":`...)
			b = appendTime(b, ct.First)
			return append(b, '}')
		}},
	}
	truthTotal := len(c.Infections) + len(tr.Cases) + len(tr.Contacts)
	truthDone := 0
	for _, f := range files {
		total := f.n
		if f.phase == truthPhase {
			total = truthTotal
		}
		if f.phase != truthPhase || truthDone == 0 {
			progress(f.phase, 0, total)
		}
		err := writeLines(filepath.Join(dir, f.name), f.n, f.line, func(done int) {
			if f.phase == truthPhase {
				done += truthDone
			}
			progress(f.phase, done, total)
		})
		if err != nil {
			return err
		}
		if f.phase == truthPhase {
			truthDone += f.n
		}
	}
	m := Manifest{Format: FormatVersion, Persons: c.Config.Persons, Days: c.Config.Days, Seed: c.Config.Seed, City: c.Config.City,
		End: PeriodEnd(c.Config).UTC(), Counts: map[string]int{"persons": len(c.Persons), "places": len(c.Places), "visits": len(c.Visits),
			"trips": len(c.Trips), "passengers": 0, "results": len(c.Results), "risk_areas": len(c.RiskAreas), "infections": len(c.Infections),
			"cases": len(tr.Cases)}}
	for _, t := range c.Trips {
		m.Counts["passengers"] += len(t.Passengers)
	}
	for _, ct := range tr.Contacts {
		if ct.Degree == 1 {
			m.Counts["close_contacts"]++
		} else {
			m.Counts["secondary_contacts"]++
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

// writeLines writes n lines made by line to path, calling done every few
// thousand lines and at the end.
func writeLines(path string, n int, line func(b []byte, i int) []byte, done func(int)) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var b []byte
	for i := range n {
		b = append(line(b[:0], i), '\n')
		if _, err := w.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("sim: writing %s: %w", path, err)
		}
		if i%4096 == 4095 {
			done(i + 1)
		}
	}
	done(n)
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("sim: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sim: writing %s: %w", path, err)
	}
	return nil
}

// LineError is a malformed line of a city directory.
type LineError struct {
	File  string // relative to the directory, e.g. "visits.jsonl"
	Line  int    // from 1
	Field string // the JSON field at fault, "" for the whole line
	Msg   string
}

// Error returns "visits.jsonl:12: at: "x" is not an RFC 3339 time".
func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// ReadOptions choose what [ReadDir] reads and how it checks it.
type ReadOptions struct {
	SkipVisits bool // leave visits.jsonl unread (City.Visits empty)
	Truth      bool // read truth/ too (required then)
	// Now is the time ID numbers' birth dates must not be after; zero: not
	// checked.
	Now time.Time
	// Regions validates region codes; nil: region.Default().
	Regions *region.Table
}

// Dir is a city directory as read.
type Dir struct {
	Manifest Manifest // zero if sim.json is absent
	City     *City    // Config from the manifest; Infections from truth/
	Truth    *Truth   // nil unless ReadOptions.Truth
}

var (
	fileLabRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	fileSampleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$`)
)

// ReadDir reads and checks a city directory (see [WriteDir] for its
// layout), reporting progress by file in bytes (phases named after the
// files; progress may be nil). persons.jsonl and places.jsonl are required,
// the other data files may be absent (empty), truth/ is read only if asked.
// trips.jsonl is read even with SkipVisits (infections name its trips).
//
// A malformed line stops it with a *[LineError] naming the file, line and
// field: bad JSON, an unknown or missing field, a malformed time, id number,
// region, kind, result, trip number, mode, carriage or row, a reference to a
// person, place or trip not in the directory, a repeated ID number, sample
// id or trip. Other errors are I/O errors.
func ReadDir(dir string, opt ReadOptions, progress Progress) (*Dir, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	if opt.Regions == nil {
		var err error
		if opt.Regions, err = region.Default(); err != nil {
			return nil, err
		}
	}
	rs, err := nationalRuleset()
	if err != nil {
		return nil, fmt.Errorf("sim: national ruleset: %w", err)
	}
	d := &Dir{City: &City{}}
	if b, err := os.ReadFile(filepath.Join(dir, ManifestFile)); err == nil {
		if err := json.Unmarshal(b, &d.Manifest); err != nil {
			return nil, &LineError{File: ManifestFile, Line: 1, Msg: "not a manifest: " + err.Error()}
		}
		m := d.Manifest
		d.City.Config = Config{Persons: m.Persons, Days: m.Days, Seed: m.Seed, City: m.City, End: m.End}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sim: %w", err)
	}
	c := d.City
	r := &reader{dir: dir, progress: progress, opt: opt}

	idLine := map[string]int{}
	err = r.file(PersonsFile, true, func(l *line) {
		var v struct {
			IDNumber   *string `json:"id_number"`
			Name       *string `json:"name"`
			Phone      *string `json:"phone"`
			HomeRegion *string `json:"home_region"`
		}
		if !l.decode(&v) {
			return
		}
		id := l.str("id_number", v.IDNumber)
		name, phone, home := l.str("name", v.Name), l.str("phone", v.Phone), l.str("home_region", v.HomeRegion)
		if l.err != nil {
			return
		}
		now := opt.Now
		if now.IsZero() {
			now = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		norm, err := health.ValidateIDNumber("id_number", id, now)
		if err != nil {
			l.fail(err)
			return
		}
		if prev, dup := idLine[norm]; dup {
			l.failf("id_number", "is the ID number of line %d too", prev)
			return
		}
		idLine[norm] = l.n
		if strings.TrimSpace(name) == "" {
			l.failf("name", "is empty")
			return
		}
		if err := opt.Regions.Validate(home); err != nil {
			l.failf("home_region", "%s", strings.TrimPrefix(err.Error(), "region: "))
			return
		}
		c.Persons = append(c.Persons, Person{IDNumber: id, Name: name, Phone: phone, HomeRegion: home, Household: -1, Work: -1})
	})
	if err != nil {
		return nil, err
	}
	err = r.file(PlacesFile, true, func(l *line) {
		var v struct {
			Name    *string  `json:"name"`
			Aliases []string `json:"aliases"`
			Kind    *string  `json:"kind"`
			Region  *string  `json:"region"`
			Lat     *float64 `json:"lat"`
			Lng     *float64 `json:"lng"`
		}
		if !l.decode(&v) {
			return
		}
		name, kind, reg := l.str("name", v.Name), l.str("kind", v.Kind), l.str("region", v.Region)
		lat, lng := l.num("lat", v.Lat), l.num("lng", v.Lng)
		if l.err != nil {
			return
		}
		if strings.TrimSpace(name) == "" {
			l.failf("name", "is empty")
			return
		}
		if _, ok := rs.PlaceKinds[kind]; !ok {
			l.failf("kind", "%q is not a place kind of the national ruleset", kind)
			return
		}
		if err := opt.Regions.Validate(reg); err != nil {
			l.failf("region", "%s", strings.TrimPrefix(err.Error(), "region: "))
			return
		}
		if lat < 3 || lat > 54 {
			l.failf("lat", "%v is outside China (3 to 54)", lat)
			return
		}
		if lng < 73 || lng > 136 {
			l.failf("lng", "%v is outside China (73 to 136)", lng)
			return
		}
		// The files carry the API's body (no cell): a venue is at its cell's centre.
		c.Places = append(c.Places, Place{Name: name, Aliases: v.Aliases, Kind: kind, Region: reg, Lat: lat, Lng: lng,
			Cell: h3.LatLngToCell(h3.NewLatLng(lat, lng), VenueRes)})
	})
	if err != nil {
		return nil, err
	}
	if !opt.SkipVisits {
		if n := d.Manifest.Counts["visits"]; n > 0 && n <= 1<<28 {
			c.Visits = make([]Visit, 0, n)
		}
		var vals []string
		err = r.file(VisitsFile, false, func(l *line) {
			var v struct {
				PersonID *string `json:"person_id"`
				PlaceID  *string `json:"place_id"`
				At       *string `json:"at"`
				Until    *string `json:"until"`
			}
			if f, ok := l.flat(vals[:0], visitKeys); ok {
				vals = f
				v.PersonID, v.PlaceID, v.At, v.Until = &f[0], &f[1], &f[2], &f[3]
			} else if !l.decode(&v) {
				return
			}
			p, pl := l.person("person_id", v.PersonID, len(c.Persons)), l.place("place_id", v.PlaceID, len(c.Places))
			at, until := l.time("at", v.At), l.time("until", v.Until)
			if l.err != nil {
				return
			}
			if !until.After(at) || until.Sub(at) > 72*time.Hour {
				l.failf("until", "must be after at and at most 72h later")
				return
			}
			c.Visits = append(c.Visits, Visit{Person: p, Place: pl, At: at, Until: until})
		})
		if err != nil {
			return nil, err
		}
	}
	tripLine := map[string]int{}
	err = r.file(TripsFile, false, func(l *line) {
		var v struct {
			Trip       *string `json:"trip"`
			Mode       string  `json:"mode"`
			From       *string `json:"from"`
			To         *string `json:"to"`
			Passengers []struct {
				PersonID *string `json:"person_id"`
				Carriage string  `json:"carriage"`
				Row      int     `json:"row"`
				Seat     string  `json:"seat"`
			} `json:"passengers"`
		}
		if !l.decode(&v) {
			return
		}
		t := Trip{Trip: l.str("trip", v.Trip), Mode: v.Mode, From: l.time("from", v.From), To: l.time("to", v.To)}
		if l.err != nil {
			return
		}
		t.Trip, t.Mode = tripID(l, t.Trip, t.Mode)
		switch {
		case l.err != nil:
			return
		case !t.To.After(t.From) || t.To.Sub(t.From) > 72*time.Hour:
			l.failf("to", "must be after from and at most 72h later")
		case len(v.Passengers) == 0 || len(v.Passengers) > 5000:
			l.failf("passengers", "give 1 to 5000 passengers, got %d", len(v.Passengers))
		}
		if prev, dup := tripLine[t.Trip]; dup && l.err == nil {
			l.failf("trip", "%s is on line %d too", t.Trip, prev)
		}
		for i, p := range v.Passengers {
			if l.err != nil {
				return
			}
			f := fmt.Sprintf("passengers[%d].", i)
			ps := Passenger{Person: l.person(f+"person_id", p.PersonID, len(c.Persons)), Seat: p.Seat}
			switch t.Mode {
			case ModeTrain:
				k, err := strconv.Atoi(strings.TrimSpace(p.Carriage))
				if err != nil || k < 1 || k > 30 {
					l.failf(f+"carriage", "a train passenger needs the carriage, 1 to 30")
				}
				ps.Carriage = k
			case ModeFlight:
				if p.Row < 1 || p.Row > 120 {
					l.failf(f+"row", "a flight passenger needs the row, 1 to 120")
				}
				ps.Row = p.Row
			}
			if utf8.RuneCountInString(p.Seat) > 8 {
				l.failf(f+"seat", "must be at most 8 characters")
			}
			t.Passengers = append(t.Passengers, ps)
		}
		if l.err == nil {
			tripLine[t.Trip] = l.n
			c.Trips = append(c.Trips, t)
		}
	})
	if err != nil {
		return nil, err
	}
	type sampleKey struct{ lab, sample string }
	sampleLine := map[sampleKey]int{}
	err = r.file(ResultsFile, false, func(l *line) {
		var v struct {
			Lab       *string `json:"lab"`
			SampleID  *string `json:"sample_id"`
			PersonID  *string `json:"person_id"`
			SampledAt *string `json:"sampled_at"`
			Result    *string `json:"result"`
		}
		if !l.decode(&v) {
			return
		}
		lab, sample := l.str("lab", v.Lab), l.str("sample_id", v.SampleID)
		p := l.person("person_id", v.PersonID, len(c.Persons))
		at := l.time("sampled_at", v.SampledAt)
		res := l.str("result", v.Result)
		if l.err != nil {
			return
		}
		switch {
		case !fileLabRE.MatchString(lab):
			l.failf("lab", "%q is not a lab id (letters, digits, _ . -, at most 64)", lab)
		case !fileSampleRE.MatchString(sample):
			l.failf("sample_id", "%q is not a sample id", sample)
		case res != "positive" && res != "negative" && res != "invalid":
			l.failf("result", "%q is not positive, negative or invalid", res)
		}
		if l.err != nil {
			return
		}
		k := sampleKey{lab, sample}
		if prev, dup := sampleLine[k]; dup {
			l.failf("sample_id", "sample %q of lab %s is on line %d too", sample, lab, prev)
			return
		}
		sampleLine[k] = l.n
		c.Results = append(c.Results, Result{Lab: lab, SampleID: sample, Person: p, SampledAt: at, Result: res})
	})
	if err != nil {
		return nil, err
	}
	err = r.file(RiskAreasFile, false, func(l *line) {
		var v struct {
			Region *string `json:"region"`
			Level  *string `json:"level"`
			From   *string `json:"from"`
			Until  *string `json:"until"`
		}
		if !l.decode(&v) {
			return
		}
		reg, level := l.str("region", v.Region), l.str("level", v.Level)
		from, until := l.time("from", v.From), l.time("until", v.Until)
		if l.err != nil {
			return
		}
		switch {
		case opt.Regions.Validate(reg) != nil:
			l.failf("region", "%s", strings.TrimPrefix(opt.Regions.Validate(reg).Error(), "region: "))
		case level != "high" && level != "medium":
			l.failf("level", "%q is not high or medium", level)
		case !until.After(from):
			l.failf("until", "must be after from")
		}
		if l.err != nil {
			return
		}
		c.RiskAreas = append(c.RiskAreas, RiskArea{Region: reg, Level: level, From: from, Until: until, DeclareAt: from})
	})
	if err != nil {
		return nil, err
	}
	if !opt.Truth {
		return d, nil
	}
	if err := r.truth(d); err != nil {
		return nil, err
	}
	return d, nil
}

// truth reads truth/.
func (r *reader) truth(d *Dir) error {
	c := d.City
	np, npl := len(c.Persons), len(c.Places)
	trips := make(map[string]bool, len(c.Trips))
	for _, t := range c.Trips {
		trips[t.Trip] = true
	}
	err := r.file(InfectionsFile, true, func(l *line) {
		var v struct {
			PersonID     *string `json:"person_id"`
			Source       *string `json:"source_person_id"`
			PlaceID      *string `json:"place_id"`
			Trip         *string `json:"trip"`
			At           *string `json:"at"`
			Onset        *string `json:"onset"`
			Asymptomatic *bool   `json:"asymptomatic"`
		}
		if !l.decode(&v) {
			return
		}
		in := Infection{Person: l.person("person_id", v.PersonID, np), Source: -1, Place: -1,
			At: l.time("at", v.At), Onset: l.time("onset", v.Onset)}
		if v.Source != nil {
			in.Source = l.person("source_person_id", v.Source, np)
		}
		if v.PlaceID != nil {
			in.Place = l.place("place_id", v.PlaceID, npl)
		}
		if v.Trip != nil {
			if !trips[*v.Trip] {
				l.failf("trip", "%q is not a trip of %s", *v.Trip, TripsFile)
			}
			in.Trip = *v.Trip
		}
		if v.Asymptomatic == nil {
			l.failf("asymptomatic", "is required")
		} else {
			in.Asymptomatic = *v.Asymptomatic
		}
		if l.err == nil {
			c.Infections = append(c.Infections, in)
		}
	})
	if err != nil {
		return err
	}
	d.Truth = &Truth{}
	err = r.file(CasesFile, true, func(l *line) {
		var v struct {
			PersonID       *string `json:"person_id"`
			Classification *string `json:"classification"`
			Onset          *string `json:"onset"`
			FirstPositive  *string `json:"first_positive"`
			Site           *string `json:"site"`
			IsolatedAt     *string `json:"isolated_at"`
			From           *string `json:"infectious_from"`
			Until          *string `json:"infectious_until"`
		}
		if !l.decode(&v) {
			return
		}
		cs := Case{Person: l.person("person_id", v.PersonID, np), Classification: l.str("classification", v.Classification),
			FirstPositive: l.time("first_positive", v.FirstPositive), IsolatedAt: l.time("isolated_at", v.IsolatedAt),
			From: l.time("infectious_from", v.From), Until: l.time("infectious_until", v.Until)}
		l.str("site", v.Site)
		switch {
		case l.err != nil:
		case cs.Classification == Confirmed:
			cs.Onset = l.time("onset", v.Onset)
		case cs.Classification != Asymptomatic:
			l.failf("classification", "%q is not confirmed or asymptomatic", cs.Classification)
		}
		if l.err == nil {
			d.Truth.Cases = append(d.Truth.Cases, cs)
		}
	})
	if err != nil {
		return err
	}
	return r.file(ContactsFile, true, func(l *line) {
		var v struct {
			PersonID *string `json:"person_id"`
			Degree   *int    `json:"degree"`
			Source   *string `json:"source_case_person"`
			First    *string `json:"first_exposure"`
		}
		if !l.decode(&v) {
			return
		}
		ct := Contact{Person: l.person("person_id", v.PersonID, np), SourceCase: l.person("source_case_person", v.Source, np)}
		if v.First != nil {
			ct.First = l.time("first_exposure", v.First)
		}
		switch {
		case v.Degree == nil:
			l.failf("degree", "is required")
		case *v.Degree != 1 && *v.Degree != 2:
			l.failf("degree", "must be 1 (close) or 2 (secondary), got %d", *v.Degree)
		default:
			ct.Degree = *v.Degree
		}
		if l.err == nil {
			d.Truth.Contacts = append(d.Truth.Contacts, ct)
		}
	})
}

// reader reads the files of a directory.
type reader struct {
	dir      string
	progress Progress
	opt      ReadOptions
}

// file calls fn for every line of the file (required: it must exist),
// stopping at a blank line or the first line fn fails.
func (r *reader) file(name string, required bool, fn func(l *line)) error {
	f, err := os.Open(filepath.Join(r.dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	defer f.Close()
	var size int
	if st, err := f.Stat(); err == nil {
		size = int(st.Size())
	}
	r.progress(name, 0, size)
	br := bufio.NewReaderSize(f, 1<<20)
	l := &line{file: name}
	read := 0
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return &LineError{File: name, Line: l.n + 1, Msg: "line longer than 1 MiB"}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("sim: reading %s: %w", name, err)
		}
		if len(b) > 0 {
			read += len(b)
			l.n++
			t := bytes.TrimSpace(b)
			if len(t) == 0 {
				return &LineError{File: name, Line: l.n, Msg: "blank line (every line is one item; pK is line K)"}
			}
			l.text, l.err = t, nil
			fn(l)
			if l.err != nil {
				return l.err
			}
			if l.n%8192 == 0 {
				r.progress(name, read, size)
			}
		}
		if err != nil { // io.EOF
			r.progress(name, read, max(read, size))
			return nil
		}
	}
}

// line is the line being read; the first error sticks.
type line struct {
	file string
	n    int
	text []byte
	err  *LineError
}

func (l *line) failf(field, format string, args ...any) {
	if l.err == nil {
		l.err = &LineError{File: l.file, Line: l.n, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
}

// fail records err, taking the field from a *health.Error.
func (l *line) fail(err error) {
	var he *health.Error
	if errors.As(err, &he) {
		l.failf(he.Field, "%s", he.Message)
		return
	}
	l.failf("", "%v", err)
}

// visitKeys are the fields of a visit line, in the order WriteDir writes them.
var visitKeys = []string{"person_id", "place_id", "at", "until"}

// flat is a fast path for the lines WriteDir writes: if the line is exactly
// {"k1":"v1","k2":"v2",...} with keys in that order, no escapes and valid
// UTF-8, it returns the values (appended to vals). Any other line is for
// decode.
func (l *line) flat(vals []string, keys []string) ([]string, bool) {
	t := l.text
	if !utf8.Valid(t) {
		return nil, false
	}
	for i, k := range keys {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		if len(t) < len(k)+4 || t[0] != sep || t[1] != '"' || string(t[2:2+len(k)]) != k || t[2+len(k)] != '"' || t[3+len(k)] != ':' {
			return nil, false
		}
		t = t[4+len(k):]
		if len(t) < 2 || t[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(t[1:], '"')
		if end < 0 || bytes.IndexByte(t[1:1+end], '\\') >= 0 {
			return nil, false
		}
		vals = append(vals, string(t[1:1+end]))
		t = t[2+end:]
	}
	if len(t) != 1 || t[0] != '}' {
		return nil, false
	}
	return vals, true
}

// decode decodes the line into v, refusing unknown fields and trailing data.
func (l *line) decode(v any) bool {
	if l.text[0] != '{' {
		l.failf("", "not a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(l.text))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil && dec.InputOffset() != int64(len(l.text)):
		l.failf("", "data after the JSON object")
	case err == nil:
		return true
	case errors.As(err, &te):
		l.failf(te.Field, "is a JSON %s, want a %s", te.Value, jsonType(te.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		l.failf(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field")
	default:
		l.failf("", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return false
}

func jsonType(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "string"
	case "float64", "int":
		return "number"
	case "bool":
		return "boolean"
	case "[]string":
		return "list of strings"
	}
	return goType
}

func (l *line) str(field string, s *string) string {
	if s == nil {
		l.failf(field, "is required")
		return ""
	}
	return *s
}

func (l *line) num(field string, x *float64) float64 {
	if x == nil {
		l.failf(field, "is required")
		return 0
	}
	return *x
}

func (l *line) time(field string, s *string) time.Time {
	v := l.str(field, s)
	if l.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		l.failf(field, "%q is not an RFC 3339 time (e.g. 2022-06-11T08:30:00Z)", v)
	}
	return t.UTC()
}

// Trip numbers by mode, as the node tells them apart (internal/node
// transport.go).
var (
	trainNoRE  = regexp.MustCompile(`^[GDCZTKLYS][0-9]{1,4}$`)
	flightNoRE = regexp.MustCompile(`^[A-Z0-9]{2}[0-9]{2,4}$`)
	tripNoRE   = regexp.MustCompile(`^[\p{Han}A-Z0-9]{2,12}$`)
)

// tripID checks a trip ("G1234 2022-06-10") and its mode as the API does:
// the number (upper-cased) and the date, the mode given or told from the
// number. It returns them normalised.
func tripID(l *line, id, mode string) (string, string) {
	number, date, ok := strings.Cut(strings.TrimSpace(id), " ")
	number = strings.ToUpper(number)
	if !ok || !tripNoRE.MatchString(number) {
		l.failf("trip", "must be the number and the date, e.g. \"G1234 2022-06-10\", got %q", id)
		return "", ""
	}
	d, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(date), health.CST)
	if err != nil {
		l.failf("trip", "%q is not a date (YYYY-MM-DD) after the number", date)
		return "", ""
	}
	switch {
	case mode == ModeTrain || mode == ModeFlight || mode == ModeBus:
	case mode != "":
		l.failf("mode", "%q is not one of train, flight, bus", mode)
	case trainNoRE.MatchString(number):
		mode = ModeTrain
	case flightNoRE.MatchString(number):
		mode = ModeFlight
	default:
		l.failf("mode", "cannot tell the mode of %s: give train, flight or bus", number)
	}
	return number + " " + d.Format(time.DateOnly), mode
}

// person resolves a person reference "pK" to index K-1 (< n).
func (l *line) person(field string, s *string, n int) int {
	v := l.str(field, s)
	if l.err != nil {
		return -1
	}
	k, ok := health.ParsePersonID(v)
	if !ok || int(k) > n {
		l.failf(field, "%q is not a person of %s (p1 to p%d)", v, PersonsFile, n)
		return -1
	}
	return int(k) - 1
}

// place resolves a place reference "LK" to index K-1 (< n).
func (l *line) place(field string, s *string, n int) int {
	v := l.str(field, s)
	if l.err != nil {
		return -1
	}
	k, ok := health.ParsePlaceID(v)
	if !ok || int(k) > n {
		l.failf(field, "%q is not a place of %s (L1 to L%d)", v, PlacesFile, n)
		return -1
	}
	return int(k) - 1
}
