package health

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeContains treats region codes as a prefix tree: "110000" (a province)
// contains "1101xx", "110100" (a city) contains "1101xx", and a county
// contains only itself.
func fakeContains(ancestor, code string) bool {
	p := ancestor
	for len(p) > 2 && strings.HasSuffix(p, "00") {
		p = p[:len(p)-2]
	}
	return len(code) == len(ancestor) && strings.HasPrefix(code, p)
}

// fakeCityOf maps a county code to its city ("110105" -> "110100").
func fakeCityOf(code string) string {
	if len(code) != 6 {
		return ""
	}
	return code[:4] + "00"
}

// testPlaces maps place indexes to region codes.
var testPlaces = map[uint32]string{
	1: "110105", // Beijing, Chaoyang
	2: "110108", // Beijing, Haidian
	3: "310115", // Shanghai, Pudong
	4: "440106", // Guangzhou, Tianhe
}

func placeRegion(p uint32) string { return testPlaces[p] }

func TestFakeContains(t *testing.T) {
	t.Parallel()

	cases := []struct {
		ancestor, code string
		want           bool
	}{
		{"110000", "110105", true},
		{"110100", "110105", true},
		{"110105", "110105", true},
		{"110105", "110108", false},
		{"110105", "110100", false},
		{"310000", "110105", false},
	}
	for _, tc := range cases {
		if got := fakeContains(tc.ancestor, tc.code); got != tc.want {
			t.Errorf("fakeContains(%q, %q) = %t, want %t", tc.ancestor, tc.code, got, tc.want)
		}
	}
}

