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

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/region"
	"healthcode/internal/sqlite"
)

// Enrolment is one person to enrol.
type Enrolment struct {
	IDNumber   string
	Name       string
	Phone      string
	HomeRegion string
}

// Enrolled is the outcome of one enrolment.
type Enrolled struct {
	Person   uint32
	Existing bool // the ID number was already enrolled; nothing was written
	Token    string
}

var phoneRE = regexp.MustCompile(`^\+?[0-9][0-9 -]{5,19}$`)

// Enrol enrols persons (one or a batch) by actor. Re-enrolling an ID number
// returns the existing person. The whole batch is refused with an Invalid
// error naming the item and field if any item is malformed.
func (n *Node) Enrol(ctx context.Context, actor string, in []Enrolment) ([]Enrolled, error) {
	if len(in) == 0 {
		return nil, health.Errorf(health.Invalid, "empty_batch", "persons", "at least one person is required")
	}
	now := n.now()
	type item struct {
		hash   [32]byte
		sealed []byte
		home   uint32
	}
	items := make([]item, len(in))
	for i, e := range in {
		field := func(f string) string {
			if len(in) == 1 {
				return f
			}
			return fmt.Sprintf("persons[%d].%s", i, f)
		}
		id, err := health.ValidateIDNumber(field("id_number"), strings.TrimSpace(e.IDNumber), now)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSpace(e.Name)
		if name == "" || utf8.RuneCountInString(name) > 64 {
			return nil, health.Errorf(health.Invalid, "invalid_name", field("name"), "must be 1 to 64 characters")
		}
		phone := strings.TrimSpace(e.Phone)
		if !phoneRE.MatchString(phone) {
			return nil, health.Errorf(health.Invalid, "invalid_phone", field("phone"), "%q is not a phone number", phone)
		}
		home, err := n.validRegion(field("home_region"), e.HomeRegion)
		if err != nil {
			return nil, err
		}
		h := n.vault.HashID(id)
		sealed, err := n.vault.Seal(identity.Identity{IDNumber: id, Name: name, Phone: phone}, h[:])
		if err != nil {
			return nil, fmt.Errorf("node: seal identity: %w", err)
		}
		items[i] = item{hash: h, sealed: sealed, home: home}
	}
	out := make([]Enrolled, len(in))
	err := n.submit(ctx, func(g *group) error {
		for i, it := range items {
			if p, ok := n.byIDHash[it.hash]; ok {
				out[i] = Enrolled{Person: p, Existing: true}
				continue
			}
			if p, ok := g.idHashes[it.hash]; ok {
				out[i] = Enrolled{Person: p, Existing: true}
				continue
			}
			p := g.nextPerson
			g.nextPerson++
			g.add(health.Event{Kind: health.EvPersonEnrolled, At: g.now, Person: p, Region: it.home, Actor: actor, Batch: batchID(g)})
			g.ids = append(g.ids, sqlite.IdentityRow{Person: p, IDHash: it.hash, Sealed: it.sealed, Created: g.now})
			g.idHashes[it.hash] = p
			out[i] = Enrolled{Person: p}
		}
		return nil
	}, func() {
		n.mu.Lock()
		for i := range out {
			if !out[i].Existing {
				n.byIDHash[items[i].hash] = out[i].Person
			}
		}
		n.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Token = n.vault.PersonToken(out[i].Person)
	}
	return out, nil
}

// batchID names the submission a group's first event starts; every event of
// one request shares it. Requests that set their own batch id override it.
func batchID(g *group) string { return "b" + strconv.FormatUint(g.nextSeq, 10) }

func (n *Node) validRegion(field, code string) (uint32, error) {
	if code == "" {
		return 0, health.Errorf(health.Invalid, "missing_field", field, "is required (a GB/T 2260 region code)")
	}
	if err := n.regions.Validate(code); err != nil {
		return 0, health.Errorf(health.Invalid, "invalid_region", field, "%v", err)
	}
	p, err := region.Pack(code)
	if err != nil {
		return 0, health.Errorf(health.Invalid, "invalid_region", field, "%v", err)
	}
	return p, nil
}

// PlaceInput describes a place to register.
type PlaceInput struct {
	Name    string
	Aliases []string
	Kind    string
	Region  string
	Lat     float64
	Lng     float64
	// DynamicPeriod, if not 0, makes the venue show a rotating code on a
	// screen, a new one every DynamicPeriod seconds (60 to 86400).
	DynamicPeriod int
}

// RegisterPlace registers a place and returns its index. It returns an
// Invalid error naming the field for an empty name, an unknown kind or
// region, or coordinates outside China's bounding box.
func (n *Node) RegisterPlace(ctx context.Context, actor string, in PlaceInput) (uint32, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return 0, health.Errorf(health.Invalid, "invalid_name", "name", "must be 1 to 128 characters")
	}
	for i, a := range in.Aliases {
		if strings.TrimSpace(a) == "" || utf8.RuneCountInString(a) > 128 {
			return 0, health.Errorf(health.Invalid, "invalid_alias", fmt.Sprintf("aliases[%d]", i), "must be 1 to 128 characters")
		}
	}
	if _, ok := n.rules.PlaceKinds[in.Kind]; !ok {
		return 0, health.Errorf(health.Invalid, "invalid_kind", "kind", "%q is not one of %s", in.Kind, strings.Join(n.rules.KindNames(), ", "))
	}
	reg, err := n.validRegion("region", in.Region)
	if err != nil {
		return 0, err
	}
	if in.Lat < 3 || in.Lat > 54 {
		return 0, health.Errorf(health.Invalid, "invalid_coordinates", "lat", "%v is outside China (3 to 54)", in.Lat)
	}
	if in.Lng < 73 || in.Lng > 136 {
		return 0, health.Errorf(health.Invalid, "invalid_coordinates", "lng", "%v is outside China (73 to 136)", in.Lng)
	}
	if in.DynamicPeriod != 0 && (in.DynamicPeriod < 60 || in.DynamicPeriod > codesign.MaxPeriod) {
		return 0, health.Errorf(health.Invalid, "invalid_period", "dynamic_period", "must be 0 (a printed code) or 60 to %d seconds", codesign.MaxPeriod)
	}
	data, err := json.Marshal(health.Place{Name: name, Aliases: in.Aliases, Kind: in.Kind, Region: in.Region, Lat: in.Lat, Lng: in.Lng, DynamicPeriod: in.DynamicPeriod})
	if err != nil {
		return 0, err
	}
	var idx uint32
	err = n.submit(ctx, func(g *group) error {
		idx = g.nextPlace
		g.nextPlace++
		g.add(health.Event{Kind: health.EvPlaceRegistered, At: g.now, Place: idx, Region: reg, Actor: actor, Batch: batchID(g), Data: data})
		return nil
	}, nil)
	return idx, err
}

