package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"healthcode/internal/gazetteer"
	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/staff"
)

type manifestBody struct {
	Trip       string `json:"trip"`
	Mode       string `json:"mode"`
	From       string `json:"from"`
	To         string `json:"to"`
	Passengers []struct {
		PersonID string `json:"person_id"`
		Carriage string `json:"carriage"`
		Row      int    `json:"row"`
		Seat     string `json:"seat"`
	} `json:"passengers"`
}

// manifest records a carrier's passenger list for one trip (staff).
func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.RecordTrips)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b manifestBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	from, err := health.ParseTime("from", b.From)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	to, err := health.ParseTime("to", b.To)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in := node.ManifestInput{Trip: b.Trip, Mode: b.Mode, From: from, To: to, Passengers: make([]node.Passenger, len(b.Passengers))}
	for i, p := range b.Passengers {
		idx, ok := health.ParsePersonID(p.PersonID)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_person_id", fmt.Sprintf("passengers[%d].person_id", i), "%q is not a person id (e.g. p123)", p.PersonID))
			return
		}
		in.Passengers[i] = node.Passenger{Person: idx, Carriage: p.Carriage, Row: p.Row, Seat: p.Seat}
	}
	n, err := s.n.RecordManifest(r.Context(), c.Actor(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int{"recorded": n})
}

// ownPerson authorises a request on person {id}'s own data: that person's
// token, or staff.
func (s *Server) ownPerson(r *http.Request) (uint32, Caller, error) {
	p, err := pathPerson(r)
	if err != nil {
		return 0, Caller{}, err
	}
	c, err := s.caller(r)
	if err != nil {
		return 0, c, err
	}
	if c.IsStaff() {
		reg, err := s.personRegion(p)
		if err != nil {
			return 0, c, err
		}
		return p, c, s.allow(r, c, staff.RecordStops, reg)
	}
	if c.Person != p {
		return 0, c, health.Errorf(health.Permission, "not_your_account", "id", "a person token acts only on its own account")
	}
	return p, c, nil
}

// selfStopIn is a stop a person enters about themselves.
type selfStopIn struct {
	PlaceID   string          `json:"place_id"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Transport *node.Transport `json:"transport"`
}

// recordSelfStops records stops a person reports about themselves,
// unconfirmed until an investigator confirms them into a case (the
// person's own token, or staff).
func (s *Server) recordSelfStops(w http.ResponseWriter, r *http.Request) {
	p, c, err := s.ownPerson(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b struct {
		Stops []selfStopIn `json:"stops"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	list := make([]stopIn, len(b.Stops))
	for i, st := range b.Stops {
		list[i] = stopIn{PlaceID: st.PlaceID, From: st.From, To: st.To, Transport: st.Transport}
	}
	in, err := stopInputs("stops", list)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	seqs, err := s.n.RecordSelfStops(r.Context(), c.Actor(), p, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ids := make([]string, len(seqs))
	for i, q := range seqs {
		ids[i] = health.EventID(q)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"person_id": health.PersonID(p), "visits": ids, "status": "unconfirmed"})
}

