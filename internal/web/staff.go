package web

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// staffCookie holds the staff token in the browser after /login.
const staffCookie = "hc_staff"

// staffOnly guards the investigation pages: they show case trajectories,
// which only staff may see (the API's case routes are staff-only too).
// Until accounts exist (issue 6) the proof is the node's staff token, given
// once on a login form and kept in an HttpOnly, SameSite=Strict cookie.
func (h *Handler) staffOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.StaffToken == "" {
			h.renderStatus(w, r, http.StatusForbidden, "login.html", "login", map[string]any{"Disabled": true})
			return
		}
		if c, err := r.Cookie(staffCookie); err == nil && h.isStaffToken(c.Value) {
			next(w, r)
			return
		}
		h.renderStatus(w, r, http.StatusUnauthorized, "login.html", "login", map[string]any{"Next": r.URL.RequestURI()})
	}
}

func (h *Handler) isStaffToken(tok string) bool {
	return h.cfg.StaffToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.StaffToken)) == 1
}

// login checks the staff token from the form, sets the cookie and goes on
// to the page asked for (a local path only).
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		next = "/cases"
	}
	if !h.isStaffToken(r.PostFormValue("token")) {
		h.renderStatus(w, r, http.StatusUnauthorized, "login.html", "login", map[string]any{"Next": next, "Failed": true,
			"Disabled": h.cfg.StaffToken == ""})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: r.PostFormValue("token"), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}
