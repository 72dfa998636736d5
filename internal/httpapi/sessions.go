package httpapi

import (
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"healthcode/internal/health"
	"healthcode/internal/staff"
)

// login signs a staff member in (POST /api/v1/sessions): username,
// password and, for officials, auditors and operators, the TOTP code → 201
// with a session token ("hcs_…") and its latest end. Bad credentials are
// 401 alike; a locked username or address is 429 with Retry-After.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Username string `json:"username"`
		Password string `json:"password"`
		OTP      string `json:"otp"`
	}
	if err := decode(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	tok, expires, err := s.n.Login(r.Context(), b.Username, b.Password, b.OTP, clientIP(r))
	if err != nil {
		var te *staff.ThrottledError
		if errors.As(err, &te) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(te.RetryAfter.Seconds()))))
		}
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]string{"token": tok, "expires": health.FormatTime(expires)})
}

// whoami describes the staff account of the request's token (GET
// /api/v1/sessions/current): clients learn their username (a lab's id),
// roles and region.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !c.IsStaff() {
		s.writeError(w, r, health.Errorf(health.Permission, "staff_only", "", "a person token has no staff session"))
		return
	}
	p := c.Staff
	writeJSON(w, http.StatusOK, map[string]any{"username": p.Username, "roles": p.Roles.Names(), "region": p.Region,
		"level": p.Level.String(), "api_key": p.KeyID != ""})
}

// logout ends the request's session (DELETE /api/v1/sessions/current): 204.
// An API key is revoked by an operator, not here.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	c, err := s.caller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !c.IsStaff() || c.Staff.KeyID != "" {
		s.writeError(w, r, health.Errorf(health.Invalid, "not_a_session", "", "only a staff session (hcs_…) can be ended here"))
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.n.Logout(tok)
	w.WriteHeader(http.StatusNoContent)
}

// clientIP is the address login failures are counted against: the peer's
// IP. Forwarding headers are not trusted (a proxy in front of the node
// would need its own configuration).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
