// Package review checks a case's trajectory (流调 stops) before a human
// reviewer sees it: overlapping stops, long gaps, speeds between stops that
// no transport could make, stops at unknown places and stops outside the
// infectious period. Each problem becomes a Finding with a message in Chinese
// and English; the reviewer approves the trajectory or sends it back. The
// package does no I/O.
package review

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// The finding codes.
const (
	Overlap                 = "overlap"                   // two stops overlap in time
	Gap                     = "gap"                       // no stop for longer than Params.MaxGap
	ImpossibleSpeed         = "impossible_speed"          // no allowed transport covers the distance in the time
	UnknownPlace            = "unknown_place"             // a stop has Place 0
	OutsideInfectiousPeriod = "outside_infectious_period" // a stop lies wholly outside the infectious period
)

// Stop is one stop of a trajectory: a presence at a place over [From, To).
// A stop whose To is not after From is taken as a moment at From.
type Stop struct {
	Place     uint32 // 0 = unknown place
	PlaceName string
	Lat, Lng  float64 // degrees; used only when HasCoords and in range
	HasCoords bool
	Mode      string // the transport: "" (on foot or by road), "bus", "train" or "flight"; anything else counts as road
	From, To  time.Time
}

// Params tune a review. A field that is zero (or negative) takes its
// default.
type Params struct {
	MaxGap                       time.Duration // longest time without a stop; default 4h
	InfectiousFrom, InfectiousTo time.Time     // the infectious period [From, To); a zero bound is open
	RoadKmh, TrainKmh, FlightKmh float64       // top speeds; defaults 120, 350, 1000
	SlackKm                      float64       // distances up to this never flag; default 2
}

// Finding is one problem found in a trajectory.
type Finding struct {
	Code    string            // one of the finding codes
	Stops   []int             // indexes into the reviewed stops, earliest first
	Message map[string]string // the problem for the reviewer, by language: "zh" and "en"
	Detail  map[string]any    // figures behind the message (km, kmh, hours, …); nil when there are none
}

// Review checks a trajectory and returns its findings, or nil when it is
// clean. The stops may come in any order: Review sorts them by From (then
// To, then input order), and the findings refer to the input indexes.
//
// The findings come in time order: for each stop, in sorted order, those
// that end at it (overlaps with each earlier stop still going on, the gap
// before it, the speed needed to reach it), then its own (unknown place,
// outside the infectious period).
//
// The checks:
//   - Overlap: a stop starts before an earlier one ends.
//   - Gap: a stop starts more than MaxGap after every earlier stop ended.
//   - ImpossibleSpeed: between consecutive stops with coordinates, the
//     great-circle distance over the time from the end of the earlier to the
//     start of the later exceeds the top speed of the fastest mode of those
//     two stops and any between them (flight, then train, then road). A
//     distance over SlackKm with no time at all is impossible too.
//   - UnknownPlace: a stop with Place 0.
//   - OutsideInfectiousPeriod: a stop that ends by InfectiousFrom, or
//     starts at or after a non-zero InfectiousTo.
func Review(stops []Stop, p Params) []Finding {
	p = p.withDefaults()
	order := make([]int, len(stops))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(stops[a].From.Compare(stops[b].From), stops[a].end().Compare(stops[b].end()))
	})

	r := reviewer{stops: stops, p: p}
	var (
		findings []Finding
		ongoing  []int // earlier stops not ended by the current stop's start, in sorted order
		latest   = -1  // the earlier stop that ends last
		prevGeo  = -1  // the last earlier stop with coordinates
		fastest  mode  // the fastest mode from prevGeo up to the current stop
	)
	for _, i := range order {
		s := stops[i]
		ongoing = slices.DeleteFunc(ongoing, func(j int) bool { return !stops[j].end().After(s.From) })
		for _, j := range ongoing {
			findings = append(findings, r.overlap(j, i))
		}
		ongoing = append(ongoing, i)

		if latest >= 0 && s.From.Sub(stops[latest].end()) > p.MaxGap {
			findings = append(findings, r.gap(latest, i))
		}
		if latest < 0 || s.end().After(stops[latest].end()) {
			latest = i
		}

		fastest = max(fastest, modeOf(s.Mode))
		if s.located() {
			if prevGeo >= 0 {
				if f, ok := r.speed(prevGeo, i, fastest); ok {
					findings = append(findings, f)
				}
			}
			prevGeo, fastest = i, modeOf(s.Mode)
		}

		if s.Place == 0 {
			findings = append(findings, r.unknownPlace(i))
		}
		if f, ok := r.outside(i); ok {
			findings = append(findings, f)
		}
	}
	return findings
}

