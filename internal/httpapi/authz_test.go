package httpapi_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode/internal/httpapi"
	"healthcode/internal/staff"
)

// authzWorld holds, for each of two regions, a person, a place, a case, a
// risk area and an event: "own" in 天河区 (440106), where every test account
// is, and "other" in 福田区 (440304), outside their authority.
type authzWorld struct {
	person, token, place, code, caseID, area, event, lab map[string]string
	override, appeal                                     map[string]string
}

func newAuthzWorld(t *testing.T, e *env) *authzWorld {
	w := &authzWorld{person: map[string]string{}, token: map[string]string{}, place: map[string]string{}, code: map[string]string{},
		caseID: map[string]string{}, area: map[string]string{}, event: map[string]string{}, lab: map[string]string{}, override: map[string]string{},
		appeal: map[string]string{}}
	now, h := e.clock.Now(), time.Hour
	for i, side := range []string{"own", "other"} {
		reg := map[string]string{"own": "440106", "other": "440304"}[side]
		official := map[string]string{"own": "gz.off@440106", "other": "sz.off@440304"}[side]
		second := map[string]string{"own": "gz.off2@440106", "other": "sz.off2@440304"}[side]
		w.person[side], w.token[side] = e.enrolAt(900+i, "测试", reg)
		w.place[side], w.code[side] = e.place("场所"+side, "restaurant", reg)
		cs := e.doAs(official, "POST", "/api/v1/cases", adminToken, map[string]string{"person_id": w.person[side], "classification": "confirmed",
			"onset": ts(now.Add(-48 * h)), "site": "GZ01", "isolated_at": ts(now.Add(-h))}).must(t, 201, "case "+side)
		w.caseID[side], w.event[side] = cs["case_id"].(string), cs["event"].(string)
		ar := e.doAs(official, "POST", "/api/v1/risk-areas", adminToken, map[string]string{"region": reg, "level": "medium", "until": ts(now.Add(72 * h))}).must(t, 201, "area "+side)
		w.area[side] = ar["area_id"].(string)
		cp, _ := e.enrolAt(910+i, "密接", reg)
		ov := e.doAs(official, "POST", "/api/v1/overrides", adminToken, map[string]any{"persons": []string{cp}, "colour": "yellow",
			"reason": "close_contact_by_phone", "evidence": []string{w.event[side]}, "until": ts(now.Add(24 * h))}).must(t, 201, "override "+side)
		w.override[side] = ov["override_id"].(string)
		ap := e.do("POST", "/api/v1/persons/"+w.person[side]+"/appeals", w.token[side], map[string]any{"text": "我没有去过"}).must(t, 201, "appeal "+side)
		w.appeal[side] = ap["appeal_id"].(string)
		_ = second
	}
	w.lab["own"], w.lab["other"] = "lab-own", "lab-other"
	return w
}

// authzCase is one endpoint: its action, and the request on an object of
// either region ("own" or "other"; nil body for none).
type authzCase struct {
	action staff.Action
	method string
	path   func(side string) string
	body   func(side string) any
	// regionFree: the endpoint acts on no regional object (only the role
	// is checked).
	regionFree bool
	// levelled: a granted role may still be refused on its own region by
	// the node's level rules (an auditor rolls back only accounts below
	// it, and audits only overrides requested below it); on its own
	// region only the refusal of the other roles is checked, and on
	// another region's object it must still be refused.
	levelled bool
	// roles, if set, are the roles granted (reads open to auditors as
	// well as to the action's roles).
	roles staff.RoleSet
}

