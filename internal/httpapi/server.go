// Package httpapi is the JSON API v1 of a node (see openapi.yaml, kept in
// sync with the route table below by a test).
package httpapi

import (
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/region"
	"healthcode/internal/staff"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3 description of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Config configures the API server.
type Config struct {
	Node     *node.Node
	Logger   *slog.Logger
	Gatherer prometheus.Gatherer   // for /metrics; nil: none
	Registry prometheus.Registerer // for request metrics; nil: none
	Version  string
	Web      http.Handler // the HTML console at /; nil: none
	// Regions is the region table the node uses (officials' regions,
	// community names); nil: the embedded table (region.Default).
	Regions *region.Table
}

// Server serves the API.
type Server struct {
	n       *node.Node
	log     *slog.Logger
	regions *region.Table
	cfg     Config
	mux     *http.ServeMux
	reqs    *prometheus.CounterVec
	denied  *prometheus.CounterVec
}

// Route is one API route: method, path pattern and whether it needs staff.
type Route struct {
	Method, Path string
	handler      func(*Server, http.ResponseWriter, *http.Request)
}

// Routes returns the API's route table (the OpenAPI test reads it).
func Routes() []Route {
	return []Route{
		{"GET", "/healthz", (*Server).healthz},
		{"GET", "/api/v1/openapi.yaml", (*Server).openapi},
		{"POST", "/api/v1/sessions", (*Server).login},
		{"GET", "/api/v1/sessions/current", (*Server).whoami},
		{"DELETE", "/api/v1/sessions/current", (*Server).logout},
		{"POST", "/api/v1/persons", (*Server).enrol},
		{"GET", "/api/v1/persons/{id}/code", (*Server).code},
		{"GET", "/api/v1/persons/{id}/code.png", (*Server).codePNG},
		{"POST", "/api/v1/persons/{id}/dependants", (*Server).bindDependant},
		{"GET", "/api/v1/persons/{id}/dependants", (*Server).listDependants},
		{"GET", "/api/v1/trust-list", (*Server).trustList},
		{"GET", "/api/v1/audit/head", (*Server).auditHead},
		{"GET", "/api/v1/audit/proof", (*Server).auditProof},
		{"POST", "/api/v1/verify", (*Server).verify},
		{"POST", "/api/v1/gate/lookups", (*Server).gateLookup},
		{"POST", "/api/v1/cases", (*Server).openCase},
		{"GET", "/api/v1/cases", (*Server).listCases},
		{"GET", "/api/v1/cases/{id}", (*Server).getCase},
		{"PUT", "/api/v1/cases/{id}/stops", (*Server).replaceStops},
		{"POST", "/api/v1/cases/{id}/stops", (*Server).supplementStops},
		{"POST", "/api/v1/cases/{id}/stops/confirm", (*Server).confirmStops},
		{"GET", "/api/v1/cases/{id}/review", (*Server).autoReview},
		{"POST", "/api/v1/cases/{id}/review", (*Server).reviewStops},
		{"POST", "/api/v1/cases/{id}/assign", (*Server).assignCase},
		{"GET", "/api/v1/cases/{id}/chain", (*Server).chain},
		{"GET", "/api/v1/cases/{id}/chain.svg", (*Server).chainSVG},
		{"POST", "/api/v1/trace", (*Server).traceCases},
		{"POST", "/api/v1/trips/manifest", (*Server).manifest},
		{"POST", "/api/v1/persons/{id}/stops", (*Server).recordSelfStops},
		{"GET", "/api/v1/persons/{id}/stops", (*Server).selfStops},
		{"POST", "/api/v1/places", (*Server).registerPlace},
		{"GET", "/api/v1/places", (*Server).listPlaces},
		{"GET", "/api/v1/places/search", (*Server).searchPlaces},
		{"GET", "/api/v1/places/{id}", (*Server).getPlace},
		{"GET", "/api/v1/places/{id}/qr", (*Server).placeQR},
		{"POST", "/api/v1/visits", (*Server).visits},
		{"POST", "/api/v1/labs/{lab}/results", (*Server).results},
		{"POST", "/api/v1/risk-areas", (*Server).declareArea},
		{"GET", "/api/v1/risk-areas", (*Server).listAreas},
		{"POST", "/api/v1/risk-areas/{id}/lift", (*Server).liftArea},
		{"GET", "/api/v1/rules", (*Server).rules},
		{"GET", "/api/v1/stats", (*Server).stats},
		{"GET", "/api/v1/events/{id}", (*Server).event},
		{"GET", "/api/v1/referrals", (*Server).referrals},
		{"POST", "/api/v1/referrals/{id}/ack", (*Server).ackReferral},
		{"GET", "/api/v1/alerts", (*Server).alerts},
		{"GET", "/api/v1/community-lists", (*Server).communityList},
		{"POST", "/api/v1/overrides", (*Server).requestOverride},
		{"GET", "/api/v1/overrides", (*Server).listOverrides},
		{"GET", "/api/v1/overrides/{id}", (*Server).getOverride},
		{"POST", "/api/v1/overrides/{id}/approve", (*Server).approveOverride},
		{"POST", "/api/v1/overrides/{id}/refuse", (*Server).refuseOverride},
		{"POST", "/api/v1/overrides/{id}/revoke", (*Server).revokeOverride},
		{"POST", "/api/v1/overrides/{id}/clear", (*Server).clearOverride},
		{"POST", "/api/v1/overrides/{id}/audit-refuse", (*Server).auditRefuseOverride},
		{"GET", "/api/v1/abuse-alerts", (*Server).abuseAlerts},
		{"GET", "/api/v1/persons/{id}/overrides", (*Server).personOverrides},
		{"POST", "/api/v1/rollbacks", (*Server).rollBack},
		{"GET", "/api/v1/rollbacks", (*Server).listRollbacks},
		{"POST", "/api/v1/persons/{id}/appeals", (*Server).fileAppeal},
		{"GET", "/api/v1/persons/{id}/appeals", (*Server).personAppeals},
		{"GET", "/api/v1/appeals", (*Server).listAppeals},
		{"POST", "/api/v1/appeals/{id}/resolve", (*Server).resolveAppeal},
		{"GET", "/api/v1/persons/{id}/notices", (*Server).notices},
		{"GET", "/api/v1/persons/{id}/access-log", (*Server).accessLog},
		{"GET", "/api/v1/public/cases", (*Server).publicCases},
		{"POST", "/api/v1/selfcheck", (*Server).selfCheck},
	}
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{n: cfg.Node, log: cfg.Logger, regions: cfg.Regions, cfg: cfg, mux: http.NewServeMux()}
	if s.regions == nil {
		t, err := region.Default()
		if err != nil {
			// The node could not have opened with a corrupt embedded table;
			// an empty one refuses every region rather than guessing.
			s.log.Error("region table", slog.Any("err", err))
			t = &region.Table{}
		}
		s.regions = t
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_http_requests_total",
		Help: "API requests by route and status class."}, []string{"route", "class"})
	s.denied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_http_denied_total",
		Help: "Staff requests refused for a role or region the account lacks, by action and reason."}, []string{"action", "reason"})
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.reqs, s.denied)
	}
	for _, rt := range Routes() {
		rt := rt
		counters := [6]prometheus.Counter{}
		for c := 1; c <= 5; c++ {
			counters[c] = s.reqs.WithLabelValues(rt.Path, strconv.Itoa(c)+"xx")
		}
		s.mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w, status: 200}
			rt.handler(s, sw, r)
			if c := sw.status / 100; c >= 1 && c <= 5 {
				counters[c].Inc()
			}
		})
	}
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	if cfg.Web != nil {
		s.mux.Handle("/", cfg.Web)
	}
	return s
}

