package web

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"healthcode/internal/health"
	"healthcode/internal/staff"
)

// staffCookie holds the staff session token in the browser after /login.
const staffCookie = "hc_staff"

// staffPage is a console page for staff accounts: its path, the message
// key of its title, and the actions of which its account needs one (by
// role; the region of each object is checked where the object is read,
// by the API or the page's handler).
type staffPage struct {
	Path, Key string
	Actions   []staff.Action
}

// The staff pages, in the order of the layout's nav.
var (
	casesPage     = staffPage{"/cases", "cases", []staff.Action{staff.ManageCases}}
	overridesPage = staffPage{"/overrides", "overrides", []staff.Action{staff.RequestOverrides, staff.ApproveOverrides}}
	appealsPage   = staffPage{"/appeals", "appeals", []staff.Action{staff.HandleAppeals}}
	abusePage     = staffPage{"/abuse-alerts", "abuse_alerts", []staff.Action{staff.ReadAudit}}
	staffPages    = []staffPage{casesPage, overridesPage, appealsPage, abusePage}
)

// allows reports whether account p may use the page.
func (sp staffPage) allows(p staff.Principal) bool {
	return slices.ContainsFunc(sp.Actions, func(a staff.Action) bool { return staff.Allowed(p, a, "") == nil })
}

// roles is the set of roles that may use the page.
func (sp staffPage) roles() staff.RoleSet {
	var rs staff.RoleSet
	for _, a := range sp.Actions {
		rs |= a.Roles()
	}
	return rs
}

// principal returns the staff account of the request's session cookie.
func (h *Handler) principal(r *http.Request) (staff.Principal, bool) {
	c, err := r.Cookie(staffCookie)
	if err != nil || !strings.HasPrefix(c.Value, "hcs_") {
		return staff.Principal{}, false
	}
	return h.cfg.Node.Authenticate(c.Value)
}

// staffOnly guards a staff page. The browser signs in at /login with a
// staff account's username, password and (officials, auditors, operators)
// TOTP code; the session token is kept in an HttpOnly, SameSite=Strict
// cookie. Without a session the request is sent to /login (and back after
// it); an account without a role the page needs gets 403 and the sign-in
// form naming the roles.
func (h *Handler) staffOnly(sp staffPage, next func(w http.ResponseWriter, r *http.Request, p staff.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := h.principal(r)
		if !ok {
			http.Redirect(w, r, loginURL(r.URL.RequestURI(), pageLang(r)), http.StatusSeeOther)
			return
		}
		if !sp.allows(p) {
			h.forbidden(w, r, sp.roles())
			return
		}
		next(w, r, p)
	}
}

// forbidden answers 403 with the sign-in form and the roles that would do.
func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, need staff.RoleSet) {
	t := messages[pageLang(r)]
	var names []string
	for _, n := range need.Names() {
		names = append(names, t["role_"+n])
	}
	h.renderStatus(w, r, http.StatusForbidden, "login.html", "login", map[string]any{"Next": r.URL.RequestURI(), "Forbidden": true,
		"Need": strings.Join(names, t["or"])})
}

// loginURL is the sign-in page, in lang, that returns to next.
func loginURL(next, lang string) string {
	u := "/login?next=" + url.QueryEscape(next)
	if lang == "en" {
		u += "&lang=en"
	}
	return u
}

// localPath returns next if it is a path of this site, else "".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	return next
}

// loginForm shows the sign-in form (GET /login?next=…).
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, "login.html", "login", map[string]any{"Next": localPath(r.URL.Query().Get("next"))})
}

// login checks the account from the form, sets the session cookie and goes
// on to the page asked for (a local path only), or else to the first staff
// page the account may use.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostFormValue("next"))
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
	if next == "" {
		next = "/"
		if p, ok := h.cfg.Node.Authenticate(tok); ok {
			if i := slices.IndexFunc(staffPages, func(sp staffPage) bool { return sp.allows(p) }); i >= 0 {
				next = staffPages[i].Path
			}
		}
		if pageLang(r) == "en" {
			next += "?lang=en"
		}
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session of the cookie and clears it.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(staffCookie); err == nil {
		h.cfg.Node.Logout(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	next := "/"
	if pageLang(r) == "en" {
		next += "?lang=en"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// consoleHeader must be on a staff page's call through apiProxy: a
// cross-site form cannot send it, and a cross-site script would need a
// CORS grant the node never gives.
const consoleHeader = "X-HC-Console"

// consoleAPI are the API paths (and those below them) that the staff pages
// call through apiProxy.
var consoleAPI = []string{"/api/v1/overrides", "/api/v1/appeals", "/api/v1/abuse-alerts"}

// apiProxy passes a staff page's call of /console/api/v1/… to the API that
// serves the console (the handler of the request's http.Server), as
// /api/v1/… with the cookie's session as its bearer token. The session
// stays in the HttpOnly cookie, out of reach of the page's scripts, and the
// API authorises, logs and counts the call as it does any client's: the
// console has no authority of its own.
func (h *Handler) apiProxy(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/console")
	if !slices.ContainsFunc(consoleAPI, func(p string) bool { return path == p || strings.HasPrefix(path, p+"/") }) {
		jsonError(w, http.StatusNotFound, "no_such_endpoint", r.Method+" "+r.URL.Path+" is not passed to the API by the console")
		return
	}
	if r.Header.Get(consoleHeader) != "1" || r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "same-origin" {
		jsonError(w, http.StatusForbidden, "cross_site", "the console's API calls come from its own pages (header "+consoleHeader+": 1)")
		return
	}
	c, err := r.Cookie(staffCookie)
	if err != nil || c.Value == "" {
		jsonError(w, http.StatusUnauthorized, "not_signed_in", "sign in at /login first")
		return
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.Handler == nil {
		jsonError(w, http.StatusInternalServerError, "no_api", "the console is not served beside the API")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	if r.URL.RawPath != "" {
		r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, "/console")
	}
	r2.RequestURI = r2.URL.RequestURI()
	r2.Header.Del("Cookie")
	r2.Header.Set("Authorization", "Bearer "+c.Value)
	srv.Handler.ServeHTTP(w, r2)
}

// jsonError writes an error in the API's form.
func jsonError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
