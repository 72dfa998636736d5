// Package httpapi is the JSON API v1 of a node (see openapi.yaml, kept in
// sync with the route table below by a test).
package httpapi

import (
	"crypto/subtle"
	_ "embed"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/region"
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
	// Regions is the region table the node uses (officials' regions,
	// community names); nil: the embedded table (region.Default).
	Regions *region.Table
}

// Server serves the API.
type Server struct {
	n       *node.Node
	log     *slog.Logger
	admin   []byte
	regions *region.Table
	cfg     Config
	mux     *http.ServeMux
	reqs    *prometheus.CounterVec
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
		{"GET", "/api/v1/public/cases", (*Server).publicCases},
		{"POST", "/api/v1/selfcheck", (*Server).selfCheck},
	}
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{n: cfg.Node, log: cfg.Logger, admin: []byte(cfg.AdminToken), regions: cfg.Regions, cfg: cfg, mux: http.NewServeMux()}
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
	// Official and Region name the acting official of a staff request and
	// their region (the X-Healthcode-Official header); both "" for the
	// national staff account.
	Official, Region string
}

// Actor names the caller in events: "staff:admin", "staff:li@440106" or
// "person:p12".
func (c Caller) Actor() string {
	switch {
	case c.Staff && c.Official != "":
		return "staff:" + c.Official + "@" + c.Region
	case c.Staff:
		return "staff:admin"
	}
	return "person:" + health.PersonID(c.Person)
}

// OfficialHeader names the acting official of a staff request until staff
// accounts exist: "<name>@<6-digit region code>".
const OfficialHeader = "X-Healthcode-Official"

var officialRE = regexp.MustCompile(`^([a-z0-9._-]{1,32})@([0-9]{6})$`)

// caller authenticates the bearer token; a missing or bad token is 401. A
// staff request may name its official (OfficialHeader); a malformed header
// is 400, on a person token 403.
func (s *Server) caller(r *http.Request) (Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Caller{}, health.Errorf(health.Unauthorized, "missing_token", "", "an Authorization: Bearer token is required")
	}
	var c Caller
	if len(s.admin) > 0 && subtle.ConstantTimeCompare([]byte(tok), s.admin) == 1 {
		c.Staff = true
	} else if p, ok := s.n.CheckPersonToken(tok); ok {
		c.Person = p
	} else {
		return Caller{}, health.Errorf(health.Unauthorized, "invalid_token", "", "the bearer token is not valid")
	}
	if h := r.Header.Values(OfficialHeader); len(h) > 0 {
		if !c.Staff {
			return Caller{}, health.Errorf(health.Permission, "staff_only", OfficialHeader, "only a staff request names an official")
		}
		m := officialRE.FindStringSubmatch(h[0])
		if len(h) > 1 || m == nil {
			return Caller{}, health.Errorf(health.Invalid, "invalid_official", OfficialHeader,
				"must be one <name>@<region>: a name of 1 to 32 of a-z 0-9 . _ - and a 6-digit region code, e.g. li.ming@440106")
		}
		if err := s.regions.Validate(m[2]); err != nil {
			return Caller{}, health.Errorf(health.Invalid, "invalid_official", OfficialHeader, "%v", err)
		}
		c.Official, c.Region = m[1], m[2]
	}
	return c, nil
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
