package health

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"cel.dev/cel-go/common/types"
)

// Stay is a person's visit that falls inside a declared risk area.
type Stay struct {
	Visit      uint64 // the visit event
	Area       uint64 // the risk-area event
	Place      uint32
	From, To   time.Time
	Level      RiskLevel
	Region     string // the area's region
	Unverified bool
}

// CityStay is a city a person visited recently that has (or had) a medium or
// high risk area in force while the star window is open.
type CityStay struct {
	City       string
	LastVisit  uint64 // the latest visit event in that city
	At         time.Time
	Area       uint64 // the risk-area event
	Level      RiskLevel
	AreaUntil  time.Time
	Unverified bool // every visit to the city was unverified
}

// ContactItem is a person's finding as a contact of a case by tracing
// (the contact_traced event): the latest finding per case.
type ContactItem struct {
	Event        uint64 // the contact_traced event
	Case         string
	Degree       int       // 1 close, 2 secondary
	LastExposure time.Time // end of the latest exposure
	Unverified   bool      // every exposure rests on unverified presence
}

// OverrideItem is a manual code change (人工赋码) applied to the person: a
// request approved by a second official (and, if abuse detection held it,
// released by an auditor), not revoked. The engine sees no other kind of
// override: pending, held, refused and revoked ones never reach it.
type OverrideItem struct {
	Event           uint64 // the approval event
	Request         uint64 // the request event
	Cleared         uint64 // the auditor's release of a held request, or 0
	Colour          Colour
	Reason          string // the ground's code (OverrideReasons)
	Until           time.Time
	RequesterRegion string
	ApproverRegion  string
}

// Evidence is everything the engine knows about one person: the inputs of
// the pure function (evidence, ruleset, now) → code.
type Evidence struct {
	Tests     []TestResult
	Stays     []Stay
	CityStays []CityStay
	Contacts  []ContactItem
	Overrides []OverrideItem
}

// Empty reports whether there is no evidence at all.
func (ev *Evidence) Empty() bool {
	return len(ev.Tests) == 0 && len(ev.Stays) == 0 && len(ev.CityStays) == 0 && len(ev.Contacts) == 0 && len(ev.Overrides) == 0
}

// Reason is one rule holding for one evidence item: the rule (id, version),
// its effect and the events that triggered it (invariant 1).
type Reason struct {
	Rule        string
	RuleVersion int
	Title       map[string]string
	Colour      Colour // Green for a reason that only sets the star
	Star        bool
	Evidence    []uint64
	Until       time.Time // the rule stops holding at this time; zero = until new evidence
}

// Code is a person's evaluated health code.
type Code struct {
	Colour         Colour
	Star           bool
	Reasons        []Reason
	NextEval       time.Time // the next time the code changes by itself; zero = never
	Ruleset        string
	RulesetVersion int
}

// Evaluate computes a code from a person's evidence at time now. It is a pure
// function: the same evidence, ruleset and now give the same code. Reasons
// are sorted by severity, then rule id, then evidence. It returns an error
// only if a rule expression fails at run time (a ruleset bug).
func (rs *Ruleset) Evaluate(ev *Evidence, now time.Time) (Code, error) {
	code := Code{Ruleset: rs.ID, RulesetVersion: rs.Version}
	if ev.Empty() {
		return code, nil
	}
	lists := map[string][]map[string]any{
		"tests":      testItems(ev.Tests),
		"stays":      stayItems(ev.Stays),
		"city_stays": cityItems(ev.CityStays),
		"contacts":   contactItems(ev.Contacts),
		"overrides":  overrideItems(ev.Overrides),
	}
	act := map[string]any{"params": rs.params}
	for name, items := range lists {
		act[name] = items
	}
	for _, r := range rs.Rules {
		items := lists[r.Each]
		for i, item := range items {
			act["e"] = item
			out, _, err := r.when.Eval(act)
			if err != nil {
				return Code{}, fmt.Errorf("rule %s v%d when: %w", r.ID, r.Version, err)
			}
			if out != types.True {
				continue
			}
			var until time.Time
			if r.until != nil {
				u, _, err := r.until.Eval(act)
				if err != nil {
					return Code{}, fmt.Errorf("rule %s v%d until: %w", r.ID, r.Version, err)
				}
				ts, ok := u.(types.Timestamp)
				if !ok {
					return Code{}, fmt.Errorf("rule %s v%d until: got %s, want a timestamp", r.ID, r.Version, u.Type())
				}
				until = ts.Time.UTC()
				if !now.Before(until) {
					continue // expired
				}
				if until.Before(farFuture) && (code.NextEval.IsZero() || until.Before(code.NextEval)) {
					code.NextEval = until
				}
				if !until.Before(farFuture) {
					until = time.Time{}
				}
			}
			reason := Reason{Rule: r.ID, RuleVersion: r.Version, Title: r.Title, Colour: r.colour, Star: r.Star,
				Evidence: evidenceOf(r.Each, ev, i), Until: until}
			if reason.Colour > code.Colour {
				code.Colour = reason.Colour
			}
			code.Star = code.Star || reason.Star
			code.Reasons = append(code.Reasons, reason)
		}
	}
	sort.SliceStable(code.Reasons, func(i, j int) bool {
		a, b := code.Reasons[i], code.Reasons[j]
		if a.Colour != b.Colour {
			return a.Colour > b.Colour
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return slices.Compare(a.Evidence, b.Evidence) < 0
	})
	return code, nil
}

func evidenceOf(each string, ev *Evidence, i int) []uint64 {
	switch each {
	case "tests":
		return []uint64{ev.Tests[i].Seq}
	case "stays":
		return []uint64{ev.Stays[i].Visit, ev.Stays[i].Area}
	case "city_stays":
		return []uint64{ev.CityStays[i].LastVisit, ev.CityStays[i].Area}
	case "contacts":
		return []uint64{ev.Contacts[i].Event}
	case "overrides":
		o := ev.Overrides[i]
		if o.Cleared != 0 {
			return []uint64{o.Event, o.Request, o.Cleared}
		}
		return []uint64{o.Event, o.Request}
	}
	return nil
}

func testItems(ts []TestResult) []map[string]any {
	out := make([]map[string]any, len(ts))
	for i, t := range ts {
		out[i] = map[string]any{"result": t.Result.String(), "sampled_at": t.SampledAt, "lab": t.Lab, "sample_id": t.SampleID}
	}
	return out
}

func stayItems(ss []Stay) []map[string]any {
	out := make([]map[string]any, len(ss))
	for i, s := range ss {
		out[i] = map[string]any{"level": s.Level.String(), "from": s.From, "to": s.To, "region": s.Region, "unverified": s.Unverified}
	}
	return out
}

func cityItems(cs []CityStay) []map[string]any {
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = map[string]any{"city": c.City, "last_visit": c.At, "level": c.Level.String(), "area_until": c.AreaUntil, "unverified": c.Unverified}
	}
	return out
}

