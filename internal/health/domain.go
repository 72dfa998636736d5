package health

import (
	"strconv"
	"strings"
	"time"
)

// Colour is a health-code colour. The order is the order of severity.
type Colour uint8

// The colours.
const (
	Green Colour = iota
	Yellow
	Red
)

var colourNames = [...]string{"green", "yellow", "red"}

// String returns "green", "yellow" or "red".
func (c Colour) String() string {
	if int(c) < len(colourNames) {
		return colourNames[c]
	}
	return "unknown"
}

// ParseColour parses a colour name; ok is false for anything else.
func ParseColour(s string) (Colour, bool) {
	for i, n := range colourNames {
		if s == n {
			return Colour(i), true
		}
	}
	return 0, false
}

// Result is a test result.
type Result uint8

// The results. NoResult means "no test on record".
const (
	NoResult Result = iota
	Negative
	Positive
	InvalidResult
)

var resultNames = [...]string{"", "negative", "positive", "invalid"}

// String returns "negative", "positive", "invalid", or "" for NoResult.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return ""
}

// ParseResult parses a result name, or returns an Invalid error naming field.
func ParseResult(field, s string) (Result, error) {
	for i, n := range resultNames {
		if i > 0 && s == n {
			return Result(i), nil
		}
	}
	return 0, Errorf(Invalid, "invalid_result", field, "%q is not one of positive, negative, invalid", s)
}

// RiskLevel is the level of a risk area.
type RiskLevel uint8

// The risk levels.
const (
	Medium RiskLevel = 1
	High   RiskLevel = 2
)

