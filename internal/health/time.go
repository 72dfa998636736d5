package health

import (
	"time"
	_ "time/tzdata" // China Standard Time must work on a bare machine
)

// CST is China Standard Time (Asia/Shanghai), used for calendar days and
// display. Instants are stored and exchanged in UTC.
var CST = mustLoadCST()

func mustLoadCST() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		// time/tzdata is linked in, so this cannot fail; fall back to a fixed zone.
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// Epoch is the origin of the compact minute and second counters used by the
// in-memory views (2020-01-01T00:00:00Z).
var Epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// epochUnix is Epoch as Unix seconds.
const epochUnix = 1577836800

// Sec returns t as seconds since Epoch, clamped to [0, 2^32-1]. It is the
// compact instant of the visit index (valid until 2156).
func Sec(t time.Time) uint32 {
	s := t.Unix() - epochUnix
	switch {
	case s < 0:
		return 0
	case s > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(s)
}

// FromSec converts a compact second counter back to a UTC time.
func FromSec(s uint32) time.Time { return time.Unix(int64(s)+epochUnix, 0).UTC() }

// Day returns the calendar day (CST) of t as "2006-01-02".
func Day(t time.Time) string { return t.In(CST).Format(time.DateOnly) }

// StartOfDay returns the start of t's calendar day in CST, as a UTC instant.
func StartOfDay(t time.Time) time.Time {
	c := t.In(CST)
	return time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, CST).UTC()
}

// ParseTime parses an RFC 3339 instant for field, returning it in UTC, or an
// Invalid error naming the field.
func ParseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, Errorf(Invalid, "missing_field", field, "is required (RFC 3339 time, e.g. 2022-06-11T08:30:00+08:00)")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, Errorf(Invalid, "invalid_time", field, "%q is not an RFC 3339 time (e.g. 2022-06-11T08:30:00+08:00)", s)
	}
	if t.Before(Epoch) {
		return time.Time{}, Errorf(Invalid, "invalid_time", field, "%q is before 2020-01-01", s)
	}
	return t.UTC(), nil
}

// FormatTime formats an instant as RFC 3339 in UTC with second precision.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
