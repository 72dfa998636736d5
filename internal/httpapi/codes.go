package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/paper"
	"healthcode/internal/staff"
)

// codeCaller authorises a request for person p's code: the person's own
// token, a token of the person's proxy holder, or staff.
func (s *Server) codeCaller(r *http.Request) (uint32, error) {
	p, err := pathPerson(r)
	if err != nil {
		return 0, err
	}
	c, err := s.caller(r)
	if err != nil {
		return 0, err
	}
	if c.IsStaff() {
		reg, err := s.personRegion(p)
		if err != nil {
			return 0, err
		}
		if err := s.allow(r, c, staff.ReadCodes, reg); err != nil {
			return 0, err
		}
		return p, s.logRead(r, c, "code", p)
	}
	if c.Person != p && !s.n.IsDependant(c.Person, p) {
		return 0, health.Errorf(health.Permission, "not_your_code", "id", "a person token shows only its own code and its dependants' codes")
	}
	return p, nil
}

// code serves a person's code with a freshly signed screen token as "qr"
// (?qr=none leaves the token out). The response is built by hand: it is the
// hottest path of the system.
func (s *Server) code(w http.ResponseWriter, r *http.Request) {
	p, err := s.codeCaller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var sc *node.SignedCode
	var v node.CodeView
	switch q := r.URL.Query().Get("qr"); q {
	case "", "signed":
		c, err := s.n.SignCode(r.Context(), p, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sc, v = &c, c.View
	case "none":
		if v, err = s.n.Code(p); err != nil {
			s.writeError(w, r, err)
			return
		}
	default:
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_qr", "qr", "must be signed or none, got %q", q))
		return
	}
	buf := make([]byte, 0, 768)
	buf = AppendCodeJSON(buf, &v, sc)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.Write(buf)
}

// codePNG serves a person's signed code as a QR PNG (?size=N pixels), or with
// ?paper=1 a printable A6 card (300 dpi) carrying a paper token valid for the
// paper lifetime, its validity and the masked name.
func (s *Server) codePNG(w http.ResponseWriter, r *http.Request) {
	p, err := s.codeCaller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	isPaper := false
	switch v := q.Get("paper"); v {
	case "", "0", "false":
	case "1", "true":
		isPaper = true
	default:
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_paper", "paper", "must be 1 or 0, got %q", v))
		return
	}
	size, err := sizeParam(r, 320)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sc, err := s.n.SignCode(r.Context(), p, isPaper)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var png []byte
	if isPaper {
		png, err = paper.Card(sc.Payload, sc.Claims)
	} else {
		png, err = codesign.EncodePNG(sc.Payload, size)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Write(png)
}

// sizeParam reads ?size= (pixels, 64 to 2048).
func sizeParam(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("size")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 64 || n > 2048 {
		return 0, health.Errorf(health.Invalid, "invalid_size", "size", "must be an integer from 64 to 2048")
	}
	return n, nil
}

// trustList serves the node's signed trust list: the file offline verifiers
// (`healthcode verify --trust-list`) and other nodes (`serve --trust`) load.
func (s *Server) trustList(w http.ResponseWriter, r *http.Request) {
	b := s.n.TrustListJSON()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

type verifyBody struct {
	Payload string `json:"payload"`
}

// verified is what a verifier may see of a code (invariant 7): no person id,
// no pseudonym, no reasons.
type verified struct {
	Valid      bool   `json:"valid"`
	Colour     string `json:"colour"`
	Star       bool   `json:"star"`
	MaskedName string `json:"masked_name"`
	Paper      bool   `json:"paper"`
	Issuer     string `json:"issuer"`
	IssuedAt   string `json:"issued_at"`
	ExpiresAt  string `json:"expires_at"`
}

type rejected struct {
	Valid bool        `json:"valid"`
	Error errorDetail `json:"error"`
}

// verify checks a personal code token online, exactly as the offline
// verifier does: 200 with what a gate may see, or 422 with valid=false and
// the reason's code.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	var b verifyBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Payload == "" {
		s.writeError(w, r, health.Errorf(health.Invalid, "missing_field", "payload", "is required"))
		return
	}
	c, err := s.n.VerifyCode(b.Payload)
	if err != nil {
		var ce *codesign.Error
		if !errors.As(err, &ce) {
			s.writeError(w, r, err)
			return
		}
		s.n.CountVerification(ce.Code)
		writeJSON(w, http.StatusUnprocessableEntity, rejected{Error: errorDetail{Code: ce.Code, Message: ce.Msg, Field: "payload"}})
		return
	}
	s.n.CountVerification("valid")
	writeJSON(w, http.StatusOK, verified{Valid: true, Colour: c.Colour, Star: c.Star, MaskedName: c.MaskedName, Paper: c.Paper,
		Issuer: c.Issuer, IssuedAt: c.IssuedAt.UTC().Format(time.RFC3339), ExpiresAt: c.ExpiresAt.UTC().Format(time.RFC3339)})
}

type dependantBody struct {
	IDNumber   string `json:"id_number"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	HomeRegion string `json:"home_region"`
	Relation   string `json:"relation"`
	Basis      string `json:"basis"`
}

type dependantOut struct {
	PersonID string `json:"person_id"`
	Relation string `json:"relation"`
	Basis    string `json:"basis"`
	Event    string `json:"event"`
}

// holder authorises a request on person {id}'s dependants: that person's
// own token, or staff (a community worker binding for an elderly resident).
func (s *Server) holder(r *http.Request) (uint32, Caller, error) {
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
		return p, c, s.allow(r, c, staff.BindDependants, reg)
	}
	if c.Person != p {
		return 0, c, health.Errorf(health.Permission, "not_your_account", "id", "a person token manages only its own dependants")
	}
	return p, c, nil
}

// bindDependant enrols a dependant (or finds them by ID number) and binds
// them to the holder {id}: 201 with the dependant's person id, or 200 if the
// binding existed.
func (s *Server) bindDependant(w http.ResponseWriter, r *http.Request) {
	holder, c, err := s.holder(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b dependantBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	bd, existing, err := s.n.AddDependant(r.Context(), c.Actor(), c.IsStaff(), holder,
		node.Enrolment{IDNumber: b.IDNumber, Name: b.Name, Phone: b.Phone, HomeRegion: b.HomeRegion}, b.Relation, b.Basis)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if existing {
		status = http.StatusOK
	}
	writeJSON(w, status, dependantOut{PersonID: health.PersonID(bd.Dependant), Relation: bd.Relation, Basis: bd.Basis, Event: health.EventID(bd.Seq)})
}

// listDependants lists the dependants whose codes person {id} holds.
func (s *Server) listDependants(w http.ResponseWriter, r *http.Request) {
	holder, _, err := s.holder(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []dependantOut{}
	for _, b := range s.n.Dependants(holder) {
		out = append(out, dependantOut{PersonID: health.PersonID(b.Dependant), Relation: b.Relation, Basis: b.Basis, Event: health.EventID(b.Seq)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"dependants": out})
}

type gateLookupBody struct {
	IDNumber string `json:"id_number"`
	PlaceID  string `json:"place_id"`
}

// gateLookup lets a verifier (staff) look up the colour of a person without
// a phone by ID number at a place; every lookup is logged as an event first.
func (s *Server) gateLookup(w http.ResponseWriter, r *http.Request) {
	c, err := s.staff(r, staff.GateLookup)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b gateLookupBody
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	place, ok := health.ParsePlaceID(b.PlaceID)
	if !ok {
		s.writeError(w, r, health.Errorf(health.Invalid, "invalid_place_id", "place_id", "%q is not a place id (e.g. L12)", b.PlaceID))
		return
	}
	pl, err := s.n.Place(place)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.allow(r, c, staff.GateLookup, pl.Region); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.n.LookupByID(r.Context(), c.Actor(), b.IDNumber, place)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"colour": res.Colour.String(), "star": res.Star, "masked_name": res.MaskedName,
		"valid_until": res.ValidUntil, "lookup_event": health.EventID(res.Event)})
}