// selfStops lists a person's unconfirmed self-reported stops (the
// person's own token, or staff).
func (s *Server) selfStops(w http.ResponseWriter, r *http.Request) {
	p, c, err := s.ownPerson(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.n.Code(p); err != nil { // an unknown person is 404, not an empty list
		s.writeError(w, r, err)
		return
	}
	if err := s.logRead(r, c, "stops", p); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": health.PersonID(p), "stops": selfStopsJSON(s.n.SelfStops(p))})
}

type candidateOut struct {
	PlaceID   string   `json:"place_id"`
	Name      string   `json:"name"`
	Score     float64  `json:"score"`
	DistanceM *float64 `json:"distance_m"` // null without coordinates in the query
	Matched   string   `json:"matched"`
	Kind      string   `json:"kind"`
	Region    string   `json:"region"`
}

// searchPlaces finds the places a description may mean (any valid token:
// investigators, and citizens entering their own stops).
func (s *Server) searchPlaces(w http.ResponseWriter, r *http.Request) {
	if _, err := s.caller(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := searchQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cands := s.n.SearchPlaces(q)
	out := make([]candidateOut, 0, len(cands))
	for _, c := range cands {
		co := candidateOut{PlaceID: health.PlaceID(c.ID), Name: c.Name, Score: c.Score, Matched: c.Matched}
		if c.DistanceM >= 0 {
			d := math.Round(c.DistanceM)
			co.DistanceM = &d
		}
		if p, err := s.n.Place(c.ID); err == nil {
			co.Kind, co.Region = p.Kind, p.Region
		}
		out = append(out, co)
	}
	writeJSON(w, http.StatusOK, map[string]any{"candidates": out})
}

// searchQuery reads a place search from the query string.
func searchQuery(r *http.Request) (gazetteer.Query, error) {
	v := r.URL.Query()
	q := gazetteer.Query{Text: strings.TrimSpace(v.Get("q"))}
	num := func(name string, lo, hi float64) (float64, bool, error) {
		s := v.Get(name)
		if s == "" {
			return 0, false, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || f < lo || f > hi {
			return 0, false, health.Errorf(health.Invalid, "invalid_"+name, name, "must be a number from %g to %g", lo, hi)
		}
		return f, true, nil
	}
	lat, hasLat, err := num("lat", -90, 90)
	if err != nil {
		return q, err
	}
	lng, hasLng, err := num("lng", -180, 180)
	if err != nil {
		return q, err
	}
	switch {
	case hasLat != hasLng && hasLat:
		return q, health.Errorf(health.Invalid, "missing_field", "lng", "lat and lng come together")
	case hasLat != hasLng:
		return q, health.Errorf(health.Invalid, "missing_field", "lat", "lat and lng come together")
	case !hasLat && q.Text == "":
		return q, health.Errorf(health.Invalid, "missing_field", "q", "give a description (q), coordinates (lat, lng) or both")
	}
	q.Lat, q.Lng, q.HasCoords = lat, lng, hasLat
	var hasRadius bool
	if q.RadiusM, hasRadius, err = num("radius", 0, gazetteer.MaxNearbyRadiusM); err != nil {
		return q, err
	}
	if hasRadius && !hasLat {
		return q, health.Errorf(health.Invalid, "missing_field", "lat", "a radius needs coordinates (lat, lng)")
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > gazetteer.MaxLimit {
			return q, health.Errorf(health.Invalid, "invalid_limit", "limit", "must be an integer from 1 to %d", gazetteer.MaxLimit)
		}
		q.Limit = n
	}
	if reg := v.Get("region"); reg != "" {
		if len(reg) > 6 || strings.Trim(reg, "0123456789") != "" {
			return q, health.Errorf(health.Invalid, "invalid_region", "region", "must be a region code or its prefix: 1 to 6 digits (440106, 4401)")
		}
		q.Region = region.Prefix(reg)
	}
	if len(q.Text) > 200 {
		return q, health.Errorf(health.Invalid, "invalid_query", "q", "must be at most 200 bytes")
	}
	return q, nil
}

// listRegion is the region a regional list is for: ?region= (a code of the
// region table), else the account's region, which must cover it for action
// a (403 otherwise); "" for a national account's whole country.
func (s *Server) listRegion(r *http.Request, c Caller, a staff.Action) (string, error) {
	reg := r.URL.Query().Get("region")
	if reg == "" {
		reg = c.Staff.Region
	} else if err := s.regions.Validate(reg); err != nil && reg != staff.NationalRegion {
		return "", health.Errorf(health.Invalid, "invalid_region", "region", "%v", err)
	}
	if err := s.allow(r, c, a, reg); err != nil {
		return "", err
	}
	if reg == staff.NationalRegion {
		return "", nil
	}
	return reg, nil
}

type contactExposureOut struct {
	PlaceID     string `json:"place_id"`
	From        string `json:"from"`
	To          string `json:"to"`
	ViaPerson   string `json:"via_person,omitempty"`
	Visit       string `json:"visit"`
	SourceVisit string `json:"source_visit"`
	Unverified  bool   `json:"unverified"`
}

type ackOut struct {
	Actor string `json:"actor"`
	At    string `json:"at"`
	Note  string `json:"note"`
}

type referralOut struct {
	ID           string               `json:"id"`
	PersonID     string               `json:"person_id"`
	CaseID       string               `json:"case_id"`
	FromRegion   string               `json:"from_region"`
	ToRegion     string               `json:"to_region"`
	Degree       int                  `json:"degree"`
	Acknowledged *ackOut              `json:"acknowledged"`
	Exposures    []contactExposureOut `json:"exposures"`
	AllExposures int                  `json:"all_exposures"`
}

func referralJSON(ref node.Referral, rec node.ContactRecord) referralOut {
	out := referralOut{ID: health.EventID(ref.Seq), PersonID: health.PersonID(ref.Person), CaseID: ref.Case, FromRegion: ref.From,
		ToRegion: ref.To, Degree: ref.Degree, Exposures: make([]contactExposureOut, len(rec.Exposures)), AllExposures: rec.AllExposures}
	if ref.Acked != 0 {
		out.Acknowledged = &ackOut{Actor: ref.AckedBy, At: health.FormatTime(ref.AckedAt), Note: ref.AckedNote}
	}
	for i, e := range rec.Exposures {
		eo := contactExposureOut{PlaceID: health.PlaceID(e.Place), From: health.FormatTime(e.From), To: health.FormatTime(e.To),
			Visit: health.EventID(e.Visit), SourceVisit: health.EventID(e.SourceVisit), Unverified: e.Unverified}
		if e.Via != 0 {
			eo.ViaPerson = health.PersonID(e.Via)
		}
		out.Exposures[i] = eo
	}
	return out
}

// referrals lists the contacts referred to the counties of a region by
// other counties' cases: open ones, or all=true (staff).
func (s *Server) referrals(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ReadReferrals)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.listRegion(r, c, staff.ReadReferrals)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all := false
	if a := r.URL.Query().Get("all"); a != "" {
		if all, err = strconv.ParseBool(a); err != nil {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_all", "all", "must be true or false"))
			return
		}
	}
	refs := s.n.Referrals(reg, all)
	out := make([]referralOut, 0, len(refs))
	for _, ref := range refs {
		full, rec, err := s.n.Referral(ref.Seq)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out = append(out, referralJSON(full, rec))
	}
	persons := make([]uint32, len(refs))
	for i, ref := range refs {
		persons[i] = ref.Person
	}
	if err := s.logRead(r, c, "referrals", persons...); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"region": reg, "referrals": out})
}

