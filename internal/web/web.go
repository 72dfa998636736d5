// Package web is the HTML console of a node: an overview with codes by
// colour, the risk areas in force, places with their QR posters, the
// published rules, a code viewer for a person (with the overrides applied
// to the code, appeals, notices and who looked at the person's data) and,
// for staff, the investigations (cases with their trajectories, review
// findings and chains of transmission), manual codes (overrides), appeals
// and abuse alerts. Chinese (zh-CN) by default; ?lang=en switches to
// English.
//
// Pages that act call the JSON API with fetch: a person's page with the
// person's token, a staff page through apiProxy with the session of the
// staff cookie. The API authorises every call; the console only shows.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"sort"
	"strconv"

	"github.com/skip2/go-qrcode"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/region"
)

//go:embed templates/*.html
var templates embed.FS

// Config configures the console.
type Config struct {
	Node    *node.Node
	Regions *region.Table
}

// Handler serves the console.
type Handler struct {
	cfg  Config
	tmpl *template.Template
	mux  *http.ServeMux
}

// New returns the console handler.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"pct": func(a, b int) string {
			if b == 0 {
				return "0"
			}
			return strconv.FormatFloat(float64(a)*100/float64(b), 'f', 1, 64)
		},
		"width": func(a, b int) int {
			if b == 0 {
				return 0
			}
			w := a * 600 / b
			if a > 0 && w < 2 {
				w = 2
			}
			return w
		},
		"regionName": func(code string) string { return cfg.Regions.FullName(code) },
		"time":       func(t any) string { return formatCST(t) },
		"pid":        health.PlaceID,
		"pcode":      health.PlaceCode,
	}).ParseFS(templates, "templates/*.html"))
	h.mux.HandleFunc("GET /{$}", h.overview)
	h.mux.HandleFunc("GET /places", h.places)
	h.mux.HandleFunc("GET /rules", h.rules)
	h.mux.HandleFunc("GET /cases", h.staffOnly(casesPage, h.cases))
	h.mux.HandleFunc("GET /cases/{id}", h.staffOnly(casesPage, h.caseDetail))
	h.mux.HandleFunc("GET /overrides", h.staffOnly(overridesPage, h.overrides))
	h.mux.HandleFunc("GET /appeals", h.staffOnly(appealsPage, h.appeals))
	h.mux.HandleFunc("GET /abuse-alerts", h.staffOnly(abusePage, h.abuseAlerts))
	h.mux.HandleFunc("GET /login", h.loginForm)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("POST /logout", h.logout)
	h.mux.HandleFunc("/console/api/v1/", h.apiProxy)
	h.mux.HandleFunc("GET /region-names", h.regionNames)
	h.mux.HandleFunc("GET /code", h.code)
	h.mux.HandleFunc("GET /qr.png", h.qr)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type page struct {
	Lang  string
	T     map[string]string
	Title string
	Path  string
	Nav   []staffPage // the staff pages the signed-in account may use
	User  string      // the signed-in account ("li@440106"), or ""
	Data  any
}

// pageLang is the page's language: "en" with ?lang=en, else "zh".
func pageLang(r *http.Request) string {
	if r.URL.Query().Get("lang") == "en" {
		return "en"
	}
	return "zh"
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, name, titleKey string, data any) {
	h.renderStatus(w, r, http.StatusOK, name, titleKey, data)
}

// renderStatus renders a page with an HTTP status. The page is rendered
// in full before it is sent, so that a template error is a clean 500.
func (h *Handler) renderStatus(w http.ResponseWriter, r *http.Request, status int, name, titleKey string, data any) {
	lang := pageLang(r)
	t := messages[lang]
	pg := page{Lang: lang, T: t, Title: t[titleKey], Path: r.URL.Path, Data: data}
	if p, ok := h.principal(r); ok {
		pg.User = p.Username + "@" + p.Region
		for _, sp := range staffPages {
			if sp.allows(p) {
				pg.Nav = append(pg.Nav, sp)
			}
		}
	}
	var b bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&b, name, pg); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

type areaRow struct {
	ID, Region, Level string
	From, Until       any
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	st := h.cfg.Node.Stats()
	var areas []areaRow
	for _, a := range h.cfg.Node.RiskAreas(false) {
		areas = append(areas, areaRow{health.EventID(a.Seq), a.Region, a.Level.String(), a.From, a.Until})
	}
	h.render(w, r, "overview.html", "overview", map[string]any{"S": st, "Areas": areas,
		"Green": st.Codes[health.Green], "Yellow": st.Codes[health.Yellow], "Red": st.Codes[health.Red]})
}

func (h *Handler) places(w http.ResponseWriter, r *http.Request) {
	after := 0
	if a, err := strconv.Atoi(r.URL.Query().Get("after")); err == nil && a > 0 {
		after = a
	}
	ps := h.cfg.Node.Places(uint32(after), 50)
	next := 0
	if len(ps) == 50 {
		next = int(ps[len(ps)-1].Index)
	}
	h.render(w, r, "places.html", "places", map[string]any{"Places": ps, "Next": next})
}

func (h *Handler) rules(w http.ResponseWriter, r *http.Request) {
	rs := h.cfg.Node.Ruleset()
	kinds := rs.KindNames()
	type kindRow struct {
		Name, Zh, Dwell, Overlap string
	}
	var rows []kindRow
	for _, k := range kinds {
		pk := rs.PlaceKinds[k]
		rows = append(rows, kindRow{k, pk.Zh, pk.Dwell.String(), pk.MinOverlap.String()})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	h.render(w, r, "rules.html", "rules", map[string]any{"RS": rs, "Kinds": rows})
}

// qr renders a QR code for a short payload (code and place payloads).
func (h *Handler) qr(w http.ResponseWriter, r *http.Request) {
	text := r.URL.Query().Get("text")
	if text == "" || len(text) > 512 {
		http.Error(w, "text must be 1 to 512 bytes", http.StatusBadRequest)
		return
	}
	png, err := qrcode.Encode(text, qrcode.Medium, 256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}
