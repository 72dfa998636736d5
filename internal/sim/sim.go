// Package sim generates a deterministic synthetic city — persons, places,
// daily routines, inter-city trips by train, flight and coach, an outbreak
// with its ground truth, test results and risk areas with their control
// measures — and loads it into a node through the real HTTP API (see
// [Client]). It also writes and reads a city as files in the API's body
// shapes ([WriteDir], [ReadDir]), and computes the ground truth of tracing,
// the close and secondary contacts of the city's cases ([Cases],
// [Contacts]), on its own, to check a node's tracing against.
//
// [Generate] is a pure function of its [Config]: the same Config (Seed
// included) gives the same [City], byte for byte when marshalled.
package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/uber/h3-go/v4"

	"healthcode/internal/health"
	"healthcode/internal/region"
)

// Config configures [Generate].
type Config struct {
	Persons int    // number of persons; default 100000
	Days    int    // number of calendar days simulated; default 7
	Seed    int64  // same seed (and rest of the config) → identical City
	City    string // prefecture-level region code; default "440100" (广州市)
	// End is the end (exclusive) of the simulated period; required. It is
	// truncated to the start of its calendar day (CST): the period is the
	// Days whole days before End's day.
	End time.Time
}

// City is a generated synthetic city.
type City struct {
	Config     Config
	Persons    []Person
	Places     []Place
	Visits     []Visit     // the visits made (after the control measures); sorted by At
	Trips      []Trip      // the inter-city trips with residents on board; sorted by From, then Trip
	Results    []Result    // sorted by SampledAt
	RiskAreas  []RiskArea  // sorted by DeclareAt, then Level, then Region
	Infections []Infection // ground truth: who infected whom, where, when; sorted by At
}

// Person is a resident.
type Person struct {
	IDNumber   string
	Name       string
	Phone      string
	HomeRegion string // 9-digit street code
	Household  int    // household number; members of a household are contiguous
	Work       int    // index of the workplace (office, factory, school, ...) or -1
}

// Place is a venue, workplace or transport hub of the city.
type Place struct {
	Name    string
	Aliases []string
	Kind    string // a kind of the national ruleset
	Region  string // 9-digit street code
	Lat     float64
	Lng     float64
	Cell    h3.Cell // the H3 cell (resolution VenueRes) whose centre is at Lat, Lng
}

// H3 placement: venues sit at the centres of resolution-VenueRes cells
// (about 25 m across) inside resolution-areaRes cells (about 900 m across)
// within areaK rings of their county's centre cell (about 15 km across).
const (
	VenueRes = 11
	areaRes  = 8
	areaK    = 8
)

// Visit is a person at a place over [At, Until).
type Visit struct {
	Person, Place int
	At, Until     time.Time
}

// Result is a lab's test result.
type Result struct {
	Lab       string
	SampleID  string
	Person    int
	SampledAt time.Time
	Result    string // positive, negative or invalid
}

// RiskArea is a declared risk area over a street. It is declared during the
// simulation and its measures apply from DeclareAt (= From) until Until: a
// high-risk street is sealed (its places are closed and its residents stay
// home), the residents of a medium-risk street stay inside it and others stay
// out of it. A street has
// at most one area of each level; a medium street whose resident later tests
// positive is upgraded by a second, high area over the same street.
type RiskArea struct {
	Region    string // 9-digit street code
	Level     string // high or medium
	From      time.Time
	Until     time.Time
	DeclareAt time.Time
}

// Infection is one transmission (ground truth).
type Infection struct {
	Person       int
	Source       int    // infecting person, -1 for seeds
	Place        int    // place of the co-presence, -1 for seeds, households and trips
	Trip         string // the trip (Trip.Trip) of an infection on board, else ""
	At           time.Time
	Onset        time.Time // symptom onset (for asymptomatic persons: when it would have been)
	Asymptomatic bool
}

// Defaults of [Config].
const (
	DefaultPersons = 100000
	DefaultDays    = 7
	DefaultCity    = "440100"
)

// Labs are the lab ids used for results.
var Labs = []string{"gz-lab-01", "gz-lab-02", "gz-lab-03", "gz-lab-04"}

// Model parameters.
const (
	personsPerPlace  = 50
	minPlaces        = 20
	seedsPer         = 20000 // one seed infection per this many persons
	minSeeds         = 2
	householdP       = 0.08 // daily transmission probability within a household
	maxContacts      = 12   // co-present persons an infectious visit can reach
	asymptomaticP    = 0.20
	massTestP        = 0.60
	invalidP         = 0.001
	positiveAfter    = 24 * time.Hour // a test turns positive this long after infection
	latestStart      = 22 * 3600      // no visit starts after 22:00
	earliestStart    = 7 * 3600       // nor before 07:00
	lastSecondOfDay  = 86400 - 1
	riskAreaDuration = 7 * 24 * time.Hour
	declareHour      = 9 // areas are declared at 09:00 the day after the first positive
	secondsPerDay    = 86400
)

// kindSpec is the generator's view of a place kind.
type kindSpec struct {
	name       string
	placeW     float64 // share of places
	visitW     float64 // share of leisure/errand visits
	contactP   float64 // transmission probability per contact over a full dwell
	minAge     int     // youngest visitor of leisure visits
	dwell      int32   // seconds, from the ruleset
	minOverlap int32   // seconds, from the ruleset
}

// kinds lists the kinds of places generated, then the kinds of highway
// service areas (places only coaches stop at) and of trip sections (train,
// flight, bus: no places of the city). Residences and "other" are not
// generated.
var kinds = []kindSpec{
	{name: "restaurant", placeW: 24, visitW: 30, contactP: 0.06},
	{name: "market", placeW: 6, visitW: 12, contactP: 0.04, minAge: 12},
	{name: "supermarket", placeW: 9, visitW: 16, contactP: 0.02},
	{name: "mall", placeW: 4, visitW: 8, contactP: 0.03},
	{name: "office", placeW: 12, contactP: 0.05},
	{name: "factory", placeW: 5, contactP: 0.05},
	{name: "school", placeW: 5, contactP: 0.05},
	{name: "hospital", placeW: 2, visitW: 1, contactP: 0.04},
	{name: "clinic", placeW: 4, visitW: 1.5, contactP: 0.03},
	{name: "pharmacy", placeW: 6, visitW: 6, contactP: 0.02, minAge: 16},
	{name: "hotel", placeW: 3, visitW: 1, contactP: 0.02, minAge: 18},
	{name: "gym", placeW: 4, visitW: 5, contactP: 0.06, minAge: 14},
	{name: "cinema", placeW: 2, visitW: 3, contactP: 0.04},
	{name: "bar", placeW: 3, visitW: 4, contactP: 0.08, minAge: 18},
	{name: "transport_hub", placeW: 2, visitW: 5, contactP: 0.02, minAge: 10},
	{name: "highway_service", contactP: 0.03},
	{name: ModeTrain, contactP: 0.03},
	{name: ModeFlight, contactP: 0.04},
	{name: ModeBus, contactP: 0.05},
}

