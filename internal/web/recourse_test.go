package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
	"healthcode/internal/staff"
)

// recourse is a county (天河区 440106) with a confirmed case, two of its
// close contacts known by phone, and staff: two officials, a community
// worker and the city's auditor.
type recourse struct {
	n        *nodetest.Node
	srvURL   string
	contacts []node.Enrolled
	caseEv   string            // the case_opened event, the evidence of a request
	secrets  map[string]string // TOTP secrets by username
}

func newRecourse(t *testing.T) *recourse {
	t.Helper()
	n, srv := server(t)
	ctx := context.Background()
	rc := &recourse{n: n, srvURL: srv.URL, secrets: map[string]string{}}
	res, err := n.Enrol(ctx, "test", []node.Enrolment{
		{IDNumber: nodetest.IDNumber(401), Name: "陈一", Phone: "13900000401", HomeRegion: "440106"},
		{IDNumber: nodetest.IDNumber(402), Name: "陈二", Phone: "13900000402", HomeRegion: "440106"},
		{IDNumber: nodetest.IDNumber(403), Name: "陈三", Phone: "13900000403", HomeRegion: "440106"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rc.contacts = res[1:]
	now := n.Clock.Now()
	c, err := n.OpenCase(ctx, "staff:inv@440106", node.CaseInput{Person: res[0].Person, Classification: node.Confirmed,
		Onset: now.Add(-48 * time.Hour), Site: "GZ01", IsolatedAt: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rc.caseEv = health.EventID(c.Seq)
	for _, a := range []struct{ user, roles, region string }{
		{"li.ming", "official", "440106"},
		{"zhao.qiang", "official", "440106"},
		{"wang.fang", "community", "440106"},
		{"audit.gz", "auditor", "440100"},
	} {
		rs, err := staff.ParseRoles(a.roles)
		if err != nil {
			t.Fatal(err)
		}
		_, u, err := n.AddAccount(ctx, "test", node.AccountInput{Username: a.user, Roles: rs, Region: a.region, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		if u != "" {
			if rc.secrets[a.user], err = staff.TOTPSecretOf(u); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rc
}

// signIn signs user in on the sign-in page (the browser is there) and waits
// for sel on the page it goes on to. Each account signs in once: a TOTP
// code is accepted once.
func (rc *recourse) signIn(p page, user, sel string) {
	p.t.Helper()
	otp := ""
	if s := rc.secrets[user]; s != "" {
		var err error
		if otp, err = staff.TOTPCode(s, rc.n.Clock.Now()); err != nil {
			p.t.Fatal(err)
		}
	}
	p.do(chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.SendKeys(chromedp.CSS("#otp"), otp),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(sel)))
}

// showCode opens a person's /code page and waits for their accountability
// lists.
func (rc *recourse) showCode(p page, who node.Enrolled) {
	p.t.Helper()
	pid := health.PersonID(who.Person)
	p.do(chromedp.Navigate(rc.srvURL+"/code"),
		chromedp.SendKeys(chromedp.CSS("#pid"), pid),
		chromedp.SendKeys(chromedp.CSS("#tok"), who.Token),
		chromedp.Click(chromedp.CSS("#show")),
		chromedp.WaitVisible(chromedp.CSS(`#recourse[data-person="`+pid+`"]`)))
}

var overrideIDRE = regexp.MustCompile(`OV-[0-9]+`)

// The four eyes, end to end in the console: an official asks for a manual
// red code for two close contacts; the same official cannot approve it; a
// second official does; the person sees the override with its ground, the
// approving authority and the appeal route, and appeals; the county's
// community worker finds the appeal in the inbox and corrects the code; the
// person's page then shows the answer, the notices and who looked.
func TestOverrideApprovedAppealedAndCorrectedInConsole(t *testing.T) {
	rc := newRecourse(t)
	n := rc.n
	p := page{t, browser(t)}
	target := rc.contacts[0]
	pids := health.PersonID(rc.contacts[0].Person) + " " + health.PersonID(rc.contacts[1].Person)

	// 1. li.ming requests it.
	p.do(chromedp.Navigate(rc.srvURL + "/overrides"))
	rc.signIn(p, "li.ming", "#req")
	p.do(chromedp.SendKeys(chromedp.CSS("#req-persons"), pids),
		chromedp.SetValue(chromedp.CSS("#req-reason"), "close_contact_by_phone"),
		chromedp.SetValue(chromedp.CSS("#req-colour"), "red"),
		chromedp.SendKeys(chromedp.CSS("#req-evidence"), rc.caseEv+"\ndoc:电话流调记录 第3页"),
		chromedp.SendKeys(chromedp.CSS("#req-note"), "电话确认同桌就餐"),
		chromedp.Click(chromedp.CSS("#req-submit")),
		chromedp.WaitVisible(chromedp.CSS("#req-result:not(:empty)")))
	result := p.text("#req-result")
	id := overrideIDRE.FindString(result)
	if id == "" || !strings.Contains(result, "待审批") {
		t.Fatalf("request result: got %q, want an override id, pending", result)
	}
	row := `#overrides tr[data-id="` + id + `"]`
	p.do(chromedp.WaitVisible(chromedp.CSS(row + " .badge.ov-pending")))
	if got := p.text(row); !strings.Contains(got, "电话流调确认的密切接触者") || !strings.Contains(got, "staff:li.ming@440106") {
		t.Errorf("the request's row: got %q, want the ground's title and the requester", got)
	}

	// 2. li.ming may not approve it: the page shows the API's refusal.
	p.do(chromedp.Click(chromedp.CSS(row+" button.approve")),
		chromedp.WaitVisible(chromedp.CSS(row+" .row-err:not(:empty)")))
	if got := p.text(row + " .row-err"); !strings.Contains(got, "a second official must approve it") || !strings.Contains(got, "own_request") {
		t.Errorf("self-approval: the page shows %q, want the API's own_request message", got)
	}
	if o, err := n.Override(id); err != nil || o.Status != node.OverridePending || o.Approval != nil {
		t.Fatalf("after self-approval: %+v, %v; want it pending", o, err)
	}

	// 3. zhao.qiang approves it.
	p.do(chromedp.Navigate(rc.srvURL + "/login?next=/overrides"))
	rc.signIn(p, "zhao.qiang", row+" button.approve")
	p.do(chromedp.SendKeys(chromedp.CSS(row+" input.note"), "核实无误"),
		chromedp.Click(chromedp.CSS(row+" button.approve")),
		chromedp.WaitVisible(chromedp.CSS(row+" .badge.ov-active")))
	if got := p.text(row); !strings.Contains(got, "staff:zhao.qiang@440106") || !strings.Contains(got, "核实无误") {
		t.Errorf("approved row: got %q, want the approver and the note", got)
	}
	o, err := n.Override(id)
	if err != nil || o.Status != node.OverrideActive || o.Approval == nil || o.Approval.By.Account != "zhao.qiang" {
		t.Fatalf("after approval: %+v, %v; want it active, approved by zhao.qiang", o, err)
	}

	// 4. The person sees it, and appeals.
	rc.showCode(p, target)
	ov := `#overrides li[data-id="` + id + `"]`
	p.do(chromedp.WaitVisible(chromedp.CSS(ov)))
	shown, colour := p.text(ov), p.text("#colour")
	for _, want := range []string{"红码", "电话流调确认的密切接触者", "批准机关：广东省 广州市 天河区 (440106, 区县级)", "可向 广东省 广州市 天河区 (440106, 区县级) 申诉，24 小时内处理", "广东省 广州市 (440100, 市级)"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the person's override: got %q, want %q", shown, want)
		}
	}
	if colour != "红码" {
		t.Errorf("code: got %q, want 红码", colour)
	}
	p.do(chromedp.SendKeys(chromedp.CSS("#ap-text"), "我与病例没有接触，当天在外地出差"),
		chromedp.SendKeys(chromedp.CSS("#ap-evidence"), "doc:出差行程单"),
		chromedp.Click(chromedp.CSS("#ap-submit")),
		chromedp.WaitVisible(chromedp.CSS("#ap-result:not(:empty)")))
	as := n.Appeals(node.AppealFilter{Person: target.Person})
	if len(as) != 1 || as[0].Source != "override" || as[0].Region != "440106" || as[0].Status != node.AppealOpen {
		t.Fatalf("the person's appeals: %+v, want one open override appeal with 440106", as)
	}
	ap := as[0].ID
	p.do(chromedp.WaitVisible(chromedp.CSS(`#appeals li[data-id="` + ap + `"]`)))
	if got := p.text(`#appeals li[data-id="` + ap + `"]`); !strings.Contains(got, "处理中") || !strings.Contains(got, "人工赋码（红码）") {
		t.Errorf("the person's appeal: got %q, want it open, disputing the manual red code", got)
	}

	// 5. The county's community worker answers it: corrected, the override
	// lifted for this person.
	p.do(chromedp.Navigate(rc.srvURL + "/login?next=/appeals"))
	arow := `#appeals tr[data-id="` + ap + `"]`
	rc.signIn(p, "wang.fang", arow)
	if got := p.text(arow); !strings.Contains(got, "出差") || !strings.Contains(got, "(440106, 区县级)") || !strings.Contains(got, "人工赋码") {
		t.Errorf("the inbox row: got %q, want the text, the region's level and the source", got)
	}
	if got := p.text(arow + " .deadline"); !strings.Contains(got, "2022") {
		t.Errorf("the inbox row's deadline: got %q", got)
	}
	p.do(chromedp.SetValue(chromedp.CSS(arow+" select.outcome"), "corrected"),
		chromedp.SendKeys(chromedp.CSS(arow+" input.note"), "核实：当天不在本市"),
		chromedp.SendKeys(chromedp.CSS(arow+" input.lift"), id),
		chromedp.Click(chromedp.CSS(arow+" button.resolve")),
		chromedp.WaitVisible(chromedp.CSS("#list-msg:not(:empty)")))
	if got := p.text("#list-msg"); !strings.Contains(got, ap) || !strings.Contains(got, "已更正") {
		t.Errorf("after resolving: got %q", got)
	}
	a, err := n.Appeal(ap)
	if err != nil || a.Status != node.AppealResolved || a.Resolution.Outcome != node.OutcomeCorrected {
		t.Fatalf("the appeal after the answer: %+v, %v", a, err)
	}
	for i, c := range rc.contacts {
		code, err := n.Code(c.Person)
		want := []health.Colour{health.Green, health.Red}[i] // lifted for the appellant only
		if err != nil || code.Colour != want {
			t.Errorf("contact %d after the correction: %v, %v; want %v", i, code.Colour, err, want)
		}
	}

	// 6. The person's page shows the answer, the notices and who looked.
	rc.showCode(p, target)
	p.do(chromedp.WaitVisible(chromedp.CSS("#notices li.appeal_resolved")))
	notices, overrides, appeal, access := p.text("#notices"), p.text("#overrides"), p.text(`#appeals li[data-id="`+ap+`"]`), p.text("#access")
	for _, want := range []string{"您的申诉已处理 (已更正)", "您的健康码被人工赋码", id, ap} {
		if !strings.Contains(notices, want) {
			t.Errorf("notices: got %q, want %q", notices, want)
		}
	}
	if overrides != "无" {
		t.Errorf("overrides after the correction: got %q, want none", overrides)
	}
	if !strings.Contains(appeal, "已处理 已更正") || !strings.Contains(appeal, "核实：当天不在本市") {
		t.Errorf("the appeal after the answer: got %q", appeal)
	}
	for _, want := range []string{"查阅", "申诉", "社区工作者", "修改", "人工赋码申请", "行政官员", "广东省 广州市 天河区 (440106, 区县级)"} {
		if !strings.Contains(access, want) {
			t.Errorf("who looked: got %q, want %q", access, want)
		}
	}
	for _, name := range []string{"li.ming", "zhao.qiang", "wang.fang"} {
		if strings.Contains(access, name) {
			t.Errorf("who looked names staff account %s: %q", name, access)
		}
	}
}

// An auditor of the city, in English: a county official's request for two
// persons with no epidemic evidence raised alerts to the city; the auditor
// sees them by request with the checks' titles and sample persons, is told
// the API's reason when refusing without a note, then refuses it.
func TestAbuseAlertsPageInEnglish(t *testing.T) {
	rc := newRecourse(t)
	n := rc.n
	o, alerts, err := n.RequestOverride(context.Background(), node.Official{Account: "li.ming", Region: "440106"}, node.OverrideInput{
		Persons: []uint32{rc.contacts[0].Person, rc.contacts[1].Person}, Colour: "red", Reason: "inbound_traveller",
		Evidence: []string{"doc:维稳名单"}, Until: n.Clock.Now().Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Held || len(alerts) == 0 || alerts[0].Target != "440100" {
		t.Fatalf("request without evidence: held %v, alerts %+v; want alerts to 440100", o.Held, alerts)
	}
	p := page{t, browser(t)}
	p.do(chromedp.Navigate(rc.srvURL+"/abuse-alerts?lang=en"), chromedp.WaitVisible(chromedp.CSS("#login")))
	if got := p.text("h1"); got != "Staff sign-in" {
		t.Errorf("the sign-in page on the way: got %q, want it in English", got)
	}
	box := `#alerts section[data-id="` + o.ID + `"]`
	rc.signIn(p, "audit.gz", box+" button.audit-refuse")
	heading, nav, shown := p.text("h1"), p.text("header"), p.text(box)
	if heading != "Abuse alerts" {
		t.Errorf("heading: got %q, want the English title", heading)
	}
	if !strings.Contains(nav, "Abuse alerts") || strings.Contains(nav, "Manual codes") || strings.Contains(nav, "Cases") {
		t.Errorf("an auditor's nav: got %q, want abuse alerts only", nav)
	}
	for _, want := range []string{"No epidemic evidence", "Pending approval", "Inbound traveller in quarantine", "Requester: li.ming",
		"alert to 广东省 广州市 (440100, city)", health.PersonID(rc.contacts[0].Person), "2 / 2"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the request's alerts: got %q, want %q", shown, want)
		}
	}
	p.do(chromedp.Click(chromedp.CSS(box+" button.audit-refuse")),
		chromedp.WaitVisible(chromedp.CSS(box+" .row-err:not(:empty)")))
	if got := p.text(box + " .row-err"); got != "Refused: is required: say why (note, missing_field)" {
		t.Errorf("refusal without a note: got %q, want the API's message", got)
	}
	p.do(chromedp.SendKeys(chromedp.CSS(box+" input.note"), "no epidemic ground for either person"),
		chromedp.Click(chromedp.CSS(box+" button.audit-refuse")),
		chromedp.WaitVisible(chromedp.CSS(box+" .badge.ov-refused")))
	if got := p.text(box + " .decided"); !strings.Contains(got, "staff:audit.gz@440100") || !strings.Contains(got, "no epidemic ground") {
		t.Errorf("the refusal: got %q", got)
	}
	if o, err := n.Override(o.ID); err != nil || o.Status != node.OverrideRefused || o.Refusal == nil || o.Refusal.By.Account != "audit.gz" {
		t.Fatalf("after the auditor's refusal: %+v, %v", o, err)
	}
}

// Staff pages send a browser without a session to the sign-in page and
// back; the nav shows each account only the pages its roles may use; the
// console passes only its own pages' calls, with the session, to the API.
func TestRecoursePagesNeedStaff(t *testing.T) {
	rc := newRecourse(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, session string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", rc.srvURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if session != "" {
			req.AddCookie(&http.Cookie{Name: "hc_staff", Value: session})
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}
	for _, tc := range []struct{ path, want string }{
		{"/overrides", "/login?next=%2Foverrides"},
		{"/appeals", "/login?next=%2Fappeals"},
		{"/abuse-alerts?lang=en", "/login?next=%2Fabuse-alerts%3Flang%3Den&lang=en"},
	} {
		res, _ := get(tc.path, "", nil)
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != tc.want {
			t.Errorf("%s without a session: %d to %q, want 303 to %q", tc.path, res.StatusCode, loc, tc.want)
		}
	}
	if res, body := get("/login?next=%2Fappeals&lang=en", "", nil); res.StatusCode != 200 || !strings.Contains(body, `name="next" value="/appeals"`) ||
		!strings.Contains(body, "Staff sign-in") {
		t.Errorf("the sign-in page: %d, want the form returning to /appeals", res.StatusCode)
	}
	if _, body := get("/", "", nil); strings.Contains(body, `href="/overrides"`) || !strings.Contains(body, `id="signin"`) {
		t.Errorf("the overview without a session links staff pages, or has no sign-in link")
	}

	official := signInOfficial(t, rc, "li.ming")
	community := signIn(t, rc.n, "wu.community", "community", "440106")
	_, body := get("/", official, nil)
	if !strings.Contains(body, `href="/overrides"`) || !strings.Contains(body, `href="/appeals"`) || strings.Contains(body, `href="/abuse-alerts"`) ||
		strings.Contains(body, `href="/cases"`) || !strings.Contains(body, "li.ming@440106") {
		t.Errorf("an official's nav: want manual codes and appeals, not abuse alerts or cases")
	}
	if res, body := get("/overrides", community, nil); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "需要以下角色之一：行政官员") {
		t.Errorf("a community worker at /overrides: %d, want 403 naming the official role", res.StatusCode)
	}

	api := map[string]string{"X-HC-Console": "1"}
	for _, tc := range []struct {
		name, path, session string
		header              map[string]string
		status              int
		code                string
	}{
		{"no header", "/console/api/v1/overrides", official, nil, 403, "cross_site"},
		{"cross-site", "/console/api/v1/overrides", official, map[string]string{"X-HC-Console": "1", "Sec-Fetch-Site": "cross-site"}, 403, "cross_site"},
		{"no session", "/console/api/v1/overrides", "", api, 401, "not_signed_in"},
		{"ended session", "/console/api/v1/overrides", "hcs_nosuchsession", api, 401, "invalid_token"},
		{"not the console's", "/console/api/v1/persons/p1/code", official, api, 404, "no_such_endpoint"},
		{"the API refuses", "/console/api/v1/overrides", community, api, 403, "role_not_allowed"},
		{"the API refuses a region", "/console/api/v1/overrides?region=440300", official, api, 403, "outside_region"},
		{"allowed", "/console/api/v1/overrides", official, api, 200, ""},
	} {
		res, body := get(tc.path, tc.session, tc.header)
		var m struct {
			Region string `json:"region"`
			Error  struct{ Code string }
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil || res.StatusCode != tc.status || m.Error.Code != tc.code {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, res.StatusCode, body, tc.status, tc.code)
		}
		if tc.status == 200 && m.Region != "440106" {
			t.Errorf("%s: the list's region is %q, want the account's", tc.name, m.Region)
		}
	}

	res, body := get("/region-names?codes=440106,000000,999999", "", nil)
	var names map[string]struct{ Name, Level string }
	if err := json.Unmarshal([]byte(body), &names); err != nil || res.StatusCode != 200 {
		t.Fatalf("region names: %d %s", res.StatusCode, body)
	}
	if got := names["440106"]; got.Name != "广东省 广州市 天河区" || got.Level != "county" || names["000000"].Level != "national" || len(names) != 2 {
		t.Errorf("region names: got %+v", names)
	}
	// Signing out ends the session.
	req, _ := http.NewRequest("POST", rc.srvURL+"/logout", nil)
	req.AddCookie(&http.Cookie{Name: "hc_staff", Value: official})
	if res, err := noRedirect.Do(req); err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %v %v", res, err)
	}
	if _, ok := rc.n.Authenticate(official); ok {
		t.Errorf("the session still works after signing out")
	}
	if res, _ := get("/overrides", official, nil); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?") {
		t.Errorf("/overrides after signing out: %d, want the sign-in page", res.StatusCode)
	}
}

// signInOfficial returns a session of an account of newRecourse (with its
// second factor).
func signInOfficial(t *testing.T, rc *recourse, user string) string {
	t.Helper()
	code, err := staff.TOTPCode(rc.secrets[user], rc.n.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rc.n.Login(context.Background(), user, testPassword, code, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
