package review_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"healthcode/internal/review"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// cst is China Standard Time, the zone of the test times.
var cst = time.FixedZone("CST", 8*60*60)

// at parses "01-02 15:04" as a time in June 2022, CST.
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2022-"+s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

// stop returns a stop at place p (named "P<p>") from from to to.
func stop(p uint32, from, to string) review.Stop {
	return review.Stop{Place: p, PlaceName: fmt.Sprint("P", p), From: at(from), To: at(to)}
}

// located returns s with coordinates.
func located(s review.Stop, lat, lng float64) review.Stop {
	s.Lat, s.Lng, s.HasCoords = lat, lng, true
	return s
}

// by returns s with its transport mode.
func by(s review.Stop, mode string) review.Stop {
	s.Mode = mode
	return s
}

func TestReview(t *testing.T) {
	t.Parallel()
	period := review.Params{InfectiousFrom: at("06-11 00:00"), InfectiousTo: at("06-13 00:00")}
	tests := []struct {
		name  string
		stops []review.Stop
		p     review.Params
		want  []review.Finding // Message is checked by TestMessages
	}{
		{name: "no stops"},
		{
			name: "clean day",
			stops: []review.Stop{
				located(stop(1, "06-11 07:00", "06-11 08:30"), 0, 0),
				located(stop(2, "06-11 09:00", "06-11 12:00"), 0, 0.1),
				stop(3, "06-11 12:10", "06-11 13:00"),
				located(stop(2, "06-11 13:10", "06-11 17:30"), 0, 0.1),
				located(stop(1, "06-11 18:00", "06-11 22:00"), 0, 0),
			},
			p: period,
		},
		{
			name: "clean trip by train between stops with coordinates",
			stops: []review.Stop{
				located(stop(1, "06-11 07:00", "06-11 08:00"), 0, 0),
				by(stop(2, "06-11 08:00", "06-11 11:30"), "train"),
				located(stop(3, "06-11 11:40", "06-11 12:00"), 0, 10),
			},
		},
		{
			name: "clean flight",
			stops: []review.Stop{
				located(stop(1, "06-11 07:00", "06-11 08:00"), 0, 0),
				located(by(stop(2, "06-11 10:00", "06-11 11:00"), "flight"), 0, 10),
			},
		},
		{
			name: "moment stop",
			stops: []review.Stop{
				stop(1, "06-11 07:00", "06-11 08:00"),
				{Place: 2, From: at("06-11 08:00")},
				stop(3, "06-11 08:00", "06-11 09:00"),
			},
		},
		{
			name: "overlap",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 10:00"),
				stop(2, "06-11 09:00", "06-11 11:00"),
			},
			want: []review.Finding{{Code: review.Overlap, Stops: []int{0, 1}, Detail: map[string]any{"hours": 1.0}}},
		},
		{
			name: "stop inside a long stop",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 18:00"),
				stop(2, "06-11 09:00", "06-11 10:00"),
				stop(3, "06-11 11:00", "06-11 11:30"),
			},
			want: []review.Finding{
				{Code: review.Overlap, Stops: []int{0, 1}, Detail: map[string]any{"hours": 1.0}},
				{Code: review.Overlap, Stops: []int{0, 2}, Detail: map[string]any{"hours": 0.5}},
			},
		},
		{
			name: "moment inside a stop",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 10:00"),
				{Place: 2, PlaceName: "P2", From: at("06-11 09:00")},
			},
			want: []review.Finding{{Code: review.Overlap, Stops: []int{0, 1}, Detail: map[string]any{"hours": 0.0}}},
		},
		{
			name: "gap",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 09:00"),
				stop(2, "06-11 14:00", "06-11 15:00"),
			},
			want: []review.Finding{{Code: review.Gap, Stops: []int{0, 1}, Detail: map[string]any{"hours": 5.0, "max_hours": 4.0}}},
		},
		{
			name: "gap of exactly MaxGap",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 09:00"),
				stop(2, "06-11 13:00", "06-11 15:00"),
			},
		},
		{
			name: "gap from the stop that ends last",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 18:00"),
				stop(2, "06-11 09:00", "06-11 10:00"),
				stop(3, "06-11 23:00", "06-11 23:30"),
			},
			want: []review.Finding{
				{Code: review.Overlap, Stops: []int{0, 1}, Detail: map[string]any{"hours": 1.0}},
				{Code: review.Gap, Stops: []int{0, 2}, Detail: map[string]any{"hours": 5.0, "max_hours": 4.0}},
			},
		},
		{
			name: "custom MaxGap",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 09:00"),
				stop(2, "06-11 10:30", "06-11 11:00"),
			},
			p:    review.Params{MaxGap: time.Hour},
			want: []review.Finding{{Code: review.Gap, Stops: []int{0, 1}, Detail: map[string]any{"hours": 1.5, "max_hours": 1.0}}},
		},
		{
			name: "impossible speed by road",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 09:00"), 0, 0),
				located(stop(2, "06-11 10:00", "06-11 11:00"), 0, 2),
			},
			want: []review.Finding{{Code: review.ImpossibleSpeed, Stops: []int{0, 1}, Detail: map[string]any{
				"km": 222.4, "hours": 1.0, "kmh": 222.0, "max_kmh": 120.0, "mode": "road",
			}}},
		},
		{
			name: "impossible speed by train",
			stops: []review.Stop{
				located(by(stop(1, "06-11 08:00", "06-11 09:00"), "train"), 0, 0),
				located(stop(2, "06-11 10:00", "06-11 11:00"), 4, 0),
			},
			want: []review.Finding{{Code: review.ImpossibleSpeed, Stops: []int{0, 1}, Detail: map[string]any{
				"km": 444.8, "hours": 1.0, "kmh": 445.0, "max_kmh": 350.0, "mode": "train",
			}}},
		},
		{
			name: "impossible speed even by flight",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 09:00"), 0, 0),
				located(by(stop(2, "06-11 09:30", "06-11 11:00"), "flight"), 0, 10),
			},
			want: []review.Finding{{Code: review.ImpossibleSpeed, Stops: []int{0, 1}, Detail: map[string]any{
				"km": 1112.0, "hours": 0.5, "kmh": 2224.0, "max_kmh": 1000.0, "mode": "flight",
			}}},
		},
		{
			name: "speed across stops without coordinates",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 09:00"), 0, 0),
				by(stop(2, "06-11 09:10", "06-11 09:20"), "bus"),
				located(stop(3, "06-11 10:00", "06-11 11:00"), 0, 2),
			},
			want: []review.Finding{{Code: review.ImpossibleSpeed, Stops: []int{0, 2}, Detail: map[string]any{
				"km": 222.4, "hours": 1.0, "kmh": 222.0, "max_kmh": 120.0, "mode": "road",
			}}},
		},
		{
			name: "no time to travel",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 09:00"), 0, 0),
				located(stop(2, "06-11 09:00", "06-11 10:00"), 0, 0.05),
			},
			want: []review.Finding{{Code: review.ImpossibleSpeed, Stops: []int{0, 1}, Detail: map[string]any{
				"km": 5.6, "hours": 0.0, "max_kmh": 120.0, "mode": "road",
			}}},
		},
		{
			name: "no time to travel within the slack",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 09:00"), 0, 0),
				located(stop(2, "06-11 09:00", "06-11 10:00"), 0, 0.01),
			},
		},
		{
			name: "custom speed and slack",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 09:00"), 0, 0),
				located(stop(2, "06-11 09:00", "06-11 10:00"), 0, 0.01),
				located(stop(3, "06-11 11:00", "06-11 12:00"), 0, 1),
			},
			p: review.Params{RoadKmh: 60, SlackKm: 0.5},
			want: []review.Finding{
				{Code: review.ImpossibleSpeed, Stops: []int{0, 1}, Detail: map[string]any{
					"km": 1.1, "hours": 0.0, "max_kmh": 60.0, "mode": "road",
				}},
				{Code: review.ImpossibleSpeed, Stops: []int{1, 2}, Detail: map[string]any{
					"km": 110.1, "hours": 1.0, "kmh": 110.0, "max_kmh": 60.0, "mode": "road",
				}},
			},
		},
		{
			name: "overlap far apart",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 10:00"), 0, 0),
				located(stop(2, "06-11 09:00", "06-11 11:00"), 1, 0),
			},
			want: []review.Finding{
				{Code: review.Overlap, Stops: []int{0, 1}, Detail: map[string]any{"hours": 1.0}},
				{Code: review.ImpossibleSpeed, Stops: []int{0, 1}, Detail: map[string]any{
					"km": 111.2, "hours": -1.0, "max_kmh": 120.0, "mode": "road",
				}},
			},
		},
		{
			name: "coordinates out of range are ignored",
			stops: []review.Stop{
				located(stop(1, "06-11 08:00", "06-11 09:00"), 0, 0),
				located(stop(2, "06-11 09:00", "06-11 10:00"), 91, 0),
				located(stop(3, "06-11 10:00", "06-11 11:00"), 0, 0),
			},
		},
		{
			name: "unknown place",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 09:00"),
				{PlaceName: "朋友家", From: at("06-11 09:30"), To: at("06-11 11:00")},
			},
			want: []review.Finding{{Code: review.UnknownPlace, Stops: []int{1}}},
		},
		{
			name: "outside the infectious period",
			stops: []review.Stop{
				stop(1, "06-10 08:00", "06-10 09:00"),
				stop(2, "06-10 22:00", "06-11 00:00"),
				stop(3, "06-10 23:00", "06-11 01:00"),
				stop(4, "06-12 22:00", "06-13 00:00"),
				stop(5, "06-13 00:00", "06-13 02:00"),
			},
			p: review.Params{InfectiousFrom: at("06-11 00:00"), InfectiousTo: at("06-13 00:00"), MaxGap: 48 * time.Hour},
			want: []review.Finding{
				{Code: review.OutsideInfectiousPeriod, Stops: []int{0}, Detail: map[string]any{"side": "before", "hours": 15.0}},
				{Code: review.OutsideInfectiousPeriod, Stops: []int{1}, Detail: map[string]any{"side": "before", "hours": 0.0}},
				{Code: review.Overlap, Stops: []int{1, 2}, Detail: map[string]any{"hours": 1.0}},
				{Code: review.OutsideInfectiousPeriod, Stops: []int{4}, Detail: map[string]any{"side": "after", "hours": 0.0}},
			},
		},
		{
			name: "infectious period open at the end",
			stops: []review.Stop{
				stop(1, "06-11 08:00", "06-11 09:00"),
				stop(2, "06-30 08:00", "06-30 09:00"),
			},
			p:    review.Params{InfectiousFrom: at("06-11 00:00"), MaxGap: 100 * 24 * time.Hour},
			want: nil,
		},
		{
			name: "unsorted input keeps input indexes",
			stops: []review.Stop{
				stop(3, "06-11 14:00", "06-11 15:00"),
				{From: at("06-11 08:00"), To: at("06-11 09:00")},
				stop(2, "06-11 08:30", "06-11 09:30"),
			},
			want: []review.Finding{
				{Code: review.UnknownPlace, Stops: []int{1}},
				{Code: review.Overlap, Stops: []int{1, 2}, Detail: map[string]any{"hours": 0.5}},
				{Code: review.Gap, Stops: []int{2, 0}, Detail: map[string]any{"hours": 4.5, "max_hours": 4.0}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := review.Review(tt.stops, tt.p)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(review.Finding{}, "Message")); diff != "" {
				t.Errorf("Review mismatch (-want +got):\n%s", diff)
			}
			for _, f := range got {
				if f.Message["zh"] == "" || f.Message["en"] == "" {
					t.Errorf("finding %s %v: got messages %q, want zh and en", f.Code, f.Stops, f.Message)
				}
			}
		})
	}
}