// String returns "medium" or "high".
func (l RiskLevel) String() string {
	switch l {
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return ""
}

// ParseRiskLevel parses "high" or "medium", or returns an Invalid error naming field.
func ParseRiskLevel(field, s string) (RiskLevel, error) {
	switch s {
	case "high":
		return High, nil
	case "medium":
		return Medium, nil
	}
	return 0, Errorf(Invalid, "invalid_level", field, "%q is not one of high, medium", s)
}

// VisitSource says how a visit became known.
type VisitSource uint8

// The visit sources.
const (
	SourceScan          VisitSource = 0
	SourceSelfReport    VisitSource = 1
	SourceInvestigation VisitSource = 2
	SourceManifest      VisitSource = 3
)

// PersonID formats a person index as the public person id ("p123").
func PersonID(index uint32) string { return "p" + strconv.FormatUint(uint64(index), 10) }

// ParsePersonID parses a public person id; ok is false if s is not one.
func ParsePersonID(s string) (uint32, bool) {
	if !strings.HasPrefix(s, "p") {
		return 0, false
	}
	n, err := strconv.ParseUint(s[1:], 10, 32)
	return uint32(n), err == nil && n > 0
}

// Place is a registered place: a venue, a transport hub, a service area.
type Place struct {
	Index   uint32   `json:"-"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	Kind    string   `json:"kind"`
	Region  string   `json:"region"`
	Lat     float64  `json:"lat"`
	Lng     float64  `json:"lng"`
	// DynamicPeriod > 0: the venue shows a code rotating every that many
	// seconds on a screen, and only a current code is accepted.
	DynamicPeriod int `json:"dynamic_period,omitempty"`
	// A section of a trip (kind train, flight or bus): the trip (number and
	// date, "G1234 2022-06-10") and the carriage (train) or row (flight).
	Trip       string    `json:"trip,omitempty"`
	Section    string    `json:"section,omitempty"`
	Registered time.Time `json:"-"`
	Seq        uint64    `json:"-"`
}

// PlaceID formats a place index as the public place id ("L123").
func PlaceID(index uint32) string { return "L" + strconv.FormatUint(uint64(index), 10) }

// ParsePlaceID parses a public place id; ok is false if s is not one.
func ParsePlaceID(s string) (uint32, bool) {
	if !strings.HasPrefix(s, "L") {
		return 0, false
	}
	n, err := strconv.ParseUint(s[1:], 10, 32)
	return uint32(n), err == nil && n > 0
}

// PlaceCodePrefix is the versioned prefix of an (unsigned, version 1) place
// code payload: "HCP1:" followed by the place id. Later versions add a
// signature under a new prefix; version 1 stays parseable.
const PlaceCodePrefix = "HCP1:"

// PlaceCode returns the place code payload printed in a place's QR code.
func PlaceCode(index uint32) string { return PlaceCodePrefix + PlaceID(index) }

// ParsePlaceCode parses a place code payload, or returns an Invalid error
// with code "invalid_place_code" naming field.
func ParsePlaceCode(field, s string) (uint32, error) {
	if !strings.HasPrefix(s, PlaceCodePrefix) {
		return 0, Errorf(Invalid, "invalid_place_code", field, "%q is not a place code (want prefix %s)", truncate(s, 40), PlaceCodePrefix)
	}
	idx, ok := ParsePlaceID(s[len(PlaceCodePrefix):])
	if !ok {
		return 0, Errorf(Invalid, "invalid_place_code", field, "%q has a malformed place id", truncate(s, 40))
	}
	return idx, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Visit is a person at a place over an interval.
type Visit struct {
	Seq        uint64
	Person     uint32
	Place      uint32
	From, To   time.Time
	Source     VisitSource
	Unverified bool
}

// TestResult is a lab's result for one sample, in its latest version.
type TestResult struct {
	Seq       uint64 // the event that set the current content
	Lab       string
	SampleID  string
	Person    uint32
	SampledAt time.Time
	Result    Result
	Corrects  uint64 // the earlier event this one corrected, or 0
}

// RiskArea is a declared high or medium risk area: every place in Region is
// inside it from From until Until (or until it was lifted).
type RiskArea struct {
	Seq    uint64
	Region string
	Level  RiskLevel
	From   time.Time
	Until  time.Time // expiry, or the lift time if lifted
	Lifted uint64    // the lift event, or 0
}

// Active reports whether the area is in force at t.
func (a RiskArea) Active(t time.Time) bool { return !t.Before(a.From) && t.Before(a.Until) }

// MaxOverrideDuration is the longest a manual code change may last
// (invariant 2): its expiry is at most this long after the request.
const MaxOverrideDuration = 14 * 24 * time.Hour

// OverrideReason is one of the closed list of epidemic grounds on which an
// official may request a manual code change (人工赋码, invariant 2), with
// the colours the ground can justify.
type OverrideReason struct {
	Code    string            `json:"code"`
	Title   map[string]string `json:"title"` // zh and en
	Colours []Colour          `json:"-"`
}

// overrideReasons is the closed list; only the accessors below read it.
var overrideReasons = [...]struct {
	code, zh, en string
	colours      []Colour
}{
	{"close_contact_by_phone", "电话流调确认的密切接触者", "Close contact confirmed by phone investigation", []Colour{Yellow, Red}},
	{"household_of_case", "病例的共同居住者", "Lives in the same household as a case", []Colour{Yellow, Red}},
	{"positive_awaiting_upload", "核酸阳性，结果待上传", "Positive result awaiting upload", []Colour{Red}},
	{"inbound_traveller", "入境人员，隔离观察期", "Inbound traveller in quarantine", []Colour{Yellow, Red}},
	{"risk_area_referral", "协查确认的中高风险区来返人员", "Arrival from a risk area, confirmed by a referral", []Colour{Yellow, Red}},
	{"fever_clinic_visit", "发热门诊就诊，待核酸结果", "Fever clinic visit, test result pending", []Colour{Yellow}},
}

// OverrideReasons returns the closed list of grounds for a manual code
// change, in a fixed order. The result is a fresh copy.
func OverrideReasons() []OverrideReason {
	out := make([]OverrideReason, len(overrideReasons))
	for i, r := range overrideReasons {
		out[i] = OverrideReason{Code: r.code, Title: map[string]string{"zh": r.zh, "en": r.en}, Colours: append([]Colour(nil), r.colours...)}
	}
	return out
}

// ParseOverrideReason returns the ground named by code, or an Invalid error
// (code "invalid_reason") naming field that lists the accepted codes.
func ParseOverrideReason(field, code string) (OverrideReason, error) {
	all := OverrideReasons()
	codes := make([]string, len(all))
	for i, r := range all {
		if r.Code == code {
			return r, nil
		}
		codes[i] = r.Code
	}
	return OverrideReason{}, Errorf(Invalid, "invalid_reason", field, "%q is not one of the epidemic grounds %s", truncate(code, 40), strings.Join(codes, ", "))
}

// Allows reports whether the ground can justify colour c.
func (r OverrideReason) Allows(c Colour) bool {
	for _, x := range r.Colours {
		if x == c {
			return true
		}
	}
	return false
}
