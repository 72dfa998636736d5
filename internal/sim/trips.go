package sim

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/uber/h3-go/v4"

	"healthcode/internal/health"
)

// Inter-city trips. Each day a small share of the persons at home leave the
// city by train, flight or coach, and come back one to four nights later by
// the same mode. The timetable is fixed: the same runs (number, departure,
// duration) every day, as many as the city's size needs. A day's run with
// residents on board is a [Trip], its carrier's passenger list. A coach
// stops at one of the city's highway service areas on the way, where its
// passengers spend 20 to 30 minutes together: a visit of each, like any
// other. While away, a traveller visits no place of the city; on the days
// out and back, only before leaving for the station and after coming home.
// The infection spreads on board (same carriage, rows within flight_rows on
// a flight, same coach) as at places.

// Trip is one run of a train, flight or coach between the city and
// elsewhere with residents of the city on board: what its carrier's
// passenger list says (POST /api/v1/trips/manifest).
type Trip struct {
	// Trip is the number and the date (CST) of departure: "G1234
	// 2022-06-10", "CA1234 2022-06-10", "粤A12345 2022-06-10".
	Trip       string
	Mode       string    // ModeTrain, ModeFlight or ModeBus
	From, To   time.Time // departure and arrival
	Passengers []Passenger
}

// Passenger is a person on a trip at a seat of a section, the trip's part
// that is a place of its own: a train's carriage, a flight's row, or the
// whole coach.
type Passenger struct {
	Person   int
	Carriage int    // train: 1 to 16; 0 otherwise
	Row      int    // flight: 1 to 40; 0 otherwise
	Seat     string // "07F" on a train, "12C" on a flight, "17" on a coach
}

// Transport modes, which are also the place kinds of trip sections.
const (
	ModeTrain  = "train"
	ModeFlight = "flight"
	ModeBus    = "bus"
)

// Model parameters of trips.
const (
	tripShare     = 0.02          // share of the persons at home who leave on a trip each day
	serviceAreas  = 2             // highway service areas among the city's places
	stationBefore = 3600          // a traveller's last visit ends this long before departure (s)
	homeAfter     = 1800          // the first visit after coming back starts this long after arrival (s)
	firstDepart   = 7 * 3600      // runs depart from 07:00
	lastArrival   = 23 * 3600     // and arrive by 23:00
	lastCoach     = 19 * 3600     // coaches depart by 19:00 (their stop starts before 22:00)
	minStop       = 20 * 60       // a coach's stop at a service area
	maxStop       = 30 * 60       //
	neverBack     = math.MaxInt16 // awayTo of a traveller who does not come back in the period

	trainCarriages = 16
	trainRows      = 18
	trainLetters   = "ABCDF" // second class: three seats and two a row
	flightRows     = 40
	flightLetters  = "ABCDEF"
	coachSeats     = 50
)

// awayNights are the cumulative weights of staying away 1, 2, 3 or 4 nights.
var awayNights = []float64{0.35, 0.65, 0.85, 1}

// tripMode is the generator's view of a transport mode.
type tripMode struct {
	mode           string
	kind           int     // the kind of its sections
	share          float64 // share of the travellers
	load           float64 // residents on board a run, as the timetable plans
	maxRuns        int     // runs a day in each direction at most
	minDur, maxDur int32   // seconds
	seats          int     // seats a run
}

var tripModes = []tripMode{
	{mode: ModeTrain, kind: kTrain, share: 0.55, load: 120, maxRuns: 30, minDur: 90 * 60, maxDur: 6 * 3600,
		seats: trainCarriages * trainRows * len(trainLetters)},
	{mode: ModeFlight, kind: kFlight, share: 0.25, load: 60, maxRuns: 20, minDur: 80 * 60, maxDur: 210 * 60,
		seats: flightRows * len(flightLetters)},
	{mode: ModeBus, kind: kBus, share: 0.20, load: 25, maxRuns: 24, minDur: 2 * 3600, maxDur: 270 * 60, seats: coachSeats},
}

