package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/nodetest"
)

func (e *env) verify(payload string) resp {
	e.t.Helper()
	return e.do("POST", "/api/v1/verify", "", map[string]string{"payload": payload})
}

func rejection(t *testing.T, r resp) string {
	t.Helper()
	if r.status != 422 {
		t.Fatalf("got %d %s, want 422", r.status, r.body)
	}
	m := r.json(t)
	if m["valid"] != false {
		t.Fatalf("rejection without valid=false: %s", r.body)
	}
	return m["error"].(map[string]any)["code"].(string)
}

// A screen token is short-lived, a forged one is refused, the PNG carries the
// same kind of token through a real QR image, and the trust list served by
// the node verifies it offline.
func TestSignedCodeLifecycle(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	qr := e.code(id, tok)["qr"].(string)
	if r := e.verify(qr); r.status != 200 {
		t.Fatalf("fresh token: got %d %s", r.status, r.body)
	}
	if got := rejection(t, e.verify(alter(qr))); got != "bad_signature" {
		t.Errorf("altered token: got %q, want bad_signature", got)
	}
	if got := rejection(t, e.verify("HCU1:"+id+":green:0:1")); got != "wrong_prefix" {
		t.Errorf("unsigned payload: got %q, want wrong_prefix", got)
	}

	// Offline: the trust list from the API, parsed and used without the node.
	tlr := e.do("GET", "/api/v1/trust-list", "", nil)
	if tlr.status != 200 {
		t.Fatalf("trust list: %d %s", tlr.status, tlr.body)
	}
	tl, err := codesign.ParseTrustList(tlr.body, nil)
	if err != nil {
		t.Fatalf("the served trust list does not verify: %v", err)
	}
	c, err := codesign.Verify(qr, tl, e.clock.Now())
	if err != nil || c.Colour != "green" || c.MaskedName != "张*" || c.Paper {
		t.Fatalf("offline verify: %+v %v", c, err)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt); d != 5*time.Minute {
		t.Errorf("screen token lifetime %v, want 5m", d)
	}

	// The PNG decodes (gozxing) to a token that verifies.
	png := e.do("GET", "/api/v1/persons/"+id+"/code.png", tok, nil)
	if png.status != 200 || png.header.Get("Content-Type") != "image/png" {
		t.Fatalf("code.png: %d %s", png.status, png.header.Get("Content-Type"))
	}
	fromPNG, err := codesign.DecodePNG(png.body)
	if err != nil {
		t.Fatalf("decode code.png: %v", err)
	}
	if _, err := codesign.Verify(fromPNG, tl, e.clock.Now()); err != nil {
		t.Fatalf("token from code.png: %v", err)
	}

	// A printed card: a paper token valid 24 h, readable from the card image.
	card := e.do("GET", "/api/v1/persons/"+id+"/code.png?paper=1", tok, nil)
	if card.status != 200 {
		t.Fatalf("paper card: %d %s", card.status, card.body)
	}
	fromCard, err := codesign.DecodePNG(card.body)
	if err != nil {
		t.Fatalf("decode the paper card: %v", err)
	}
	pc, err := codesign.Verify(fromCard, tl, e.clock.Now())
	if err != nil || !pc.Paper || pc.ExpiresAt.Sub(pc.IssuedAt) != 24*time.Hour {
		t.Fatalf("paper token: %+v %v, want paper, 24h", pc, err)
	}

	// Six minutes later the screen token is expired; the paper one is not.
	e.clock.Add(6 * time.Minute)
	if got := rejection(t, e.verify(qr)); got != "expired" {
		t.Errorf("token after 6 minutes: got %q, want expired", got)
	}
	if r := e.verify(fromCard); r.status != 200 {
		t.Errorf("paper token after 6 minutes: got %d %s", r.status, r.body)
	}
}

