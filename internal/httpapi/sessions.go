package httpapi

import (
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"

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
