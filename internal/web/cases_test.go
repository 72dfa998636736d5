package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"healthcode/internal/node"
	"healthcode/internal/nodetest"
	"healthcode/internal/staff"
)

// investigation is a small tracing scenario: case A (home 440106) with
// four stops, one at home, and case B (home 440103) sharing A's
// restaurant stop; B's trajectory is approved, A is assigned to 440103.
type investigation struct {
	n              *nodetest.Node
	caseA, caseB   string
	secrets        []string // names, ID numbers, phones and A's home: never on a page
	restaurant     string
	findingA       map[string]string // A's outside-infectious-period finding, by language
	srvURL         string
	session        string // of "inv", a national investigator
	T              time.Time
	homeName, trip string
}

func newInvestigation(t *testing.T) *investigation {
	t.Helper()
	n, srv := server(t)
	ctx := context.Background()
	inv := &investigation{n: n, srvURL: srv.URL, restaurant: "海底捞(天河店)", homeName: "幸福里小区",
		trip: "G1234 2022-06-05", T: time.Date(2022, 6, 5, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	inv.session = signIn(t, n, "inv", "investigator", staff.NationalRegion)
	people := []node.Enrolment{
		{IDNumber: nodetest.IDNumber(201), Name: "欧阳明", Phone: "13912345678", HomeRegion: "440106"},
		{IDNumber: nodetest.IDNumber(202), Name: "司马青", Phone: "13987654321", HomeRegion: "440103"},
	}
	for _, p := range people {
		inv.secrets = append(inv.secrets, p.IDNumber, p.Name, p.Phone)
	}
	inv.secrets = append(inv.secrets, inv.homeName)
	res, err := n.Enrol(ctx, "t", people)
	check(err)
	place := func(name, kind string) uint32 {
		id, err := n.RegisterPlace(ctx, "t", node.PlaceInput{Name: name, Kind: kind, Region: "440106", Lat: 23.13, Lng: 113.32})
		check(err)
		return id
	}
	r1, m1, home := place(inv.restaurant, "restaurant"), place("天河城", "mall"), place(inv.homeName, "residence")
	T, h := inv.T, time.Hour
	a, err := n.OpenCase(ctx, "staff:li@440106", node.CaseInput{Person: res[0].Person, Classification: node.Confirmed,
		Onset: T.Add(48 * h), Site: "GZ01", IsolatedAt: T.Add(72 * h)})
	check(err)
	b, err := n.OpenCase(ctx, "staff:wu@440103", node.CaseInput{Person: res[1].Person, Classification: node.Asymptomatic,
		FirstPositive: T.Add(48*h + 30*time.Minute), Site: "GZ02", IsolatedAt: T.Add(72 * h)})
	check(err)
	inv.caseA, inv.caseB = a.ID, b.ID
	_, err = n.ReplaceStops(ctx, "staff:li@440106", a.ID, []node.StopInput{
		{Place: m1, From: T.Add(-10 * h), To: T.Add(-9 * h)}, // before the infectious period: a finding
		{Place: r1, From: T.Add(h), To: T.Add(2 * h)},
		{Transport: &node.Transport{Trip: inv.trip, Carriage: "05", Seat: "12F"}, From: T.Add(5 * h), To: T.Add(8 * h)},
		{Place: home, From: T.Add(20 * h), To: T.Add(30 * h), Home: true}, // after a 12h gap: a finding naming home
	})
	check(err)
	_, err = n.ReplaceStops(ctx, "staff:wu@440103", b.ID, []node.StopInput{{Place: r1, From: T.Add(h), To: T.Add(100 * time.Minute)}})
	check(err)
	_, err = n.ReviewStops(ctx, "staff:zhao@440103", b.ID, 1, node.Approved, "", nil)
	check(err)
	_, err = n.AssignCase(ctx, "staff:li@440106", a.ID, "440103", "wu")
	check(err)
	_, fs, err := n.AutoReview(a.ID)
	check(err)
	for _, f := range fs {
		if f.Code == "outside_infectious_period" {
			inv.findingA = f.Message
		}
	}
	if inv.findingA == nil {
		t.Fatalf("case A's review has no outside_infectious_period finding: %+v", fs)
	}
	return inv
}

func (inv *investigation) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", inv.srvURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "hc_staff", Value: inv.session})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func TestCasePages(t *testing.T) {
	inv := newInvestigation(t)
	a, b := inv.caseA, inv.caseB
	tests := []struct {
		name, path string
		want       []string
		wantStatus int
	}{
		{"list zh", "/cases", []string{`<a href="/cases">流调</a>`, `href="/cases/` + a + `"`, `href="/cases/` + b + `"`,
			"确诊", "无症状", "广州市 天河区", "广州市 荔湾区", "待审核", "已通过", "4 个地点", "GZ01", "荔湾区 · wu"}, http.StatusOK},
		{"list en", "/cases?lang=en", []string{`<a href="/cases?lang=en">Cases</a>`, `href="/cases/` + a + `?lang=en"`,
			"Confirmed", "Asymptomatic", "Pending review", "Approved", "4 stops"}, http.StatusOK},
		{"case zh", "/cases/" + a, []string{"<h1>病例流调</h1>", a, html.EscapeString(inv.restaurant), inv.trip, "车厢 05", "座位 12F",
			"staff:li@440106", "住址（不显示）", html.EscapeString(inv.findingA["zh"]), "不在传染期内", "行程空白",
			`<div class="chain" id="chain"><svg`, "传播链", `href="/cases/` + b + `"`, "共同暴露地点", "v1", "待审核"}, http.StatusOK},
		{"case en", "/cases/" + a + "?lang=en", []string{"<h1>Case investigation</h1>", a, html.EscapeString(inv.restaurant),
			"carriage 05", "Home (not shown)", html.EscapeString(inv.findingA["en"]), "Outside the infectious period",
			`<div class="chain" id="chain"><svg`, "Chain of transmission", `href="/cases/` + b + `?lang=en"`, "Pending review"}, http.StatusOK},
		{"other case zh", "/cases/" + b, []string{b, "已通过", "staff:zhao@440103", "首次阳性", `href="/cases/` + a + `"`, "<svg"}, http.StatusOK},
		{"unknown case zh", "/cases/GZ09-20220605-001", []string{"没有此病例", "GZ09-20220605-001", `<a href="/cases">`}, http.StatusNotFound},
		{"unknown case en", "/cases/GZ09-20220605-001?lang=en", []string{"No such case", "<h1>Not found</h1>"}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := inv.get(t, tt.path)
			if status != tt.wantStatus {
				t.Errorf("status: got %d, want %d", status, tt.wantStatus)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page has no %q", w)
				}
			}
			for _, s := range inv.secrets {
				if strings.Contains(body, s) {
					t.Errorf("page shows %q (a name, ID number, phone or home address)", s)
				}
			}
		})
	}
}

