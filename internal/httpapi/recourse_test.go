package httpapi_test

import (
	"testing"
	"time"
)

// "Who looked at my data": a staff read of a person's code is in the
// person's access log with the staff's region and roles, not the account;
// an auditor above sees the account. The person's own reads are not listed.
func TestAccessLog(t *testing.T) {
	e := newEnv(t)
	id, tok := e.enrolAt(1, "张三", "440106")
	e.code(id, tok) // the person's own read
	e.doAs("wang@440106", "GET", "/api/v1/persons/"+id+"/code?qr=none", adminToken, nil).must(t, 200, "staff read")
	m := e.do("GET", "/api/v1/persons/"+id+"/access-log", tok, nil).must(t, 200, "access log")
	acc := list(m, "access")
	if len(acc) != 1 || acc[0]["what"] != "code" || acc[0]["read"] != true || acc[0]["region"] != "440106" {
		t.Fatalf("the person's access log: %v", acc)
	}
	if _, ok := acc[0]["account"]; ok {
		t.Errorf("the person sees the staff account: %v", acc[0])
	}
	aud := e.signInAs("gz.audit", "auditor", "440100")
	m = e.do("GET", "/api/v1/persons/"+id+"/access-log", aud, nil).must(t, 200, "auditor's view")
	if acc := list(m, "access"); len(acc) < 1 || acc[len(acc)-1]["account"] != "wang" {
		t.Errorf("the auditor's view: %v", acc)
	}
	// Someone else cannot read it.
	_, other := e.enrolAt(2, "李四", "440106")
	if r := e.do("GET", "/api/v1/persons/"+id+"/access-log", other, nil); r.status != 403 {
		t.Errorf("another person's access log: got %d", r.status)
	}
}

// A lab account uploads false positives; the city's auditor rolls its
// uploads back and suspends it in the same step: the codes are green again,
// the persons are told, the lab's key no longer works, the rollback is
// listed for review; an auditor of the same level as the account cannot.
func TestRollbackOverHTTP(t *testing.T) {
	e := newEnv(t)
	key := e.signInAs("bad-lab", "lab", "440106")
	var ids []string
	var toks []string
	for i := range 3 {
		id, tok := e.enrolAt(10+i, "王五", "440106")
		ids, toks = append(ids, id), append(toks, tok)
	}
	at := ts(e.clock.Now().Add(-time.Hour))
	var rs []any
	for i, id := range ids {
		rs = append(rs, map[string]string{"sample_id": "F" + string(rune('0'+i)), "person_id": id, "sampled_at": at, "result": "positive"})
	}
	e.do("POST", "/api/v1/labs/bad-lab/results", key, map[string]any{"results": rs}).must(t, 200, "false positives")
	if c := e.code(ids[0], toks[0])["colour"]; c != "red" {
		t.Fatalf("after the upload: %v", c)
	}
	same := e.signInAs("county.audit", "auditor", "440106")
	if r := e.do("POST", "/api/v1/rollbacks", same, map[string]any{"account": "bad-lab", "suspend": true, "reason": "虚假阳性"}); r.status != 403 {
		t.Fatalf("an auditor of the account's own level: got %d %s, want 403", r.status, r.body)
	}
	aud := e.signInAs("gz.audit", "auditor", "440100")
	rb := e.do("POST", "/api/v1/rollbacks", aud, map[string]any{"account": "bad-lab", "suspend": true, "reason": "虚假阳性"}).must(t, 201, "rollback")
	if rb["count"].(float64) != 3 || rb["suspended"] != true || len(rb["persons"].([]any)) != 3 {
		t.Fatalf("rollback: %v", rb)
	}
	for i, id := range ids {
		if c := e.code(id, toks[i])["colour"]; c != "green" {
			t.Errorf("%s after the rollback: %v, want green", id, c)
		}
	}
	ns := e.do("GET", "/api/v1/persons/"+ids[0]+"/notices", toks[0], nil).must(t, 200, "notices")
	if len(list(ns, "notices")) == 0 {
		t.Errorf("the person was not told: %v", ns)
	}
	if r := e.do("POST", "/api/v1/labs/bad-lab/results", key, map[string]any{"results": rs}); r.status != 401 {
		t.Errorf("the suspended lab's session: got %d, want 401", r.status)
	}
	list1 := e.do("GET", "/api/v1/rollbacks", aud, nil).must(t, 200, "rollbacks")
	if len(list(list1, "rollbacks")) != 1 {
		t.Errorf("rollbacks for review: %v", list1)
	}
}