// The defaults of Params.
const (
	defaultMaxGap    = 4 * time.Hour
	defaultRoadKmh   = 120
	defaultTrainKmh  = 350
	defaultFlightKmh = 1000
	defaultSlackKm   = 2
)

// withDefaults returns p with its unset fields set to their defaults.
func (p Params) withDefaults() Params {
	if p.MaxGap <= 0 {
		p.MaxGap = defaultMaxGap
	}
	p.RoadKmh = positiveOr(p.RoadKmh, defaultRoadKmh)
	p.TrainKmh = positiveOr(p.TrainKmh, defaultTrainKmh)
	p.FlightKmh = positiveOr(p.FlightKmh, defaultFlightKmh)
	p.SlackKm = positiveOr(p.SlackKm, defaultSlackKm)
	return p
}

// positiveOr returns v if it is positive, else def (also for NaN).
func positiveOr(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

// end returns the end of the stop: To, or From if To is not after it.
func (s Stop) end() time.Time {
	if s.To.After(s.From) {
		return s.To
	}
	return s.From
}

// located reports whether the stop has usable coordinates.
func (s Stop) located() bool {
	return s.HasCoords && math.Abs(s.Lat) <= 90 && math.Abs(s.Lng) <= 180
}

// mode is a kind of transport, ordered from slowest to fastest.
type mode uint8

// The modes.
const (
	road mode = iota
	train
	flight
)

// modeOf returns the mode of a Stop.Mode.
func modeOf(s string) mode {
	switch s {
	case "flight":
		return flight
	case "train":
		return train
	}
	return road
}

// topSpeed returns the top speed of mode m in km/h.
func (p Params) topSpeed(m mode) float64 {
	switch m {
	case flight:
		return p.FlightKmh
	case train:
		return p.TrainKmh
	}
	return p.RoadKmh
}

// earthRadiusKm is the mean radius of the Earth.
const earthRadiusKm = 6371.0088

// distanceKm returns the great-circle distance between two stops (haversine).
func distanceKm(a, b Stop) float64 {
	rad := func(deg float64) float64 { return deg * math.Pi / 180 }
	dLat, dLng := rad(b.Lat-a.Lat), rad(b.Lng-a.Lng)
	h := math.Pow(math.Sin(dLat/2), 2) + math.Cos(rad(a.Lat))*math.Cos(rad(b.Lat))*math.Pow(math.Sin(dLng/2), 2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(h, 1)))
}

// reviewer builds the findings of one review.
type reviewer struct {
	stops []Stop
	p     Params
}

// overlap returns the finding that stop b starts before stop a ends.
func (r reviewer) overlap(a, b int) Finding {
	sa, sb := r.stops[a], r.stops[b]
	end := sa.end()
	if sb.end().Before(end) {
		end = sb.end()
	}
	d := end.Sub(sb.From)
	return Finding{
		Code:  Overlap,
		Stops: []int{a, b},
		Message: map[string]string{
			"zh": "停留时间重叠：" + label(sa, zh) + "与" + label(sb, zh) + "重叠" + duration(d, zh) + "。",
			"en": "Overlapping stops: " + label(sa, en) + " and " + label(sb, en) + " overlap by " + duration(d, en) + ".",
		},
		Detail: map[string]any{"hours": round(d.Hours(), 2)},
	}
}