func TestCaseListLinksToChainPicture(t *testing.T) {
	inv := newInvestigation(t)
	p := page{t, browser(t)}
	// The pages are for investigators: the browser signs in first.
	p.do(chromedp.Navigate(inv.srvURL+"/cases"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#username"), "inv"),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.Click(chromedp.CSS(`#cases a[href="/cases/`+inv.caseA+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#chain svg")))
	id := p.text("#case-id")
	size, err := chromedp.Run(p.ctx, chromedp.Evaluate[struct{ W, H float64 }](
		`(() => { const r = document.querySelector("#chain svg").getBoundingClientRect(); return {W: r.width, H: r.height}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	title := p.text("#chain svg title")
	if id != inv.caseA {
		t.Errorf("case page: got case %q, want %q", id, inv.caseA)
	}
	if size.W <= 0 || size.H <= 0 {
		t.Errorf("chain picture: got %gx%g, want a non-zero size", size.W, size.H)
	}
	if !strings.Contains(title, inv.caseA) {
		t.Errorf("chain picture title: got %q, want it to name %s", title, inv.caseA)
	}
}

// Without a session the pages send the browser to the sign-in form and show
// no trajectory; a wrong password does not sign in; an account of another
// county sees only the cases of its county (and those assigned to it), and
// one without the investigator role none.
func TestCasePagesNeedStaff(t *testing.T) {
	inv := newInvestigation(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/cases", "/cases/" + inv.caseA} {
		res, err := noRedirect.Get(inv.srvURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		shows := strings.Contains(string(b), html.EscapeString(inv.restaurant)) || strings.Contains(string(b), `id="chain"`)
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || shows || loc != "/login?next="+url.QueryEscape(path) {
			t.Errorf("%s without sign-in: %d to %q, shows the case %v", path, res.StatusCode, loc, shows)
		}
	}
	for _, tc := range []struct {
		password string
		want     int
	}{{"wrong password!", http.StatusUnauthorized}, {testPassword, http.StatusSeeOther}} {
		res, err := noRedirect.PostForm(inv.srvURL+"/login", map[string][]string{"username": {"inv"}, "password": {tc.password}, "next": {"//evil.example"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("login with %q: %d, want %d", tc.password, res.StatusCode, tc.want)
		}
		if tc.want == http.StatusSeeOther && res.Header.Get("Location") != "/cases" {
			t.Errorf("login redirects to %q, want /cases (never another host)", res.Header.Get("Location"))
		}
	}
}

const testPassword = "correct horse battery staple"

// signIn makes an account without a second factor and returns its session.
func signIn(t *testing.T, n *nodetest.Node, user, roles, region string) string {
	t.Helper()
	rs, err := staff.ParseRoles(roles)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := n.AddAccount(ctx, "test", node.AccountInput{Username: user, Roles: rs, Region: region, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := n.Login(ctx, user, testPassword, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCasePagesByRegionAndRole(t *testing.T) {
	inv := newInvestigation(t)
	// Case A (440106) is assigned to 440103, case B is 440103's own.
	for _, tc := range []struct {
		user, roles, region string
		path                string
		want                int
	}{
		{"tianhe", "investigator", "440106", "/cases/" + inv.caseA, http.StatusOK},
		{"tianhe", "", "", "/cases/" + inv.caseB, http.StatusForbidden},
		{"liwan", "investigator", "440103", "/cases/" + inv.caseA, http.StatusOK}, // assigned to 440103
		{"shenzhen", "investigator", "440300", "/cases/" + inv.caseA, http.StatusForbidden},
		{"lab1", "lab", "440106", "/cases/" + inv.caseA, http.StatusForbidden},
		{"lab1", "", "", "/cases", http.StatusForbidden},
	} {
		if tc.roles != "" {
			inv.session = signIn(t, inv.n, tc.user, tc.roles, tc.region)
		}
		status, body := inv.get(t, tc.path)
		if status != tc.want {
			t.Errorf("%s %s: got %d, want %d", tc.user, tc.path, status, tc.want)
		}
		if tc.want == http.StatusForbidden && strings.Contains(body, html.EscapeString(inv.restaurant)) {
			t.Errorf("%s %s: refused, but the page shows the trajectory", tc.user, tc.path)
		}
	}
	// The list shows only what the account may open.
	inv.session = signIn(t, inv.n, "shenzhen2", "investigator", "440300")
	if _, body := inv.get(t, "/cases"); strings.Contains(body, inv.caseA) || strings.Contains(body, inv.caseB) {
		t.Errorf("a Shenzhen investigator's list shows Guangzhou cases")
	}
}
