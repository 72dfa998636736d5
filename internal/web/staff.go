package web

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"healthcode/internal/health"
	"healthcode/internal/staff"
)

// staffCookie holds the staff session token in the browser after /login.
const staffCookie = "hc_staff"

// principal returns the staff account of the request's session cookie.
func (h *Handler) principal(r *http.Request) (staff.Principal, bool) {
	c, err := r.Cookie(staffCookie)
	if err != nil || !strings.HasPrefix(c.Value, "hcs_") {
		return staff.Principal{}, false
	}
	return h.cfg.Node.Authenticate(c.Value)
}

// staffOnly guards the investigation pages: they show case trajectories,
// which only investigators may see (the API's case routes need the same
// role). The browser signs in with a staff account's username, password
// and (for officials) TOTP code; the session token is kept in an HttpOnly,
// SameSite=Strict cookie. An account without the role gets 403.
func (h *Handler) staffOnly(next func(w http.ResponseWriter, r *http.Request, p staff.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := h.principal(r)
		if !ok {
			h.renderStatus(w, r, http.StatusUnauthorized, "login.html", "login", map[string]any{"Next": r.URL.RequestURI()})
			return
		}
		if err := staff.Allowed(p, staff.ManageCases, ""); err != nil {
			h.renderStatus(w, r, http.StatusForbidden, "login.html", "login", map[string]any{"Next": r.URL.RequestURI(), "Forbidden": true})
			return
		}
		next(w, r, p)
	}
}

// login checks the account from the form, sets the session cookie and goes
// on to the page asked for (a local path only).
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		next = "/cases"
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	tok, _, err := h.cfg.Node.Login(r.Context(), r.PostFormValue("username"), r.PostFormValue("password"), r.PostFormValue("otp"), ip)
	if err != nil {
		status, key := http.StatusUnauthorized, "login_failed"
		var he *health.Error
		if errors.As(err, &he) && he.Kind == health.Throttled {
			status, key = http.StatusTooManyRequests, "login_locked"
		}
		h.renderStatus(w, r, status, "login.html", "login", map[string]any{"Next": next, "Failed": key, "Username": r.PostFormValue("username")})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}
