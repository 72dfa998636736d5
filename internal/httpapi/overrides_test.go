package httpapi_test

import (
	"context"
	"testing"
	"time"

	"healthcode/internal/staff"
)

// signInAs makes an account with the given roles and returns its session.
func (e *env) signInAs(user, roles, region string) string {
	e.t.Helper()
	secret := e.addAccount(user, roles, region)
	otp := ""
	if secret != "" {
		var err error
		if otp, err = staff.TOTPCode(secret, e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	tok, _, err := e.node.Login(context.Background(), user, staffPassword, otp, "192.0.2.9")
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) colour(id string) string {
	e.t.Helper()
	return e.do("GET", "/api/v1/persons/"+id+"/code?qr=none", adminToken, nil).must(e.t, 200, "code")["colour"].(string)
}

// A legitimate override over HTTP: five close contacts confirmed by phone,
// citing the case; pending until a second official approves; then red with
// the rule cited, and the person sees the ground, authority and appeal
// route. Self-approval is refused.
func TestOverrideOverHTTP(t *testing.T) {
	e := newEnv(t)
	h := time.Hour
	var ids []string
	toks := map[string]string{}
	for i := range 6 {
		id, tok := e.enrolAt(100+i, "张三", "440106")
		ids, toks[id] = append(ids, id), tok
	}
	now := e.clock.Now()
	cs := e.doAs(li, "POST", "/api/v1/cases", adminToken, map[string]string{"person_id": ids[0], "classification": "confirmed",
		"onset": ts(now.Add(-48 * h)), "site": "GZ01", "isolated_at": ts(now.Add(-h))}).must(t, 201, "case")
	req := map[string]any{"persons": ids[1:], "colour": "red", "reason": "close_contact_by_phone",
		"evidence": []string{cs["event"].(string), "doc:电话流调记录 第3页"}, "until": ts(now.Add(7 * 24 * h))}
	m := e.doAs(li, "POST", "/api/v1/overrides", adminToken, req).must(t, 201, "request")
	id := m["override_id"].(string)
	if m["status"] != "pending" || m["held"] != false || len(m["alerts"].([]any)) != 0 {
		t.Fatalf("legitimate request: %v", m)
	}
	if c := e.colour(ids[1]); c != "green" {
		t.Fatalf("pending override: code %s, want green", c)
	}
	if r := e.doAs(li, "POST", "/api/v1/overrides/"+id+"/approve", adminToken, nil); r.status != 403 {
		t.Fatalf("self-approval: got %d %s, want 403", r.status, r.body)
	}
	if r := e.doAs("sz@440300", "POST", "/api/v1/overrides/"+id+"/approve", adminToken, nil); r.status != 403 {
		t.Fatalf("approval by another city's official: got %d %s, want 403", r.status, r.body)
	}
	o := e.doAs(zhao, "POST", "/api/v1/overrides/"+id+"/approve", adminToken, map[string]string{"note": "核实"}).must(t, 200, "approve")
	if o["status"] != "active" || o["approval"].(map[string]any)["by"] != "staff:zhao@440106" {
		t.Fatalf("approved: %v", o)
	}
	code := e.code(ids[1], toks[ids[1]])
	if code["colour"] != "red" || list(code, "reasons")[0]["rule"] != "manual-override-red" {
		t.Fatalf("code after approval: %v", code)
	}
	ns := e.do("GET", "/api/v1/persons/"+ids[1]+"/overrides", toks[ids[1]], nil).must(t, 200, "notices")
	n := list(ns, "overrides")
	if len(n) != 1 || n[0]["reason"] != "close_contact_by_phone" || n[0]["authority"] != "440106" || n[0]["appeal"].(map[string]any)["region"] != "440106" {
		t.Fatalf("the person's notice: %v", ns)
	}
	// Listing the region's overrides is a staff read of the persons in
	// them: each one's access log shows it.
	e.doAs(zhao, "GET", "/api/v1/overrides?region=440106", adminToken, nil).must(t, 200, "list")
	acc := list(e.do("GET", "/api/v1/persons/"+ids[2]+"/access-log", toks[ids[2]], nil).must(t, 200, "access log"), "access")
	listed := false
	for _, a := range acc {
		listed = listed || a["what"] == "overrides" && a["read"] == true
	}
	if !listed {
		t.Fatalf("the override list is not in the access log of a person in it: %v", acc)
	}
	// Another person may not read it.
	if r := e.do("GET", "/api/v1/persons/"+ids[1]+"/overrides", toks[ids[2]], nil); r.status != 403 {
		t.Errorf("someone else's overrides: got %d", r.status)
	}
}

// The Zhengzhou pattern over HTTP: depositors who live elsewhere and whose
// only link to the city is a remote scan of a bank branch's code (unverified
// presence), a red batch asked for by a county official (refused for lack
// of level, nothing written), then by a city official: alerts to the
// province before anything applies; a second city official's approval
// leaves it held; the province's auditor refuses it; no code is ever red.
func TestOverrideAbuseIsHeldAndRefused(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	_, bank := e.place("村镇银行 郑州支行", "office", "410102")
	var ids []string
	for i := range 25 {
		id, tok := e.enrolAt(300+i, "储户", "320102")
		ids = append(ids, id)
		// Scanned from Nanjing: unverified presence.
		e.do("POST", "/api/v1/visits", tok, map[string]any{"person_id": id, "place_code": bank, "at": ts(now.Add(-time.Hour)),
			"scan_lat": 32.06, "scan_lng": 118.79}).must(t, 201, "remote scan")
	}
	req := map[string]any{"persons": ids, "colour": "red", "reason": "inbound_traveller",
		"evidence": []string{"doc:维稳名单"}, "until": ts(now.Add(7 * 24 * time.Hour))}
	e.staffToken("zz.county@410102", "/")
	before := e.node.Stats().Events
	r := e.doAs("zz.county@410102", "POST", "/api/v1/overrides", adminToken, req)
	if c, _ := r.errCode(t); r.status != 403 || c != "insufficient_level" {
		t.Fatalf("county official's batch of 25: got %d %s, want 403 insufficient_level", r.status, r.body)
	}
	if after := e.node.Stats().Events; after != before {
		t.Fatalf("a refused request wrote %d events", after-before)
	}
	m := e.doAs("zz.city@410100", "POST", "/api/v1/overrides", adminToken, req).must(t, 201, "city official's request")
	alerts := list(m, "alerts")
	if m["held"] != true || len(alerts) == 0 {
		t.Fatalf("no alert before the batch applies: %v", m)
	}
	got := map[string]bool{}
	for _, a := range alerts {
		got[a["check"].(string)] = true
		if a["target"] != "410000" {
			t.Errorf("alert %s goes to %v, want the province 410000", a["check"], a["target"])
		}
	}
	if !got["no_epidemic_evidence"] || !got["unverified_presence_only"] {
		t.Errorf("alerts %v, want at least no_epidemic_evidence and unverified_presence_only", got)
	}
	id := m["override_id"].(string)
	o := e.doAs("zz.city2@410100", "POST", "/api/v1/overrides/"+id+"/approve", adminToken, nil).must(t, 200, "approve")
	if o["status"] != "held" {
		t.Fatalf("approved with alerts: status %v, want held", o["status"])
	}
	for _, id := range ids {
		if c := e.colour(id); c != "green" {
			t.Fatalf("held batch: %s is %s", id, c)
		}
	}
	// The province's auditor sees the alerts and refuses the batch.
	aud := e.signInAs("henan.audit", "auditor", "410000")
	as := e.do("GET", "/api/v1/abuse-alerts", aud, nil).must(t, 200, "abuse alerts")
	if len(list(as, "alerts")) != len(alerts) {
		t.Errorf("the auditor sees %d alerts, want %d", len(list(as, "alerts")), len(alerts))
	}
	// A city official cannot read the province's alert inbox.
	if r := e.doAs("zz.city@410100", "GET", "/api/v1/abuse-alerts", adminToken, nil); r.status != 403 {
		t.Errorf("an official reading abuse alerts: got %d, want 403", r.status)
	}
	o = e.do("POST", "/api/v1/overrides/"+id+"/audit-refuse", aud, map[string]string{"note": "无流行病学依据"}).must(t, 200, "audit refuse")
	if o["status"] != "refused" {
		t.Fatalf("refused by the auditor: status %v", o["status"])
	}
	for _, id := range ids {
		if c := e.colour(id); c != "green" {
			t.Fatalf("refused batch: %s is %s", id, c)
		}
	}
}
