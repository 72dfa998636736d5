package health

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSecRoundTrip(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		in      time.Time
		wantSec uint32
	}{
		{name: "epoch", in: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), wantSec: 0},
		{name: "one second after epoch", in: time.Date(2020, 1, 1, 0, 0, 1, 0, time.UTC), wantSec: 1},
		{name: "epoch in CST", in: time.Date(2020, 1, 1, 8, 0, 0, 0, CST), wantSec: 0},
		{name: "2022-06-11 08:30 CST", in: time.Date(2022, 6, 11, 8, 30, 0, 0, CST), wantSec: 77070600},
		{name: "last representable second", in: time.Unix(1577836800+math.MaxUint32, 0).UTC(), wantSec: math.MaxUint32},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Sec(tc.in)
			if got != tc.wantSec {
				t.Errorf("Sec(%v) = %d, want %d", tc.in, got, tc.wantSec)
			}
			back := FromSec(got)
			if !back.Equal(tc.in) {
				t.Errorf("FromSec(Sec(%v)) = %v, want the same instant", tc.in, back)
			}
			if back.Location() != time.UTC {
				t.Errorf("FromSec(%d) location = %v, want UTC", got, back.Location())
			}
		})
	}
}

func TestSecClampsAndTruncates(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		in   time.Time
		want uint32
	}{
		{name: "before epoch clamps to 0", in: time.Date(2019, 12, 31, 23, 59, 59, 0, time.UTC), want: 0},
		{name: "zero time clamps to 0", in: time.Time{}, want: 0},
		{name: "after 2156 clamps to max", in: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), want: math.MaxUint32},
		{name: "sub-second truncated", in: time.Date(2020, 1, 1, 0, 0, 1, 999999999, time.UTC), want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Sec(tc.in); got != tc.want {
				t.Errorf("Sec(%v) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}

	if got, want := FromSec(0), Epoch; !got.Equal(want) {
		t.Errorf("FromSec(0) = %v, want %v", got, want)
	}
}

func TestDay(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{name: "UTC afternoon is next day in CST", in: time.Date(2022, 6, 10, 16, 30, 0, 0, time.UTC), want: "2022-06-11"},
		{name: "CST midnight exactly", in: time.Date(2022, 6, 10, 16, 0, 0, 0, time.UTC), want: "2022-06-11"},
		{name: "one second before CST midnight", in: time.Date(2022, 6, 10, 15, 59, 59, 0, time.UTC), want: "2022-06-10"},
		{name: "UTC morning is same day", in: time.Date(2022, 6, 10, 1, 0, 0, 0, time.UTC), want: "2022-06-10"},
		{name: "input in another zone", in: time.Date(2022, 6, 10, 12, 0, 0, 0, time.FixedZone("EDT", -4*3600)), want: "2022-06-11"},
		{name: "new year in CST", in: time.Date(2021, 12, 31, 16, 0, 0, 0, time.UTC), want: "2022-01-01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Day(tc.in); got != tc.want {
				t.Errorf("Day(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestStartOfDay(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{name: "UTC afternoon", in: time.Date(2022, 6, 10, 16, 30, 0, 0, time.UTC), want: time.Date(2022, 6, 10, 16, 0, 0, 0, time.UTC)},
		{name: "CST midnight is its own start", in: time.Date(2022, 6, 10, 16, 0, 0, 0, time.UTC), want: time.Date(2022, 6, 10, 16, 0, 0, 0, time.UTC)},
		{name: "one second before CST midnight", in: time.Date(2022, 6, 10, 15, 59, 59, 0, time.UTC), want: time.Date(2022, 6, 9, 16, 0, 0, 0, time.UTC)},
		{name: "input in CST", in: time.Date(2022, 6, 11, 23, 59, 0, 0, CST), want: time.Date(2022, 6, 10, 16, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := StartOfDay(tc.in)
			if !got.Equal(tc.want) {
				t.Errorf("StartOfDay(%v) = %v, want %v", tc.in, got, tc.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("StartOfDay(%v) location = %v, want UTC", tc.in, got.Location())
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name     string
		field    string
		in       string
		want     time.Time
		wantCode string // "" for success
	}{
		{name: "with offset", field: "at", in: "2022-06-11T08:30:00+08:00", want: time.Date(2022, 6, 11, 0, 30, 0, 0, time.UTC)},
		{name: "UTC", field: "at", in: "2022-06-11T00:30:00Z", want: time.Date(2022, 6, 11, 0, 30, 0, 0, time.UTC)},
		{name: "fractional seconds", field: "at", in: "2022-06-11T00:30:00.123456789Z", want: time.Date(2022, 6, 11, 0, 30, 0, 123456789, time.UTC)},
		{name: "epoch exactly", field: "at", in: "2020-01-01T00:00:00Z", want: Epoch},

		{name: "empty", field: "visits[3].at", in: "", wantCode: "missing_field"},
		{name: "space separated", field: "visits[3].at", in: "2022-06-11 08:30:00", wantCode: "invalid_time"},
		{name: "date only", field: "sampled_at", in: "2022-06-11", wantCode: "invalid_time"},
		{name: "no zone", field: "sampled_at", in: "2022-06-11T08:30:00", wantCode: "invalid_time"},
		{name: "garbage", field: "until", in: "yesterday", wantCode: "invalid_time"},
		{name: "before 2020", field: "from", in: "2019-12-31T23:59:59Z", wantCode: "invalid_time"},
		{name: "before 2020 once in UTC", field: "from", in: "2020-01-01T07:59:59+08:00", wantCode: "invalid_time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTime(tc.field, tc.in)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("ParseTime(%q, %q): got error %v, want nil", tc.field, tc.in, err)
				}
				if !got.Equal(tc.want) {
					t.Errorf("ParseTime(%q, %q) = %v, want %v", tc.field, tc.in, got, tc.want)
				}
				if got.Location() != time.UTC {
					t.Errorf("ParseTime(%q, %q) location = %v, want UTC", tc.field, tc.in, got.Location())
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseTime(%q, %q) = %v, nil; want error %s", tc.field, tc.in, got, tc.wantCode)
			}
			if !got.IsZero() {
				t.Errorf("ParseTime(%q, %q): got time %v with an error, want zero", tc.field, tc.in, got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseTime(%q, %q): got error of type %T, want *Error", tc.field, tc.in, err)
			}
			if e.Kind != Invalid {
				t.Errorf("ParseTime(%q, %q): got kind %v, want %v", tc.field, tc.in, e.Kind, Invalid)
			}
			if e.Code != tc.wantCode {
				t.Errorf("ParseTime(%q, %q): got code %q, want %q", tc.field, tc.in, e.Code, tc.wantCode)
			}
			if e.Field != tc.field {
				t.Errorf("ParseTime(%q, %q): got field %q, want %q", tc.field, tc.in, e.Field, tc.field)
			}
			if !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("ParseTime(%q, %q): got error text %q, want it to start with the field", tc.field, tc.in, err.Error())
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{name: "CST converted to UTC", in: time.Date(2022, 6, 11, 8, 30, 0, 0, CST), want: "2022-06-11T00:30:00Z"},
		{name: "sub-second dropped", in: time.Date(2022, 6, 11, 0, 30, 0, 999, time.UTC), want: "2022-06-11T00:30:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := FormatTime(tc.in); got != tc.want {
				t.Errorf("FormatTime(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