// VisitInput is one scan: a person at a place (by its place code) from At,
// until Until (zero: At plus the kind's dwell time).
type VisitInput struct {
	Person    uint32
	PlaceCode string
	At        time.Time
	Until     time.Time
	Source    health.VisitSource
	// Where the phone was when it scanned, if the client sent it.
	ScanLoc          bool
	ScanLat, ScanLng float64
	// Trusted marks a staff import: unsigned legacy place codes are
	// accepted. Signed codes are checked at the time of upload in every
	// case (a dynamic code must be current when it arrives).
	Trusted bool
}

// RecordVisits records a batch of visits. The batch is refused whole, with an
// error naming the item and field, if any visit is in the future, names an
// unknown person or place, has a malformed place code or ends before it starts.
// It returns the number of visits recorded.
func (n *Node) RecordVisits(ctx context.Context, actor string, in []VisitInput) (int, error) {
	if len(in) == 0 {
		return 0, health.Errorf(health.Invalid, "empty_batch", "visits", "at least one visit is required")
	}
	now := n.now()
	events := make([]health.Event, len(in))
	nPersons := n.nPersons.Load()
	field := func(i int, f string) string {
		if len(in) == 1 {
			return f
		}
		return fmt.Sprintf("visits[%d].%s", i, f)
	}
	// Resolve the place codes first (signature checks take no lock).
	places := make([]uint32, len(in))
	for i, v := range in {
		if v.Person == 0 || v.Person > nPersons {
			return 0, health.Errorf(health.NotFound, "unknown_person", field(i, "person_id"), "no person %s", health.PersonID(v.Person))
		}
		p, err := n.placeOfCode(field(i, "place_code"), v.PlaceCode, v.Trusted, now)
		if err != nil {
			return 0, err
		}
		places[i] = p
	}
	nPlaces := n.nPlaces.Load()
	type last struct {
		place uint32
		at    time.Time
	}
	prev := map[uint32]last{} // the batch's latest visit per person so far
	n.mu.RLock()
	for i, v := range in {
		field := func(f string) string { return field(i, f) }
		place := places[i]
		if place == 0 || place > nPlaces {
			n.mu.RUnlock()
			return 0, health.Errorf(health.NotFound, "unknown_place", field("place_code"), "no place %s", health.PlaceID(place))
		}
		if v.At.After(now.Add(n.cfg.ClockSkew)) {
			n.mu.RUnlock()
			return 0, health.Errorf(health.Invalid, "future_time", field("at"), "%s is in the future", health.FormatTime(v.At))
		}
		until := v.Until
		if until.IsZero() {
			until = v.At.Add(n.rules.PlaceKinds[n.places[place].Kind].Dwell)
		} else if !until.After(v.At) || until.Sub(v.At) > 72*time.Hour {
			n.mu.RUnlock()
			return 0, health.Errorf(health.Invalid, "invalid_interval", field("until"), "must be after at and at most 72h later")
		}
		aux := int64(v.Source & 3)
		if v.ScanLoc {
			if v.ScanLat < -90 || v.ScanLat > 90 || v.ScanLng < -180 || v.ScanLng > 180 {
				n.mu.RUnlock()
				return 0, health.Errorf(health.Invalid, "invalid_coordinates", field("scan_lat"), "scan location %v,%v is not a coordinate", v.ScanLat, v.ScanLng)
			}
			if pl := &n.places[place]; distanceKm(v.ScanLat, v.ScanLng, pl.Lat, pl.Lng) > RemoteScanKm {
				aux |= auxRemote | auxUnverified
			}
		}
		// Impossible travel from the person's previous visit (in this batch,
		// else in the index, within a day before). Only a person's own scans
		// are checked: a forwarded venue code arrives that way, while staff
		// imports come from venue systems and manifests (and are bulk).
		if !v.Trusted {
			var pv last
			if b, ok := prev[v.Person]; ok && b.at.Before(v.At) {
				pv = b
			}
			for _, o := range n.visits.ByPerson(v.Person, v.At.Add(-24*time.Hour), v.At) {
				if o.From.Before(v.At) && o.From.After(pv.at) {
					pv = last{o.Place, o.From}
				}
			}
			if pv.place != 0 && pv.place != place && n.impossibleTravel(pv.place, pv.at, place, v.At) {
				aux |= auxTravel | auxUnverified
			}
			if cur, ok := prev[v.Person]; !ok || v.At.After(cur.at) {
				prev[v.Person] = last{place, v.At}
			}
		}
		// The place's region is not repeated on the visit: it follows from
		// the place, and leaving it out keeps visits packable in the store.
		events[i] = health.Event{Kind: health.EvVisit, At: v.At, Until: until, Person: v.Person, Place: place,
			Aux: aux, Actor: actor}
	}
	n.mu.RUnlock()
	err := n.submit(ctx, func(g *group) error {
		b := batchID(g)
		for i := range events {
			events[i].Batch = b
			g.add(events[i])
		}
		return nil
	}, nil)
	if err != nil {
		return 0, err
	}
	return len(events), nil
}