const (
	kRestaurant = iota
	kMarket
	kSupermarket
	kMall
	kOffice
	kFactory
	kSchool
	kHospital
	kClinic
	kPharmacy
	kHotel
	kGym
	kCinema
	kBar
	kTransport
	kHighway
	kTrain
	kFlight
	kBus
	nKinds
)

// requiredKinds get at least one place each, so that every routine can be
// followed in a small city.
var requiredKinds = []int{kOffice, kFactory, kSchool, kHospital, kClinic, kRestaurant, kSupermarket, kMarket, kPharmacy, kMall}

// adultJobs are the workplaces of employed adults, by share.
var adultJobs = []struct {
	kind int
	w    float64
}{{kOffice, 0.60}, {kFactory, 0.28}, {kHospital, 0.04}, {kMall, 0.03}, {kSupermarket, 0.03}, {kRestaurant, 0.02}}

var rulesetKinds = sync.OnceValues(func() ([]kindSpec, error) {
	rs, err := health.NationalRuleset()
	if err != nil {
		return nil, fmt.Errorf("sim: national ruleset: %w", err)
	}
	if len(kinds) != nKinds || kinds[kOffice].name != "office" || kinds[kTransport].name != "transport_hub" ||
		kinds[kHighway].name != "highway_service" || kinds[kBus].name != ModeBus {
		return nil, errors.New("sim: the kinds table and its constants disagree")
	}
	out := slices.Clone(kinds)
	for i := range out {
		pk, ok := rs.PlaceKinds[out[i].name]
		if !ok {
			return nil, fmt.Errorf("sim: the national ruleset has no place kind %q", out[i].name)
		}
		out[i].dwell = int32(pk.Dwell / time.Second)
		out[i].minOverlap = int32(pk.MinOverlap / time.Second)
	}
	return out, nil
})

// geography of the city.
type street struct {
	code, short string
	county      int
}

type county struct {
	code, name, short string
	streets           []int
	lat, lng          float64
	disk              []h3.Cell // the resolution-areaRes cells around the centre (on first use)
}

// venueCell draws a venue's cell in county co: a random resolution-VenueRes
// child of a random cell in the disk around the county's centre.
func (g *gen) venueCell(r *rand.Rand, co int) h3.Cell {
	c := &g.counties[co]
	if c.disk == nil {
		c.disk = h3.GridDisk(h3.LatLngToCell(h3.NewLatLng(c.lat, c.lng), areaRes), areaK)
		slices.Sort(c.disk) // GridDisk's order is not part of its contract
	}
	area := c.disk[r.IntN(len(c.disk))]
	children := 1
	for range VenueRes - areaRes {
		children *= 7
	}
	return h3.ChildPosToCell(r.IntN(children), area, VenueRes)
}

// gen holds the generator's state.
type gen struct {
	cfg     Config
	r       *rand.Rand
	tr      *rand.Rand // the trips' draws: a stream of their own, apart from r's
	kinds   []kindSpec
	start   time.Time   // first day's start (UTC)
	end     time.Time   // period end: start + Days days
	days    []time.Time // day starts (UTC)
	weekday []bool      // Monday to Friday

	counties []county
	streets  []street

	city        *City
	placeKind   []int8
	byKind      [nKinds][]int32     // places by kind
	byKindCty   [nKinds][][]int32   // places by kind and county
	kindCum     []float64           // cumulative visit weights over kinds having places
	kindOfCum   []int               // the kinds of kindCum
	surnameCum  []float64           // cumulative surname weights
	homeCounty  []int32             // by person
	households  []int32             // start of each household; len = households+1
	age         []int16             // age in years at the start of the period
	placeStreet map[string]int      // street code → street index
	placeSt     []int32             // street of each place
	homeSt      []int32             // home street of each person
	measures    bool                // apply the control measures of the risk areas
	names       map[string]int      // place names used → count
	idSeen      map[uint64]struct{} // first 17 digits of ID numbers
	streetCum   []float64           // cumulative street weights (population)
	travel      *travel             // the timetable and the travellers
}

// Generate generates a city from cfg using the region table regions (nil:
// [region.Default]). It returns an error for an invalid configuration: a
// missing End, negative sizes, or a city code that is unknown or has no
// streets.
func Generate(cfg Config, regions *region.Table) (*City, error) {
	return generateCity(cfg, regions, true)
}

// generateCity is [Generate]; measures false declares the risk areas but does
// not enforce them (for tests: the city as if nobody complied).
func generateCity(cfg Config, regions *region.Table, measures bool) (*City, error) {
	if cfg.Persons == 0 {
		cfg.Persons = DefaultPersons
	}
	if cfg.Days == 0 {
		cfg.Days = DefaultDays
	}
	if cfg.City == "" {
		cfg.City = DefaultCity
	}
	switch {
	case cfg.Persons < 0:
		return nil, fmt.Errorf("sim: Persons must be positive, got %d", cfg.Persons)
	case cfg.Days < 0 || cfg.Days > 60:
		return nil, fmt.Errorf("sim: Days must be 1 to 60, got %d", cfg.Days)
	case cfg.End.IsZero():
		return nil, errors.New("sim: Config.End is required")
	}
	if regions == nil {
		var err error
		if regions, err = region.Default(); err != nil {
			return nil, err
		}
	}
	ks, err := rulesetKinds()
	if err != nil {
		return nil, err
	}
	g := &gen{cfg: cfg, kinds: ks, r: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		tr:          rand.New(rand.NewPCG(uint64(cfg.Seed), 0x2545f4914f6cdd1d)),
		placeStreet: map[string]int{}, names: map[string]int{}, measures: measures}
	if err := g.geography(regions); err != nil {
		return nil, err
	}
	g.period()
	g.city = &City{Config: cfg}
	g.places()
	g.travel = g.newTravel()
	g.persons()
	g.simulate()
	return g.city, nil
}