func contactItems(cs []ContactItem) []map[string]any {
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = map[string]any{"case": c.Case, "degree": int64(c.Degree), "last_exposure": c.LastExposure, "unverified": c.Unverified}
	}
	return out
}

func overrideItems(os []OverrideItem) []map[string]any {
	out := make([]map[string]any, len(os))
	for i, o := range os {
		out[i] = map[string]any{"colour": o.Colour.String(), "reason": o.Reason, "until": o.Until,
			"requester_region": o.RequesterRegion, "approver_region": o.ApproverRegion}
	}
	return out
}

// ContainsFunc reports whether region code is inside region ancestor.
type ContainsFunc func(ancestor, code string) bool

// JoinStays returns the visits that fall inside a risk area: the place's
// region is inside the area's region and the visit interval overlaps the
// area's interval [From, Until). Visits and areas may be in any order; the
// result is ordered by visit, then area.
func JoinStays(visits []Visit, placeRegion func(uint32) string, areas []RiskArea, contains ContainsFunc) []Stay {
	var out []Stay
	for _, v := range visits {
		pr := placeRegion(v.Place)
		for _, a := range areas {
			if v.To.After(a.From) && v.From.Before(a.Until) && contains(a.Region, pr) {
				out = append(out, Stay{Visit: v.Seq, Area: a.Seq, Place: v.Place, From: v.From, To: v.To,
					Level: a.Level, Region: a.Region, Unverified: v.Unverified})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Visit != out[j].Visit {
			return out[i].Visit < out[j].Visit
		}
		return out[i].Area < out[j].Area
	})
	return out
}

// JoinCityStays returns, for each city the person visited within window
// before now that has a medium or high risk area in force at now, one item:
// the latest verified visit (else the latest visit), AreaUntil = the latest
// end of the city's areas in force, and the area cited as evidence. The star
// lasts until end = min(visit + window, AreaUntil); the cited area is the
// earliest declared (lowest seq) area in force whose Until reaches end. This
// choice is stable: declaring a new area changes a person's item only when
// it extends the star (end moves later), which lets the node re-evaluate
// only those persons. One item per city keeps evaluation cheap when a city
// declares many areas. cityOf maps a place's region to its city. The result
// is ordered by city.
func JoinCityStays(visits []Visit, placeRegion func(uint32) string, cityOf func(string) string, areas []RiskArea, contains ContainsFunc, now time.Time, window time.Duration) []CityStay {
	best := map[string]*CityStay{}
	var cities []string
	for _, v := range visits {
		if v.From.After(now) || now.Sub(v.From) >= window {
			continue
		}
		city := cityOf(placeRegion(v.Place))
		cs, ok := best[city]
		if !ok {
			cs = &CityStay{City: city, Unverified: true}
			best[city] = cs
			cities = append(cities, city)
		}
		// The latest verified visit decides; an unverified scan never
		// extends a star that a verified visit started.
		switch {
		case !v.Unverified && (cs.Unverified || v.From.After(cs.At)):
			cs.LastVisit, cs.At, cs.Unverified = v.Seq, v.From, false
		case v.Unverified && cs.Unverified && (cs.LastVisit == 0 || v.From.After(cs.At)):
			cs.LastVisit, cs.At = v.Seq, v.From
		}
	}
	if len(cities) == 0 {
		return nil
	}
	sort.Strings(cities)
	out := make([]CityStay, 0, len(cities))
	for _, c := range cities {
		cs := best[c]
		var inForce []*RiskArea
		for i := range areas {
			a := &areas[i]
			if a.Active(now) && (contains(c, a.Region) || contains(a.Region, c)) {
				inForce = append(inForce, a)
				if a.Until.After(cs.AreaUntil) {
					cs.AreaUntil = a.Until
				}
			}
		}
		if len(inForce) == 0 {
			continue
		}
		end := cs.At.Add(window)
		if cs.AreaUntil.Before(end) {
			end = cs.AreaUntil
		}
		for _, a := range inForce {
			if !a.Until.Before(end) && (cs.Area == 0 || a.Seq < cs.Area) {
				cs.Area, cs.Level = a.Seq, a.Level
			}
		}
		out = append(out, *cs)
	}
	return out
}