func packedRegion(code string) uint32 {
	p, _ := region.Pack(code)
	return p
}

// ResultInput is one lab result: the sample, who it was taken from (person
// index or ID number), when, and the result.
type ResultInput struct {
	SampleID  string
	Person    uint32
	IDNumber  string
	SampledAt time.Time
	Result    health.Result
}

// ResultCounts says what an upload did.
type ResultCounts struct {
	Accepted    int // new samples
	Duplicates  int // same sample, same content: nothing written
	Corrections int // same sample, different content: a correction event
}

var labRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
var sampleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$`)

// UploadResults records a lab's batch of results, idempotently by sample id.
// The batch is refused whole if any item is malformed or names an unknown
// person; a sample id repeated inside one batch with different content is
// refused as a Conflict.
func (n *Node) UploadResults(ctx context.Context, actor, lab string, in []ResultInput) (ResultCounts, error) {
	var rc ResultCounts
	if !labRE.MatchString(lab) {
		return rc, health.Errorf(health.Invalid, "invalid_lab", "lab", "%q is not a lab id (letters, digits, _ . -, at most 64)", lab)
	}
	if len(in) == 0 {
		return rc, health.Errorf(health.Invalid, "empty_batch", "results", "at least one result is required")
	}
	now := n.now()
	type item struct {
		person uint32
		at     time.Time
		res    health.Result
	}
	items := make([]item, len(in))
	seen := map[string]int{}
	nPersons := n.nPersons.Load()
	for i, r := range in {
		field := func(f string) string { return fmt.Sprintf("results[%d].%s", i, f) }
		if !sampleRE.MatchString(r.SampleID) {
			return rc, health.Errorf(health.Invalid, "invalid_sample_id", field("sample_id"), "%q is not a sample id", r.SampleID)
		}
		p := r.Person
		switch {
		case p != 0 && r.IDNumber != "":
			return rc, health.Errorf(health.Invalid, "ambiguous_person", field("person_id"), "give person_id or id_number, not both")
		case p != 0:
			if p > nPersons {
				return rc, health.Errorf(health.NotFound, "unknown_person", field("person_id"), "no person %s", health.PersonID(p))
			}
		case r.IDNumber != "":
			id, err := health.ValidateIDNumber(field("id_number"), r.IDNumber, now)
			if err != nil {
				return rc, err
			}
			var ok bool
			n.mu.RLock()
			p, ok = n.byIDHash[n.vault.HashID(id)]
			n.mu.RUnlock()
			if !ok {
				return rc, health.Errorf(health.NotFound, "unknown_person", field("id_number"), "no person is enrolled with this ID number")
			}
		default:
			return rc, health.Errorf(health.Invalid, "missing_field", field("person_id"), "person_id or id_number is required")
		}
		if r.SampledAt.After(now.Add(n.cfg.ClockSkew)) {
			return rc, health.Errorf(health.Invalid, "future_time", field("sampled_at"), "%s is in the future", health.FormatTime(r.SampledAt))
		}
		if r.Result == health.NoResult {
			return rc, health.Errorf(health.Invalid, "invalid_result", field("result"), "is required: positive, negative or invalid")
		}
		items[i] = item{person: p, at: r.SampledAt.Truncate(time.Millisecond), res: r.Result}
		if j, dup := seen[r.SampleID]; dup {
			if items[j] != items[i] {
				return rc, health.Errorf(health.Conflict, "conflicting_sample", field("sample_id"), "sample %q appears twice in this batch with different content", r.SampleID)
			}
		}
		seen[r.SampleID] = i
	}
	err := n.submit(ctx, func(g *group) error {
		var c ResultCounts
		b := batchID(g)
		done := map[string]bool{}
		for i, it := range items {
			sid := in[i].SampleID
			if done[sid] {
				c.Duplicates++
				continue
			}
			done[sid] = true
			k := sampleKey{lab, sid}
			prev, had := g.samples[k]
			if !had {
				prev, had = n.samples[k]
			}
			kind := health.EvTestResult
			var ref uint64
			if had {
				if prev.person == it.person && prev.at == it.at.UnixMilli() && prev.result == it.res {
					c.Duplicates++
					continue
				}
				kind, ref = health.EvTestCorrected, prev.seq
				c.Corrections++
			} else {
				c.Accepted++
			}
			data, _ := json.Marshal(testData{Lab: lab, Sample: sid})
			var home uint32
			if int(it.person) < len(n.persons) {
				home = n.persons[it.person].home
			}
			seq := g.add(health.Event{Kind: kind, At: it.at, Person: it.person, Region: home, Ref: ref, Aux: int64(it.res), Actor: actor, Batch: b, Data: data})
			g.samples[k] = sampleState{seq: seq, person: it.person, at: it.at.UnixMilli(), result: it.res}
		}
		rc = c
		return nil
	}, nil)
	return rc, err
}

// RiskAreaInput declares a risk area.
type RiskAreaInput struct {
	Region string
	Level  health.RiskLevel
	From   time.Time // zero: now
	Until  time.Time
}

// RiskAreaResult is the outcome of declaring or lifting an area.
type RiskAreaResult struct {
	Area     health.RiskArea
	Affected int // codes re-evaluated
}

// DeclareRiskArea declares a high or medium risk area over a region from From
// (which may be back-dated up to 14 days) until Until (at most 30 days ahead).
func (n *Node) DeclareRiskArea(ctx context.Context, actor string, in RiskAreaInput) (RiskAreaResult, error) {
	var res RiskAreaResult
	reg, err := n.validRegion("region", in.Region)
	if err != nil {
		return res, err
	}
	if in.Level != health.High && in.Level != health.Medium {
		return res, health.Errorf(health.Invalid, "invalid_level", "level", "must be high or medium")
	}
	now := n.now()
	from := in.From
	if from.IsZero() {
		from = now
	}
	if from.After(now.Add(n.cfg.ClockSkew)) || now.Sub(from) > 14*24*time.Hour {
		return res, health.Errorf(health.Invalid, "invalid_time", "from", "must be within the last 14 days and not in the future")
	}
	if from.After(now) {
		from = now // within the clock skew: in force from now, so stars start at once
	}
	if !in.Until.After(now) || in.Until.Sub(now) > 30*24*time.Hour {
		return res, health.Errorf(health.Invalid, "invalid_time", "until", "must be in the future and at most 30 days ahead")
	}
	err = n.submit(ctx, func(g *group) error {
		seq := g.add(health.Event{Kind: health.EvRiskDeclared, At: from, Until: in.Until, Region: reg, Aux: int64(in.Level), Actor: actor, Batch: batchID(g)})
		res.Area = health.RiskArea{Seq: seq, Region: in.Region, Level: in.Level, From: from, Until: in.Until}
		return nil
	}, func() {
		res.Affected = n.takeAffected(res.Area.Seq)
	})
	return res, err
}

// LiftRiskArea lifts a declared area now. It returns NotFound for an unknown
// area and Conflict for one already lifted or expired.
func (n *Node) LiftRiskArea(ctx context.Context, actor string, area uint64) (RiskAreaResult, error) {
	var res RiskAreaResult
	var liftSeq uint64
	err := n.submitSolo(ctx, func(g *group) error {
		for _, a := range n.areas {
			if a.Seq != area {
				continue
			}
			if a.Lifted != 0 || !g.now.Before(a.Until) {
				return health.Errorf(health.Conflict, "area_not_active", "area_id", "area %s is no longer in force", health.EventID(area))
			}
			lift := g.add(health.Event{Kind: health.EvRiskLifted, At: g.now, Region: packedRegion(a.Region), Ref: area, Actor: actor, Batch: batchID(g)})
			res.Area = a
			res.Area.Until = g.now
			liftSeq = lift
			return nil
		}
		return health.Errorf(health.NotFound, "unknown_area", "area_id", "no risk area %s", health.EventID(area))
	}, func() {
		res.Affected = n.takeAffected(liftSeq)
	})
	return res, err
}

// takeAffected returns (and forgets) how many codes the area event seq made
// the writer re-evaluate, as counted while applying it. Only the writer
// goroutine calls it (from an after hook).
func (n *Node) takeAffected(seq uint64) int {
	c := n.areaAffectedN[seq]
	delete(n.areaAffectedN, seq)
	return c
}
