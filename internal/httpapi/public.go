package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"healthcode/internal/health"
	"healthcode/internal/publish"
)

// publicCases serves the de-identified case data (no token: it is
// published). A caller may ask for a larger k, never a smaller one than
// publish.DefaultK: the public endpoint must not weaken the anonymity.
func (s *Server) publicCases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reg := q.Get("region")
	if reg != "" {
		if err := s.regions.Validate(reg); err != nil {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_region", "region", "%v", err))
			return
		}
	}
	k := publish.DefaultK
	if ks := q.Get("k"); ks != "" {
		n, err := strconv.Atoi(ks)
		if err != nil || n < publish.DefaultK || n > 1000 {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_k", "k", "must be an integer from %d to 1000", publish.DefaultK))
			return
		}
		k = n
	}
	rep, err := s.n.PublicCases(r.Context(), reg, k)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, rep)
}

// selfCheck matches a citizen's own stops against the published stops (no
// token: nothing about the citizen is kept or logged).
func (s *Server) selfCheck(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Stops []struct {
			PlaceID string `json:"place_id"`
			From    string `json:"from"`
			To      string `json:"to"`
		} `json:"stops"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	qs := make([]publish.Query, len(b.Stops))
	for i, st := range b.Stops {
		f := func(name string) string { return fmt.Sprintf("stops[%d].%s", i, name) }
		p, ok := health.ParsePlaceID(st.PlaceID)
		if !ok {
			s.writeError(w, r, health.Errorf(health.Invalid, "invalid_place_id", f("place_id"), "%q is not a place id (e.g. L12)", st.PlaceID))
			return
		}
		from, err := health.ParseTime(f("from"), st.From)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		to, err := health.ParseTime(f("to"), st.To)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		qs[i] = publish.Query{Place: p, From: from, To: to}
	}
	hits, err := s.n.SelfCheck(r.Context(), qs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if hits == nil {
		hits = []publish.Hit{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"hits": hits})
}