// A token never outlives the code it shows: a red code that turns by itself
// at a known time expires its token then.
func TestTokenExpiresWhenTheCodeChanges(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	now := e.clock.Now()
	// Two negatives 24h apart after a positive: yellow until 72h after the
	// second, which is two minutes from now; the token must end then.
	r := e.do("POST", "/api/v1/labs/lab1/results", adminToken, map[string]any{"results": []any{
		map[string]string{"sample_id": "s1", "person_id": id, "sampled_at": ts(now.Add(-100 * time.Hour)), "result": "positive"},
		map[string]string{"sample_id": "s2", "person_id": id, "sampled_at": ts(now.Add(-96 * time.Hour)), "result": "negative"},
		map[string]string{"sample_id": "s3", "person_id": id, "sampled_at": ts(now.Add(-72*time.Hour + 2*time.Minute)), "result": "negative"},
	}})
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	c := e.code(id, tok)
	if c["colour"] != "yellow" {
		t.Fatalf("colour %v, want yellow (monitoring)", c["colour"])
	}
	exp, _ := time.Parse(time.RFC3339, c["qr_expires_at"].(string))
	next, _ := time.Parse(time.RFC3339, c["valid_until"].(string))
	if !exp.Equal(next) || exp.Sub(now) >= 5*time.Minute {
		t.Errorf("token expires %v, code changes %v (now %v): want the token to end with the code", exp, next, now)
	}
}

