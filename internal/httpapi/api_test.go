package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"healthcode/internal/codesign"
	"healthcode/internal/httpapi"
	"healthcode/internal/nodetest"
	"healthcode/internal/staff"
)

// adminToken stands for "a staff account that may do this": do and doAs
// replace it with the session of a national account holding every role but
// lab, auditor and operator (or of the official doAs names, or, on a lab's
// upload, of that lab's account), each made on first use.
const adminToken = "test-staff-token"

// env is a running node behind a real HTTP server on a loopback port, with
// every response checked against openapi.yaml.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	node   *nodetest.Node
	clock  *nodetest.Clock
	router routers.Router
	close  func()

	mu     sync.Mutex
	tokens map[string]string // by account: the staff tokens made for adminToken
	reg    *prometheus.Registry
}

// metric returns the sum of a counter's series in the server's registry.
func (e *env) metric(name string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// totpSecrets keeps the TOTP secrets of the accounts staffToken made, by
// data directory and username: a test that restarts a node on the same
// directory signs in to the same accounts.
var totpSecrets sync.Map

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvAt(t, t.TempDir())
}

func newEnvAt(t *testing.T, dir string) *env {
	t.Helper()
	return newEnvWith(t, nodetest.Options{Dir: dir})
}

func newEnvWith(t *testing.T, o nodetest.Options) *env {
	t.Helper()
	n := nodetest.StartWith(t, o)
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Node: n.Node, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			srv.Close()
			n.Close()
		})
	}
	t.Cleanup(closeAll)
	spec, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := spec.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	spec.Servers = openapi3.Servers{{URL: srv.URL}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, node: n, clock: n.Clock, router: router, close: closeAll, tokens: map[string]string{}, reg: reg}
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	return m
}

// errCode returns the error code and field of an error response.
func (r resp) errCode(t *testing.T) (string, string) {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	f, _ := e["field"].(string)
	return e["code"].(string), f
}

