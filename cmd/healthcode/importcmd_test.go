package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"healthcode/internal/sim"
)

// TestImportTrips: sim --out writes the city's trips as carriers' passenger
// lists (trips.jsonl, byte for byte the same for the same seed), import
// sends them to the node (POST /api/v1/trips/manifest), and the node's
// tracing finds the contacts that only the trips make: precision and recall
// 1 against a truth that would differ without them.
func TestImportTrips(t *testing.T) {
	tmp := t.TempDir()
	write := func(name string) string {
		dir := filepath.Join(tmp, name)
		// Seed 7: a case and close contacts on the same trips.
		if _, err := runCmd(t, "sim", "--persons", "2000", "--days", "5", "--seed", "7", "--end", "2022-06-13", "--out", dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir, again := write("city"), write("again")
	for _, f := range []string{sim.ManifestFile, sim.PersonsFile, sim.PlacesFile, sim.VisitsFile, sim.TripsFile, sim.ResultsFile,
		sim.RiskAreasFile, sim.InfectionsFile, sim.CasesFile, sim.ContactsFile} {
		if !bytes.Equal(readBytes(t, dir, f), readBytes(t, again, f)) {
			t.Errorf("%s: the same seed gave different files", f)
		}
	}

	d, err := sim.ReadDir(dir, sim.ReadOptions{Truth: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]int{}
	sections := map[string]bool{}
	for _, tr := range d.City.Trips {
		modes[tr.Mode]++
		for _, p := range tr.Passengers {
			sections[fmt.Sprint(tr.Trip, "|", p.Carriage, "|", p.Row)] = true
		}
	}
	if modes[sim.ModeTrain] == 0 || modes[sim.ModeFlight] == 0 || modes[sim.ModeBus] == 0 {
		t.Fatalf("trips by mode %v, want all three", modes)
	}
	// The test is worth something only if the trips make contacts.
	noTrips := *d.City
	noTrips.Trips = nil
	without, err := sim.Contacts(&noTrips, d.Truth.Cases)
	if err != nil {
		t.Fatal(err)
	}
	if degrees(without) == degrees(d.Truth.Contacts) {
		t.Fatalf("the trips make no close contact (%v with and without them): pick another seed", degrees(without))
	}

	base, st := startTestNode(t)
	out, err := runCmd(t, st.args("import", dir, "--target", base)...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	m := readManifest(t, dir)
	for _, want := range []string{
		fmt.Sprintf("%d trips (%d passengers)", m.Counts["trips"], m.Counts["passengers"]),
		fmt.Sprintf("trips: %d passenger lists, %d passengers recorded", m.Counts["trips"], m.Counts["passengers"]),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	// Each section of a trip is a place on the node now.
	client := &sim.Client{Base: base, Token: st.Token}
	var places struct {
		Places []struct{ Kind string } `json:"places"`
	}
	if err := client.Do(context.Background(), http.MethodGet, "/api/v1/places?limit=1000", nil, &places); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range places.Places {
		if p.Kind == sim.ModeTrain || p.Kind == sim.ModeFlight || p.Kind == sim.ModeBus {
			n++
		}
	}
	if n != len(sections) {
		t.Errorf("the node has %d trip sections, want the %d of %s", n, len(sections), sim.TripsFile)
	}

	out, err = runCmd(t, st.args("sim", "--check", "--target", base, "--truth", dir, "--json")...)
	if err != nil {
		t.Fatalf("sim --check: %v\n%s", err, out)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		s    score
	}{{"close", rep.Close}, {"secondary", rep.Secondary}} {
		if s.s.Precision != 1 || s.s.Recall != 1 || s.s.Truth == 0 {
			t.Errorf("%s contacts: got precision %v, recall %v of %d (missed %v, extra %v), want 1 and 1",
				s.name, s.s.Precision, s.s.Recall, s.s.Truth, s.s.Missed, s.s.Extra)
		}
	}
}

// degrees counts contacts by degree.
func degrees(cs []sim.Contact) [3]int {
	var n [3]int
	for _, c := range cs {
		n[c.Degree]++
	}
	return n
}

// TestImportMalformedTrip: a malformed passenger list stops import before
// it sends anything (the target does not even listen).
func TestImportMalformedTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "city")
	if _, err := runCmd(t, "sim", "--persons", "300", "--days", "2", "--seed", "1", "--end", "2022-06-13", "--out", dir); err != nil {
		t.Fatal(err)
	}
	line := `{"trip":"G1234 2022-06-11","mode":"train","from":"2022-06-11T08:00:00Z","to":"2022-06-11T10:00:00Z","passengers":[{"person_id":"p1","seat":"01A"}]}`
	if err := os.WriteFile(filepath.Join(dir, sim.TripsFile), []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runCmd(t, "import", dir, "--target", "http://127.0.0.1:1", "--token", "t")
	want := "trips.jsonl:1: passengers[0].carriage: a train passenger needs the carriage, 1 to 30"
	if err == nil || err.Error() != want {
		t.Fatalf("import: got %v, want %q", err, want)
	}
}
