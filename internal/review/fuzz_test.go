package review_test

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/review"
)

// stopSize is the number of bytes decodeStops takes per stop, and maxStops
// the most stops it makes (a long trajectory of mutually overlapping stops
// has quadratically many findings, which only slows the fuzzer down).
const (
	stopSize = 19
	maxStops = 64
)

// decodeStops turns fuzz bytes into stops, stopSize bytes each: place (0–3),
// mode, whether it has coordinates, latitude and longitude (float32 bits, so
// NaN, infinities and out-of-range values occur), From (seconds around
// June 2022, int32) and the length (seconds, int32, may be negative). It
// ignores the bytes after maxStops stops.
func decodeStops(data []byte) []review.Stop {
	modes := []string{"", "bus", "train", "flight", "ship"}
	base := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)
	var stops []review.Stop
	for ; len(data) >= stopSize && len(stops) < maxStops; data = data[stopSize:] {
		from := base.Add(time.Duration(int32(binary.LittleEndian.Uint32(data[11:]))) * time.Second)
		stops = append(stops, review.Stop{
			Place:     uint32(data[0] % 4),
			PlaceName: string(data[0:1]),
			Mode:      modes[int(data[1])%len(modes)],
			HasCoords: data[2]&1 == 1,
			Lat:       float64(math.Float32frombits(binary.LittleEndian.Uint32(data[3:]))),
			Lng:       float64(math.Float32frombits(binary.LittleEndian.Uint32(data[7:]))),
			From:      from,
			To:        from.Add(time.Duration(int32(binary.LittleEndian.Uint32(data[15:]))) * time.Second),
		})
	}
	return stops
}

// FuzzReview checks that no trajectory or parameters make Review panic, and
// that its findings are well formed and deterministic.
func FuzzReview(f *testing.F) {
	f.Add([]byte{}, int64(0), 0.0, 0.0, 0.0, 0.0, int64(0), int64(0))
	f.Add(make([]byte, 3*stopSize), int64(time.Hour), 120.0, 350.0, 1000.0, 2.0, int64(0), int64(1e9))
	f.Add([]byte("\x01\x00\x01\x00\x00\xc8\x41\x00\x00\xe8\x42\x10\x0e\x00\x00\x10\x0e\x00\x00"+
		"\x02\x03\x01\x00\x00\xf0\x41\x00\x00\xf0\x42\x20\x1c\x00\x00\xf0\xf1\xff\xff"+
		"\x00\x04\x00\x00\x00\xc0\x7f\x00\x00\x80\x7f\x00\x00\x00\x80\xff\xff\xff\x7f"),
		int64(-1), math.NaN(), math.Inf(1), -5.0, 0.5, int64(-1e18), int64(1e18))
	codes := []string{review.Overlap, review.Gap, review.ImpossibleSpeed, review.UnknownPlace, review.OutsideInfectiousPeriod}
	f.Fuzz(func(t *testing.T, data []byte, maxGap int64, road, train, flight, slack float64, from, to int64) {
		stops := decodeStops(data)
		p := review.Params{
			MaxGap:  time.Duration(maxGap),
			RoadKmh: road, TrainKmh: train, FlightKmh: flight, SlackKm: slack,
		}
		if from != 0 {
			p.InfectiousFrom = time.Unix(from, 0)
		}
		if to != 0 {
			p.InfectiousTo = time.Unix(to, 0)
		}
		got := review.Review(stops, p)
		for _, fd := range got {
			if !slices.Contains(codes, fd.Code) {
				t.Fatalf("got code %q, want one of %v", fd.Code, codes)
			}
			if n := len(fd.Stops); n != 1 && n != 2 {
				t.Fatalf("%s: got %d stops, want 1 or 2", fd.Code, n)
			}
			for _, i := range fd.Stops {
				if i < 0 || i >= len(stops) {
					t.Fatalf("%s: stop index %d out of range [0, %d)", fd.Code, i, len(stops))
				}
			}
			if len(fd.Stops) == 2 && (fd.Stops[0] == fd.Stops[1] || stops[fd.Stops[0]].From.After(stops[fd.Stops[1]].From)) {
				t.Fatalf("%s: got stops %v, want two stops, earliest first", fd.Code, fd.Stops)
			}
			if fd.Message["zh"] == "" || fd.Message["en"] == "" {
				t.Fatalf("%s: got messages %q, want zh and en", fd.Code, fd.Message)
			}
		}
		if diff := cmp.Diff(got, review.Review(stops, p)); diff != "" {
			t.Fatalf("second review differs (-first +second):\n%s", diff)
		}
	})
}