// ackReferral records that the receiving county took a referral over
// (staff of that county, or national staff).
func (s *Server) ackReferral(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.AckReferrals)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	seq, ok := health.ParseEventID(r.PathValue("id"))
	if !ok {
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_referral_id", "id", "%q is not a referral id (e.g. e42)", r.PathValue("id")))
		return
	}
	var b struct {
		Note string `json:"note"`
	}
	if err := decode(w, r, &b); err != nil && !isCode(err, "empty_body") {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.n.AckReferral(r.Context(), c.Actor(), nationalAsEmpty(c.Staff.Region), seq, b.Note); err != nil {
		s.writeError(w, r, err)
		return
	}
	ref, rec, err := s.n.Referral(seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, referralJSON(ref, rec))
}

// isCode reports whether err is a health error with the given code.
func isCode(err error, code string) bool {
	var he *health.Error
	return errors.As(err, &he) && he.Code == code
}

type alertOut struct {
	Event     string    `json:"event"`
	CaseID    string    `json:"case_id"`
	OtherCase string    `json:"other_case"`
	PlaceID   string    `json:"place_id"`
	PlaceName string    `json:"place_name"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Regions   [2]string `json:"regions"`
}

// alerts lists the cross-region alerts of a region: cases of two counties
// at the same place and time (staff; national staff without a region see
// all).
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ReadAlerts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, err := s.listRegion(r, c, staff.ReadAlerts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	as := s.n.Alerts(reg)
	out := make([]alertOut, len(as))
	for i, a := range as {
		out[i] = alertOut{Event: health.EventID(a.Seq), CaseID: a.Case, OtherCase: a.Other, PlaceID: health.PlaceID(a.Place),
			PlaceName: s.placeName(a.Place), From: health.FormatTime(a.From), To: health.FormatTime(a.To), Regions: a.Regions}
	}
	writeJSON(w, http.StatusOK, map[string]any{"region": reg, "alerts": out})
}

// nationalAsEmpty is region, with the national region as "" (the node's
// region filters take "" for the whole country).
func nationalAsEmpty(region string) string {
	if region == staff.NationalRegion {
		return ""
	}
	return region
}