// ServeHTTP implements http.Handler. Unknown API paths get a JSON 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.writeError(w, r, health.Errorf(health.NotFound, "no_such_endpoint", "", "%s %s is not an endpoint of this API", r.Method, r.URL.Path))
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Caller is who made a request: a staff account (by session or API key)
// or a person (by person token).
type Caller struct {
	Staff  staff.Principal // Username is "" for a person
	Person uint32          // set for a person token
}

// IsStaff reports whether a staff account made the request.
func (c Caller) IsStaff() bool { return c.Staff.Username != "" }

// Actor names the caller in events: "staff:li@440106" or "person:p12".
func (c Caller) Actor() string {
	if c.IsStaff() {
		return c.Staff.Actor()
	}
	return "person:" + health.PersonID(c.Person)
}

// caller authenticates the bearer token: a staff session ("hcs_…"), a staff
// API key ("hck_…") or a person token. A missing or bad token is 401.
func (s *Server) caller(r *http.Request) (Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Caller{}, health.Errorf(health.Unauthorized, "missing_token", "", "an Authorization: Bearer token is required")
	}
	if p, ok := s.n.Authenticate(tok); ok {
		return Caller{Staff: p}, nil
	}
	if p, ok := s.n.CheckPersonToken(tok); ok {
		return Caller{Person: p}, nil
	}
	return Caller{}, health.Errorf(health.Unauthorized, "invalid_token", "", "the bearer token is not valid (or its session ended)")
}