func TestJoinStays(t *testing.T) {
	t.Parallel()

	t0 := time.Date(2022, 6, 10, 0, 0, 0, 0, time.UTC)
	at := func(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }
	visit := func(seq uint64, place uint32, from, to float64) Visit {
		return Visit{Seq: seq, Person: 9, Place: place, From: at(from), To: at(to)}
	}
	// The Chaoyang area is in force on [10h, 20h).
	chaoyang := RiskArea{Seq: 100, Region: "110105", Level: High, From: at(10), Until: at(20)}
	stayIn := func(v Visit, a RiskArea) Stay {
		return Stay{Visit: v.Seq, Area: a.Seq, Place: v.Place, From: v.From, To: v.To, Level: a.Level, Region: a.Region, Unverified: v.Unverified}
	}

	cases := []struct {
		name   string
		visits []Visit
		areas  []RiskArea
		want   []Stay
	}{
		{name: "no visits", areas: []RiskArea{chaoyang}},
		{name: "no areas", visits: []Visit{visit(1, 1, 12, 13)}},
		{
			name:   "inside",
			visits: []Visit{visit(1, 1, 12, 13)},
			areas:  []RiskArea{chaoyang},
			want:   []Stay{stayIn(visit(1, 1, 12, 13), chaoyang)},
		},
		{
			name:   "overlaps the start",
			visits: []Visit{visit(1, 1, 9, 11)},
			areas:  []RiskArea{chaoyang},
			want:   []Stay{stayIn(visit(1, 1, 9, 11), chaoyang)},
		},
		{
			name:   "overlaps the end",
			visits: []Visit{visit(1, 1, 19, 21)},
			areas:  []RiskArea{chaoyang},
			want:   []Stay{stayIn(visit(1, 1, 19, 21), chaoyang)},
		},
		{
			name:   "encloses the area",
			visits: []Visit{visit(1, 1, 5, 25)},
			areas:  []RiskArea{chaoyang},
			want:   []Stay{stayIn(visit(1, 1, 5, 25), chaoyang)},
		},
		{
			name:   "ends exactly when the area starts",
			visits: []Visit{visit(1, 1, 9, 10)},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "ends one second after the area starts",
			visits: []Visit{{Seq: 1, Place: 1, From: at(9), To: at(10).Add(time.Second)}},
			areas:  []RiskArea{chaoyang},
			want:   []Stay{{Visit: 1, Area: 100, Place: 1, From: at(9), To: at(10).Add(time.Second), Level: High, Region: "110105"}},
		},
		{
			name:   "starts exactly when the area ends",
			visits: []Visit{visit(1, 1, 20, 21)},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "starts one second before the area ends",
			visits: []Visit{{Seq: 1, Place: 1, From: at(20).Add(-time.Second), To: at(21)}},
			areas:  []RiskArea{chaoyang},
			want:   []Stay{{Visit: 1, Area: 100, Place: 1, From: at(20).Add(-time.Second), To: at(21), Level: High, Region: "110105"}},
		},
		{
			name:   "entirely before",
			visits: []Visit{visit(1, 1, 1, 2)},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "entirely after",
			visits: []Visit{visit(1, 1, 22, 23)},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "place in another county",
			visits: []Visit{visit(1, 2, 12, 13)},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "place in another province",
			visits: []Visit{visit(1, 3, 12, 13)},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "city-wide area contains the county",
			visits: []Visit{visit(1, 2, 12, 13)},
			areas:  []RiskArea{{Seq: 101, Region: "110100", Level: Medium, From: at(0), Until: at(48)}},
			want:   []Stay{{Visit: 1, Area: 101, Place: 2, From: at(12), To: at(13), Level: Medium, Region: "110100"}},
		},
		{
			name:   "province-wide area contains the county",
			visits: []Visit{visit(1, 3, 12, 13)},
			areas:  []RiskArea{{Seq: 102, Region: "310000", Level: High, From: at(0), Until: at(48)}},
			want:   []Stay{{Visit: 1, Area: 102, Place: 3, From: at(12), To: at(13), Level: High, Region: "310000"}},
		},
		{
			name: "unverified visit keeps its flag",
			visits: []Visit{func() Visit {
				v := visit(1, 1, 12, 13)
				v.Unverified, v.Source = true, SourceSelfReport
				return v
			}()},
			areas: []RiskArea{chaoyang},
			want:  []Stay{{Visit: 1, Area: 100, Place: 1, From: at(12), To: at(13), Level: High, Region: "110105", Unverified: true}},
		},
		{
			// Visits and areas out of order; the result is ordered by visit,
			// then area. Visit 3 is in Chaoyang and in the Beijing-wide area;
			// visit 1 only in the Beijing-wide one (Haidian); visit 2 in
			// Shanghai, in no area.
			name: "multiple visits and areas",
			visits: []Visit{
				visit(3, 1, 15, 16),
				visit(2, 3, 15, 16),
				visit(1, 2, 11, 12),
			},
			areas: []RiskArea{
				{Seq: 103, Region: "110000", Level: Medium, From: at(0), Until: at(48)},
				chaoyang,
				{Seq: 104, Region: "440100", Level: High, From: at(0), Until: at(48)},
			},
			want: []Stay{
				{Visit: 1, Area: 103, Place: 2, From: at(11), To: at(12), Level: Medium, Region: "110000"},
				{Visit: 3, Area: 100, Place: 1, From: at(15), To: at(16), Level: High, Region: "110105"},
				{Visit: 3, Area: 103, Place: 1, From: at(15), To: at(16), Level: Medium, Region: "110000"},
			},
		},
		{
			name:   "lifted area counts only until the lift",
			visits: []Visit{visit(1, 1, 12, 13), visit(2, 1, 16, 17)},
			areas:  []RiskArea{{Seq: 105, Region: "110105", Level: High, From: at(10), Until: at(15), Lifted: 106}},
			want:   []Stay{{Visit: 1, Area: 105, Place: 1, From: at(12), To: at(13), Level: High, Region: "110105"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := JoinStays(tc.visits, placeRegion, tc.areas, fakeContains)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("JoinStays mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJoinCityStays(t *testing.T) {
	t.Parallel()

	now := time.Date(2022, 6, 20, 4, 0, 0, 0, time.UTC)
	const window = 7 * 24 * time.Hour
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	visit := func(seq uint64, place uint32, from time.Time) Visit {
		return Visit{Seq: seq, Person: 9, Place: place, From: from, To: from.Add(time.Hour)}
	}
	unverified := func(v Visit) Visit { v.Unverified = true; return v }
	// A high-risk area in Chaoyang (Beijing), in force from 3 days ago for 10 days.
	chaoyang := RiskArea{Seq: 100, Region: "110105", Level: High, From: ago(72 * time.Hour), Until: now.Add(7 * 24 * time.Hour)}

	cases := []struct {
		name   string
		visits []Visit
		areas  []RiskArea
		want   []CityStay
	}{
		{name: "nothing"},
		{
			// A visit to Haidian puts Beijing on the itinerary; the area is
			// in Chaoyang, also in Beijing.
			name:   "visit to the city of an area",
			visits: []Visit{visit(1, 2, ago(24*time.Hour))},
			areas:  []RiskArea{chaoyang},
			want:   []CityStay{{City: "110100", LastVisit: 1, At: ago(24 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until}},
		},
		{
			name:   "visit before the area was declared still counts",
			visits: []Visit{visit(1, 1, ago(5*24*time.Hour))},
			areas:  []RiskArea{chaoyang},
			want:   []CityStay{{City: "110100", LastVisit: 1, At: ago(5 * 24 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until}},
		},
		{
			name:   "visit just inside the window",
			visits: []Visit{visit(1, 1, ago(window-time.Second))},
			areas:  []RiskArea{chaoyang},
			want:   []CityStay{{City: "110100", LastVisit: 1, At: ago(window - time.Second), Area: 100, Level: High, AreaUntil: chaoyang.Until}},
		},
		{
			name:   "visit exactly at the window start is excluded",
			visits: []Visit{visit(1, 1, ago(window))},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "visit older than the window is excluded",
			visits: []Visit{visit(1, 1, ago(10*24*time.Hour))},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "visit in the future is excluded",
			visits: []Visit{visit(1, 1, now.Add(time.Minute))},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "visit at now counts",
			visits: []Visit{visit(1, 1, now)},
			areas:  []RiskArea{chaoyang},
			want:   []CityStay{{City: "110100", LastVisit: 1, At: now, Area: 100, Level: High, AreaUntil: chaoyang.Until}},
		},
		{
			name:   "area expired is excluded",
			visits: []Visit{visit(1, 1, ago(24*time.Hour))},
			areas:  []RiskArea{{Seq: 100, Region: "110105", Level: High, From: ago(5 * 24 * time.Hour), Until: ago(time.Hour)}},
		},
		{
			name:   "area ending exactly now is excluded",
			visits: []Visit{visit(1, 1, ago(24*time.Hour))},
			areas:  []RiskArea{{Seq: 100, Region: "110105", Level: High, From: ago(5 * 24 * time.Hour), Until: now}},
		},
		{
			name:   "area lifted is excluded",
			visits: []Visit{visit(1, 1, ago(24*time.Hour))},
			areas:  []RiskArea{{Seq: 100, Region: "110105", Level: High, From: ago(5 * 24 * time.Hour), Until: ago(2 * time.Hour), Lifted: 107}},
		},
		{
			name:   "area not yet in force is excluded",
			visits: []Visit{visit(1, 1, ago(24*time.Hour))},
			areas:  []RiskArea{{Seq: 100, Region: "110105", Level: High, From: now.Add(time.Hour), Until: now.Add(48 * time.Hour)}},
		},
		{
			name:   "area starting exactly now counts",
			visits: []Visit{visit(1, 1, ago(24*time.Hour))},
			areas:  []RiskArea{{Seq: 100, Region: "110105", Level: Medium, From: now, Until: now.Add(48 * time.Hour)}},
			want:   []CityStay{{City: "110100", LastVisit: 1, At: ago(24 * time.Hour), Area: 100, Level: Medium, AreaUntil: now.Add(48 * time.Hour)}},
		},
		{
			name:   "area in another city is excluded",
			visits: []Visit{visit(1, 3, ago(24*time.Hour))},
			areas:  []RiskArea{chaoyang},
		},
		{
			name:   "province-wide area covers the city",
			visits: []Visit{visit(1, 3, ago(24*time.Hour))},
			areas:  []RiskArea{{Seq: 101, Region: "310000", Level: Medium, From: ago(time.Hour), Until: now.Add(time.Hour)}},
			want:   []CityStay{{City: "310100", LastVisit: 1, At: ago(24 * time.Hour), Area: 101, Level: Medium, AreaUntil: now.Add(time.Hour)}},
		},
		{
			name: "latest visit chosen",
			visits: []Visit{
				visit(5, 1, ago(3*24*time.Hour)),
				visit(7, 2, ago(1*24*time.Hour)),
				visit(6, 1, ago(2*24*time.Hour)),
			},
			areas: []RiskArea{chaoyang},
			want:  []CityStay{{City: "110100", LastVisit: 7, At: ago(24 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until}},
		},
		{
			name: "latest visit chosen, old visit out of window ignored",
			visits: []Visit{
				visit(5, 1, ago(9*24*time.Hour)),
				visit(6, 1, ago(2*24*time.Hour)),
			},
			areas: []RiskArea{chaoyang},
			want:  []CityStay{{City: "110100", LastVisit: 6, At: ago(2 * 24 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until}},
		},
		{
			name:   "all visits unverified",
			visits: []Visit{unverified(visit(5, 1, ago(3*24*time.Hour))), unverified(visit(6, 2, ago(2*24*time.Hour)))},
			areas:  []RiskArea{chaoyang},
			want:   []CityStay{{City: "110100", LastVisit: 6, At: ago(2 * 24 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until, Unverified: true}},
		},
		{
			// The latest verified visit decides: a later unverified scan
			// never extends the star.
			name:   "one verified visit among unverified ones",
			visits: []Visit{unverified(visit(5, 1, ago(3*24*time.Hour))), visit(6, 2, ago(2*24*time.Hour)), unverified(visit(7, 1, ago(24*time.Hour)))},
			areas:  []RiskArea{chaoyang},
			want:   []CityStay{{City: "110100", LastVisit: 6, At: ago(2 * 24 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until}},
		},
		{
			name:   "verified visit outside the window does not verify",
			visits: []Visit{visit(5, 1, ago(8*24*time.Hour)), unverified(visit(6, 1, ago(24*time.Hour)))},
			areas:  []RiskArea{chaoyang},
			want:   []CityStay{{City: "110100", LastVisit: 6, At: ago(24 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until, Unverified: true}},
		},
		{
			// The star ends a day from now (visit + 7 days); the earlier area
			// already covers that, so it stays the cited one even though a
			// later area lasts longer.
			name:   "earliest area covering the star is cited",
			visits: []Visit{visit(1, 1, ago(6*24*time.Hour))},
			areas: []RiskArea{
				{Seq: 101, Region: "110105", Level: Medium, From: ago(time.Hour), Until: now.Add(2 * 24 * time.Hour)},
				{Seq: 105, Region: "110108", Level: High, From: ago(time.Hour), Until: now.Add(5 * 24 * time.Hour)},
			},
			want: []CityStay{{City: "110100", LastVisit: 1, At: ago(6 * 24 * time.Hour), Area: 101, Level: Medium, AreaUntil: now.Add(5 * 24 * time.Hour)}},
		},
		{
			// A recent visit: the star would last 6 more days, the areas end
			// after 2 and 5, so the longer area decides and is cited.
			name:   "area that decides the end is cited",
			visits: []Visit{visit(1, 1, ago(24*time.Hour))},
			areas: []RiskArea{
				{Seq: 101, Region: "110105", Level: Medium, From: ago(time.Hour), Until: now.Add(2 * 24 * time.Hour)},
				{Seq: 105, Region: "110108", Level: High, From: ago(time.Hour), Until: now.Add(5 * 24 * time.Hour)},
			},
			want: []CityStay{{City: "110100", LastVisit: 1, At: ago(24 * time.Hour), Area: 105, Level: High, AreaUntil: now.Add(5 * 24 * time.Hour)}},
		},
		{
			// Two cities and two areas in Beijing: one entry per city (the area in
			// force longest),
			// ordered by city.
			name: "multiple cities and areas",
			visits: []Visit{
				visit(8, 3, ago(24*time.Hour)),
				visit(9, 1, ago(12*time.Hour)),
				visit(10, 4, ago(6*time.Hour)),
			},
			areas: []RiskArea{
				{Seq: 104, Region: "310115", Level: Medium, From: ago(time.Hour), Until: now.Add(time.Hour)},
				{Seq: 102, Region: "110108", Level: Medium, From: ago(time.Hour), Until: now.Add(2 * time.Hour)},
				chaoyang,
			},
			want: []CityStay{
				{City: "110100", LastVisit: 9, At: ago(12 * time.Hour), Area: 100, Level: High, AreaUntil: chaoyang.Until},
				{City: "310100", LastVisit: 8, At: ago(24 * time.Hour), Area: 104, Level: Medium, AreaUntil: now.Add(time.Hour)},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := JoinCityStays(tc.visits, placeRegion, fakeCityOf, tc.areas, fakeContains, now, window)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("JoinCityStays mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJoinThenEvaluate runs the joins into the national ruleset: a verified
// visit in a high-risk county gives red and a star; the same visit
// unverified gives neither colour nor star.
func TestJoinThenEvaluate(t *testing.T) {
	t.Parallel()

	rs := mustNational(t)
	now := time.Date(2022, 6, 20, 4, 0, 0, 0, time.UTC)
	area := RiskArea{Seq: 100, Region: "110105", Level: High, From: now.Add(-72 * time.Hour), Until: now.Add(7 * 24 * time.Hour)}

	cases := []struct {
		name       string
		unverified bool
		wantColour Colour
		wantStar   bool
	}{
		{name: "verified", wantColour: Red, wantStar: true},
		{name: "unverified", unverified: true, wantColour: Green, wantStar: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Visit{Seq: 1, Place: 1, From: now.Add(-24 * time.Hour), To: now.Add(-23 * time.Hour), Unverified: tc.unverified}
			ev := &Evidence{
				Stays:     JoinStays([]Visit{v}, placeRegion, []RiskArea{area}, fakeContains),
				CityStays: JoinCityStays([]Visit{v}, placeRegion, fakeCityOf, []RiskArea{area}, fakeContains, now, 7*24*time.Hour),
			}
			if len(ev.Stays) != 1 || len(ev.CityStays) != 1 {
				t.Fatalf("got %d stays and %d city stays, want 1 and 1", len(ev.Stays), len(ev.CityStays))
			}
			code, err := rs.Evaluate(ev, now)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if code.Colour != tc.wantColour || code.Star != tc.wantStar {
				t.Errorf("got %v star=%t, want %v star=%t", code.Colour, code.Star, tc.wantColour, tc.wantStar)
			}
		})
	}
}