// modeShares are the cumulative shares of tripModes.
var modeShares = func() []float64 {
	out := make([]float64, len(tripModes))
	sum := 0.0
	for i, m := range tripModes {
		sum += m.share
		out[i] = sum
	}
	return out
}()

// passenger is person p at seat s (0 to seats-1) of a run of mode m.
func (m *tripMode) passenger(p int, s int) Passenger {
	switch m.mode {
	case ModeTrain:
		per := trainRows * len(trainLetters)
		row, l := s%per/len(trainLetters)+1, trainLetters[s%len(trainLetters)]
		return Passenger{Person: p, Carriage: s/per + 1, Seat: fmt.Sprintf("%02d%c", row, l)}
	case ModeFlight:
		row := s/len(flightLetters) + 1
		return Passenger{Person: p, Row: row, Seat: strconv.Itoa(row) + string(flightLetters[s%len(flightLetters)])}
	}
	return Passenger{Person: p, Seat: strconv.Itoa(s + 1)}
}

// run is a run of the timetable, the same every day.
type run struct {
	mode     int    // index into tripModes
	number   string // train or flight number, or a coach's plate
	back     bool   // into the city
	dep, dur int32  // departure (seconds into the day, CST) and duration (s)
	// A coach's stop: the service area (a place) and when, from departure
	// (s); stop -1 for trains and flights.
	stop            int32
	stopAt, stopDur int32
}

// travel is the timetable and the state of the travellers.
type travel struct {
	g      *gen
	runs   []run   // sorted by departure, then number
	out    [][]int // by mode: the runs out of the city (indexes into runs)
	back   [][]int // by mode: the runs back
	awayTo []int16 // by person: the day they come back (away before it), -1: at home
	modeOf []int8  // by person: the mode of the trip out
	away   []int32 // the persons away
	legOf  []int32 // by person: their run of the day (index into runs), -1: none
	today  []int32 // the persons with a run today
	taken  [][]bool
	pass   [][]Passenger // by run: today's passengers
	near   int           // flight rows within this many rows of each other are near
}

// addServiceAreas makes the last places of the city highway service areas
// (coaches stop there). The ordinary places were drawn for every slot, so
// that the rest of the city stays as it was without them (the same draws);
// the last ones are replaced.
func (g *gen) addServiceAreas() {
	c := g.city
	k := min(serviceAreas, len(c.Places)-len(requiredKinds))
	first := len(c.Places) - k
	for i := len(c.Places) - 1; i >= first; i-- { // each is the last of its kind
		ok, st := int(g.placeKind[i]), int(g.placeSt[i])
		co := g.streets[st].county
		g.byKind[ok] = g.byKind[ok][:len(g.byKind[ok])-1]
		g.byKindCty[ok][co] = g.byKindCty[ok][co][:len(g.byKindCty[ok][co])-1]
		g.names[c.Places[i].Name]--
	}
	for i := first; i < len(c.Places); i++ {
		st := pickCum(g.tr, g.streetCum)
		s := g.streets[st]
		co := s.county
		hw := highways[g.tr.IntN(len(highways))]
		name := hw + s.short + "服务区"
		for n := 2; g.names[name] > 0; n++ {
			name = hw + s.short + ordinal(n) + "服务区"
		}
		g.names[name]++
		cell := g.venueCell(g.tr, co)
		ll := h3.CellToLatLng(cell)
		c.Places[i] = Place{Name: name, Aliases: []string{s.short + "服务区"}, Kind: g.kinds[kHighway].name, Region: s.code,
			Lat: round6(ll.Lat), Lng: round6(ll.Lng), Cell: cell}
		g.placeKind[i], g.placeSt[i] = kHighway, int32(st)
		g.byKind[kHighway] = append(g.byKind[kHighway], int32(i))
		g.byKindCty[kHighway][co] = append(g.byKindCty[kHighway][co], int32(i))
	}
}

