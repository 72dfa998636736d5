package httpapi_test

import (
	"sort"
	"testing"
	"time"
)

// A hand-made outbreak with its ground truth: the case's trajectory is
// entered by an investigator, others' visits come from scans, and the trace
// must find exactly the true close and secondary contacts.
func TestCaseTrajectoryAndTrace(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	ids := map[string]string{}
	for i, name := range []string{"case", "close", "adjacent", "short", "before", "secondary", "early", "other"} {
		id, _ := e.enrol(i + 1)
		ids[name] = id
	}
	restaurant, _ := e.place("海底捞", "restaurant", "440106") // min overlap 15m
	market, _ := e.place("天河市场", "market", "440106")        // min overlap 15m
	office, _ := e.place("写字楼", "office", "440106")
	at := func(d time.Duration) string { return ts(now.Add(d)) }
	h := time.Hour
	visit := func(who, place string, from, to time.Duration) map[string]string {
		return map[string]string{"person_id": ids[who], "place_code": "HCP1:" + place, "at": at(from), "until": at(to)}
	}
	r := e.do("POST", "/api/v1/visits", adminToken, map[string]any{"visits": []any{
		visit("close", restaurant, -30*h, -29*h),                // overlaps the case's 30 min at the restaurant
		visit("adjacent", restaurant, -29*h, -28*h),             // starts when the case left: no overlap
		visit("short", restaurant, -30*h, -29*h-20*time.Minute), // 10 min overlap < 15 min
		visit("before", market, -100*h, -99*h),                  // with the case, before the infectious window
		visit("secondary", market, -20*h, -19*h),                // with "close" after its exposure
		visit("early", market, -40*h, -39*h),                    // with "close" before its exposure
		visit("close", market, -20*h-30*time.Minute, -19*h),     // the close contact's later visit
		visit("close", market, -40*h, -39*h),                    // and an earlier one
		visit("other", office, -30*h, -29*h),                    // elsewhere
	}})
	if r.status != 201 {
		t.Fatalf("visits: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/cases", adminToken, map[string]string{"person_id": ids["case"], "classification": "confirmed",
		"onset": at(-24 * h), "site": "GZ01", "isolated_at": at(-2 * h)})
	if r.status != 201 {
		t.Fatalf("open case: %d %s", r.status, r.body)
	}
	caseID := r.json(t)["case_id"].(string)
	if want := "GZ01-" + now.Add(-2*h).In(cst()).Format("20060102") + "-001"; caseID != want {
		t.Errorf("case id %q, want %q", caseID, want)
	}
	// The infectious period starts 48 h before onset: -72 h.
	r = e.do("PUT", "/api/v1/cases/"+caseID+"/stops", adminToken, map[string]any{"stops": []any{
		map[string]string{"place_id": restaurant, "from": at(-29*h - 30*time.Minute), "to": at(-29 * h)},
		map[string]string{"place_id": market, "from": at(-100 * h), "to": at(-99 * h)},
	}})
	if r.status != 200 {
		t.Fatalf("stops: %d %s", r.status, r.body)
	}
	got := traceOf(t, e, caseID, 2)
	want := map[string]int{ids["close"]: 1, ids["secondary"]: 2}
	if !equalMaps(got, want) {
		t.Fatalf("trace: got %v, want %v (close=%s secondary=%s)", got, want, ids["close"], ids["secondary"])
	}
	if got := traceOf(t, e, caseID, 1); !equalMaps(got, map[string]int{ids["close"]: 1}) {
		t.Errorf("depth 1: got %v", got)
	}

	// A corrected trajectory: the restaurant visit was at the office. The
	// old stops no longer count; the history keeps both versions.
	r = e.do("PUT", "/api/v1/cases/"+caseID+"/stops", adminToken, map[string]any{"stops": []any{
		map[string]string{"place_id": office, "from": at(-30 * h), "to": at(-29 * h)},
	}})
	if r.status != 200 {
		t.Fatalf("stops v2: %d %s", r.status, r.body)
	}
	if got := traceOf(t, e, caseID, 2); !equalMaps(got, map[string]int{ids["other"]: 1}) {
		t.Errorf("after the correction: got %v, want only %s", got, ids["other"])
	}
	cs := e.do("GET", "/api/v1/cases/"+caseID, adminToken, nil).json(t)
	if v := cs["versions"].([]any); len(v) != 2 {
		t.Errorf("versions: %d, want 2", len(v))
	}

	// Bad input is refused and changes nothing.
	before := e.node.Stats().Events
	for _, c := range []struct {
		body  any
		path  string
		field string
	}{
		{map[string]string{"person_id": ids["other"], "classification": "confirmed", "site": "GZ01", "isolated_at": at(-h)}, "/api/v1/cases", "onset"},
		{map[string]string{"person_id": ids["other"], "classification": "asymptomatic", "onset": at(-h), "site": "GZ01", "isolated_at": at(-h)}, "/api/v1/cases", "first_positive"},
		{map[string]string{"person_id": ids["other"], "classification": "confirmed", "onset": at(-h), "site": "guangzhou", "isolated_at": at(-h)}, "/api/v1/cases", "site"},
		{map[string]string{"person_id": ids["case"], "classification": "confirmed", "onset": at(-h), "site": "GZ01", "isolated_at": at(-h)}, "/api/v1/cases", "person_id"},
		{map[string]any{"cases": []string{caseID}, "depth": 3}, "/api/v1/trace", "depth"},
		{map[string]any{"cases": []string{"GZ01-20220101-999"}}, "/api/v1/trace", "cases[0]"},
	} {
		r := e.do("POST", c.path, adminToken, c.body)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%v: got %d, want a 4xx", c.body, r.status)
			continue
		}
		if _, f := r.errCode(t); f != c.field {
			t.Errorf("%v: error field %q, want %q (%s)", c.body, f, c.field, r.body)
		}
	}
	r = e.do("PUT", "/api/v1/cases/"+caseID+"/stops", adminToken, map[string]any{"stops": []any{map[string]string{"place_id": office, "from": at(-h), "to": at(-2 * h)}}})
	if c, f := r.errCode(t); r.status != 400 || c != "invalid_interval" || f != "stops[0].to" {
		t.Errorf("stop ending before it starts: %d %s", r.status, r.body)
	}
	if e.node.Stats().Events != before {
		t.Errorf("refused requests appended events")
	}
}

func traceOf(t *testing.T, e *env, caseID string, depth int) map[string]int {
	t.Helper()
	r := e.do("POST", "/api/v1/trace", adminToken, map[string]any{"cases": []string{caseID}, "depth": depth})
	if r.status != 200 {
		t.Fatalf("trace: %d %s", r.status, r.body)
	}
	out := map[string]int{}
	for _, c := range r.json(t)["contacts"].([]any) {
		m := c.(map[string]any)
		out[m["person_id"].(string)] = int(m["degree"].(float64))
		if len(m["exposures"].([]any)) == 0 {
			t.Errorf("contact %v without exposures", m["person_id"])
		}
	}
	return out
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	ka := make([]string, 0, len(a))
	for k := range a {
		ka = append(ka, k)
	}
	sort.Strings(ka)
	for _, k := range ka {
		if b[k] != a[k] {
			return false
		}
	}
	return true
}

func cst() *time.Location { l, _ := time.LoadLocation("Asia/Shanghai"); return l }