func (g *gen) period() {
	e := g.cfg.End.In(health.CST)
	for d := 0; d <= g.cfg.Days; d++ {
		t := time.Date(e.Year(), e.Month(), e.Day()-g.cfg.Days+d, 0, 0, 0, 0, health.CST)
		if d == g.cfg.Days {
			g.end = t.UTC()
			break
		}
		g.days = append(g.days, t.UTC())
		wd := t.Weekday()
		g.weekday = append(g.weekday, wd != time.Saturday && wd != time.Sunday)
	}
	g.start = g.days[0]
}

// geography collects the counties of the city that have streets, their
// streets and a centre for each county.
func (g *gen) geography(t *region.Table) error {
	c, ok := t.Lookup(g.cfg.City)
	if !ok {
		return fmt.Errorf("sim: city %q is not in the region table", g.cfg.City)
	}
	if c.Level == region.Street {
		return fmt.Errorf("sim: city %s (%s) is a street, want a prefecture-level region", c.Code, c.Name)
	}
	cen, ok := cityCentres[c.Code]
	switch p := c.Code[:2]; {
	case !ok && (p == "11" || p == "12" || p == "31" || p == "50"):
		cen, ok = cityCentres[p+"0000"] // a municipality or one of its districts
	case !ok:
		if cen, ok = cityCentres[c.Code[:4]+"00"]; !ok {
			cen, ok = cityCentres[p+"0100"] // the provincial capital
		}
	}
	if !ok {
		// A deterministic point inside China for any other code.
		h := uint32(2166136261)
		for i := 0; i < len(c.Code); i++ {
			h = (h ^ uint32(c.Code[i])) * 16777619
		}
		cen = centre{lat: 24 + float64(h%1000)/1000*16, lng: 102 + float64(h/1000%1000)/1000*18}
	}
	for _, co := range t.Counties(c.Code) {
		var sts []region.Region
		if len(co.Code) == 6 {
			sts = t.Children(co.Code)
		}
		idx := len(g.counties)
		// Counties are spread around the centre, streets around their county.
		cr := rand.New(rand.NewPCG(uint64(packCode(co.Code)), 1))
		cc := county{code: co.Code, name: co.Name, short: shortName(co.Name, "区", "县", "市", "自治县", "旗", "林区", "特区"),
			lat: cen.lat + (cr.Float64()*2-1)*0.14, lng: cen.lng + (cr.Float64()*2-1)*0.14}
		for _, s := range sts {
			if s.Level != region.Street {
				continue
			}
			cc.streets = append(cc.streets, len(g.streets))
			g.placeStreet[s.Code] = len(g.streets)
			g.streets = append(g.streets, street{code: s.Code, short: shortName(s.Name, "街道办事处", "地区办事处", "街道", "镇", "乡", "民族乡", "苏木", "地区"), county: idx})
		}
		if len(cc.streets) > 0 {
			g.counties = append(g.counties, cc)
		}
	}
	if len(g.streets) == 0 {
		return fmt.Errorf("sim: city %s (%s) has no streets in the region table", c.Code, c.Name)
	}
	// Population weights: central streets are denser, deterministically.
	g.streetCum = make([]float64, len(g.streets))
	sum := 0.0
	for i := range g.streets {
		sum += 0.4 + g.r.Float64()*1.2
		g.streetCum[i] = sum
	}
	return nil
}

func packCode(code string) uint32 {
	p, _ := region.Pack(code)
	return p
}

// shortName strips the first matching administrative suffix from name,
// unless that would leave fewer than two characters.
func shortName(name string, suffixes ...string) string {
	for _, s := range suffixes {
		if b, ok := strings.CutSuffix(name, s); ok && utf8.RuneCountInString(b) >= 2 {
			return b
		}
	}
	return name
}

func pickCum(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	i := sort.SearchFloat64s(cum, x)
	if i >= len(cum) {
		i = len(cum) - 1
	}
	if cum[i] == x && i+1 < len(cum) {
		i++
	}
	return i
}

func (g *gen) randomStreet() int { return pickCum(g.r, g.streetCum) }