// newTravel makes the timetable: for each mode, runs out and runs back, as
// many a day as the city's travellers fill at the mode's planned load.
func (g *gen) newTravel() *travel {
	n := g.cfg.Persons
	tv := &travel{g: g, out: make([][]int, len(tripModes)), back: make([][]int, len(tripModes)),
		awayTo: make([]int16, n), modeOf: make([]int8, n), legOf: make([]int32, n), near: flightRowsNear()}
	for i := range n {
		tv.awayTo[i], tv.legOf[i] = -1, -1
	}
	used := map[string]bool{}
	stops := g.byKind[kHighway]
	for mi := range tripModes {
		m := &tripModes[mi]
		nr := max(1, min(m.maxRuns, int(math.Round(float64(n)*tripShare*m.share/m.load))))
		var numbers []string
		for dir := range 2 {
			for i := range nr {
				r := run{mode: mi, back: dir == 1, stop: -1}
				r.dur = m.minDur + 300*int32(g.tr.IntN(int(m.maxDur-m.minDur)/300+1))
				lo, hi := int32(firstDepart), lastArrival-r.dur
				if m.mode == ModeBus {
					hi = min(hi, lastCoach)
				}
				r.dep = lo + int32((float64(i)+g.tr.Float64())/float64(nr)*float64(hi-lo))
				r.dep -= r.dep % 300
				switch {
				case m.mode == ModeBus:
					r.number = g.plate(used)
					if len(stops) > 0 {
						r.stop = stops[i%len(stops)]
						r.stopAt = int32(float64(r.dur)*(0.4+0.2*g.tr.Float64())) / 60 * 60
						r.stopDur = minStop + 60*int32(g.tr.IntN((maxStop-minStop)/60+1))
					}
				case dir == 0:
					r.number = g.tripNumber(m.mode, used)
					numbers = append(numbers, r.number)
				default:
					// Back as the next number: G6101 out, G6102 back.
					r.number = nextNumber(numbers[i])
					used[r.number] = true
				}
				tv.runs = append(tv.runs, r)
			}
		}
	}
	slices.SortStableFunc(tv.runs, func(a, b run) int { return cmp.Or(cmp.Compare(a.dep, b.dep), cmp.Compare(a.number, b.number)) })
	for i, r := range tv.runs {
		if r.back {
			tv.back[r.mode] = append(tv.back[r.mode], i)
		} else {
			tv.out[r.mode] = append(tv.out[r.mode], i)
		}
	}
	tv.taken = make([][]bool, len(tv.runs))
	tv.pass = make([][]Passenger, len(tv.runs))
	for i, r := range tv.runs {
		tv.taken[i] = make([]bool, tripModes[r.mode].seats)
	}
	return tv
}

// airlines are two-character airline codes for flight numbers.
var airlines = []string{"CZ", "CA", "MU", "HU", "ZH", "3U", "MF", "SC", "GS", "FM"}

// tripNumber returns a new train number (G or D and four digits) or flight
// number (an airline and four digits), odd, with its successor free too.
func (g *gen) tripNumber(mode string, used map[string]bool) string {
	for {
		var pre string
		switch {
		case mode == ModeFlight:
			pre = airlines[g.tr.IntN(len(airlines))]
		case g.tr.IntN(5) == 0:
			pre = "D"
		default:
			pre = "G"
		}
		n := 1001 + 2*g.tr.IntN(4499)
		if num := pre + strconv.Itoa(n); !used[num] && !used[pre+strconv.Itoa(n+1)] {
			used[num] = true
			return num
		}
	}
}

// nextNumber is the trip number after num, a train or flight number that
// ends in four digits: "G6101" → "G6102".
func nextNumber(num string) string {
	k := len(num) - 4
	n, _ := strconv.Atoi(num[k:])
	return num[:k] + strconv.Itoa(n+1)
}

// plateLetters are the letters of a plate's issuing city (no I or O).
const plateLetters = "ABCDEFGHJKLMNPQRSTUVWXY"

// plate returns a new coach plate of the city: its province's abbreviation,
// a letter for the city (A for the provincial capital and municipalities,
// then in code order, roughly as the real ones), and five digits.
func (g *gen) plate(used map[string]bool) string {
	code := g.cfg.City
	abbr, ok := provinceAbbr[code[:2]]
	if !ok {
		abbr = "粤"
	}
	letter := byte('A')
	if n, err := strconv.Atoi(code[2:4]); err == nil && n > 1 && code[:2] != "11" && code[:2] != "12" && code[:2] != "31" && code[:2] != "50" {
		letter = plateLetters[(n-1)%len(plateLetters)]
	}
	for {
		p := fmt.Sprintf("%s%c%05d", abbr, letter, g.tr.IntN(100000))
		if !used[p] {
			used[p] = true
			return p
		}
	}
}

