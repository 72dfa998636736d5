// Package httpapi is the JSON API v1 of a node (see openapi.yaml, kept in
// sync with the route table below by a test).
package httpapi

import (
	"crypto/subtle"
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
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3 description of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Config configures the API server.
type Config struct {
	Node       *node.Node
	Logger     *slog.Logger
	AdminToken string                // the staff bearer token (until staff accounts exist)
	Gatherer   prometheus.Gatherer   // for /metrics; nil: none
	Registry   prometheus.Registerer // for request metrics; nil: none
	Version    string
	Web        http.Handler // the HTML console at /; nil: none
}

// Server serves the API.
type Server struct {
	n     *node.Node
	log   *slog.Logger
	admin []byte
	cfg   Config
	mux   *http.ServeMux
	reqs  *prometheus.CounterVec
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
		{"POST", "/api/v1/persons", (*Server).enrol},
		{"GET", "/api/v1/persons/{id}/code", (*Server).code},
		{"GET", "/api/v1/persons/{id}/code.png", (*Server).codePNG},
		{"POST", "/api/v1/persons/{id}/dependants", (*Server).bindDependant},
		{"GET", "/api/v1/persons/{id}/dependants", (*Server).listDependants},
		{"GET", "/api/v1/trust-list", (*Server).trustList},
		{"POST", "/api/v1/verify", (*Server).verify},
		{"POST", "/api/v1/gate/lookups", (*Server).gateLookup},
		{"POST", "/api/v1/cases", (*Server).openCase},
		{"GET", "/api/v1/cases/{id}", (*Server).getCase},
		{"PUT", "/api/v1/cases/{id}/stops", (*Server).replaceStops},
		{"POST", "/api/v1/trace", (*Server).traceCases},
		{"POST", "/api/v1/places", (*Server).registerPlace},
		{"GET", "/api/v1/places", (*Server).listPlaces},
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
	}
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{n: cfg.Node, log: cfg.Logger, admin: []byte(cfg.AdminToken), cfg: cfg, mux: http.NewServeMux()}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_http_requests_total",
		Help: "API requests by route and status class."}, []string{"route", "class"})
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.reqs)
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

// Caller is who made a request.
type Caller struct {
	Staff  bool
	Person uint32 // set for a person token
}

// Actor names the caller in events.
func (c Caller) Actor() string {
	if c.Staff {
		return "staff:admin"
	}
	return "person:" + health.PersonID(c.Person)
}

// caller authenticates the bearer token; a missing or bad token is 401.
func (s *Server) caller(r *http.Request) (Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Caller{}, health.Errorf(health.Unauthorized, "missing_token", "", "an Authorization: Bearer token is required")
	}
	if len(s.admin) > 0 && subtle.ConstantTimeCompare([]byte(tok), s.admin) == 1 {
		return Caller{Staff: true}, nil
	}
	if p, ok := s.n.CheckPersonToken(tok); ok {
		return Caller{Person: p}, nil
	}
	return Caller{}, health.Errorf(health.Unauthorized, "invalid_token", "", "the bearer token is not valid")
}

// staff authenticates and requires a staff token.
func (s *Server) staff(r *http.Request) (Caller, error) {
	c, err := s.caller(r)
	if err != nil {
		return c, err
	}
	if !c.Staff {
		return c, health.Errorf(health.Permission, "staff_only", "", "this endpoint needs a staff token")
	}
	return c, nil
}

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