// TestAuthorisationMatrix tries every staff endpoint with an account of
// every role, on an object of the account's region and on one of another
// region: a role the matrix does not grant, and any object outside the
// account's region, is refused with 403; a granted role on its own region
// is not refused. Every refusal is counted in
// healthcode_http_denied_total. Endpoints without a table row fail the
// test, so a new endpoint cannot skip authorisation.
func TestAuthorisationMatrix(t *testing.T) {
	e := newEnv(t)
	w := newAuthzWorld(t, e)
	now, h := e.clock.Now(), time.Hour
	reg := func(side string) string { return map[string]string{"own": "440106", "other": "440304"}[side] }
	p := func(format string, m map[string]string) func(string) string {
		return func(side string) string { return fmt.Sprintf(format, m[side]) }
	}
	cases := map[string]authzCase{
		"POST /api/v1/persons": {action: staff.EnrolPersons, path: p("/api/v1/persons%s", nil), body: func(side string) any {
			return map[string]any{"persons": []any{map[string]string{"id_number": idNumber(950), "name": "王", "phone": "13800138000", "home_region": reg(side)}}}
		}},
		"GET /api/v1/persons/{id}/code":       {action: staff.ReadCodes, path: p("/api/v1/persons/%s/code?qr=none", w.person)},
		"GET /api/v1/persons/{id}/code.png":   {action: staff.ReadCodes, path: p("/api/v1/persons/%s/code.png", w.person)},
		"GET /api/v1/persons/{id}/overrides":  {action: staff.ReadCodes, path: p("/api/v1/persons/%s/overrides", w.person)},
		"GET /api/v1/persons/{id}/dependants": {action: staff.BindDependants, path: p("/api/v1/persons/%s/dependants", w.person)},
		"POST /api/v1/persons/{id}/dependants": {action: staff.BindDependants, path: p("/api/v1/persons/%s/dependants", w.person), body: func(side string) any {
			return map[string]string{"id_number": idNumber(960), "name": "老人", "home_region": reg(side), "relation": "parent", "basis": "household_register"}
		}},
		"GET /api/v1/persons/{id}/stops": {action: staff.RecordStops, path: p("/api/v1/persons/%s/stops", w.person)},
		"POST /api/v1/persons/{id}/stops": {action: staff.RecordStops, path: p("/api/v1/persons/%s/stops", w.person), body: func(side string) any {
			return map[string]any{"stops": []any{map[string]string{"place_id": w.place[side], "from": ts(now.Add(-3 * h)), "to": ts(now.Add(-2 * h))}}}
		}},
		"POST /api/v1/gate/lookups": {action: staff.GateLookup, path: p("/api/v1/gate/lookups%s", nil), body: func(side string) any {
			return map[string]string{"id_number": idNumber(900), "place_id": w.place[side]}
		}},
		"POST /api/v1/cases": {action: staff.ManageCases, path: p("/api/v1/cases%s", nil), body: func(side string) any {
			return map[string]string{"person_id": w.person[side], "classification": "confirmed", "onset": ts(now.Add(-30 * h)), "site": "GZ03", "isolated_at": ts(now.Add(-h))}
		}},
		"GET /api/v1/cases":                     {action: staff.ManageCases, path: func(side string) string { return "/api/v1/cases?region=" + reg(side) }},
		"GET /api/v1/cases/{id}":                {action: staff.ManageCases, path: p("/api/v1/cases/%s", w.caseID)},
		"GET /api/v1/cases/{id}/chain":          {action: staff.ManageCases, path: p("/api/v1/cases/%s/chain", w.caseID)},
		"GET /api/v1/cases/{id}/chain.svg":      {action: staff.ManageCases, path: p("/api/v1/cases/%s/chain.svg", w.caseID)},
		"POST /api/v1/cases/{id}/assign":        {action: staff.ManageCases, path: p("/api/v1/cases/%s/assign", w.caseID), body: func(string) any { return map[string]string{"region": "440106", "investigator": "x"} }},
		"GET /api/v1/cases/{id}/review":         {action: staff.RecordStops, path: p("/api/v1/cases/%s/review", w.caseID)},
		"POST /api/v1/cases/{id}/review":        {action: staff.RecordStops, path: p("/api/v1/cases/%s/review", w.caseID), body: func(string) any { return map[string]any{"version": 9, "decision": "approved"} }},
		"POST /api/v1/cases/{id}/stops/confirm": {action: staff.RecordStops, path: p("/api/v1/cases/%s/stops/confirm", w.caseID), body: func(string) any { return map[string]any{"visits": []string{"e1"}} }},
		"PUT /api/v1/cases/{id}/stops": {action: staff.RecordStops, path: p("/api/v1/cases/%s/stops", w.caseID), body: func(side string) any {
			return map[string]any{"stops": []any{map[string]string{"place_id": w.place[side], "from": ts(now.Add(-20 * h)), "to": ts(now.Add(-19 * h))}}}
		}},
		"POST /api/v1/cases/{id}/stops": {action: staff.RecordStops, path: p("/api/v1/cases/%s/stops", w.caseID), body: func(side string) any {
			return map[string]any{"stops": []any{map[string]string{"place_id": w.place[side], "from": ts(now.Add(-18 * h)), "to": ts(now.Add(-17 * h))}}}
		}},
		"POST /api/v1/trace": {action: staff.Trace, path: p("/api/v1/trace%s", nil), body: func(side string) any {
			return map[string]any{"cases": []string{w.caseID[side]}, "record": false}
		}},
		"POST /api/v1/trips/manifest": {action: staff.RecordTrips, regionFree: true, path: p("/api/v1/trips/manifest%s", nil), body: func(side string) any {
			return map[string]any{"trip": "G1 2022-06-10", "from": ts(now.Add(-10 * h)), "to": ts(now.Add(-8 * h)), "passengers": []any{map[string]any{"person_id": w.person[side], "carriage": "1"}}}
		}},
		"POST /api/v1/places": {action: staff.ManagePlaces, path: p("/api/v1/places%s", nil), body: func(side string) any {
			return map[string]any{"name": "新场所" + side, "kind": "shop", "region": reg(side), "lat": 23.1, "lng": 113.3}
		}},
		"POST /api/v1/visits": {action: staff.RecordVisits, path: p("/api/v1/visits%s", nil), body: func(side string) any {
			return map[string]any{"visits": []any{map[string]string{"person_id": w.person[side], "place_code": w.code[side], "at": ts(now.Add(-5 * h))}}}
		}},
		"POST /api/v1/labs/{lab}/results": {action: staff.UploadResults, path: p("/api/v1/labs/%s/results", w.lab), body: func(side string) any {
			return map[string]any{"results": []any{map[string]string{"sample_id": "S-" + side, "person_id": w.person[side], "sampled_at": ts(now.Add(-h)), "result": "negative"}}}
		}},
		"POST /api/v1/risk-areas": {action: staff.DeclareRiskAreas, path: p("/api/v1/risk-areas%s", nil), body: func(side string) any {
			return map[string]string{"region": reg(side), "level": "high", "until": ts(now.Add(24 * h))}
		}},
		"POST /api/v1/risk-areas/{id}/lift": {action: staff.DeclareRiskAreas, path: p("/api/v1/risk-areas/%s/lift", w.area)},
		"GET /api/v1/events/{id}":           {action: staff.ReadEvents, path: p("/api/v1/events/%s", w.event)},
		"GET /api/v1/referrals":             {action: staff.ReadReferrals, path: func(side string) string { return "/api/v1/referrals?region=" + reg(side) }},
		"GET /api/v1/alerts":                {action: staff.ReadAlerts, path: func(side string) string { return "/api/v1/alerts?region=" + reg(side) }},
		"GET /api/v1/community-lists":       {action: staff.ReadCommunityLists, path: func(side string) string { return "/api/v1/community-lists?region=" + reg(side) }},
		"POST /api/v1/overrides": {action: staff.RequestOverrides, path: p("/api/v1/overrides%s", nil), body: func(side string) any {
			return map[string]any{"persons": []string{w.person[side]}, "colour": "yellow", "reason": "close_contact_by_phone", "evidence": []string{w.event[side]}, "until": ts(now.Add(24 * h))}
		}},
		"GET /api/v1/overrides":                    {action: staff.RequestOverrides, roles: staff.RolesOf(staff.Official, staff.Auditor), path: func(side string) string { return "/api/v1/overrides?region=" + reg(side) }},
		"GET /api/v1/overrides/{id}":               {action: staff.RequestOverrides, roles: staff.RolesOf(staff.Official, staff.Auditor), path: p("/api/v1/overrides/%s", w.override)},
		"POST /api/v1/overrides/{id}/approve":      {action: staff.ApproveOverrides, path: p("/api/v1/overrides/%s/approve", w.override)},
		"POST /api/v1/overrides/{id}/refuse":       {action: staff.ApproveOverrides, path: p("/api/v1/overrides/%s/refuse", w.override), body: func(string) any { return map[string]string{"note": "无依据"} }},
		"POST /api/v1/overrides/{id}/revoke":       {action: staff.RequestOverrides, path: p("/api/v1/overrides/%s/revoke", w.override), body: func(string) any { return map[string]string{"note": "撤回"} }},
		"POST /api/v1/overrides/{id}/clear":        {action: staff.Rollback, levelled: true, path: p("/api/v1/overrides/%s/clear", w.override), body: func(string) any { return map[string]string{"note": "ok"} }},
		"POST /api/v1/overrides/{id}/audit-refuse": {action: staff.Rollback, levelled: true, path: p("/api/v1/overrides/%s/audit-refuse", w.override), body: func(string) any { return map[string]string{"note": "no"} }},
		"POST /api/v1/rollbacks": {action: staff.Rollback, levelled: true, path: p("/api/v1/rollbacks%s", nil), body: func(string) any {
			return map[string]any{"account": "gz.off", "reason": "测试"}
		}},
		"GET /api/v1/rollbacks":               {action: staff.ReadAudit, regionFree: true, path: p("/api/v1/rollbacks%s", nil)},
		"GET /api/v1/persons/{id}/appeals":    {action: staff.ReadCodes, path: p("/api/v1/persons/%s/appeals", w.person)},
		"GET /api/v1/persons/{id}/access-log": {action: staff.ReadAudit, path: p("/api/v1/persons/%s/access-log", w.person)},
		"GET /api/v1/appeals":                 {action: staff.HandleAppeals, path: func(side string) string { return "/api/v1/appeals?region=" + reg(side) }},
		"POST /api/v1/appeals/{id}/resolve": {action: staff.HandleAppeals, path: p("/api/v1/appeals/%s/resolve", w.appeal), body: func(string) any {
			return map[string]string{"outcome": "upheld", "note": "维持"}
		}},
		"GET /api/v1/abuse-alerts": {action: staff.ReadAudit, path: func(side string) string { return "/api/v1/abuse-alerts?region=" + reg(side) }},
	}
	// Endpoints outside the matrix: no token, a person's own, or any
	// signed-in caller (each says why).
	open := map[string]string{
		"GET /healthz": "public", "GET /api/v1/openapi.yaml": "public", "POST /api/v1/sessions": "sign-in",
		"GET /api/v1/sessions/current": "any account", "DELETE /api/v1/sessions/current": "any account",
		"GET /api/v1/trust-list": "public", "POST /api/v1/verify": "offline check, public",
		"GET /api/v1/places": "public place list", "GET /api/v1/places/search": "any token", "GET /api/v1/places/{id}": "public",
		"GET /api/v1/places/{id}/qr": "the venue poster, public", "GET /api/v1/risk-areas": "public", "GET /api/v1/rules": "public",
		"GET /api/v1/stats": "aggregates, public", "GET /api/v1/public/cases": "de-identified, public", "POST /api/v1/selfcheck": "public",
		"POST /api/v1/referrals/{id}/ack":   "the node checks the receiving county (TestInvestigationBadInput: ack by another county)",
		"POST /api/v1/persons/{id}/appeals": "the person's own (or a holder's)", "GET /api/v1/persons/{id}/notices": "the person's own (or a holder's)",
	}
	for _, rt := range httpapi.Routes() {
		key := rt.Method + " " + rt.Path
		if _, ok := cases[key]; ok {
			continue
		}
		if _, ok := open[key]; !ok && !strings.HasPrefix(rt.Path, "/api/v1/audit") {
			t.Errorf("%s has no row in the authorisation matrix test", key)
		}
	}

	// One account per role, in 天河区; labs named after their lab.
	tokens := map[staff.Role]string{}
	for _, r := range staff.AllRoles() {
		user := "role." + r.String()
		if r == staff.Lab {
			user = "lab-own"
		}
		tokens[r] = e.signInAs(user, r.String(), "440106")
	}
	denied := func() float64 { return e.metric("healthcode_http_denied_total") }
	// In a fixed order: some requests change the objects later ones act
	// on (an override refused, then approved).
	for _, key := range slices.Sorted(maps.Keys(cases)) {
		c := cases[key]
		method, _, _ := strings.Cut(key, " ")
		for _, r := range staff.AllRoles() {
			roles := c.action.Roles()
			if c.roles != 0 {
				roles = c.roles
			}
			granted := roles.Has(r)
			for _, side := range []string{"own", "other"} {
				if side == "other" && (!granted || c.regionFree) {
					continue
				}
				var body any
				if c.body != nil {
					body = c.body(side)
				}
				before := denied()
				res := e.do(method, c.path(side), tokens[r], body)
				refused := res.status == 403
				switch {
				case !granted && !refused:
					t.Errorf("%s as %s: got %d %s, want 403 (the role lacks %s)", key, r, res.status, res.body, c.action)
				case granted && side == "own" && refused && !c.levelled:
					t.Errorf("%s as %s on its own region: refused %s", key, r, res.body)
				case granted && side == "other" && !refused:
					t.Errorf("%s as %s on an object of another region: got %d %s, want 403", key, r, res.status, res.body)
				}
				if refused && denied() != before+1 {
					t.Errorf("%s as %s (%s): the refusal was not counted", key, r, side)
				}
			}
		}
	}
}