// staff authenticates a staff account that may perform action a somewhere
// (its role grants a); the handler then checks the object's region with
// allow. A person token is 403.
func (s *Server) staff(r *http.Request, a staff.Action) (Caller, error) {
	c, err := s.caller(r)
	if err != nil {
		return c, err
	}
	if !c.IsStaff() {
		s.deny(r, c, a, "staff_only")
		return c, health.Errorf(health.Permission, "staff_only", "", "this endpoint needs a staff account (%s)", a)
	}
	return c, s.allow(r, c, a, "")
}

// allow checks that staff caller c may perform action a on an object in
// region objectRegion (staff.Allowed), and logs and counts a refusal.
func (s *Server) allow(r *http.Request, c Caller, a staff.Action, objectRegion string) error {
	err := staff.Allowed(c.Staff, a, objectRegion)
	if err != nil {
		code := "denied"
		if he, ok := err.(*health.Error); ok {
			code = he.Code
		}
		s.deny(r, c, a, code)
	}
	return err
}

// allowAll is allow for several objects (each region checked once).
func (s *Server) allowAll(r *http.Request, c Caller, a staff.Action, regions []string) error {
	seen := map[string]bool{}
	for _, reg := range regions {
		if !seen[reg] {
			seen[reg] = true
			if err := s.allow(r, c, a, reg); err != nil {
				return err
			}
		}
	}
	return nil
}

// deny logs and counts a refused staff request.
func (s *Server) deny(r *http.Request, c Caller, a staff.Action, reason string) {
	s.denied.WithLabelValues(a.String(), reason).Inc()
	s.log.Warn("request refused", "method", r.Method, "path", r.URL.Path, "actor", c.Actor(), "action", a.String(), "reason", reason)
}

// personRegion returns person p's home region (for region checks).
func (s *Server) personRegion(p uint32) (string, error) { return s.n.PersonRegion(p) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"status": "ok", "version": s.cfg.Version, "time": health.FormatTime(s.n.Now())})
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPI)
}

func pathPerson(r *http.Request) (uint32, error) {
	id := r.PathValue("id")
	p, ok := health.ParsePersonID(id)
	if !ok {
		return 0, health.Errorf(health.Invalid, "invalid_person_id", "id", "%q is not a person id (e.g. p123)", id)
	}
	return p, nil
}

func pathPlace(r *http.Request) (uint32, error) {
	id := r.PathValue("id")
	p, ok := health.ParsePlaceID(id)
	if !ok {
		return 0, health.Errorf(health.Invalid, "invalid_place_id", "id", "%q is not a place id (e.g. L12)", id)
	}
	return p, nil
}

func optTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return health.ParseTime(field, s)
}
