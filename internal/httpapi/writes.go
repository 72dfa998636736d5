package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/staff"
)

type placeBody struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	Kind    string   `json:"kind"`
	Region  string   `json:"region"`
	Lat     *float64 `json:"lat"`
	Lng     *float64 `json:"lng"`
	// DynamicPeriod: seconds between rotations of a code shown on a screen;
	// absent or 0 for a printed poster.
	DynamicPeriod int `json:"dynamic_period"`
}

type placeOut struct {
	PlaceID       string   `json:"place_id"`
	PlaceCode     string   `json:"place_code"`
	StaleAt       *string  `json:"place_code_stale_at"`
	Name          string   `json:"name"`
	Aliases       []string `json:"aliases"`
	Kind          string   `json:"kind"`
	Region        string   `json:"region"`
	Lat           float64  `json:"lat"`
	Lng           float64  `json:"lng"`
	DynamicPeriod int      `json:"dynamic_period"`
}

// placeJSON is a place with its current signed code.
func (s *Server) placeJSON(p health.Place) (placeOut, error) {
	al := p.Aliases
	if al == nil {
		al = []string{}
	}
	code, stale, err := s.n.PlaceCode(p.Index)
	if err != nil {
		return placeOut{}, err
	}
	out := placeOut{PlaceID: health.PlaceID(p.Index), PlaceCode: code, Name: p.Name, Aliases: al,
		Kind: p.Kind, Region: p.Region, Lat: p.Lat, Lng: p.Lng, DynamicPeriod: p.DynamicPeriod}
	if !stale.IsZero() {
		t := health.FormatTime(stale)
		out.StaleAt = &t
	}
	return out, nil
}