// do sends a request and validates the request and response against the
// OpenAPI description.
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		switch b := body.(type) {
		case string:
			raw = []byte(b)
		default:
			var err error
			raw, err = json.Marshal(b)
			if err != nil {
				e.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token == adminToken {
		token = e.staffToken("", path)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	e.validate(req, raw, res, out)
	return resp{status: res.StatusCode, body: out, header: res.Header}
}

// staffToken returns the token adminToken stands for on path: of lab
// account {lab} for a lab's upload, else of official ("name@region", made
// with the investigator, community, official and verifier roles), else of
// the national account "tester" with those roles.
func (e *env) staffToken(official, path string) string {
	e.t.Helper()
	user, region, roles := "tester", "000000", "investigator,community,official,verifier"
	if rest, ok := strings.CutPrefix(path, "/api/v1/labs/"); ok {
		lab, _, _ := strings.Cut(rest, "/")
		user, roles = lab, "lab"
	} else if official != "" {
		var ok bool
		if user, region, ok = strings.Cut(official, "@"); !ok {
			e.t.Fatalf("official %q is not name@region", official)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// A session ends after 30 minutes unused: tests move the clock by
	// hours, so the account signs in again when it has.
	if tok, ok := e.tokens[user]; ok {
		if _, ok := e.node.Authenticate(tok); ok {
			return tok
		}
	}
	key := e.node.Dir + "/" + user
	if _, err := e.node.Account(user); err != nil {
		totpSecrets.Store(key, e.addAccount(user, roles, region))
	}
	otp := ""
	if secret, _ := totpSecrets.Load(key); secret != "" && secret != nil {
		var err error
		if otp, err = staff.TOTPCode(secret.(string), e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	tok, _, err := e.node.Login(context.Background(), user, staffPassword, otp, "192.0.2.1")
	if err != nil {
		e.t.Fatalf("sign in as %s: %v", user, err)
	}
	e.tokens[user] = tok
	return tok
}

// The SVG pictures are checked as opaque bodies.
func init() { openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.FileBodyDecoder) }

func (e *env) validate(req *http.Request, reqBody []byte, res *http.Response, body []byte) {
	e.t.Helper()
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		if res.StatusCode == 404 {
			return // unknown endpoints are not in the spec by definition
		}
		e.t.Errorf("%s %s is not described in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	rvi := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	in := &openapi3filter.ResponseValidationInput{RequestValidationInput: rvi, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %.500s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
	if res.StatusCode < 300 && reqBody != nil {
		req2 := req.Clone(context.Background())
		req2.Body = io.NopCloser(bytes.NewReader(reqBody))
		rvi.Request = req2
		if err := openapi3filter.ValidateRequest(context.Background(), rvi); err != nil {
			e.t.Errorf("accepted request %s %s does not match openapi.yaml: %v", req.Method, req.URL.Path, err)
		}
	}
}

func idNumber(serial int) string { return nodetest.IDNumber(serial) }

func (e *env) enrol(serial int) (id, token string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/persons", "", map[string]string{"id_number": idNumber(serial), "name": "张三", "phone": "13800138000", "home_region": "440106"})
	if r.status != 201 {
		e.t.Fatalf("enrol: got %d %s, want 201", r.status, r.body)
	}
	m := r.json(e.t)
	return m["person_id"].(string), m["token"].(string)
}

func (e *env) place(name, kind, region string) (id, code string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/places", adminToken, map[string]any{"name": name, "kind": kind, "region": region, "lat": 23.13, "lng": 113.33, "aliases": []string{name + "店"}})
	if r.status != 201 {
		e.t.Fatalf("register place: got %d %s, want 201", r.status, r.body)
	}
	m := r.json(e.t)
	return m["place_id"].(string), m["place_code"].(string)
}

func (e *env) code(id, token string) map[string]any {
	e.t.Helper()
	r := e.do("GET", "/api/v1/persons/"+id+"/code", token, nil)
	if r.status != 200 {
		e.t.Fatalf("code: got %d %s, want 200", r.status, r.body)
	}
	return r.json(e.t)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestRoutesMatchOpenAPI(t *testing.T) {
	spec, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	inSpec := map[string]bool{}
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			inSpec[method+" "+path] = true
		}
	}
	inCode := map[string]bool{}
	for _, r := range httpapi.Routes() {
		inCode[r.Method+" "+r.Path] = true
		if !inSpec[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is served but not in openapi.yaml", r.Method, r.Path)
		}
	}
	for k := range inSpec {
		if !inCode[k] {
			t.Errorf("openapi.yaml describes %s, which no handler serves", k)
		}
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("got %d, want 200", r.status)
	}
}

func TestEnrolAndCode(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	c := e.code(id, tok)
	if c["colour"] != "green" || c["star"] != false || len(c["reasons"].([]any)) != 0 || c["last_test"] != nil {
		t.Errorf("new person's code: got %v, want green, no star, no reasons, no test", c)
	}
	// The qr is a signed token that the node verifies back to what a gate
	// may see: colour, star, masked name and validity, nothing more.
	qr, _ := c["qr"].(string)
	if !strings.HasPrefix(qr, "HCC1:") {
		t.Fatalf("qr: got %q, want a signed HCC1 token", qr)
	}
	v := e.do("POST", "/api/v1/verify", "", map[string]string{"payload": qr})
	if v.status != 200 {
		t.Fatalf("verify own token: got %d %s", v.status, v.body)
	}
	if m := v.json(t); m["valid"] != true || m["colour"] != "green" || m["masked_name"] != "张*" || m["paper"] != false || m["issuer"] != "440000" {
		t.Errorf("verify own token: got %v", m)
	}
	if r := e.do("GET", "/api/v1/persons/"+id+"/code?qr=none", tok, nil); r.status != 200 || r.json(t)["qr"] != nil {
		t.Errorf("?qr=none: got %d %s, want 200 with qr null", r.status, r.body)
	}
	// Re-enrolling the same ID number returns the same person.
	r := e.do("POST", "/api/v1/persons", "", map[string]string{"id_number": idNumber(1), "name": "张三", "phone": "13800138000", "home_region": "440106"})
	if r.status != 200 || r.json(t)["person_id"] != id || r.json(t)["existing"] != true {
		t.Errorf("re-enrol: got %d %s, want 200 with %s existing", r.status, r.body, id)
	}
	// Another person's token cannot read this code; staff can; nobody else.
	id2, tok2 := e.enrol(2)
	if id2 == id {
		t.Fatalf("two ID numbers got the same person id %s", id)
	}
	if r := e.do("GET", "/api/v1/persons/"+id+"/code", tok2, nil); r.status != 403 {
		t.Errorf("other person's token: got %d, want 403", r.status)
	}
	if r := e.do("GET", "/api/v1/persons/"+id+"/code", adminToken, nil); r.status != 200 {
		t.Errorf("staff token: got %d, want 200", r.status)
	}
	if r := e.do("GET", "/api/v1/persons/"+id+"/code", "", nil); r.status != 401 {
		t.Errorf("no token: got %d, want 401", r.status)
	}
	forged := tok[:len(tok)-2] + "AA"
	if r := e.do("GET", "/api/v1/persons/"+id+"/code", forged, nil); r.status != 401 {
		t.Errorf("forged token: got %d, want 401", r.status)
	}
	if r := e.do("GET", "/api/v1/persons/p999/code", adminToken, nil); r.status != 404 {
		t.Errorf("unknown person: got %d, want 404", r.status)
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	_, pcode := e.place("海底捞", "restaurant", "440106")
	before := e.node.Stats()
	now := e.clock.Now()
	good := map[string]string{"id_number": idNumber(5), "name": "李四", "phone": "13900139000", "home_region": "440106"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code, field               string
	}{
		{"short id number", "POST", "/api/v1/persons", "", with("id_number", "4401061985"), 400, "invalid_id_number", "id_number"},
		{"bad check digit", "POST", "/api/v1/persons", "", with("id_number", idNumber(5)[:17]+"0"), 400, "invalid_id_number", "id_number"},
		{"bad birth date", "POST", "/api/v1/persons", "", with("id_number", "440106198502300011"), 400, "invalid_id_number", "id_number"},
		{"unknown region", "POST", "/api/v1/persons", "", with("home_region", "449999"), 400, "invalid_region", "home_region"},
		{"malformed region", "POST", "/api/v1/persons", "", with("home_region", "44"), 400, "invalid_region", "home_region"},
		{"empty name", "POST", "/api/v1/persons", "", with("name", " "), 400, "invalid_name", "name"},
		{"bad phone", "POST", "/api/v1/persons", "", with("phone", "call me"), 400, "invalid_phone", "phone"},
		{"unknown field", "POST", "/api/v1/persons", "", map[string]string{"id_number": idNumber(5), "nam": "x"}, 400, "unknown_field", "nam"},
		{"wrong type", "POST", "/api/v1/persons", "", map[string]any{"id_number": 5}, 400, "invalid_type", "id_number"},
		{"malformed json", "POST", "/api/v1/persons", "", `{"id_number":`, 400, "malformed_json", ""},
		{"batch without staff", "POST", "/api/v1/persons", tok, map[string]any{"persons": []any{good}}, 403, "staff_only", ""},
		{"batch with one bad item", "POST", "/api/v1/persons", adminToken, map[string]any{"persons": []any{good, with("phone", "x")}}, 400, "invalid_phone", "persons[1].phone"},
		{"place unknown kind", "POST", "/api/v1/places", adminToken, map[string]any{"name": "x", "kind": "casino", "region": "440106", "lat": 23.1, "lng": 113.3}, 400, "invalid_kind", "kind"},
		{"place outside China", "POST", "/api/v1/places", adminToken, map[string]any{"name": "x", "kind": "market", "region": "440106", "lat": 60.0, "lng": 113.3}, 400, "invalid_coordinates", "lat"},
		{"place missing lng", "POST", "/api/v1/places", adminToken, map[string]any{"name": "x", "kind": "market", "region": "440106", "lat": 23.1}, 400, "missing_field", "lng"},
		{"place by a person", "POST", "/api/v1/places", tok, map[string]any{"name": "x", "kind": "market", "region": "440106", "lat": 23.1, "lng": 113.3}, 403, "staff_only", ""},
		{"visit in the future", "POST", "/api/v1/visits", tok, map[string]string{"person_id": id, "place_code": pcode, "at": ts(now.Add(time.Hour))}, 400, "future_time", "at"},
		{"visit unknown place", "POST", "/api/v1/visits", adminToken, map[string]string{"person_id": id, "place_code": "HCP1:L999", "at": ts(now)}, 404, "unknown_place", "place_code"},
		{"visit unsigned code by a person", "POST", "/api/v1/visits", tok, map[string]string{"person_id": id, "place_code": "HCP1:L1", "at": ts(now)}, 400, "unsigned_place_code", "place_code"},
		{"visit malformed code", "POST", "/api/v1/visits", tok, map[string]string{"person_id": id, "place_code": "http://evil/", "at": ts(now)}, 400, "place_code_wrong_prefix", "place_code"},
		{"visit altered code", "POST", "/api/v1/visits", tok, map[string]string{"person_id": id, "place_code": alter(pcode), "at": ts(now)}, 400, "place_code_bad_signature", "place_code"},
		{"visit half a scan location", "POST", "/api/v1/visits", tok, map[string]any{"person_id": id, "place_code": pcode, "at": ts(now), "scan_lat": 23.1}, 400, "missing_field", "scan_lng"},
		{"verify without payload", "POST", "/api/v1/verify", "", map[string]string{}, 400, "missing_field", "payload"},
		{"dependant bad relation", "POST", "/api/v1/persons/" + id + "/dependants", tok, map[string]string{"id_number": idNumber(6), "name": "王五", "phone": "13900139000", "home_region": "440106", "relation": "friend", "basis": "consent"}, 400, "invalid_relation", "relation"},
		{"dependant of someone else", "POST", "/api/v1/persons/p2/dependants", tok, map[string]string{"id_number": idNumber(6), "name": "王五", "phone": "13900139000", "home_region": "440106", "relation": "parent", "basis": "consent"}, 403, "not_your_account", "id"},
		{"gate lookup by a person", "POST", "/api/v1/gate/lookups", tok, map[string]string{"id_number": idNumber(1), "place_id": "L1"}, 403, "staff_only", ""},
		{"gate lookup bad id number", "POST", "/api/v1/gate/lookups", adminToken, map[string]string{"id_number": "123", "place_id": "L1"}, 400, "invalid_id_number", "id_number"},
		{"gate lookup bad place", "POST", "/api/v1/gate/lookups", adminToken, map[string]string{"id_number": idNumber(1), "place_id": "X1"}, 400, "invalid_place_id", "place_id"},
		{"visit bad time", "POST", "/api/v1/visits", tok, map[string]string{"person_id": id, "place_code": pcode, "at": "yesterday"}, 400, "invalid_time", "at"},
		{"visit for someone else", "POST", "/api/v1/visits", tok, map[string]string{"person_id": "p2", "place_code": pcode, "at": ts(now)}, 403, "not_your_visit", "person_id"},
		{"batch item unknown person", "POST", "/api/v1/visits", adminToken, map[string]any{"visits": []any{
			map[string]string{"person_id": id, "place_code": pcode, "at": ts(now)},
			map[string]string{"person_id": "p77", "place_code": pcode, "at": ts(now)}}}, 404, "unknown_person", "visits[1].person_id"},
		{"result bad value", "POST", "/api/v1/labs/lab1/results", adminToken, map[string]any{"results": []any{map[string]string{"sample_id": "s1", "person_id": id, "sampled_at": ts(now), "result": "maybe"}}}, 400, "invalid_result", "results[0].result"},
		{"result unknown id number", "POST", "/api/v1/labs/lab1/results", adminToken, map[string]any{"results": []any{map[string]string{"sample_id": "s1", "id_number": idNumber(9), "sampled_at": ts(now), "result": "negative"}}}, 404, "unknown_person", "results[0].id_number"},
		{"result without person", "POST", "/api/v1/labs/lab1/results", adminToken, map[string]any{"results": []any{map[string]string{"sample_id": "s1", "sampled_at": ts(now), "result": "negative"}}}, 400, "missing_field", "results[0].person_id"},
		{"result conflicting in batch", "POST", "/api/v1/labs/lab1/results", adminToken, map[string]any{"results": []any{
			map[string]string{"sample_id": "s1", "person_id": id, "sampled_at": ts(now), "result": "negative"},
			map[string]string{"sample_id": "s1", "person_id": id, "sampled_at": ts(now), "result": "positive"}}}, 409, "conflicting_sample", "results[1].sample_id"},
		{"results by a person", "POST", "/api/v1/labs/lab1/results", tok, map[string]any{"results": []any{}}, 403, "staff_only", ""},
		{"area bad level", "POST", "/api/v1/risk-areas", adminToken, map[string]string{"region": "440106", "level": "low", "until": ts(now.Add(48 * time.Hour))}, 400, "invalid_level", "level"},
		{"area expired", "POST", "/api/v1/risk-areas", adminToken, map[string]string{"region": "440106", "level": "high", "until": ts(now.Add(-time.Hour))}, 400, "invalid_time", "until"},
		{"area unknown region", "POST", "/api/v1/risk-areas", adminToken, map[string]string{"region": "999999", "level": "high", "until": ts(now.Add(time.Hour))}, 400, "invalid_region", "region"},
		{"lift unknown area", "POST", "/api/v1/risk-areas/e999/lift", adminToken, nil, 404, "unknown_area", "area_id"},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", nil, 404, "no_such_endpoint", ""},
	}
	for _, c := range cases {
		if c.token == adminToken {
			e.staffToken("", c.path) // accounts first: they are events
		}
	}
	before = e.node.Stats()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.token, c.body)
			if r.status != c.status {
				t.Fatalf("got status %d (%s), want %d", r.status, r.body, c.status)
			}
			code, field := r.errCode(t)
			if code != c.code || field != c.field {
				t.Errorf("got error %q field %q, want %q field %q (%s)", code, field, c.code, c.field, r.body)
			}
		})
	}
	after := e.node.Stats()
	if after.Events != before.Events || after.Persons != before.Persons || after.Visits != before.Visits || after.Tests != before.Tests {
		t.Errorf("refused requests changed state: before %+v, after %+v", before, after)
	}
}

func TestPositiveThenNegativesTurnsRedYellowGreen(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	now := e.clock.Now()
	upload := func(sample string, at time.Time, result string) map[string]any {
		r := e.do("POST", "/api/v1/labs/gz-lab-01/results", adminToken, map[string]any{"results": []any{
			map[string]string{"sample_id": sample, "person_id": id, "sampled_at": ts(at), "result": result}}})
		if r.status != 200 {
			t.Fatalf("upload %s: got %d %s", sample, r.status, r.body)
		}
		return r.json(t)
	}
	upload("S1", now.Add(-time.Hour), "positive")
	c := e.code(id, tok)
	if c["colour"] != "red" {
		t.Fatalf("after a positive: got %v, want red", c["colour"])
	}
	reasons := c["reasons"].([]any)
	r0 := reasons[0].(map[string]any)
	if r0["rule"] != "positive-result" || r0["rule_version"].(float64) != 1 || len(r0["evidence"].([]any)) != 1 {
		t.Fatalf("reason: got %v, want positive-result v1 with one evidence event", r0)
	}
	// The evidence is a real event the person may read.
	ev := e.do("GET", "/api/v1/events/"+r0["evidence"].([]any)[0].(string), tok, nil)
	if ev.status != 200 || ev.json(t)["result"] != "positive" || ev.json(t)["kind"] != "test_result" {
		t.Fatalf("evidence event: got %d %s", ev.status, ev.body)
	}
	// The same upload again is a no-op; different content is a correction.
	if got := upload("S1", now.Add(-time.Hour), "positive"); got["duplicates"].(float64) != 1 || got["accepted"].(float64) != 0 {
		t.Errorf("repeat upload: got %v, want 1 duplicate", got)
	}
	e.clock.Add(24 * time.Hour)
	upload("S2", e.clock.Now(), "negative")
	if c := e.code(id, tok); c["colour"] != "red" {
		t.Errorf("after one negative: got %v, want red", c["colour"])
	}
	e.clock.Add(24 * time.Hour)
	upload("S3", e.clock.Now(), "negative")
	c = e.code(id, tok)
	if c["colour"] != "yellow" {
		t.Fatalf("after two negatives 24h apart: got %v, want yellow", c["colour"])
	}
	if lt := c["last_test"].(map[string]any); lt["result"] != "negative" {
		t.Errorf("last_test: got %v, want negative", lt)
	}
	// Time alone turns it green: the scheduler re-evaluates at the rule's expiry.
	e.clock.Add(72*time.Hour + time.Minute)
	if err := e.node.Reevaluate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := e.code(id, tok); c["colour"] != "green" {
		t.Errorf("after the monitoring period: got %v, want green", c["colour"])
	}
}

func TestCorrectionChangesCode(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	at := e.clock.Now().Add(-time.Hour)
	r := e.do("POST", "/api/v1/labs/lab-a/results", adminToken, map[string]any{"results": []any{
		map[string]string{"sample_id": "X1", "id_number": idNumber(1), "sampled_at": ts(at), "result": "positive"}}})
	if r.status != 200 || r.json(t)["accepted"].(float64) != 1 {
		t.Fatalf("upload by id number: got %d %s", r.status, r.body)
	}
	if c := e.code(id, tok); c["colour"] != "red" {
		t.Fatalf("got %v, want red", c["colour"])
	}
	r = e.do("POST", "/api/v1/labs/lab-a/results", adminToken, map[string]any{"results": []any{
		map[string]string{"sample_id": "X1", "id_number": idNumber(1), "sampled_at": ts(at), "result": "negative"}}})
	if r.status != 200 || r.json(t)["corrections"].(float64) != 1 {
		t.Fatalf("correction: got %d %s, want 1 correction", r.status, r.body)
	}
	if c := e.code(id, tok); c["colour"] != "green" {
		t.Errorf("after the correction to negative: got %v, want green", c["colour"])
	}
}

func TestRiskAreaStayAndStar(t *testing.T) {
	e := newEnv(t)
	stay, stayTok := e.enrol(1)      // visits a place inside the area
	sameCity, cityTok := e.enrol(2)  // visits elsewhere in Guangzhou
	elsewhere, elseTok := e.enrol(3) // visits Shenzhen only
	_, inArea := e.place("天河市场", "market", "440106")
	_, inCity := e.place("越秀超市", "supermarket", "440104")
	_, otherCity := e.place("福田商场", "mall", "440304")
	now := e.clock.Now()
	visit := func(person, tok, code string, at time.Time) {
		r := e.do("POST", "/api/v1/visits", tok, map[string]string{"person_id": person, "place_code": code, "at": ts(at)})
		if r.status != 201 {
			t.Fatalf("visit: got %d %s", r.status, r.body)
		}
	}
	visit(stay, stayTok, inArea, now.Add(-3*time.Hour))
	visit(sameCity, cityTok, inCity, now.Add(-3*time.Hour))
	visit(elsewhere, elseTok, otherCity, now.Add(-3*time.Hour))
	r := e.do("POST", "/api/v1/risk-areas", adminToken, map[string]string{"region": "440106", "level": "high",
		"from": ts(now.Add(-24 * time.Hour)), "until": ts(now.Add(7 * 24 * time.Hour))})
	if r.status != 201 {
		t.Fatalf("declare: got %d %s", r.status, r.body)
	}
	area := r.json(t)
	if area["affected"].(float64) != 2 {
		t.Errorf("affected: got %v, want 2 (the two Guangzhou visitors)", area["affected"])
	}
	c := e.code(stay, stayTok)
	if c["colour"] != "red" || c["star"] != true {
		t.Errorf("stay in the high-risk area: got %v star %v, want red with star", c["colour"], c["star"])
	}
	if c := e.code(sameCity, cityTok); c["colour"] != "green" || c["star"] != true {
		t.Errorf("same city: got %v star %v, want green with star", c["colour"], c["star"])
	}
	if c := e.code(elsewhere, elseTok); c["colour"] != "green" || c["star"] != false {
		t.Errorf("other city: got %v star %v, want green without star", c["colour"], c["star"])
	}
	// A new visit into the area after the declaration also counts.
	late, lateTok := e.enrol(4)
	visit(late, lateTok, inArea, now.Add(-time.Minute))
	if c := e.code(late, lateTok); c["colour"] != "red" {
		t.Errorf("visit after the declaration: got %v, want red", c["colour"])
	}
	// Lifting ends the star; stays already made keep their colour.
	r = e.do("POST", "/api/v1/risk-areas/"+area["area_id"].(string)+"/lift", adminToken, nil)
	if r.status != 200 {
		t.Fatalf("lift: got %d %s", r.status, r.body)
	}
	if c := e.code(sameCity, cityTok); c["star"] != false {
		t.Errorf("after lifting: star %v, want false", c["star"])
	}
	if c := e.code(stay, stayTok); c["colour"] != "red" {
		t.Errorf("after lifting, earlier stay: got %v, want red", c["colour"])
	}
	if r := e.do("POST", "/api/v1/risk-areas/"+area["area_id"].(string)+"/lift", adminToken, nil); r.status != 409 {
		t.Errorf("lift twice: got %d, want 409", r.status)
	}
}

func TestPlaceQRIsPNG(t *testing.T) {
	e := newEnv(t)
	id, _ := e.place("海底捞(天河店)", "restaurant", "440106")
	r := e.do("GET", "/api/v1/places/"+id+"/qr", "", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(r.body, []byte("\x89PNG")) {
		t.Fatalf("got %d %s, want a PNG", r.status, r.header.Get("Content-Type"))
	}
}

func TestViewsRebuiltAfterRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnvAt(t, dir)
	id, tok := e.enrol(1)
	_, code := e.place("天河市场", "market", "440106")
	at := e.clock.Now().Add(-time.Hour)
	if r := e.do("POST", "/api/v1/visits", tok, map[string]string{"person_id": id, "place_code": code, "at": ts(at)}); r.status != 201 {
		t.Fatalf("visit: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/labs/l/results", adminToken, map[string]any{"results": []any{
		map[string]string{"sample_id": "A", "person_id": id, "sampled_at": ts(at), "result": "positive"}}}); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	want := e.code(id, tok)
	before := e.node.Stats()
	e.close()

	e2 := newEnvAt(t, dir)
	got := e2.code(id, tok) // the token still works: same key file
	if got["colour"] != "red" || fmt.Sprint(got["reasons"]) != fmt.Sprint(want["reasons"]) {
		t.Errorf("after restart: got %v %v, want %v %v", got["colour"], got["reasons"], want["colour"], want["reasons"])
	}
	after := e2.node.Stats()
	if after.Persons != before.Persons || after.Places != before.Places || after.Visits != before.Visits || after.Tests != before.Tests || after.Events != before.Events {
		t.Errorf("stats after restart: got %+v, want %+v", after, before)
	}
	// Re-enrolling after the restart still finds the person by ID hash.
	r := e2.do("POST", "/api/v1/persons", "", map[string]string{"id_number": idNumber(1), "name": "张三", "phone": "13800138000", "home_region": "440106"})
	if r.json(t)["person_id"] != id {
		t.Errorf("re-enrol after restart: got %s, want %s", r.body, id)
	}
}

// alter flips a bit in the signature (the last byte of the COSE bytes) of
// a signed payload and re-encodes it, so it is well formed but forged.
func alter(payload string) string {
	prefix, body, _ := strings.Cut(payload, ":")
	raw, err := codesign.Base45Decode(body)
	if err != nil {
		panic(err)
	}
	raw[len(raw)-1] ^= 1
	return prefix + ":" + codesign.Base45Encode(raw)
}