// Mutual recognition: a code issued by one province's node verifies at
// another node that loaded its trust list, and not at one that did not.
func TestCodeVerifiesAtAnotherNode(t *testing.T) {
	gd := newEnvWith(t, nodetest.Options{Dir: t.TempDir(), Region: "440000"})
	id, tok := gd.enrol(1)
	qr := gd.code(id, tok)["qr"].(string)
	tl, err := codesign.ParseTrustList(gd.node.TrustListJSON(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bj := newEnvWith(t, nodetest.Options{Dir: t.TempDir(), Region: "110000", Clock: nodetest.NewClock(gd.clock.Now()), Trust: []*codesign.TrustList{tl}})
	r := bj.verify(qr)
	if r.status != 200 || r.json(t)["issuer"] != "440000" {
		t.Fatalf("Beijing node verifying a Guangdong code: %d %s", r.status, r.body)
	}
	// A foreign list cannot vouch for this node's own issuer: an impostor
	// node claiming region 440000 is not accepted by the real 440000 node.
	impostor := newEnvWith(t, nodetest.Options{Dir: t.TempDir(), Region: "440000", Clock: nodetest.NewClock(gd.clock.Now())})
	iid, itok := impostor.enrol(1)
	fake := impostor.code(iid, itok)["qr"].(string)
	itl, err := codesign.ParseTrustList(impostor.node.TrustListJSON(), nil)
	if err != nil {
		t.Fatal(err)
	}
	gd2 := newEnvWith(t, nodetest.Options{Dir: t.TempDir(), Region: "440000", Clock: nodetest.NewClock(gd.clock.Now()), Trust: []*codesign.TrustList{itl}})
	if got := rejection(t, gd2.verify(fake)); got != "wrong_issuer" {
		t.Errorf("a token for our own region vouched by a foreign list: got %q, want wrong_issuer", got)
	}
	alone := newEnvWith(t, nodetest.Options{Dir: t.TempDir(), Region: "310000", Clock: nodetest.NewClock(gd.clock.Now())})
	if got := rejection(t, alone.verify(qr)); got != "unknown_key" {
		t.Errorf("node without the trust list: got %q, want unknown_key", got)
	}
}

// Venue codes: a signed poster is accepted, an altered one refused; a
// dynamic code is accepted while current and refused once stale, and a
// static copy of a dynamic venue is refused.
func TestVenueCodes(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	_, code := e.place("海底捞", "restaurant", "440106")
	visit := func(pc string) resp {
		return e.do("POST", "/api/v1/visits", tok, map[string]string{"person_id": id, "place_code": pc, "at": ts(e.clock.Now())})
	}
	if r := visit(code); r.status != 201 {
		t.Fatalf("signed poster: %d %s", r.status, r.body)
	}
	if r := visit(alter(code)); r.status != 400 {
		t.Fatalf("altered poster: got %d %s, want 400", r.status, r.body)
	}
	r := e.do("POST", "/api/v1/places", adminToken, map[string]any{"name": "地铁站闸机屏", "kind": "transport_hub", "region": "440106", "lat": 23.13, "lng": 113.33, "dynamic_period": 120})
	if r.status != 201 {
		t.Fatalf("dynamic place: %d %s", r.status, r.body)
	}
	dyn := r.json(t)
	dynCode, dynID := dyn["place_code"].(string), dyn["place_id"].(string)
	if dyn["place_code_stale_at"] == nil {
		t.Errorf("a dynamic place's code has no stale time: %s", r.body)
	}
	if r := visit(dynCode); r.status != 201 {
		t.Fatalf("current dynamic code: %d %s", r.status, r.body)
	}
	// The screen's next code (fetched now) is another payload.
	e.clock.Add(2 * time.Minute)
	next := e.do("GET", "/api/v1/places/"+dynID, "", nil).json(t)["place_code"].(string)
	if next == dynCode {
		t.Errorf("the dynamic code did not rotate after a period")
	}
	e.clock.Add(3 * time.Minute) // the first code is now two windows old
	r = visit(dynCode)
	if r.status != 422 {
		t.Fatalf("stale dynamic code: got %d %s, want 422", r.status, r.body)
	}
	if c, _ := r.errCode(t); c != "place_code_stale_code" {
		t.Errorf("stale dynamic code: got %q", c)
	}
}

// Remote scans and impossible travel are recorded as unverified presence,
// shown as such, and never make a code red on their own.
func TestUnverifiedPresence(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	_, gz := e.place("天河城", "mall", "440106")
	now := e.clock.Now()
	// Scanned from Zhengzhou (34.75, 113.62): the venue is in Guangzhou.
	r := e.do("POST", "/api/v1/visits", tok, map[string]any{"person_id": id, "place_code": gz, "at": ts(now), "scan_lat": 34.75, "scan_lng": 113.62})
	if r.status != 201 {
		t.Fatalf("remote scan: %d %s", r.status, r.body)
	}
	// A high-risk area over the venue's district: a verified stay would be red.
	if r := e.do("POST", "/api/v1/risk-areas", adminToken, map[string]string{"region": "440106", "level": "high", "until": ts(now.Add(72 * time.Hour))}); r.status != 201 {
		t.Fatalf("declare: %d %s", r.status, r.body)
	}
	if c := e.code(id, tok); c["colour"] != "green" || c["star"] != false {
		t.Errorf("remote scan made the code %v star=%v; unverified presence must not", c["colour"], c["star"])
	}
	// The event shows why.
	ev := findVisitEvent(t, e, id)
	if fmt.Sprint(ev["unverified"]) != "[remote_scan]" {
		t.Errorf("visit event: got %v, want unverified [remote_scan]", ev)
	}

	// Impossible travel: Beijing an hour after a verified Guangzhou visit.
	id2, tok2 := e.enrol(2)
	e.clock.Add(time.Hour)
	t0 := e.clock.Now()
	if r := e.do("POST", "/api/v1/visits", tok2, map[string]any{"person_id": id2, "place_code": gz, "at": ts(t0.Add(-time.Hour)), "scan_lat": 23.13, "scan_lng": 113.33}); r.status != 201 {
		t.Fatalf("verified visit: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/places", adminToken, map[string]any{"name": "王府井", "kind": "mall", "region": "110101", "lat": 39.91, "lng": 116.41})
	bj := r.json(t)["place_code"].(string)
	if r := e.do("POST", "/api/v1/visits", tok2, map[string]any{"person_id": id2, "place_code": bj, "at": ts(t0)}); r.status != 201 {
		t.Fatalf("second visit: %d %s", r.status, r.body)
	}
	ev = findVisitEvent(t, e, id2)
	if fmt.Sprint(ev["unverified"]) != "[impossible_travel]" {
		t.Errorf("Beijing visit an hour after Guangzhou: got %v, want unverified [impossible_travel]", ev)
	}
}

// findVisitEvent returns the person's latest visit event, found by walking
// the log backwards from the newest event.
func findVisitEvent(t *testing.T, e *env, person string) map[string]any {
	t.Helper()
	for seq := e.node.Stats().Events; seq > 0; seq-- {
		r := e.do("GET", fmt.Sprintf("/api/v1/events/e%d", seq), adminToken, nil)
		if r.status != 200 {
			continue
		}
		m := r.json(t)
		if m["kind"] == "visit" && m["person_id"] == person {
			return m
		}
	}
	t.Fatalf("no visit event of %s", person)
	return nil
}

// Proxy binding: a family member holds an elderly person's code and prints
// it; nobody else can; the number of dependants is bounded.
func TestDependants(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrol(1)
	_, other := e.enrol(2)
	body := func(serial int) map[string]string {
		return map[string]string{"id_number": idNumber(serial), "name": "李奶奶", "phone": "13900139000", "home_region": "440106", "relation": "parent", "basis": "consent"}
	}
	r := e.do("POST", "/api/v1/persons/"+id+"/dependants", tok, body(10))
	if r.status != 201 {
		t.Fatalf("bind: %d %s", r.status, r.body)
	}
	dep := r.json(t)["person_id"].(string)
	if r := e.do("POST", "/api/v1/persons/"+id+"/dependants", tok, body(10)); r.status != 200 {
		t.Errorf("bind again: got %d, want 200 (existing)", r.status)
	}
	c := e.code(dep, tok)
	if r := e.verify(c["qr"].(string)); r.status != 200 || r.json(t)["masked_name"] != "李**" {
		t.Errorf("dependant's token: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/persons/"+dep+"/code.png?paper=1", tok, nil); r.status != 200 {
		t.Errorf("holder prints the dependant's card: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/persons/"+dep+"/code", other, nil); r.status != 403 {
		t.Errorf("another person reads the dependant's code: got %d, want 403", r.status)
	}
	for i := 11; i < 15; i++ {
		if r := e.do("POST", "/api/v1/persons/"+id+"/dependants", tok, body(i)); r.status != 201 {
			t.Fatalf("bind %d: %d %s", i, r.status, r.body)
		}
	}
	before := e.node.Stats()
	r = e.do("POST", "/api/v1/persons/"+id+"/dependants", tok, body(20))
	if r.status != 409 {
		t.Fatalf("sixth dependant: got %d %s, want 409", r.status, r.body)
	}
	if after := e.node.Stats(); after.Persons != before.Persons || after.Events != before.Events {
		t.Errorf("a refused binding changed state: %+v → %+v", before, after)
	}
	// Knowing someone's ID number is not enough to hold their code.
	victim := map[string]string{"id_number": idNumber(2), "name": "王五", "phone": "13900000000", "home_region": "440106", "relation": "parent", "basis": "consent"}
	id3, tok3 := e.enrol(3)
	if r := e.do("POST", "/api/v1/persons/"+id3+"/dependants", tok3, victim); r.status != 403 {
		t.Errorf("binding an enrolled stranger by ID number: got %d %s, want 403", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/persons/p999/dependants", adminToken, body(30)); r.status != 404 {
		t.Errorf("binding to an unknown holder: got %d, want 404", r.status)
	}
	list := e.do("GET", "/api/v1/persons/"+id+"/dependants", tok, nil).json(t)["dependants"].([]any)
	if len(list) != 5 {
		t.Errorf("dependants listed: %d, want 5", len(list))
	}
}

// ID-card lookup at a gate: the verifier sees the colour, and the lookup is
// in the log with the verifier and the place, found or not.
func TestGateLookupIsLogged(t *testing.T) {
	e := newEnv(t)
	e.enrol(1)
	place, _ := e.place("社区卫生站", "clinic", "440106")
	r := e.do("POST", "/api/v1/gate/lookups", adminToken, map[string]string{"id_number": idNumber(1), "place_id": place})
	if r.status != 200 {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["colour"] != "green" || m["masked_name"] != "张*" {
		t.Errorf("lookup: %v", m)
	}
	ev := e.do("GET", "/api/v1/events/"+m["lookup_event"].(string), adminToken, nil).json(t)
	if ev["kind"] != "id_lookup" || ev["place_id"] != place || ev["actor"] != "staff:tester@000000" || ev["person_id"] != "p1" {
		t.Errorf("lookup event: %v", ev)
	}
	before := e.node.Stats().Events
	r = e.do("POST", "/api/v1/gate/lookups", adminToken, map[string]string{"id_number": idNumber(99), "place_id": place})
	if r.status != 404 || !strings.Contains(string(r.body), "logged") {
		t.Errorf("unknown ID number: %d %s", r.status, r.body)
	}
	if e.node.Stats().Events != before+1 {
		t.Errorf("a lookup of an unknown ID number was not logged")
	}
}