// confined reports whether the residents of street st must stay in it at t:
// a high or medium area over it is in force.
func (ctl *control) confined(st int32, t time.Time) bool {
	in := func(s span) bool { return s.declared && !t.Before(s.from) && t.Before(s.until) }
	return in(ctl.high[st]) || in(ctl.med[st])
}

// plan chooses day d's travellers: first those coming back (on a run back
// of their mode), then those leaving (on a run out). A traveller isolated
// while away does not come back in the period (they are isolated where they
// are); one who finds the runs back full comes back a day later. Nobody
// leaves who is isolated or falls ill that day. One who lives in a street
// under a risk area at departure does not leave either, but learns it only
// then (areas are declared at 09:00): they stay home from an hour before
// departure (see cut), and their seat stays empty. The draws are the same
// with or without the measures.
func (tv *travel) plan(e *epi, ctl *control, d int) {
	g := tv.g
	for _, p := range tv.today {
		tv.legOf[p] = -1
	}
	tv.today = tv.today[:0]
	for i := range tv.runs {
		clear(tv.taken[i])
		tv.pass[i] = nil
	}
	kept := tv.away[:0]
	for _, p := range tv.away {
		switch at := int(tv.awayTo[p]); {
		case at < d: // came back yesterday
			tv.awayTo[p] = -1
			continue
		case at > d:
		case int(e.isolated[p]) <= d:
			tv.awayTo[p] = neverBack
		default:
			runs := tv.back[tv.modeOf[p]]
			if !tv.board(runs[g.tr.IntN(len(runs))], p) {
				tv.awayTo[p]++
			}
		}
		kept = append(kept, p)
	}
	tv.away = kept
	for p := range int32(len(tv.awayTo)) {
		if tv.awayTo[p] >= 0 || g.tr.Float64() >= tripShare {
			continue
		}
		if int(e.isolated[p]) <= d || e.infDay[p] >= 0 && !e.asym[p] && int(e.onsetDay[p]) == d {
			continue
		}
		m := pickCum(g.tr, modeShares)
		runs := tv.out[m]
		ri := runs[g.tr.IntN(len(runs))]
		if !tv.board(ri, p) {
			continue
		}
		back := int16(min(d+1+pickCum(g.tr, awayNights), neverBack-1))
		if dep := g.days[d].Add(time.Duration(tv.runs[ri].dep) * time.Second); g.measures && ctl.confined(g.homeSt[p], dep) {
			tv.pass[ri] = tv.pass[ri][:len(tv.pass[ri])-1] // stays: legOf set, awayTo not
			continue
		}
		tv.awayTo[p] = back
		tv.modeOf[p] = int8(m)
		tv.away = append(tv.away, p)
	}
}

// board seats person p on run ri today, if a seat is free.
func (tv *travel) board(ri int, p int32) bool {
	m := &tripModes[tv.runs[ri].mode]
	taken := tv.taken[ri]
	if len(tv.pass[ri]) >= len(taken) {
		return false
	}
	s := tv.g.tr.IntN(len(taken))
	for taken[s] {
		s = (s + 1) % len(taken)
	}
	taken[s] = true
	tv.pass[ri] = append(tv.pass[ri], m.passenger(int(p), s))
	tv.legOf[p] = int32(ri)
	tv.today = append(tv.today, p)
	return true
}

// travelling reports whether person p is away or on a run today.
func (tv *travel) travelling(p int) bool { return tv.awayTo[p] >= 0 }

