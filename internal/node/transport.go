package node

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"healthcode/internal/health"
)

// Transport modes, which are also the place kinds of trip sections.
const (
	ModeTrain  = "train"
	ModeFlight = "flight"
	ModeBus    = "bus"
)

var (
	trainNoRE  = regexp.MustCompile(`^[GDCZTKLYS][0-9]{1,4}$`)
	flightNoRE = regexp.MustCompile(`^[A-Z0-9]{2}[0-9]{2,4}$`)
	tripNoRE   = regexp.MustCompile(`^[\p{Han}A-Z0-9]{2,12}$`)
)

// trip is a parsed transport: the number, the date, and the section that
// is a place of its own: the carriage of a train or a bus, the row of a
// flight. Passengers of one section are co-located; on a flight the rows
// within flight_rows of each other are too (trace Params.Near).
type trip struct {
	Transport
	Number, Date string
	Section      string // "05" (carriage) or "12" (row); "" for a whole bus
}

// key names the section's place.
func (t trip) key() string { return t.Trip + "|" + t.Section }

// parseTrip validates a transport and infers its mode from the trip number
// if it is not given: G/D/C/Z/T/K… and digits is a train, two letters or
// digits and digits a flight; anything else needs a mode.
func parseTrip(field string, tr *Transport) (trip, error) {
	bad := func(sub, format string, args ...any) (trip, error) {
		return trip{}, health.Errorf(health.Invalid, "invalid_transport", field+"."+sub, format, args...)
	}
	number, date, ok := strings.Cut(strings.TrimSpace(tr.Trip), " ")
	number = strings.ToUpper(number)
	if !ok || !tripNoRE.MatchString(number) {
		return bad("trip", "must be the number and the date, e.g. \"G1234 2022-06-10\" or \"CA1234 2022-06-10\"")
	}
	d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(date), health.CST)
	if err != nil {
		return bad("trip", "%q is not a date (YYYY-MM-DD) after the number", date)
	}
	t := trip{Transport: *tr, Number: number, Date: d.Format("2006-01-02")}
	t.Trip = number + " " + t.Date
	if t.Mode == "" {
		switch {
		case trainNoRE.MatchString(number):
			t.Mode = ModeTrain
		case flightNoRE.MatchString(number):
			t.Mode = ModeFlight
		default:
			return bad("mode", "cannot tell the mode of %s: give train, flight or bus", number)
		}
	}
	if utf8.RuneCountInString(t.Seat) > 8 {
		return bad("seat", "must be at most 8 characters")
	}
	switch t.Mode {
	case ModeTrain:
		c, err := strconv.Atoi(strings.TrimSpace(t.Carriage))
		if err != nil || c < 1 || c > 30 {
			return bad("carriage", "a train stop needs the carriage, 1 to 30")
		}
		t.Carriage, t.Row = fmt.Sprintf("%02d", c), 0
		t.Section = t.Carriage
	case ModeFlight:
		if t.Row < 1 || t.Row > 120 {
			return bad("row", "a flight stop needs the row, 1 to 120")
		}
		t.Carriage = ""
		t.Section = strconv.Itoa(t.Row)
	case ModeBus:
		t.Carriage, t.Row = "", 0
	default:
		return bad("mode", "%q is not one of train, flight, bus", t.Mode)
	}
	return t, nil
}

// name is the section's place name, as investigators write it.
func (t trip) name() string {
	switch t.Mode {
	case ModeTrain:
		return fmt.Sprintf("%s次列车 %s %s车", t.Number, t.Date, t.Carriage)
	case ModeFlight:
		return fmt.Sprintf("%s航班 %s 第%s排", t.Number, t.Date, t.Section)
	}
	return fmt.Sprintf("%s客车 %s", t.Number, t.Date)
}

// sectionPlace returns the place of a trip section, adding it to the
// group (and to pending, by key) if it is new. Only the writer calls it.
func (n *Node) sectionPlace(g *group, pending map[string]uint32, t trip, actor, batch string) uint32 {
	if p, ok := n.sections[t.key()]; ok {
		return p
	}
	if p, ok := pending[t.key()]; ok {
		return p
	}
	data, _ := json.Marshal(health.Place{Name: t.name(), Kind: t.Mode, Region: n.cfg.Region, Trip: t.Trip, Section: t.Section})
	idx := g.nextPlace
	g.nextPlace++
	g.add(health.Event{Kind: health.EvPlaceRegistered, At: g.now, Place: idx, Region: packedRegion(n.cfg.Region), Actor: actor, Batch: batch, Data: data})
	pending[t.key()] = idx
	return idx
}