func (s *Server) registerPlace(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.ManagePlaces)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b placeBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Lat == nil || b.Lng == nil {
		f := "lat"
		if b.Lat != nil {
			f = "lng"
		}
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", f, "is required (WGS-84 degrees)"))
		return
	}
	if err := s.allow(r, c, staff.ManagePlaces, b.Region); err != nil {
		s.writeError(w, r, err)
		return
	}
	idx, err := s.n.RegisterPlace(r.Context(), c.Actor(), node.PlaceInput{Name: b.Name, Aliases: b.Aliases, Kind: b.Kind, Region: b.Region, Lat: *b.Lat, Lng: *b.Lng, DynamicPeriod: b.DynamicPeriod})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.n.Place(idx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.placeJSON(p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) getPlace(w http.ResponseWriter, r *http.Request) {
	idx, err := pathPlace(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.n.Place(idx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.placeJSON(p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listPlaces(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint32
	if a := q.Get("after"); a != "" {
		idx, ok := health.ParsePlaceID(a)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_place_id", "after", "%q is not a place id", a))
			return
		}
		after = idx
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_limit", "limit", "must be an integer from 1 to 1000"))
			return
		}
		limit = n
	}
	ps := s.n.Places(after, limit)
	out := make([]placeOut, len(ps))
	for i, p := range ps {
		var err error
		if out[i], err = s.placeJSON(p); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"places": out})
}

// placeQR renders the place code as a PNG QR code (a real encoder).
func (s *Server) placeQR(w http.ResponseWriter, r *http.Request) {
	idx, err := pathPlace(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.n.Place(idx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	size, err := sizeParam(r, 320)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	code, _, err := s.n.PlaceCode(p.Index)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	png, err := codesign.EncodePNG(code, size)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode QR: %w", err))
		return
	}
	if p.DynamicPeriod > 0 {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Write(png)
}

type visitBody struct {
	PersonID  string      `json:"person_id"`
	PlaceCode string      `json:"place_code"`
	At        string      `json:"at"`
	Until     string      `json:"until"`
	ScanLat   *float64    `json:"scan_lat"`
	ScanLng   *float64    `json:"scan_lng"`
	Visits    []visitBody `json:"visits"`
}

// visits records a scan (a person's own token, or staff) or a batch (staff).
func (s *Server) visits(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b visitBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	items := []visitBody{b}
	list := ""
	if b.Visits != nil {
		if !c.IsStaff() {
			s.writeError(w, r, health.Errorf(health.Permission, "staff_only", "visits", "a batch of visits needs a staff account"))
			return
		}
		if b.PersonID != "" || b.PlaceCode != "" {
			s.writeError(w, r, health.Errorf(health.Invalid, "ambiguous_body", "visits", "send one visit or a visits batch, not both"))
			return
		}
		items, list = b.Visits, "visits"
	}
	in := make([]node.VisitInput, len(items))
	for i, v := range items {
		field := func(f string) string {
			if list == "" {
				return f
			}
			return fmt.Sprintf("visits[%d].%s", i, f)
		}
		if v.Visits != nil {
			s.writeError(w, r, health.Errorf(health.Invalid, "unknown_field", field("visits"), "is not a field of a visit"))
			return
		}
		p, ok := health.ParsePersonID(v.PersonID)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_person_id", field("person_id"), "%q is not a person id (e.g. p123)", v.PersonID))
			return
		}
		if !c.IsStaff() && p != c.Person {
			s.writeError(w, r, health.Errorf(health.Permission, "not_your_visit", field("person_id"), "a person token records only its own visits"))
			return
		}
		at, err := health.ParseTime(field("at"), v.At)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		until, err := optTime(field("until"), v.Until)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if c.IsStaff() {
			// Staff record visits at places of their region only.
			pl, err := s.n.PlaceOfCode(field("place_code"), v.PlaceCode, true)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if err := s.allow(r, c, staff.RecordVisits, s.placeRegion(pl)); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		in[i] = node.VisitInput{Person: p, PlaceCode: v.PlaceCode, At: at, Until: until, Trusted: c.IsStaff()}
		switch {
		case v.ScanLat != nil && v.ScanLng != nil:
			in[i].ScanLoc, in[i].ScanLat, in[i].ScanLng = true, *v.ScanLat, *v.ScanLng
		case v.ScanLat != nil || v.ScanLng != nil:
			s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", field("scan_lng"), "scan_lat and scan_lng come together"))
			return
		}
	}
	n, err := s.n.RecordVisits(r.Context(), c.Actor(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int{"accepted": n})
}

type resultBody struct {
	Results []struct {
		SampleID  string `json:"sample_id"`
		IDNumber  string `json:"id_number"`
		PersonID  string `json:"person_id"`
		SampledAt string `json:"sampled_at"`
		Result    string `json:"result"`
	} `json:"results"`
}

func (s *Server) results(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.UploadResults)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b resultBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Results == nil {
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", "results", "is required"))
		return
	}
	in := make([]node.ResultInput, len(b.Results))
	for i, x := range b.Results {
		field := func(f string) string { return fmt.Sprintf("results[%d].%s", i, f) }
		var p uint32
		if x.PersonID != "" {
			var ok bool
			if p, ok = health.ParsePersonID(x.PersonID); !ok {
				s.writeError(w, r, health.Errorf(health.Invalid, "invalid_person_id", field("person_id"), "%q is not a person id", x.PersonID))
				return
			}
		}
		at, err := health.ParseTime(field("sampled_at"), x.SampledAt)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := health.ParseResult(field("result"), x.Result)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		in[i] = node.ResultInput{SampleID: x.SampleID, Person: p, IDNumber: x.IDNumber, SampledAt: at, Result: res}
	}
	// A lab account uploads its own results only: the lab id is its
	// username (D47).
	lab := r.PathValue("lab")
	if lab != c.Staff.Username {
		s.deny(r, c, staff.UploadResults, "not_your_lab")
		s.writeError(w, r, health.Errorf(health.Permission, "not_your_lab", "lab", "account %s uploads the results of lab %s only", c.Staff.Username, c.Staff.Username))
		return
	}
	rc, err := s.n.UploadResults(r.Context(), "lab:"+lab+"/"+c.Actor(), lab, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": rc.Accepted, "duplicates": rc.Duplicates, "corrections": rc.Corrections})
}

type areaBody struct {
	Region string `json:"region"`
	Level  string `json:"level"`
	From   string `json:"from"`
	Until  string `json:"until"`
}

type areaOut struct {
	AreaID   string `json:"area_id"`
	Region   string `json:"region"`
	Level    string `json:"level"`
	From     string `json:"from"`
	Until    string `json:"until"`
	Lifted   bool   `json:"lifted"`
	Affected *int   `json:"affected,omitempty"`
}

func areaJSON(a health.RiskArea) areaOut {
	return areaOut{AreaID: health.EventID(a.Seq), Region: a.Region, Level: a.Level.String(), From: health.FormatTime(a.From),
		Until: health.FormatTime(a.Until), Lifted: a.Lifted != 0}
}

func (s *Server) declareArea(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.DeclareRiskAreas)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b areaBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	level, err := health.ParseRiskLevel("level", b.Level)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	from, err := optTime("from", b.From)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	until, err := health.ParseTime("until", b.Until)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.allow(r, c, staff.DeclareRiskAreas, b.Region); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.n.DeclareRiskArea(r.Context(), c.Actor(), node.RiskAreaInput{Region: b.Region, Level: level, From: from, Until: until})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := areaJSON(res.Area)
	out.Affected = &res.Affected
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) liftArea(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.DeclareRiskAreas)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	seq, ok := health.ParseEventID(r.PathValue("id"))
	if !ok {
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_area_id", "id", "%q is not an area id (e.g. e42)", r.PathValue("id")))
		return
	}
	for _, a := range s.n.RiskAreas(true) {
		if a.Seq == seq {
			if err := s.allow(r, c, staff.DeclareRiskAreas, a.Region); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
	}
	res, err := s.n.LiftRiskArea(r.Context(), c.Actor(), seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := areaJSON(res.Area)
	out.Lifted = true
	out.Affected = &res.Affected
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listAreas(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("all") == "true"
	as := s.n.RiskAreas(all)
	out := make([]areaOut, len(as))
	for i, a := range as {
		out[i] = areaJSON(a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"risk_areas": out})
}

// placeRegion is place p's region ("" for an unknown place: the node
// refuses it anyway).
func (s *Server) placeRegion(p uint32) string {
	if pl, err := s.n.Place(p); err == nil {
		return pl.Region
	}
	return ""
}
