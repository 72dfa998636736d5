package codesign

import (
	"testing"
	"time"

	"healthcode/internal/health"
)

func TestPlaceStatic(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	for _, region := range []string{regionEd, regionEC} {
		s := f.signer(t, region)
		p := signPlace(t, s, PlaceClaims{Place: health.PlaceID(45)})
		got, err := VerifyPlace(p, tl, t0.Add(30*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got != (PlaceClaims{Place: "L45", Issuer: region}) {
			t.Fatalf("got %+v", got)
		}
		// A static poster lives as long as its key.
		_, err = VerifyPlace(p, tl, t0.Add(91*24*time.Hour))
		wantCode(t, err, CodeKeyNotValid)
	}
}

func TestPlaceDynamic(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	s := f.signer(t, regionEd)
	const period = 30
	now := t0.Add(time.Hour + 7*time.Second)
	w := PlaceWindow(now, period)
	if w != now.Unix()/period {
		t.Fatalf("window %d", w)
	}
	p := signPlace(t, s, PlaceClaims{Place: "L45", Window: w, Period: period})

	start := time.Unix(w*period, 0)
	for _, at := range []time.Time{
		start,                               // its window
		start.Add(period*time.Second - 1),   // end of its window
		start.Add(period * time.Second),     // the next window (grace)
		start.Add(2*period*time.Second - 1), // end of the grace window
		start.Add(-MaxClockSkew),            // a verifier clock slightly behind
	} {
		got, err := VerifyPlace(p, tl, at)
		if err != nil {
			t.Fatalf("at %v: %v", at, err)
		}
		if got.Window != w || got.Period != period || got.Place != "L45" {
			t.Fatalf("got %+v", got)
		}
	}
	_, err := VerifyPlace(p, tl, start.Add(2*period*time.Second))
	wantCode(t, err, CodeStaleCode)
	_, err = VerifyPlace(p, tl, start.Add(time.Hour))
	wantCode(t, err, CodeStaleCode)
	_, err = VerifyPlace(p, tl, start.Add(-MaxClockSkew-time.Second))
	wantCode(t, err, CodeNotYetValid)
}

func TestPlaceRejections(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	s := f.signer(t, regionEd)
	good := signPlace(t, s, PlaceClaims{Place: "L45"})
	body := good[len(SignedPlacePrefix):]
	code := signCode(t, s, sampleClaims(t, t0))
	for _, c := range []struct{ name, payload, code string }{
		{"unsigned v1", health.PlaceCode(45), CodeUnsupportedVersion},
		{"version 3", "HCP3:" + body, CodeUnsupportedVersion},
		{"personal code", code, CodeWrongPrefix},
		{"code body as place", SignedPlacePrefix + code[len(HealthCodePrefix):], CodeBadSignature},
		{"altered", SignedPlacePrefix + body[:10] + string(base45Alphabet[(indexB45(body[10])+1)%45]) + body[11:], ""},
		{"lower case", SignedPlacePrefix + "abc", CodeMalformedBase45},
		{"bad place id", signRaw(t, s, SignedPlacePrefix, placeWire{Issuer: regionEd, Place: "X1"}), CodeMalformedClaims},
		{"window without period", signRaw(t, s, SignedPlacePrefix, placeWire{Issuer: regionEd, Place: "L1", Window: 5}), CodeMalformedClaims},
		{"period too long", signRaw(t, s, SignedPlacePrefix, placeWire{Issuer: regionEd, Place: "L1", Window: 5, Period: MaxPeriod + 1}), CodeMalformedClaims},
		{"wrong issuer", signRaw(t, s, SignedPlacePrefix, placeWire{Issuer: regionEC, Place: "L1"}), CodeWrongIssuer},
		{"window before key", signRaw(t, s, SignedPlacePrefix, placeWire{Issuer: regionEd, Place: "L1", Window: 1, Period: 30}), CodeKeyNotValid},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := VerifyPlace(c.payload, tl, t0)
			if c.code == "" {
				if err == nil || ErrorCode(err) == "" {
					t.Fatalf("accepted or uncoded: %v", err)
				}
			} else {
				wantCode(t, err, c.code)
			}
			if got != (PlaceClaims{}) {
				t.Fatalf("claims returned with an error: %+v", got)
			}
		})
	}
	for name, p := range map[string]PlaceClaims{
		"bad id":            {Place: "45"},
		"other issuer":      {Place: "L1", Issuer: regionEC},
		"negative window":   {Place: "L1", Window: -1, Period: 30},
		"period only":       {Place: "L1", Period: 30},
		"window before key": {Place: "L1", Window: 1, Period: 30},
	} {
		if out, err := s.SignPlace(p); err == nil {
			t.Errorf("%s: signed %s", name, out)
		}
	}
}

func indexB45(c byte) int { return int(base45Index[c]) }

func TestPlaceWindow(t *testing.T) {
	for _, c := range []struct {
		unix   int64
		period int
		want   int64
	}{{0, 30, 0}, {29, 30, 0}, {30, 30, 1}, {-1, 30, -1}, {-30, 30, -1}, {-31, 30, -2}, {100, 0, 0}} {
		if got := PlaceWindow(time.Unix(c.unix, 0), c.period); got != c.want {
			t.Errorf("PlaceWindow(%d, %d) = %d, want %d", c.unix, c.period, got, c.want)
		}
	}
}