// places generates the places.
func (g *gen) places() {
	n := (g.cfg.Persons + personsPerPlace/2) / personsPerPlace
	if n < minPlaces {
		n = minPlaces
	}
	g.city.Places = make([]Place, 0, n)
	g.placeKind = make([]int8, 0, n)
	g.placeSt = make([]int32, 0, n)
	cum := make([]float64, nKinds)
	sum := 0.0
	for i, k := range g.kinds {
		sum += k.placeW
		cum[i] = sum
	}
	for i := range nKinds {
		g.byKindCty[i] = make([][]int32, len(g.counties))
	}
	for i := 0; i < n; i++ {
		k := 0
		if i < len(requiredKinds) {
			k = requiredKinds[i]
		} else {
			k = pickCum(g.r, cum)
		}
		st := g.randomStreet()
		co := g.streets[st].county
		name, aliases := g.placeName(k, st)
		cell := g.venueCell(g.r, co)
		ll := h3.CellToLatLng(cell)
		p := Place{Name: name, Aliases: aliases, Kind: g.kinds[k].name, Region: g.streets[st].code,
			Lat: round6(ll.Lat), Lng: round6(ll.Lng), Cell: cell}
		idx := int32(len(g.city.Places))
		g.city.Places = append(g.city.Places, p)
		g.placeKind = append(g.placeKind, int8(k))
		g.placeSt = append(g.placeSt, int32(st))
		g.byKind[k] = append(g.byKind[k], idx)
		g.byKindCty[k][co] = append(g.byKindCty[k][co], idx)
	}
	g.addServiceAreas()
	sum = 0
	for i, k := range g.kinds {
		if k.visitW > 0 && len(g.byKind[i]) > 0 {
			sum += k.visitW
			g.kindCum = append(g.kindCum, sum)
			g.kindOfCum = append(g.kindOfCum, i)
		}
	}
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

var cnDigits = []string{"", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"}

func ordinal(n int) string {
	if n < len(cnDigits) {
		return cnDigits[n]
	}
	return strconv.Itoa(n)
}

// placeName names a place of kind k in street st, keeping names unique.
func (g *gen) placeName(k, st int) (string, []string) {
	w := placeNaming[g.kinds[k].name]
	s := g.streets[st]
	dist := g.counties[s.county].short
	unique := func(variant func(n int) string) string {
		name := variant(1)
		for n := 2; g.names[name] > 0; n++ {
			name = variant(n)
		}
		return name
	}
	var base, name string
	var aliases []string
	switch w.style {
	case styleBranch:
		if len(w.words) > 0 && g.r.IntN(4) == 0 {
			base = dist + w.words[g.r.IntN(len(w.words))]
		} else {
			base = w.brands[g.r.IntN(len(w.brands))]
		}
		name = unique(func(n int) string {
			if n == 1 {
				return base + "(" + s.short + "店)"
			}
			return base + "(" + s.short + ordinal(n) + "店)"
		})
		aliases = []string{base, base + strings.TrimSuffix(name[len(base)+1:], ")")}
	case styleBuilding:
		base = w.brands[g.r.IntN(len(w.brands))] + w.words[g.r.IntN(len(w.words))]
		name = unique(func(n int) string {
			if n == 1 {
				return base + "(" + s.short + ")"
			}
			return base + "(" + s.short + ordinal(n) + "期)"
		})
		aliases = []string{base, s.short + base}
	default:
		word := w.words[g.r.IntN(len(w.words))]
		prefix := s.short
		if k == kHospital {
			prefix = dist // hospitals are named after the district
		}
		name = unique(func(n int) string {
			if n == 1 {
				return prefix + word
			}
			return prefix + "第" + ordinal(n) + strings.TrimPrefix(word, "第一")
		})
		if prefix == s.short {
			aliases = []string{g.counties[s.county].name + name} // 荔湾区逢源小学
		} else {
			aliases = []string{g.counties[s.county].name + strings.TrimPrefix(name, prefix)} // 天河区人民医院
		}
	}
	g.names[name]++
	return name, aliases
}

// persons generates households and their members.
func (g *gen) persons() {
	n := g.cfg.Persons
	c := g.city
	c.Persons = make([]Person, 0, n)
	g.homeCounty = make([]int32, 0, n)
	g.homeSt = make([]int32, 0, n)
	g.age = make([]int16, 0, n)
	g.households = make([]int32, 0, n/2)
	g.idSeen = make(map[uint64]struct{}, n)
	g.surnameCum = make([]float64, len(surnames))
	sum := 0.0
	for i, s := range surnames {
		sum += s.w
		g.surnameCum[i] = sum
	}
	refYear := g.start.In(health.CST).Year()
	sizeCum := []float64{15, 40, 68, 88, 100} // households of 1..5 persons
	for len(c.Persons) < n {
		h := len(g.households)
		g.households = append(g.households, int32(len(c.Persons)))
		size := min(pickCum(g.r, sizeCum)+1, n-len(c.Persons))
		st := g.randomStreet()
		co := g.streets[st].county
		surname, spouse := g.surname(), g.surname()
		kids := surname // children take the father's surname
		var headYear int
		if size == 1 {
			headYear = refYear - 20 - g.r.IntN(61)
		} else {
			headYear = refYear - 25 - g.r.IntN(41)
		}
		headYear = max(1940, min(2000, headYear))
		headMale := g.r.IntN(2) == 0
		if !headMale && size >= 2 {
			kids = spouse
		}
		for m := 0; m < size; m++ {
			by, male, sn := headYear, headMale, surname
			switch {
			case m == 0:
			case m == 1 && size >= 2:
				by = headYear + g.r.IntN(11) - 5 // spouse
				male = !headMale
				sn = spouse
			case m == 4:
				by = headYear - 22 - g.r.IntN(11) // an elderly parent: the head's father or mother
				if male = g.r.IntN(2) == 0; !male {
					sn = g.surname()
				}
			default:
				by = headYear + 22 + g.r.IntN(17) // a child
				if by > 2018 {
					by = 2018 - g.r.IntN(4)
				}
				male = g.r.IntN(2) == 0
				sn = kids
			}
			by = max(1940, min(2018, by))
			p := Person{
				IDNumber:   g.idNumber(g.counties[co].code, by, male),
				Name:       sn + g.givenName(male, by),
				Phone:      g.phone(),
				HomeRegion: g.streets[st].code,
				Household:  h,
				Work:       -1,
			}
			c.Persons = append(c.Persons, p)
			g.homeCounty = append(g.homeCounty, int32(co))
			g.homeSt = append(g.homeSt, int32(st))
			g.age = append(g.age, int16(refYear-by))
		}
	}
	g.households = append(g.households, int32(len(c.Persons)))
	// Workplaces by age.
	jobCum := make([]float64, len(adultJobs))
	sum = 0
	for i, j := range adultJobs {
		sum += j.w
		jobCum[i] = sum
	}
	for i := range c.Persons {
		a := int(g.age[i])
		k := -1
		switch {
		case a >= 3 && a <= 18:
			if g.r.Float64() < 0.97 {
				k = kSchool
			}
		case a >= 19 && a <= 22:
			if g.r.IntN(2) == 0 {
				k = kSchool // college
			} else if g.r.Float64() < 0.7 {
				k = adultJobs[pickCum(g.r, jobCum)].kind
			}
		case a >= 23 && a <= 60:
			if g.r.Float64() < 0.88 {
				k = adultJobs[pickCum(g.r, jobCum)].kind
			}
		case a >= 61 && a <= 65:
			if g.r.Float64() < 0.3 {
				k = adultJobs[pickCum(g.r, jobCum)].kind
			}
		}
		if k >= 0 {
			c.Persons[i].Work = int(g.pickPlace(k, int(g.homeCounty[i]), 0.65))
		}
	}
}

// pickPlace picks a place of kind k, in county co with probability local
// (when the county has one), else anywhere in the city.
func (g *gen) pickPlace(k, co int, local float64) int32 {
	if l := g.byKindCty[k][co]; len(l) > 0 && g.r.Float64() < local {
		return l[g.r.IntN(len(l))]
	}
	l := g.byKind[k]
	return l[g.r.IntN(len(l))]
}

func (g *gen) surname() string { return surnames[pickCum(g.r, g.surnameCum)].s }

func (g *gen) givenName(male bool, birthYear int) string {
	chars := femaleChars
	if male {
		chars = maleChars
	}
	first := chars[g.r.IntN(len(chars))]
	// One-character given names were more common in the 1980s–90s.
	single := 0.2
	if birthYear >= 1975 && birthYear < 2000 {
		single = 0.35
	}
	if g.r.Float64() < single {
		return first
	}
	return first + chars[g.r.IntN(len(chars))]
}

func (g *gen) phone() string {
	var b [11]byte
	copy(b[:3], phonePrefixes[g.r.IntN(len(phonePrefixes))])
	n := g.r.IntN(100000000)
	for i := 10; i >= 3; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

// idNumber returns a new unique ID number for a person of the county, born
// in year, of the sex: a random birth day, a sequence number whose last digit
// is odd for men and even for women, and the check character.
func (g *gen) idNumber(countyCode string, year int, male bool) string {
	var b [18]byte
	copy(b[:6], countyCode)
	jan1 := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	daysIn := 365
	if time.Date(year, 12, 31, 0, 0, 0, 0, time.UTC).YearDay() == 366 {
		daysIn = 366
	}
	for {
		d := jan1.AddDate(0, 0, g.r.IntN(daysIn))
		strconv.AppendInt(b[6:6], int64(d.Year()*10000+int(d.Month())*100+d.Day()), 10)
		seq := g.r.IntN(500) * 2 // 000..998
		if male {
			seq++
		}
		b[14] = byte('0' + seq/100)
		b[15] = byte('0' + seq/10%10)
		b[16] = byte('0' + seq%10)
		key, _ := strconv.ParseUint(string(b[:17]), 10, 64)
		if _, dup := g.idSeen[key]; dup {
			continue
		}
		g.idSeen[key] = struct{}{}
		b[17] = health.IDCheckDigit(string(b[:17]))
		return string(b[:])
	}
}

// cv is a compact visit of one day: seconds since the day's start.
type cv struct{ person, place, at, dur int32 }

// cand is a co-present visit: its index in the day's visits and the overlap.
type cand struct{ j, lo, ov int32 }

// epi is the outbreak state.
type epi struct {
	infDay   []int16 // day of infection, -1: never
	onsetDay []int16
	infIdx   []int32 // index into City.Infections
	asym     []bool
	isolated []int16 // the person stays home from this day on
}

const infectiousDays = 10

func (g *gen) dayStart(d int) time.Time {
	if d < len(g.days) {
		return g.days[d]
	}
	s := g.start.In(health.CST)
	return time.Date(s.Year(), s.Month(), s.Day()+d, 0, 0, 0, 0, health.CST).UTC()
}

func (g *gen) infect(e *epi, p, src, place, day int, at time.Time) {
	c := g.city
	inc := 2 + g.r.IntN(4)
	onset := g.dayStart(day + inc).Add(time.Duration(6*3600+g.r.IntN(3*3600)) * time.Second)
	asym := g.r.Float64() < asymptomaticP
	e.infDay[p] = int16(day)
	e.onsetDay[p] = int16(day + inc)
	e.asym[p] = asym
	e.infIdx[p] = int32(len(c.Infections))
	c.Infections = append(c.Infections, Infection{Person: p, Source: src, Place: place, At: at, Onset: onset, Asymptomatic: asym})
}

func (g *gen) addResult(p int, at time.Time, positive bool) {
	res := "negative"
	if positive {
		res = "positive"
	}
	if g.r.Float64() < invalidP {
		res = "invalid"
	}
	g.city.Results = append(g.city.Results, Result{Lab: Labs[g.r.IntN(len(Labs))], Person: p, SampledAt: at, Result: res})
}

// simulate runs the days. Each day: the risk areas due that day are declared
// (from the positives sampled on earlier days), the day's tests are taken,
// everyone's routine is drawn, the visits forbidden by the areas in force are
// dropped, the infection spreads over the visits left, and the infected
// persons' trajectories are recorded for later medium-risk declarations.
func (g *gen) simulate() {
	n, D := g.cfg.Persons, g.cfg.Days
	c := g.city
	e := &epi{infDay: make([]int16, n), onsetDay: make([]int16, n), infIdx: make([]int32, n),
		asym: make([]bool, n), isolated: make([]int16, n)}
	for i := range n {
		e.infDay[i], e.infIdx[i], e.isolated[i] = -1, -1, int16(D+1)
	}
	// The mass-testing campaign: the last two days.
	massDay := make([]int8, n)
	first := max(0, D-2)
	for i := range n {
		massDay[i] = -1
		if g.r.Float64() < massTestP {
			massDay[i] = int8(first + g.r.IntN(D-first))
		}
	}
	// Seeds, infected elsewhere on the first day.
	seeds := min(n, max(minSeeds, (n+seedsPer/2)/seedsPer))
	for s := 0; s < seeds; {
		p := g.r.IntN(n)
		if e.infDay[p] >= 0 {
			continue
		}
		g.infect(e, p, -1, -1, 0, g.days[0].Add(time.Duration(8*3600+g.r.IntN(12*3600))*time.Second))
		s++
	}

	c.Visits = make([]Visit, 0, int(float64(n)*float64(D)*3.3)+16)
	c.Results = make([]Result, 0, int(float64(n)*massTestP)+64)
	buf := make([]cv, 0, n*5+16)
	firstOf := make([]int32, n+1)
	counts := make([]int32, secondsPerDay)
	ctl := g.newControl()
	for d := 0; d < D; d++ {
		ds := g.days[d]
		ctl.declare(e, d)
		for p := range n {
			if int(massDay[p]) != d {
				continue
			}
			at := ds.Add(time.Duration(earliestStart+g.r.IntN(14*3600)) * time.Second)
			pos := e.infIdx[p] >= 0 && !at.Before(c.Infections[e.infIdx[p]].At.Add(positiveAfter))
			if pos {
				e.isolated[p] = min(e.isolated[p], int16(d+1))
			}
			g.addResult(p, at, pos)
		}
		tv := g.travel
		tv.plan(e, ctl, d)
		buf = buf[:0]
		for p := range n {
			firstOf[p] = int32(len(buf))
			if int(e.isolated[p]) <= d {
				continue
			}
			// A traveller's routine is drawn as if at home (the draws of
			// everyone else stay as they were), then cut to the hours in
			// the city.
			if e.infDay[p] >= 0 && !e.asym[p] && int(e.onsetDay[p]) == d && !tv.travelling(p) {
				buf = g.seekCare(buf, e, p, d)
				continue
			}
			buf = g.routine(buf, p, d)
			buf = tv.cut(buf, firstOf[p], p)
		}
		firstOf[n] = int32(len(buf))
		if g.measures {
			buf = ctl.restrict(d, buf, firstOf)
		}
		trips := tv.trips(d)
		g.transmit(e, d, buf, firstOf, trips)
		c.Trips = append(c.Trips, trips...)
		ctl.record(d, buf, firstOf)

		// Append the day's visits sorted by start (a counting sort on seconds).
		clear(counts)
		for _, v := range buf {
			counts[v.at]++
		}
		sum := int32(0)
		for i, k := range counts {
			counts[i] = sum
			sum += k
		}
		base := len(c.Visits)
		c.Visits = slices.Grow(c.Visits, len(buf))[:base+len(buf)]
		for _, v := range buf {
			i := counts[v.at]
			counts[v.at]++
			at := ds.Add(time.Duration(v.at) * time.Second)
			c.Visits[base+int(i)] = Visit{Person: int(v.person), Place: int(v.place), At: at, Until: at.Add(time.Duration(v.dur) * time.Second)}
		}
	}

	slices.SortStableFunc(c.Results, func(a, b Result) int { return a.SampledAt.Compare(b.SampledAt) })
	seq := make(map[string]int, len(Labs))
	for i := range c.Results {
		r := &c.Results[i]
		seq[r.Lab]++
		r.SampleID = "S" + r.Lab + "-" + strconv.Itoa(seq[r.Lab])
	}
	slices.SortStableFunc(c.Infections, func(a, b Infection) int { return a.At.Compare(b.At) })
	slices.SortFunc(c.RiskAreas, func(a, b RiskArea) int {
		return cmp.Or(a.DeclareAt.Compare(b.DeclareAt), strings.Compare(a.Level, b.Level), strings.Compare(a.Region, b.Region))
	})
}

// seekCare is the onset day of a symptomatic person: a visit to a hospital or
// clinic, a test there (positive), then isolation.
func (g *gen) seekCare(buf []cv, e *epi, p, d int) []cv {
	k := kHospital
	if g.r.IntN(5) < 2 {
		k = kClinic
	}
	pl := g.pickPlace(k, int(g.homeCounty[p]), 0.8)
	onset := g.city.Infections[e.infIdx[p]].Onset
	at := int32(onset.Sub(g.days[d])/time.Second) + int32(3600+g.r.IntN(9000))
	dur := int32(float64(g.kinds[k].dwell) * (0.6 + 0.6*g.r.Float64()))
	buf = append(buf, cv{int32(p), pl, at, min(dur, lastSecondOfDay-at)})
	g.addResult(p, g.days[d].Add(time.Duration(at+600+int32(g.r.IntN(1200)))*time.Second), true)
	e.isolated[p] = min(e.isolated[p], int16(d+1))
	return buf
}

// workStart returns the start of a working day at a place of kind k (seconds).
func (g *gen) workStart(k int) int32 {
	switch k {
	case kFactory:
		return 7*3600 + int32(g.r.IntN(90*60))
	case kSchool:
		return 7*3600 + 1800 + int32(g.r.IntN(45*60))
	case kHospital:
		return 7*3600 + 1800 + int32(g.r.IntN(60*60))
	case kMall, kSupermarket, kRestaurant:
		return 9*3600 + 1800 + int32(g.r.IntN(60*60))
	}
	return 8*3600 + int32(g.r.IntN(90*60))
}

// routine appends person p's visits on day d.
func (g *gen) routine(buf []cv, p, d int) []cv {
	r := g.r
	age := int(g.age[p])
	co := int(g.homeCounty[p])
	work := g.city.Persons[p].Work
	var nv int
	var cursor int32
	if g.weekday[d] && work >= 0 {
		nv = 1 + r.IntN(4)
		k := int(g.placeKind[work])
		start := g.workStart(k)
		if nv >= 2 && age >= 12 && r.Float64() < 0.3 {
			mk := [...]int{kRestaurant, kRestaurant, kMarket, kPharmacy}[r.IntN(4)]
			if age < g.kinds[mk].minAge {
				mk = kRestaurant
			}
			at := int32(earliestStart + r.IntN(25*60))
			dur := int32(15*60 + r.IntN(20*60))
			buf = append(buf, cv{int32(p), g.pickPlace(mk, co, 0.8), at, dur})
			start = max(start, at+dur+int32(5*60+r.IntN(10*60)))
			nv--
		}
		dwell := g.kinds[k].dwell
		if k != kOffice && k != kFactory && k != kSchool {
			dwell = 8 * 3600 // staff stay a shift, not a customer's dwell
		}
		dur := int32(float64(dwell) * (0.9 + 0.22*r.Float64()))
		dur = min(dur, lastSecondOfDay-start)
		buf = append(buf, cv{int32(p), int32(work), start, dur})
		cursor = start + dur + int32(5*60+r.IntN(35*60))
	} else {
		if g.weekday[d] {
			nv = 2 + r.IntN(3)
		} else {
			nv = 1 + r.IntN(4)
		}
		cursor = int32(earliestStart + r.IntN(4*3600))
	}
	for ; nv > 0 && cursor <= latestStart; nv-- {
		k := g.venueKind(age, cursor)
		pl := g.pickPlace(k, co, 0.8)
		if len(buf) > 0 && buf[len(buf)-1].person == int32(p) && buf[len(buf)-1].place == pl {
			pl = g.pickPlace(k, co, 0.8) // rather not the same place twice in a row
		}
		dur := max(int32(float64(g.kinds[k].dwell)*(0.5+0.8*r.Float64())), 300)
		dur = min(dur, lastSecondOfDay-cursor)
		buf = append(buf, cv{int32(p), pl, cursor, dur})
		cursor += dur + int32(10*60+r.IntN(50*60))
	}
	return buf
}

// venueKind picks the kind of a leisure or errand visit at second-of-day t.
func (g *gen) venueKind(age int, t int32) int {
	k := g.kindOfCum[pickCum(g.r, g.kindCum)]
	if age < g.kinds[k].minAge || (k == kBar && t < 18*3600) {
		k = kRestaurant
	}
	return k
}

// transmit spreads the infection on day d: co-presence at places, on board
// the day's trips, then households in the evening.
func (g *gen) transmit(e *epi, d int, buf []cv, firstOf []int32, trips []Trip) {
	c := g.city
	n0 := len(c.Infections)
	infectious := func(q int) bool { return int(e.infDay[q]) < d && d-int(e.infDay[q]) <= infectiousDays }
	any := false
	for i := 0; i < n0 && !any; i++ {
		q := c.Infections[i].Person
		any = infectious(q) && firstOf[q+1] > firstOf[q]
	}
	ds := g.days[d]
	if any {
		// Index the day's visits by place.
		np := len(c.Places)
		pstart := make([]int32, np+1)
		for _, v := range buf {
			pstart[v.place+1]++
		}
		for i := 1; i <= np; i++ {
			pstart[i] += pstart[i-1]
		}
		fill := slices.Clone(pstart[:np])
		order := make([]int32, len(buf))
		for j, v := range buf {
			order[fill[v.place]] = int32(j)
			fill[v.place]++
		}
		var cands []cand
		for i := 0; i < n0; i++ {
			q := c.Infections[i].Person
			if !infectious(q) {
				continue
			}
			for vi := firstOf[q]; vi < firstOf[q+1]; vi++ {
				v := buf[vi]
				ks := &g.kinds[g.placeKind[v.place]]
				cands = cands[:0]
				for _, j := range order[pstart[v.place]:pstart[v.place+1]] {
					w := buf[j]
					if int(w.person) == q || e.infDay[w.person] >= 0 {
						continue
					}
					lo, hi := max(v.at, w.at), min(v.at+v.dur, w.at+w.dur)
					if hi-lo >= ks.minOverlap {
						cands = append(cands, cand{j, lo, hi - lo})
					}
				}
				if len(cands) > maxContacts {
					for a := 0; a < maxContacts; a++ {
						b := a + g.r.IntN(len(cands)-a)
						cands[a], cands[b] = cands[b], cands[a]
					}
					cands = cands[:maxContacts]
				}
				for _, cd := range cands {
					tp := int(buf[cd.j].person)
					if e.infDay[tp] >= 0 {
						continue
					}
					f := min(1, float64(cd.ov)/float64(ks.dwell))
					if g.r.Float64() < ks.contactP*f {
						at := ds.Add(time.Duration(cd.lo+int32(g.r.IntN(int(cd.ov)))) * time.Second)
						g.infect(e, tp, q, int(v.place), d, at)
					}
				}
			}
		}
	}
	g.transmitOnBoard(e, d, trips, func(q int) bool { return e.infDay[q] >= 0 && infectious(q) })
	for i := 0; i < n0; i++ {
		q := c.Infections[i].Person
		if !infectious(q) {
			continue
		}
		h := c.Persons[q].Household
		for m := int(g.households[h]); m < int(g.households[h+1]); m++ {
			if m == q || e.infDay[m] >= 0 {
				continue
			}
			if g.r.Float64() < householdP {
				g.infect(e, m, q, -1, d, ds.Add(time.Duration(19*3600+g.r.IntN(5*3600))*time.Second))
			}
		}
	}
}

// declareAt is when an area is declared for a positive sampled at t: 09:00
// CST the next day.
func declareAt(t time.Time) time.Time {
	c := t.In(health.CST)
	return time.Date(c.Year(), c.Month(), c.Day()+1, declareHour, 0, 0, 0, health.CST).UTC()
}

// control declares the risk areas during the simulation and enforces them.
//
// A high-risk area is declared over the home street of every case (a person
// with a positive sample), 09:00 CST the day after the street's first positive
// ([declareAt]); a medium-risk area over every other street of the case's
// county that the case visited between infection and the first positive
// sample, declared when the case is. A street has at most one area of each
// level; no medium area is declared over a street already high. Areas that
// would be declared at or after the end of the period are not.
//
// Measures, from DeclareAt until Until, by the start of a visit: the places of
// a high-risk street are closed and its residents stay home; the residents of
// a medium-risk street visit only places in their street, and others keep out
// of its places (a visit would turn their code yellow). Visits that would
// break them are not made (so they transmit nothing); everything else goes on:
// tests are still taken (a symptomatic resident of a sealed street is sampled
// at home instead of at the hospital) and households still transmit.
type control struct {
	g        *gen
	next     int        // City.Results examined so far
	caseAt   []int64    // by person: first positive sample, seconds since g.start; -1: none yet
	caseDay  []int16    // by person: the day the case was examined (+1); 0: not a case
	traj     [][]stop   // by infection index: the visits of a not yet examined infected person
	high     []span     // by street
	med      []span     // by street
	cases    []int32    // the cases of the current declaration
	cand     []int64    // by street: earliest declaration of the current round, seconds; -1: none
	touched  []int32    // the candidate streets
	dayOff   []int64    // by day: its start, seconds since g.start
	winLo    [2][]int32 // by level (0 high, 1 medium) and street: the area's window in the current day, seconds
	winHi    [2][]int32
	declared bool // some area was declared
}

// span is the interval in force of a street's area; declared false: none.
type span struct {
	from, until time.Time
	declared    bool
}

// stop is a recorded visit of an infected person, in seconds since g.start.
type stop struct {
	street    int32
	at, until int64
}

func (g *gen) newControl() *control {
	n, ns := g.cfg.Persons, len(g.streets)
	ctl := &control{g: g, caseAt: make([]int64, n), caseDay: make([]int16, n),
		high: make([]span, ns), med: make([]span, ns), cand: make([]int64, ns)}
	for i := range ctl.caseAt {
		ctl.caseAt[i] = -1
	}
	for i := range ctl.cand {
		ctl.cand[i] = -1
	}
	for l := range ctl.winLo {
		ctl.winLo[l] = make([]int32, ns)
		ctl.winHi[l] = make([]int32, ns)
	}
	for _, ds := range g.days {
		ctl.dayOff = append(ctl.dayOff, ctl.sec(ds))
	}
	return ctl
}

// sec is t in seconds since the period's start.
func (ctl *control) sec(t time.Time) int64 { return int64(t.Sub(ctl.g.start) / time.Second) }

// time is the instant s seconds after the period's start.
func (ctl *control) time(s int64) time.Time { return ctl.g.start.Add(time.Duration(s) * time.Second) }

// declare declares, at the start of day d, the areas due from the results
// sampled before the day (those not examined yet): their declaration time is
// 09:00 on day d.
func (ctl *control) declare(e *epi, d int) {
	g, c := ctl.g, ctl.g.city
	ctl.cases = ctl.cases[:0]
	for ; ctl.next < len(c.Results); ctl.next++ {
		r := &c.Results[ctl.next]
		if r.Result != "positive" {
			continue
		}
		p, t := r.Person, ctl.sec(r.SampledAt)
		switch ctl.caseDay[p] {
		case 0:
			ctl.caseDay[p] = int16(d + 1)
			ctl.caseAt[p] = t
			ctl.cases = append(ctl.cases, int32(p))
		case int16(d + 1):
			ctl.caseAt[p] = min(ctl.caseAt[p], t)
		}
	}
	if len(ctl.cases) == 0 {
		return
	}
	// High: the home streets of the cases, from the street's first positive.
	touched := ctl.touched[:0]
	for _, p := range ctl.cases {
		st := g.homeSt[p]
		if da := declareAt(ctl.time(ctl.caseAt[p])); !ctl.high[st].declared && da.Before(g.end) {
			touched = ctl.candidate(touched, st, ctl.sec(da))
		}
	}
	touched = ctl.declareAll(touched, ctl.high, "high")
	// Medium: the other streets of their county the cases visited while
	// infected, before their first positive sample.
	for _, p := range ctl.cases {
		ii := e.infIdx[p]
		if ii < 0 {
			continue // cannot happen: positives are infected
		}
		tr := ctl.traj[ii]
		ctl.traj[ii] = nil
		inf := ctl.sec(c.Infections[ii].At)
		da := declareAt(ctl.time(ctl.caseAt[p]))
		if !da.Before(g.end) {
			continue
		}
		das := ctl.sec(da)
		for _, s := range tr {
			st := s.street
			if s.at >= ctl.caseAt[p] || s.until < inf || ctl.high[st].declared || ctl.med[st].declared ||
				g.streets[st].county != int(g.homeCounty[p]) {
				continue
			}
			touched = ctl.candidate(touched, st, das)
		}
	}
	ctl.touched = ctl.declareAll(touched, ctl.med, "medium")
}

// candidate makes street st a candidate for an area declared at das (seconds)
// or earlier, adding it to touched if it was none.
func (ctl *control) candidate(touched []int32, st int32, das int64) []int32 {
	switch c := ctl.cand[st]; {
	case c < 0:
		ctl.cand[st] = das
		return append(touched, st)
	case das < c:
		ctl.cand[st] = das
	}
	return touched
}

// declareAll declares an area of the level over each candidate street and
// clears the candidates.
func (ctl *control) declareAll(touched []int32, areas []span, level string) []int32 {
	g := ctl.g
	for _, st := range touched {
		da := ctl.time(ctl.cand[st])
		ctl.cand[st] = -1
		areas[st] = span{da, da.Add(riskAreaDuration), true}
		g.city.RiskAreas = append(g.city.RiskAreas, RiskArea{Region: g.streets[st].code, Level: level, From: da, Until: da.Add(riskAreaDuration), DeclareAt: da})
		ctl.declared = true
	}
	return touched[:0]
}

// restrict drops from buf, the routines of day d grouped by person as
// indexed by firstOf, the visits that the areas in force forbid, and updates
// firstOf. A visit is judged by its start.
func (ctl *control) restrict(d int, buf []cv, firstOf []int32) []cv {
	if !ctl.declared {
		return buf
	}
	g := ctl.g
	ds := g.days[d]
	active := false
	for l, areas := range [2][]span{ctl.high, ctl.med} {
		lo, hi := ctl.winLo[l], ctl.winHi[l]
		for st, a := range areas {
			lo[st], hi[st] = 0, 0
			if !a.declared {
				continue
			}
			f := max(0, min(secondsPerDay, int64(a.from.Sub(ds)/time.Second)))
			u := max(0, min(secondsPerDay, int64(a.until.Sub(ds)/time.Second)))
			if f < u {
				lo[st], hi[st] = int32(f), int32(u)
				active = true
			}
		}
	}
	if !active {
		return buf
	}
	hLo, hHi, mLo, mHi := ctl.winLo[0], ctl.winHi[0], ctl.winLo[1], ctl.winHi[1]
	n := len(firstOf) - 1
	w := int32(0)
	for p := range n {
		from, to := firstOf[p], firstOf[p+1]
		firstOf[p] = w
		hs := g.homeSt[p]
		for _, v := range buf[from:to] {
			ps := g.placeSt[v.place]
			switch {
			case v.at >= hLo[ps] && v.at < hHi[ps]: // the place is in a sealed street
			case v.at >= hLo[hs] && v.at < hHi[hs]: // the person lives in one
			case ps != hs && v.at >= mLo[hs] && v.at < mHi[hs]: // the person may not leave a medium street
			case ps != hs && v.at >= mLo[ps] && v.at < mHi[ps]: // others keep out of one (it would turn their code yellow)
			default:
				buf[w] = v
				w++
			}
		}
	}
	firstOf[n] = w
	return buf[:w]
}

// record keeps the visits of day d of the infected persons who are not
// examined cases yet, from their infection on, for [control.declare].
func (ctl *control) record(d int, buf []cv, firstOf []int32) {
	g, c := ctl.g, ctl.g.city
	for len(ctl.traj) < len(c.Infections) {
		ctl.traj = append(ctl.traj, nil)
	}
	off := ctl.dayOff[d]
	for ii := range c.Infections {
		in := &c.Infections[ii]
		q := in.Person
		if ctl.caseDay[q] != 0 || firstOf[q] == firstOf[q+1] {
			continue
		}
		inf := ctl.sec(in.At)
		for _, v := range buf[firstOf[q]:firstOf[q+1]] {
			if until := off + int64(v.at+v.dur); until >= inf {
				ctl.traj[ii] = append(ctl.traj[ii], stop{g.placeSt[v.place], off + int64(v.at), until})
			}
		}
	}
}
