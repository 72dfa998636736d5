package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// doAs is do as the official named "name@region" (an account of that
// region, made on first use) when token is adminToken; "" for the national
// test account.
func (e *env) doAs(official, method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
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
		token = e.staffToken(official, path)
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

// must fails the test unless r has the status, and returns its JSON.
func (r resp) must(t *testing.T, status int, what string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %d %s, want %d", what, r.status, r.body, status)
	}
	return r.json(t)
}

func (e *env) enrolAt(serial int, name, home string) (id, token string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/persons", "", map[string]string{"id_number": idNumber(serial), "name": name, "phone": "13800138000", "home_region": home})
	m := r.must(e.t, 201, "enrol")
	return m["person_id"].(string), m["token"].(string)
}

func list(m map[string]any, key string) []map[string]any {
	var out []map[string]any
	for _, x := range m[key].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

const (
	li   = "li@440106"   // case A's investigator
	zhao = "zhao@440106" // the reviewer
	wu   = "wu@440103"   // case B's investigator, and remote help on A
	he   = "he@440104"   // receives referrals in 440104
)

// investigation is a small outbreak with its ground truth, entered through
// the API. Case A (person a, home 440106, investigated by li@440106) is
// infectious from now-72h (onset now-24h) to isolation at now-2h:
//
//	home    H (residence) [-60h, -59h), marked home: never published
//	R       海底捞 [-30h, -29h)
//	train   G1234 carriage 05 [-26h, -24h), entered without a place
//
//	close   R [-29h50m, -29h): close contact of A (50 min ≥ 15 min)
//	sec     O with close [-20h, -19h), after close's exposure: secondary; home 440104, so referred there
//	rail    G1234 carriage 5 (manifest): close contact of A
//	rail2   G1234 carriage 6 (manifest): not a contact
//	far     elsewhere: not a contact
//	b       case B (investigated by 440103), R [-29h40m, -28h30m): shares R with A
//	        (a close contact of A too, 20 min), raising a cross-region alert
type investigation struct {
	e            *env
	now          time.Time
	ids          map[string]string // person ids by role
	toks         map[string]string
	r, o, m, h   string // places
	caseA, caseB string
}

func newInvestigation(t *testing.T) *investigation {
	e := newEnv(t)
	inv := &investigation{e: e, now: e.clock.Now(), ids: map[string]string{}, toks: map[string]string{}}
	for i, p := range []struct{ role, name, home string }{
		{"a", "王小明", "440106"}, {"b", "陈红", "440106"}, {"close", "李四", "440106"}, {"sec", "赵六", "440104"},
		{"rail", "孙七", "440106"}, {"rail2", "周八", "440106"}, {"far", "吴九", "440106"},
	} {
		inv.ids[p.role], inv.toks[p.role] = e.enrolAt(i+1, p.name, p.home)
	}
	inv.r, _ = e.place("海底捞", "restaurant", "440106")
	inv.o, _ = e.place("中信广场", "office", "440106")
	inv.m, _ = e.place("天河城", "mall", "440106")
	inv.h, _ = e.place("天河公寓", "residence", "440106")
	visit := func(who, place string, from, to time.Duration) map[string]string {
		return map[string]string{"person_id": inv.ids[who], "place_code": "HCP1:" + place, "at": inv.at(from), "until": inv.at(to)}
	}
	h := time.Hour
	e.do("POST", "/api/v1/visits", adminToken, map[string]any{"visits": []any{
		visit("close", inv.r, -29*h-50*time.Minute, -29*h),
		visit("close", inv.o, -20*h, -19*h),
		visit("sec", inv.o, -20*h, -19*h),
		visit("far", inv.m, -30*h, -29*h),
	}}).must(t, 201, "visits")
	return inv
}

func (inv *investigation) at(d time.Duration) string { return ts(inv.now.Add(d)) }

// open opens the two cases and enters their first trajectories.
func (inv *investigation) open(t *testing.T) {
	e, h := inv.e, time.Hour
	// Case A: the national test account opens it.
	m := e.do("POST", "/api/v1/cases", adminToken, map[string]string{"person_id": inv.ids["a"], "classification": "confirmed",
		"onset": inv.at(-24 * h), "site": "GZ01", "isolated_at": inv.at(-2 * h)}).must(t, 201, "open case A")
	inv.caseA = m["case_id"].(string)
	ev := e.do("GET", "/api/v1/events/"+m["event"].(string), adminToken, nil).must(t, 200, "case A's event")
	if ev["actor"] != "staff:tester@000000" {
		t.Errorf("case opened by the national account: actor %v, want staff:tester@000000", ev["actor"])
	}
	// Case B: person b lives in 440106 but 440103 investigates.
	m = e.doAs(wu, "POST", "/api/v1/cases", adminToken, map[string]string{"person_id": inv.ids["b"], "classification": "confirmed",
		"onset": inv.at(-20 * h), "site": "GZ02", "isolated_at": inv.at(-2 * h), "region": "440103"}).must(t, 201, "open case B")
	inv.caseB = m["case_id"].(string)
	ev = e.do("GET", "/api/v1/events/"+m["event"].(string), adminToken, nil).must(t, 200, "case B's event")
	if ev["actor"] != "staff:wu@440103" {
		t.Errorf("case opened by wu@440103: actor %v", ev["actor"])
	}

	r := e.doAs(li, "PUT", "/api/v1/cases/"+inv.caseA+"/stops", adminToken, map[string]any{"stops": []any{
		map[string]any{"place_id": inv.h, "from": inv.at(-60 * h), "to": inv.at(-59 * h), "home": true},
		map[string]any{"place_id": inv.r, "from": inv.at(-30 * h), "to": inv.at(-29 * h)},
		map[string]any{"transport": map[string]any{"trip": "G1234 2022-06-10", "carriage": "05", "seat": "12F"}, "from": inv.at(-26 * h), "to": inv.at(-24 * h)},
	}})
	m = r.must(t, 200, "case A's stops")
	tr := m["trajectory"].(map[string]any)
	stops := list(tr, "stops")
	if len(stops) != 3 || stops[0]["home"] != true || stops[1]["home"] != false || stops[1]["actor"] != "staff:li@440106" || tr["review"] != nil {
		t.Errorf("case A v1: %s", r.body)
	}
	train := stops[2]
	tp := train["transport"].(map[string]any)
	if train["place_id"] == "" || tp["mode"] != "train" || tp["carriage"] != "05" {
		t.Errorf("train stop: %v, want a section place with mode train", train)
	}
	// The automatic review finds the 29 h gap between home and R.
	if fs := list(m, "findings"); len(fs) != 1 || fs[0]["code"] != "gap" || !slices.Equal(fs[0]["stops"].([]any), []any{0.0, 1.0}) {
		t.Errorf("findings of v1: %v, want one gap between stops 0 and 1", m["findings"])
	}
	e.doAs(wu, "PUT", "/api/v1/cases/"+inv.caseB+"/stops", adminToken, map[string]any{"stops": []any{
		map[string]any{"place_id": inv.r, "from": inv.at(-29*h - 40*time.Minute), "to": inv.at(-28*h - 30*time.Minute)},
	}}).must(t, 200, "case B's stops")
	e.doAs(li, "POST", "/api/v1/trips/manifest", adminToken, map[string]any{"trip": "G1234 2022-06-10", "from": inv.at(-26 * h), "to": inv.at(-24 * h),
		"passengers": []any{
			map[string]any{"person_id": inv.ids["rail"], "carriage": "5", "seat": "08A"},
			map[string]any{"person_id": inv.ids["rail2"], "carriage": "6", "seat": "08A"},
		}}).must(t, 201, "manifest")
}

func TestInvestigationOverHTTP(t *testing.T) {
	inv := newInvestigation(t)
	e, h := inv.e, time.Hour
	inv.open(t)
	caseA, caseB := inv.caseA, inv.caseB

	// A dry run records nothing and leaves the codes alone.
	r := e.doAs(li, "POST", "/api/v1/trace", adminToken, map[string]any{"cases": []string{caseA}, "depth": 2, "record": false})
	dry := r.must(t, 200, "dry trace")
	if _, ok := dry["recorded"]; ok {
		t.Errorf("dry run: %s, want no recorded", r.body)
	}
	for _, c := range list(dry, "contacts") {
		if c["person_id"] == inv.ids["close"] && c["code"] != "green" {
			t.Errorf("close contact before recording: %v, want green", c["code"])
		}
	}
	// Recording (the default) turns the close contact red.
	r = e.doAs(li, "POST", "/api/v1/trace", adminToken, map[string]any{"cases": []string{caseA}, "depth": 2})
	traced := r.must(t, 200, "trace")
	got := map[string]int{}
	codes := map[string]any{}
	for _, c := range list(traced, "contacts") {
		got[c["person_id"].(string)] = int(c["degree"].(float64))
		codes[c["person_id"].(string)] = c["code"]
	}
	want := map[string]int{inv.ids["close"]: 1, inv.ids["rail"]: 1, inv.ids["b"]: 1, inv.ids["sec"]: 2}
	if !equalMaps(got, want) {
		t.Fatalf("trace: got %v, want %v (ids %v)", got, want, inv.ids)
	}
	if traced["recorded"] != 4.0 {
		t.Errorf("recorded %v, want 4 records", traced["recorded"])
	}
	if codes[inv.ids["close"]] != "red" || codes[inv.ids["sec"]] != "yellow" {
		t.Errorf("codes in the trace: %v, want close red and secondary yellow", codes)
	}
	if c := e.code(inv.ids["close"], inv.toks["close"]); c["colour"] != "red" {
		t.Errorf("close contact's own code after recording: %v, want red", c["colour"])
	}
	if c := e.code(inv.ids["rail2"], inv.toks["rail2"]); c["colour"] != "green" {
		t.Errorf("next carriage: %v, want green", c["colour"])
	}
	again := e.doAs(li, "POST", "/api/v1/trace", adminToken, map[string]any{"cases": []string{caseA}, "depth": 2}).must(t, 200, "trace again")
	if again["recorded"] != 0.0 {
		t.Errorf("recording the same trace again: %v records, want 0", again["recorded"])
	}

	// Remote help: 440103 is assigned case A and supplements it.
	m := e.doAs(li, "POST", "/api/v1/cases/"+caseA+"/assign", adminToken, map[string]string{"region": "440103", "investigator": "wu"}).must(t, 201, "assign")
	if a := m["assignment"].(map[string]any); a["region"] != "440103" || a["actor"] != "staff:li@440106" {
		t.Errorf("assignment: %v", a)
	}
	m = e.doAs(wu, "POST", "/api/v1/cases/"+caseA+"/stops", adminToken, map[string]any{"stops": []any{
		map[string]any{"place_id": inv.o, "from": inv.at(-22 * h), "to": inv.at(-21 * h)},
	}}).must(t, 201, "supplement")
	stops := list(m["trajectory"].(map[string]any), "stops")
	if len(stops) != 4 || stops[3]["actor"] != "staff:wu@440103" || stops[1]["actor"] != "staff:li@440106" || m["trajectory"].(map[string]any)["version"] != 2.0 {
		t.Errorf("supplemented trajectory: %v", m["trajectory"])
	}
	if _, ok := m["findings"].([]any); !ok {
		t.Errorf("supplement: findings %v, want a list", m["findings"])
	}

	// Person a reports a stop of their own; li confirms it into the trajectory.
	r = e.do("POST", "/api/v1/persons/"+inv.ids["a"]+"/stops", inv.toks["a"], map[string]any{"stops": []any{
		map[string]string{"place_id": inv.m, "from": inv.at(-40 * h), "to": inv.at(-39 * h)},
	}})
	m = r.must(t, 201, "self stops")
	visits := m["visits"].([]any)
	if len(visits) != 1 || m["status"] != "unconfirmed" {
		t.Fatalf("self stops: %s", r.body)
	}
	own := e.do("GET", "/api/v1/persons/"+inv.ids["a"]+"/stops", inv.toks["a"], nil).must(t, 200, "own stops")
	if s := list(own, "stops"); len(s) != 1 || s[0]["visit"] != visits[0] || s[0]["place_id"] != inv.m {
		t.Errorf("own stops: %v", own)
	}
	cs := e.do("GET", "/api/v1/cases/"+caseA, adminToken, nil).must(t, 200, "case A")
	if s := list(cs, "self_stops"); len(s) != 1 || s[0]["visit"] != visits[0] {
		t.Errorf("case A's self stops: %v", cs["self_stops"])
	}
	m = e.doAs(li, "POST", "/api/v1/cases/"+caseA+"/stops/confirm", adminToken, map[string]any{"visits": visits}).must(t, 201, "confirm")
	stops = list(m["trajectory"].(map[string]any), "stops")
	if len(stops) != 5 || stops[4]["self_reported"] != true || stops[4]["place_id"] != inv.m || stops[4]["actor"] != "staff:li@440106" {
		t.Errorf("confirmed trajectory: %v", stops)
	}
	if s := list(e.do("GET", "/api/v1/persons/"+inv.ids["a"]+"/stops", adminToken, nil).must(t, 200, "own stops"), "stops"); len(s) != 0 {
		t.Errorf("self stops after confirmation: %v", s)
	}

	// Review: automatic findings, then a second official.
	rv := e.doAs(zhao, "GET", "/api/v1/cases/"+caseA+"/review", adminToken, nil).must(t, 200, "auto review")
	if rv["version"] != 3.0 || len(list(rv, "findings")) == 0 {
		t.Errorf("auto review: %v, want version 3 with findings", rv)
	}
	f0 := list(rv, "findings")[0]
	if msg := f0["message"].(map[string]any); msg["zh"] == "" || msg["en"] == "" {
		t.Errorf("finding message: %v", f0)
	}
	e.doAs(li, "POST", "/api/v1/cases/"+caseA+"/review", adminToken, map[string]any{"version": 3, "decision": "approved"}).must(t, 403, "review by the author")
	e.doAs(zhao, "POST", "/api/v1/cases/"+caseA+"/review", adminToken, map[string]any{"version": 2, "decision": "approved"}).must(t, 409, "stale review")
	m = e.doAs(zhao, "POST", "/api/v1/cases/"+caseA+"/review", adminToken, map[string]any{"version": 3, "decision": "approved", "comment": "ok"}).must(t, 201, "review")
	review := m["review"].(map[string]any)
	if review["decision"] != "approved" || review["actor"] != "staff:zhao@440106" || !slices.Contains(review["findings"].([]any), any("gap")) {
		t.Errorf("review: %v, want approved by zhao with the gap finding", review)
	}
	r = e.doAs(zhao, "POST", "/api/v1/cases/"+caseA+"/review", adminToken, map[string]any{"version": 3, "decision": "returned", "comment": "again"})
	if c, f := r.errCode(t); r.status != 409 || c != "already_reviewed" || f != "version" {
		t.Errorf("second review: %d %s", r.status, r.body)
	}
	cs = e.do("GET", "/api/v1/cases/"+caseA, adminToken, nil).must(t, 200, "case A")
	vs := list(cs, "versions")
	if cs["region"] != "440106" || len(vs) != 3 || vs[0]["review"] != nil || vs[2]["review"].(map[string]any)["decision"] != "approved" {
		t.Errorf("case A after review: region %v, versions %v", cs["region"], vs)
	}
	if as := list(cs, "assignments"); len(as) != 1 || as[0]["investigator"] != "wu" {
		t.Errorf("case A's assignments: %v", cs["assignments"])
	}
	if l := list(e.do("GET", "/api/v1/cases?region=440103", adminToken, nil).must(t, 200, "cases in 440103"), "cases"); len(l) != 1 || l[0]["case_id"] != caseB {
		t.Errorf("cases in 440103: %v, want only B", l)
	}
	e.do("GET", "/api/v1/cases?person_id=x1", adminToken, nil).must(t, 400, "cases of a bad person id")
	if csB := e.do("GET", "/api/v1/cases/"+caseB, adminToken, nil).must(t, 200, "case B"); csB["region"] != "440103" {
		t.Errorf("case B's region %v, want 440103 as opened", csB["region"])
	}

	// The chain: A, then B infected at R.
	ch := e.doAs(wu, "GET", "/api/v1/cases/"+caseB+"/chain", adminToken, nil).must(t, 200, "chain")
	mem := list(ch, "members")
	if len(mem) != 2 || mem[0]["case_id"] != caseA || mem[1]["case_id"] != caseB || mem[1]["basis"] != "shared_stop" {
		t.Fatalf("chain of B: %v, want A then B by a shared stop", mem)
	}
	if sh := list(mem[1], "shared"); len(sh) != 1 || sh[0]["place_id"] != inv.r || sh[0]["place_name"] != "海底捞" || sh[0]["other_case"] != caseA {
		t.Errorf("B's shared stops: %v", mem[1]["shared"])
	}

	// The chain as a picture: both cases, the shared place, an arrow A → B.
	svg := e.doAs(wu, "GET", "/api/v1/cases/"+caseB+"/chain.svg", adminToken, nil)
	if svg.status != 200 || !strings.HasPrefix(svg.header.Get("Content-Type"), "image/svg+xml") {
		t.Fatalf("chain.svg: %d %s", svg.status, svg.header.Get("Content-Type"))
	}
	for _, want := range []string{caseA, caseB, "海底捞", "传播链", "directed"} {
		if !strings.Contains(string(svg.body), want) {
			t.Errorf("chain.svg lacks %q", want)
		}
	}
	if en := e.do("GET", "/api/v1/cases/"+caseB+"/chain.svg?lang=en", adminToken, nil); !strings.Contains(string(en.body), "Chain of transmission") {
		t.Errorf("chain.svg?lang=en is not in English")
	}
	e.do("GET", "/api/v1/cases/"+caseB+"/chain.svg?lang=fr", adminToken, nil).must(t, 400, "chain.svg lang")

	// The alert reached both counties.
	for _, official := range []string{wu, li} {
		al := e.doAs(official, "GET", "/api/v1/alerts", adminToken, nil).must(t, 200, "alerts")
		a := list(al, "alerts")
		if len(a) != 1 || a[0]["case_id"] != caseB || a[0]["other_case"] != caseA || a[0]["place_name"] != "海底捞" ||
			!slices.Equal(a[0]["regions"].([]any), []any{"440103", "440106"}) {
			t.Errorf("alerts for %s: %v", official, al)
		}
	}
	if al := e.do("GET", "/api/v1/alerts?region=440104", adminToken, nil).must(t, 200, "alerts"); len(list(al, "alerts")) != 0 {
		t.Errorf("alerts for 440104: %v, want none", al)
	}

	// The secondary contact lives in 440104: referred there.
	refs := list(e.doAs(he, "GET", "/api/v1/referrals", adminToken, nil).must(t, 200, "referrals"), "referrals")
	if len(refs) != 1 || refs[0]["person_id"] != inv.ids["sec"] || refs[0]["from_region"] != "440106" || refs[0]["to_region"] != "440104" ||
		refs[0]["case_id"] != caseA || refs[0]["acknowledged"] != nil || len(list(refs[0], "exposures")) != 1 {
		t.Fatalf("referrals to 440104: %v", refs)
	}
	if x := list(refs[0], "exposures")[0]; x["via_person"] != inv.ids["close"] || x["place_id"] != inv.o {
		t.Errorf("referral exposure: %v, want at O via the close contact", x)
	}
	if r := e.do("GET", "/api/v1/referrals?region=440106", adminToken, nil).must(t, 200, "referrals"); len(list(r, "referrals")) != 0 {
		t.Errorf("referrals to 440106: %v, want none", r)
	}
	ack := "/api/v1/referrals/" + refs[0]["id"].(string) + "/ack"
	e.doAs(li, "POST", ack, adminToken, map[string]string{"note": "not ours"}).must(t, 403, "ack by the sending county")
	m = e.doAs(he, "POST", ack, adminToken, map[string]string{"note": "已转社区"}).must(t, 200, "ack")
	if a, _ := m["acknowledged"].(map[string]any); a == nil || a["actor"] != "staff:he@440104" || a["note"] != "已转社区" {
		t.Errorf("acknowledged referral: %v", m)
	}
	e.doAs(he, "POST", ack, adminToken, nil).must(t, 409, "ack twice")
	if r := e.doAs(he, "GET", "/api/v1/referrals", adminToken, nil).must(t, 200, "open referrals"); len(list(r, "referrals")) != 0 {
		t.Errorf("open referrals after the ack: %v", r)
	}
	if r := e.doAs(he, "GET", "/api/v1/referrals?all=true", adminToken, nil).must(t, 200, "all referrals"); len(list(r, "referrals")) != 1 {
		t.Errorf("all referrals after the ack: %v", r)
	}

	inv.communityLists(t)
	inv.public(t)
}

// communityLists checks the community list of 440106 in its three formats.
func (inv *investigation) communityLists(t *testing.T) {
	e := inv.e
	js := e.doAs(li, "GET", "/api/v1/community-lists", adminToken, nil).must(t, 200, "community list")
	cts := list(js, "contacts")
	var got []string
	for _, c := range cts {
		got = append(got, c["person_id"].(string))
		if strings.ContainsAny(c["name"].(string), "三四六七") || c["phone"] != "138****8000" || !strings.Contains(c["name"].(string), "*") {
			t.Errorf("contact %v: name and phone must be masked", c)
		}
		if c["community_code"] != "440106" || c["community"] != "天河区" {
			t.Errorf("contact %v: community %v %v, want 天河区 440106", c["person_id"], c["community"], c["community_code"])
		}
	}
	slices.Sort(got)
	wantList := []string{inv.ids["b"], inv.ids["close"], inv.ids["rail"]}
	slices.Sort(wantList)
	if !slices.Equal(got, wantList) {
		t.Errorf("community list of 440106: %v, want %v", got, wantList)
	}
	for _, c := range cts {
		if c["person_id"] == inv.ids["close"] {
			if x := list(c, "exposures"); len(x) != 1 || x[0]["place_name"] != "海底捞" || x[0]["source_case"] != inv.caseA || c["code"] != "red" {
				t.Errorf("close contact on the list: %v", c)
			}
		}
	}

	r := e.doAs(li, "GET", "/api/v1/community-lists?format=csv", adminToken, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if cd := r.header.Get("Content-Disposition"); !regexp.MustCompile(`^attachment; filename="community-list-440106-[0-9-]+\.csv"$`).MatchString(cd) {
		t.Errorf("csv Content-Disposition %q", cd)
	}
	if !strings.Contains(string(r.body), inv.ids["close"]) || !strings.Contains(string(r.body), "海底捞") || !strings.Contains(string(r.body), "社区") {
		t.Errorf("csv lacks the close contact's row:\n%s", r.body)
	}
	if en := e.doAs(li, "GET", "/api/v1/community-lists?format=csv&lang=en", adminToken, nil); !strings.Contains(string(en.body), "Community") {
		t.Errorf("csv lang=en has no English header:\n%s", en.body)
	}

	r = e.do("GET", "/api/v1/community-lists?region=440106&format=xlsx", adminToken, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Fatalf("xlsx: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="community-list-440106-`) || !strings.HasSuffix(cd, `.xlsx"`) {
		t.Errorf("xlsx Content-Disposition %q", cd)
	}
	f, err := excelize.OpenReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("the XLSX does not open: %v", err)
	}
	defer f.Close()
	found := map[string]bool{}
	for _, sh := range f.GetSheetList() {
		rows, err := f.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			for _, id := range wantList {
				if slices.Contains(row, id) {
					found[id] = true
				}
			}
		}
	}
	if len(found) != len(wantList) {
		t.Errorf("the XLSX has rows for %v, want %v (sheets %v)", found, wantList, f.GetSheetList())
	}
}

// public checks the de-identified data and the self-check after case A's
// trajectory was approved.
func (inv *investigation) public(t *testing.T) {
	e, h := inv.e, time.Hour
	r := e.do("GET", "/api/v1/public/cases", "", nil)
	rep := r.must(t, 200, "public cases")
	body := string(r.body)
	if !strings.Contains(body, "海底捞") || rep["k"] != 5.0 {
		t.Errorf("public data: %s, want the approved stop at 海底捞 with k 5", body)
	}
	if strings.Contains(body, "天河公寓") {
		t.Errorf("public data shows the home stop: %s", body)
	}
	if ids := regexp.MustCompile(`\bp[0-9]+\b|GZ0[12]-`).FindAllString(body, -1); len(ids) > 0 {
		t.Errorf("public data leaks person or case ids %v: %s", ids, body)
	}
	for _, n := range []string{"王小明", "陈红", "李四", inv.caseA, inv.caseB} {
		if strings.Contains(body, n) {
			t.Errorf("public data leaks %q", n)
		}
	}
	if r := e.do("GET", "/api/v1/public/cases?region=440103&k=6", "", nil); r.status != 200 || strings.Contains(string(r.body), "海底捞") {
		t.Errorf("public data of 440103 (B is not approved): %d %s", r.status, r.body)
	}

	r = e.do("POST", "/api/v1/selfcheck", "", map[string]any{"stops": []any{
		map[string]string{"place_id": inv.o, "from": inv.at(-100 * h), "to": inv.at(-99 * h)},
		map[string]string{"place_id": inv.r, "from": inv.at(-29*h - 30*time.Minute), "to": inv.at(-29*h - 10*time.Minute)},
	}})
	hits := list(r.must(t, 200, "selfcheck"), "hits")
	if len(hits) != 1 || hits[0]["query"] != 1.0 || hits[0]["place_name"] != "海底捞" || hits[0]["case_region"] != "440106" {
		t.Errorf("selfcheck: %s, want one hit at 海底捞 for stop 1", r.body)
	}
	if ids := regexp.MustCompile(`\bp[0-9]+\b|GZ0[12]-`).FindAllString(string(r.body), -1); len(ids) > 0 {
		t.Errorf("selfcheck leaks ids %v", ids)
	}
	miss := e.do("POST", "/api/v1/selfcheck", "", map[string]any{"stops": []any{
		map[string]string{"place_id": inv.m, "from": inv.at(-30 * h), "to": inv.at(-29 * h)}}}).must(t, 200, "selfcheck elsewhere")
	if len(miss["hits"].([]any)) != 0 {
		t.Errorf("selfcheck elsewhere: %v, want no hits", miss)
	}
}

func TestPlaceSearch(t *testing.T) {
	inv := newInvestigation(t)
	e := inv.e
	m := e.do("GET", "/api/v1/places/search?q=haidilao", inv.toks["a"], nil).must(t, 200, "search by pinyin")
	c := list(m, "candidates")
	if len(c) == 0 || c[0]["place_id"] != inv.r || c[0]["name"] != "海底捞" || c[0]["kind"] != "restaurant" || c[0]["region"] != "440106" || c[0]["distance_m"] != nil {
		t.Fatalf("search haidilao: %v, want 海底捞 first, without distance", c)
	}
	m = e.do("GET", "/api/v1/places/search?q=%E5%A4%A9%E6%B2%B3%E5%9F%8E&lat=23.13&lng=113.33&radius=5000&region=440100&limit=3", adminToken, nil).must(t, 200, "search with coordinates")
	c = list(m, "candidates")
	if len(c) == 0 || c[0]["place_id"] != inv.m || c[0]["distance_m"] == nil || len(c) > 3 {
		t.Errorf("search 天河城 nearby: %v, want 天河城 first with a distance", c)
	}
	if m := e.do("GET", "/api/v1/places/search?q=haidilao&region=4403", adminToken, nil).must(t, 200, "search in Shenzhen"); len(list0(m, "candidates")) != 0 {
		t.Errorf("search in 4403: %v, want nothing", m)
	}
	m = e.do("GET", "/api/v1/places/search?lat=23.13&lng=113.33", adminToken, nil).must(t, 200, "nearby")
	if len(list(m, "candidates")) != 4 {
		t.Errorf("nearby: %v, want the 4 places", m)
	}
}

func list0(m map[string]any, key string) []any { return m[key].([]any) }

// Every new endpoint refuses bad input with a 4xx naming the field, and
// changes nothing.
func TestInvestigationBadInput(t *testing.T) {
	inv := newInvestigation(t)
	e, h := inv.e, time.Hour
	inv.open(t)
	e.do("POST", "/api/v1/persons/"+inv.ids["a"]+"/stops", inv.toks["a"], map[string]any{"stops": []any{
		map[string]string{"place_id": inv.m, "from": inv.at(-40 * h), "to": inv.at(-39 * h)}}}).must(t, 201, "self stop")
	e.doAs(li, "POST", "/api/v1/trace", adminToken, map[string]any{"cases": []string{inv.caseA}, "depth": 2}).must(t, 200, "trace")
	refs := list(e.doAs(he, "GET", "/api/v1/referrals", adminToken, nil).must(t, 200, "referrals"), "referrals")
	if len(refs) != 1 {
		t.Fatalf("referrals: %v", refs)
	}
	ack := "/api/v1/referrals/" + refs[0]["id"].(string) + "/ack"
	before := e.node.Stats()
	caseA := "/api/v1/cases/" + inv.caseA
	stop := func(k, v string) map[string]any {
		s := map[string]any{"place_id": inv.o, "from": inv.at(-22 * h), "to": inv.at(-21 * h)}
		if v == "" {
			delete(s, k)
		} else {
			s[k] = v
		}
		return map[string]any{"stops": []any{s}}
	}
	cases := []struct {
		name, official, method, path, token string
		body                                any
		status                              int
		field                               string
	}{
		{"case unknown region", li, "POST", "/api/v1/cases", adminToken, map[string]string{"person_id": inv.ids["far"], "classification": "confirmed",
			"onset": inv.at(-h), "site": "GZ01", "isolated_at": inv.at(-h), "region": "449999"}, 400, "region"},
		{"put stop without place", li, "PUT", caseA + "/stops", adminToken, stop("place_id", ""), 400, "stops[0].place_id"},
		{"supplement bad place", li, "POST", caseA + "/stops", adminToken, stop("place_id", "X1"), 400, "stops[0].place_id"},
		{"supplement bad carriage", li, "POST", caseA + "/stops", adminToken, map[string]any{"stops": []any{map[string]any{
			"transport": map[string]any{"trip": "G1234 2022-06-10", "carriage": "99"}, "from": inv.at(-26 * h), "to": inv.at(-24 * h)}}}, 400, "stops[0].transport.carriage"},
		{"supplement both place and trip", li, "POST", caseA + "/stops", adminToken, map[string]any{"stops": []any{map[string]any{"place_id": inv.o,
			"transport": map[string]any{"trip": "G1234 2022-06-10", "carriage": "3"}, "from": inv.at(-26 * h), "to": inv.at(-24 * h)}}}, 400, "stops[0].place_id"},
		{"supplement nothing", li, "POST", caseA + "/stops", adminToken, map[string]any{"stops": []any{}}, 400, "stops"},
		{"supplement by a person", "", "POST", caseA + "/stops", inv.toks["a"], stop("", ""), 403, ""},
		{"confirm bad id", li, "POST", caseA + "/stops/confirm", adminToken, map[string]any{"visits": []string{"v1"}}, 400, "visits[0]"},
		{"confirm not a self stop", li, "POST", caseA + "/stops/confirm", adminToken, map[string]any{"visits": []string{"e1"}}, 404, "visits[0]"},
		{"confirm nothing", li, "POST", caseA + "/stops/confirm", adminToken, map[string]any{"visits": []string{}}, 400, "visits"},
		{"auto review unknown case", zhao, "GET", "/api/v1/cases/GZ09-20220101-001/review", adminToken, nil, 404, "id"},
		{"review bad decision", zhao, "POST", caseA + "/review", adminToken, map[string]any{"version": 1, "decision": "maybe"}, 400, "decision"},
		{"review without version", zhao, "POST", caseA + "/review", adminToken, map[string]any{"decision": "approved"}, 400, "version"},
		{"return without comment", zhao, "POST", caseA + "/review", adminToken, map[string]any{"version": 1, "decision": "returned"}, 400, "comment"},
		{"review a future version", zhao, "POST", caseA + "/review", adminToken, map[string]any{"version": 9, "decision": "approved"}, 409, "version"},
		{"assign unknown region", li, "POST", caseA + "/assign", adminToken, map[string]string{"region": "999999", "investigator": "wu"}, 400, "region"},
		{"assign nobody", li, "POST", caseA + "/assign", adminToken, map[string]string{"region": "440103", "investigator": " "}, 400, "investigator"},
		{"chain unknown case", li, "GET", "/api/v1/cases/GZ09-20220101-001/chain", adminToken, nil, 404, "id"},
		{"trace record not a boolean", li, "POST", "/api/v1/trace", adminToken, map[string]any{"cases": []string{inv.caseA}, "record": "yes"}, 400, "record"},
		{"manifest bad person", li, "POST", "/api/v1/trips/manifest", adminToken, map[string]any{"trip": "CA1234 2022-06-10", "from": inv.at(-10 * h), "to": inv.at(-8 * h),
			"passengers": []any{map[string]any{"person_id": "x", "row": 12}}}, 400, "passengers[0].person_id"},
		{"manifest unknown person", li, "POST", "/api/v1/trips/manifest", adminToken, map[string]any{"trip": "CA1234 2022-06-10", "from": inv.at(-10 * h), "to": inv.at(-8 * h),
			"passengers": []any{map[string]any{"person_id": "p999", "row": 12}}}, 404, "passengers[0].person_id"},
		{"manifest without row", li, "POST", "/api/v1/trips/manifest", adminToken, map[string]any{"trip": "CA1234 2022-06-10", "from": inv.at(-10 * h), "to": inv.at(-8 * h),
			"passengers": []any{map[string]any{"person_id": inv.ids["far"]}}}, 400, "passengers[0].row"},
		{"manifest bad trip", li, "POST", "/api/v1/trips/manifest", adminToken, map[string]any{"trip": "CA1234", "from": inv.at(-10 * h), "to": inv.at(-8 * h),
			"passengers": []any{map[string]any{"person_id": inv.ids["far"], "row": 3}}}, 400, "passengers[0].trip"},
		{"manifest by a person", "", "POST", "/api/v1/trips/manifest", inv.toks["far"], map[string]any{"trip": "CA1234 2022-06-10", "from": inv.at(-10 * h), "to": inv.at(-8 * h),
			"passengers": []any{map[string]any{"person_id": inv.ids["far"], "row": 3}}}, 403, ""},
		{"self stops of someone else", "", "POST", "/api/v1/persons/" + inv.ids["far"] + "/stops", inv.toks["a"], stop("", ""), 403, "id"},
		{"self stops bad time", "", "POST", "/api/v1/persons/" + inv.ids["a"] + "/stops", inv.toks["a"], stop("from", "yesterday"), 400, "stops[0].from"},
		{"self stops home", "", "POST", "/api/v1/persons/" + inv.ids["a"] + "/stops", inv.toks["a"], map[string]any{"stops": []any{map[string]any{
			"place_id": inv.o, "from": inv.at(-22 * h), "to": inv.at(-21 * h), "home": true}}}, 400, "home"},
		{"self stops none", "", "POST", "/api/v1/persons/" + inv.ids["a"] + "/stops", inv.toks["a"], map[string]any{"stops": []any{}}, 400, "stops"},
		{"read someone else's stops", "", "GET", "/api/v1/persons/" + inv.ids["far"] + "/stops", inv.toks["a"], nil, 403, "id"},
		{"read unknown person's stops", "", "GET", "/api/v1/persons/p999/stops", adminToken, nil, 404, "id"},
		{"search without token", "", "GET", "/api/v1/places/search?q=haidilao", "", nil, 401, ""},
		{"search nothing", "", "GET", "/api/v1/places/search", inv.toks["a"], nil, 400, "q"},
		{"search bad lat", "", "GET", "/api/v1/places/search?lat=91&lng=113", inv.toks["a"], nil, 400, "lat"},
		{"search lat alone", "", "GET", "/api/v1/places/search?q=x&lat=23", inv.toks["a"], nil, 400, "lng"},
		{"search bad limit", "", "GET", "/api/v1/places/search?q=x&limit=0", inv.toks["a"], nil, 400, "limit"},
		{"search bad region", "", "GET", "/api/v1/places/search?q=x&region=gz", inv.toks["a"], nil, 400, "region"},
		{"search radius without coordinates", "", "GET", "/api/v1/places/search?q=x&radius=100", inv.toks["a"], nil, 400, "lat"},
		{"referrals unknown region", "", "GET", "/api/v1/referrals?region=449999", adminToken, nil, 400, "region"},
		{"referrals by a person", "", "GET", "/api/v1/referrals?region=440104", inv.toks["a"], nil, 403, ""},
		{"ack bad id", he, "POST", "/api/v1/referrals/x1/ack", adminToken, nil, 400, "id"},
		{"ack unknown referral", he, "POST", "/api/v1/referrals/e1/ack", adminToken, nil, 404, "id"},
		{"ack by another county", li, "POST", ack, adminToken, nil, 403, "id"},
		{"ack long note", he, "POST", ack, adminToken, map[string]string{"note": strings.Repeat("x", 501)}, 400, "note"},
		{"alerts bad region", li, "GET", "/api/v1/alerts?region=12", adminToken, nil, 400, "region"},
		{"alerts by a person", "", "GET", "/api/v1/alerts", inv.toks["a"], nil, 403, ""},
		{"list bad format", li, "GET", "/api/v1/community-lists?format=pdf", adminToken, nil, 400, "format"},
		{"list bad lang", li, "GET", "/api/v1/community-lists?lang=fr", adminToken, nil, 400, "lang"},
		{"list by a person", "", "GET", "/api/v1/community-lists?region=440106", inv.toks["a"], nil, 403, ""},
		{"public k below 5", "", "GET", "/api/v1/public/cases?k=1", "", nil, 400, "k"},
		{"public bad region", "", "GET", "/api/v1/public/cases?region=abc", "", nil, 400, "region"},
		{"selfcheck bad place", "", "POST", "/api/v1/selfcheck", "", map[string]any{"stops": []any{map[string]string{"place_id": "p1", "from": inv.at(-2 * h), "to": inv.at(-h)}}}, 400, "stops[0].place_id"},
		{"selfcheck backwards", "", "POST", "/api/v1/selfcheck", "", map[string]any{"stops": []any{map[string]string{"place_id": inv.r, "from": inv.at(-h), "to": inv.at(-2 * h)}}}, 400, "stops[0].to"},
		{"selfcheck nothing", "", "POST", "/api/v1/selfcheck", "", map[string]any{"stops": []any{}}, 400, "stops"},
	}
	for _, c := range cases {
		if c.token == adminToken {
			e.staffToken(c.official, c.path) // accounts first: they are events
		}
	}
	before = e.node.Stats()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.doAs(c.official, c.method, c.path, c.token, c.body)
			if r.status != c.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, c.status)
			}
			if _, f := r.errCode(t); f != c.field {
				t.Errorf("error field %q, want %q (%s)", f, c.field, r.body)
			}
		})
	}
	if after := e.node.Stats(); after.Events != before.Events || after.Places != before.Places || after.Visits != before.Visits {
		t.Errorf("refused requests changed state: before %+v, after %+v", before, after)
	}
}