// applySection indexes a registered place that is a trip section.
func (n *Node) applySection(pl *health.Place) {
	if pl.Trip == "" {
		return
	}
	n.sections[pl.Trip+"|"+pl.Section] = pl.Index
	if pl.Kind == ModeFlight {
		n.flightRows[pl.Trip] = append(n.flightRows[pl.Trip], pl.Index)
	}
}

// nearPlaces lists, for each flight row place, the rows of the same flight
// within flight_rows (the trace's Params.Near). Called under n.mu.
func (n *Node) nearPlaces() map[uint32][]uint32 {
	k := n.paramInt("flight_rows", 3)
	if k <= 0 || len(n.flightRows) == 0 {
		return nil
	}
	near := map[uint32][]uint32{}
	for _, rows := range n.flightRows {
		for _, a := range rows {
			ra, _ := strconv.Atoi(n.places[a].Section)
			for _, b := range rows {
				rb, _ := strconv.Atoi(n.places[b].Section)
				if a != b && ra-rb <= k && rb-ra <= k {
					near[a] = append(near[a], b)
				}
			}
		}
	}
	return near
}

// paramInt reads an integer parameter of the ruleset.
func (n *Node) paramInt(name string, def int) int {
	switch v := n.rules.Params[name].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case uint64:
		return int(v)
	case float64:
		return int(v)
	}
	return def
}

// paramDuration reads a duration parameter of the ruleset.
func (n *Node) paramDuration(name string, def time.Duration) time.Duration {
	if v, ok := n.rules.Params[name].(string); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// Passenger is one person on a carrier's passenger list (manifest).
type Passenger struct {
	Person   uint32
	Carriage string
	Row      int
	Seat     string
}

// ManifestInput is a carrier's passenger list for one trip: who was on
// board, where, and when the trip ran.
type ManifestInput struct {
	Trip       string
	Mode       string
	From, To   time.Time
	Passengers []Passenger
}

// RecordManifest records a passenger list as manifest visits, one per
// passenger at their section of the trip (added as places if new). The
// list is refused whole if any passenger is malformed.
func (n *Node) RecordManifest(ctx context.Context, actor string, in ManifestInput) (int, error) {
	now := n.now()
	switch {
	case in.From.IsZero() || in.To.IsZero() || !in.To.After(in.From) || in.To.Sub(in.From) > 72*time.Hour:
		return 0, health.Errorf(health.Invalid, "invalid_interval", "to", "a trip needs from < to, at most 72h apart")
	case in.From.After(now.Add(n.cfg.ClockSkew)):
		return 0, health.Errorf(health.Invalid, "future_time", "from", "%s is in the future", health.FormatTime(in.From))
	case len(in.Passengers) == 0 || len(in.Passengers) > 5000:
		return 0, health.Errorf(health.Invalid, "invalid_passengers", "passengers", "give 1 to 5000 passengers")
	}
	nPersons := n.nPersons.Load()
	trips := make([]trip, len(in.Passengers))
	for i, p := range in.Passengers {
		f := fmt.Sprintf("passengers[%d]", i)
		if p.Person == 0 || p.Person > nPersons {
			return 0, health.Errorf(health.NotFound, "unknown_person", f+".person_id", "no person %s", health.PersonID(p.Person))
		}
		t, err := parseTrip(f, &Transport{Mode: in.Mode, Trip: in.Trip, Carriage: p.Carriage, Row: p.Row, Seat: p.Seat})
		if err != nil {
			return 0, err
		}
		trips[i] = t
	}
	err := n.submitSolo(ctx, func(g *group) error {
		b := batchID(g)
		pending := map[string]uint32{}
		for i, t := range trips {
			place := n.sectionPlace(g, pending, t, actor, b)
			g.add(health.Event{Kind: health.EvVisit, At: in.From, Until: in.To, Person: in.Passengers[i].Person, Place: place,
				Aux: int64(health.SourceManifest), Actor: actor, Batch: b})
		}
		return nil
	}, nil)
	if err != nil {
		return 0, err
	}
	return len(trips), nil
}