// gap returns the finding that nothing is known between the end of stop a
// and the start of stop b.
func (r reviewer) gap(a, b int) Finding {
	sa, sb := r.stops[a], r.stops[b]
	d := sb.From.Sub(sa.end())
	return Finding{
		Code:  Gap,
		Stops: []int{a, b},
		Message: map[string]string{
			"zh": "行程空白：" + label(sa, zh) + "与" + label(sb, zh) + "之间有" + duration(d, zh) + "没有停留记录（超过" + duration(r.p.MaxGap, zh) + "）。",
			"en": "Gap in the trajectory: no stop for " + duration(d, en) + " between " + label(sa, en) + " and " + label(sb, en) + " (more than " + duration(r.p.MaxGap, en) + ").",
		},
		Detail: map[string]any{"hours": round(d.Hours(), 2), "max_hours": round(r.p.MaxGap.Hours(), 2)},
	}
}

// speed returns the finding that stop b cannot be reached from stop a by
// mode m, and whether there is one.
func (r reviewer) speed(a, b int, m mode) (Finding, bool) {
	sa, sb := r.stops[a], r.stops[b]
	km := distanceKm(sa, sb)
	if !(km > r.p.SlackKm) {
		return Finding{}, false
	}
	d := sb.From.Sub(sa.end())
	top := r.p.topSpeed(m)
	detail := map[string]any{"km": round(km, 1), "hours": round(d.Hours(), 2), "max_kmh": top, "mode": modeNames[m].id}
	var zhMsg, enMsg string
	if d > 0 {
		kmh := km / d.Hours()
		if kmh <= top {
			return Finding{}, false
		}
		detail["kmh"] = round(kmh, 0)
		zhMsg = fmt.Sprintf("速度不可能：从%s到%s相距%s公里，用时%s，需时速%s公里，超过%s的最高时速%s公里。",
			label(sa, zh), label(sb, zh), number(km, 1), duration(d, zh), number(kmh, 0), modeNames[m].zh, number(top, 0))
		enMsg = fmt.Sprintf("Impossible speed: %s to %s is %s km in %s, %s km/h, above the %s km/h top speed by %s.",
			label(sa, en), label(sb, en), number(km, 1), duration(d, en), number(kmh, 0), number(top, 0), modeNames[m].en)
	} else {
		zhMsg = fmt.Sprintf("速度不可能：从%s到%s相距%s公里，但中间没有留出路上的时间。", label(sa, zh), label(sb, zh), number(km, 1))
		enMsg = fmt.Sprintf("Impossible speed: %s to %s is %s km with no time to travel.", label(sa, en), label(sb, en), number(km, 1))
	}
	return Finding{
		Code:    ImpossibleSpeed,
		Stops:   []int{a, b},
		Message: map[string]string{"zh": zhMsg, "en": enMsg},
		Detail:  detail,
	}, true
}

// unknownPlace returns the finding that stop i is at an unknown place.
func (r reviewer) unknownPlace(i int) Finding {
	s := r.stops[i]
	return Finding{
		Code:  UnknownPlace,
		Stops: []int{i},
		Message: map[string]string{
			"zh": "未知地点：" + label(s, zh) + "不是已登记的场所，请核实。",
			"en": "Unknown place: " + label(s, en) + " is not a registered place; please check it.",
		},
	}
}

// outside returns the finding that stop i lies wholly outside the
// infectious period, and whether there is one.
func (r reviewer) outside(i int) (Finding, bool) {
	s := r.stops[i]
	from, to := r.p.InfectiousFrom, r.p.InfectiousTo
	var side, zhSide string
	var d time.Duration
	switch {
	case !from.IsZero() && s.From.Before(from) && !s.end().After(from):
		side, zhSide, d = "before", "之前", from.Sub(s.end())
	case !to.IsZero() && !s.From.Before(to):
		side, zhSide, d = "after", "之后", s.From.Sub(to)
	default:
		return Finding{}, false
	}
	return Finding{
		Code:  OutsideInfectiousPeriod,
		Stops: []int{i},
		Message: map[string]string{
			"zh": "不在传染期内：" + label(s, zh) + "在传染期（" + period(from, to, zh) + "）" + zhSide + "。",
			"en": "Outside the infectious period: " + label(s, en) + " is " + side + " the infectious period (" + period(from, to, en) + ").",
		},
		Detail: map[string]any{"side": side, "hours": round(d.Hours(), 2)},
	}, true
}

// round rounds x to the given number of decimal places.
func round(x float64, places int) float64 {
	f := math.Pow10(places)
	return math.Round(x*f) / f
}