// TestMessages checks the wording of every kind of finding against
// testdata/messages.golden, on a trajectory with real places.
func TestMessages(t *testing.T) {
	t.Parallel()
	stops := []review.Stop{
		located(review.Stop{Place: 11, PlaceName: "北京南站", From: at("06-09 20:00"), To: at("06-09 20:30")}, 39.8652, 116.3786),
		located(review.Stop{Place: 12, PlaceName: "天坛公园", From: at("06-10 07:00"), To: at("06-10 09:00")}, 39.8822, 116.4066),
		review.Stop{Place: 13, PlaceName: "王府井百货", From: at("06-10 08:30"), To: at("06-10 10:00")},
		review.Stop{PlaceName: "朋友家", From: at("06-10 16:00"), To: at("06-10 18:00")},
		located(review.Stop{Place: 14, PlaceName: "上海虹桥站", From: at("06-10 19:00"), To: at("06-11 02:00")}, 31.1945, 121.3199),
		located(review.Stop{Place: 15, From: at("06-11 01:00"), To: at("06-11 03:00")}, 31.2304, 121.4737),
		located(by(review.Stop{Place: 16, PlaceName: "CA1501", From: at("06-11 03:10"), To: at("06-11 03:40")}, "flight"), 39.5098, 116.4105),
	}
	p := review.Params{InfectiousFrom: at("06-10 00:00"), InfectiousTo: at("06-11 03:00")}
	var b strings.Builder
	for _, f := range review.Review(stops, p) {
		fmt.Fprintf(&b, "%s %v\n%s\n%s\n\n", f.Code, f.Stops, f.Message["zh"], f.Message["en"])
	}
	for _, code := range []string{review.Overlap, review.Gap, review.ImpossibleSpeed, review.UnknownPlace, review.OutsideInfectiousPeriod} {
		if !strings.Contains(b.String(), code+" [") {
			t.Errorf("no %s finding: the trajectory should show every kind", code)
		}
	}
	checkGolden(t, "testdata/messages.golden", b.String())
}

// checkGolden compares got with the golden file at path, or rewrites the
// file when -update is set.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file: %v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