// cut keeps of person p's routine of the day, buf[from:], what they do in
// the city: nothing while away; before leaving for the station on the day
// out; after coming home on the day back. A coach's passenger visits its
// service area during the stop. One kept from leaving by a risk area keeps
// only what they did before leaving for the station.
func (tv *travel) cut(buf []cv, from int32, p int) []cv {
	ri := tv.legOf[p]
	switch {
	case ri < 0 && tv.awayTo[p] < 0: // at home
		return buf
	case ri < 0: // away
		return buf[:from]
	}
	r := &tv.runs[ri]
	stays := tv.awayTo[p] < 0
	w := from
	for _, v := range buf[from:] {
		if !r.back && v.at+v.dur <= r.dep-stationBefore || r.back && v.at >= r.dep+r.dur+homeAfter {
			buf[w] = v
			w++
		}
	}
	buf = buf[:w]
	if r.stop >= 0 && !stays {
		buf = append(buf, cv{int32(p), r.stop, r.dep + r.stopAt, r.stopDur})
	}
	return buf
}

// trips returns day d's runs with passengers as trips, sorted by
// departure, then number; passengers sorted by person.
func (tv *travel) trips(d int) []Trip {
	ds := tv.g.days[d]
	date := ds.In(health.CST).Format("2006-01-02")
	var out []Trip
	for i, r := range tv.runs {
		ps := tv.pass[i]
		if len(ps) == 0 {
			continue
		}
		slices.SortFunc(ps, func(a, b Passenger) int { return cmp.Compare(a.Person, b.Person) })
		from := ds.Add(time.Duration(r.dep) * time.Second)
		out = append(out, Trip{Trip: r.number + " " + date, Mode: tripModes[r.mode].mode, From: from,
			To: from.Add(time.Duration(r.dur) * time.Second), Passengers: ps})
	}
	return out
}

// together reports whether passengers a and b of a trip of the mode share a
// section or sit near: the same carriage, rows within near of each other,
// the same coach.
func together(mode string, a, b Passenger, near int) bool {
	switch mode {
	case ModeTrain:
		return a.Carriage == b.Carriage
	case ModeFlight:
		return a.Row-b.Row <= near && b.Row-a.Row <= near
	}
	return true
}

// transmitOnBoard spreads the infection on board the day's trips: an
// infectious passenger can infect up to maxContacts passengers sitting
// together with them, each with the kind's probability (for the trip's
// duration against the kind's dwell).
func (g *gen) transmitOnBoard(e *epi, d int, trips []Trip, infectious func(q int) bool) {
	var cands []int
	for ti := range trips {
		t := &trips[ti]
		ks := &g.kinds[modeKind(t.Mode)]
		dur := t.To.Sub(t.From)
		f := min(1, dur.Seconds()/float64(ks.dwell))
		for _, q := range t.Passengers {
			if !infectious(q.Person) {
				continue
			}
			cands = cands[:0]
			for j, w := range t.Passengers {
				if w.Person != q.Person && e.infDay[w.Person] < 0 && together(t.Mode, q, w, g.travel.near) {
					cands = append(cands, j)
				}
			}
			if len(cands) > maxContacts {
				for a := 0; a < maxContacts; a++ {
					b := a + g.r.IntN(len(cands)-a)
					cands[a], cands[b] = cands[b], cands[a]
				}
				cands = cands[:maxContacts]
			}
			for _, j := range cands {
				tp := t.Passengers[j].Person
				if e.infDay[tp] >= 0 || g.r.Float64() >= ks.contactP*f {
					continue
				}
				g.infect(e, tp, q.Person, -1, d, t.From.Add(time.Duration(g.r.Int64N(int64(dur/time.Second)))*time.Second))
				g.city.Infections[len(g.city.Infections)-1].Trip = t.Trip
			}
		}
	}
}

// modeKind is the index in kinds of a mode's kind.
func modeKind(mode string) int {
	switch mode {
	case ModeTrain:
		return kTrain
	case ModeFlight:
		return kFlight
	}
	return kBus
}

// flightRowsNear is the national ruleset's flight_rows (3 if it has none or
// does not parse): on a flight, passengers within this many rows of each
// other are co-located.
func flightRowsNear() int {
	rs, err := nationalRuleset()
	if err != nil {
		return 3
	}
	switch v := rs.Params["flight_rows"].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case uint64:
		return int(v)
	case float64:
		return int(v)
	}
	return 3
}
