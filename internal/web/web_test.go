package web_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"healthcode/internal/health"
	"healthcode/internal/httpapi"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
	"healthcode/internal/web"
)

// chromiumPath finds a Chromium; under CI a missing browser fails the test
// instead of skipping it.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("HEALTHCODE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found; CI must install the chromium package")
	}
	t.Skip("no Chromium found (apt-get install chromium); required under CI")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// The first call starts the browser and must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// page drives one tab and fails the test at the first error.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

func (p page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func server(t *testing.T) (*nodetest.Node, *httptest.Server) {
	n := nodetest.Start(t, "", nil)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Node: n.Node,
		Web: web.New(web.Config{Node: n.Node, Regions: n.Regions})}))
	t.Cleanup(srv.Close)
	return n, srv
}

func TestConsoleShowsRedCodeWithReasonInChinese(t *testing.T) {
	n, srv := server(t)
	ctx := context.Background()
	res, err := n.Enrol(ctx, "test", []node.Enrolment{
		{IDNumber: nodetest.IDNumber(1), Name: "张三", Phone: "13800138000", HomeRegion: "440106"},
		{IDNumber: nodetest.IDNumber(2), Name: "李四", Phone: "13800138001", HomeRegion: "440106"},
	})
	if err != nil {
		t.Fatal(err)
	}
	red := res[0]
	if _, err := n.UploadResults(ctx, "test", "lab1", []node.ResultInput{{SampleID: "S1", Person: red.Person,
		SampledAt: n.Clock.Now().Add(-time.Hour), Result: health.Positive}}); err != nil {
		t.Fatal(err)
	}
	p := page{t, browser(t)}
	p.do(chromedp.Navigate(srv.URL + "/"))
	overview := p.text("#n-red")
	p.do(chromedp.Navigate(srv.URL+"/code"),
		chromedp.SendKeys(chromedp.CSS("#pid"), health.PersonID(red.Person)),
		chromedp.SendKeys(chromedp.CSS("#tok"), red.Token),
		chromedp.Click(chromedp.CSS("#show")),
		chromedp.WaitVisible(chromedp.CSS("#code-box")))
	colour, reasons := p.text("#colour"), p.text("#reasons")
	qr, err := chromedp.Run(p.ctx, chromedp.AttributeValue(chromedp.CSS("#qr"), "src"))
	if err != nil {
		t.Fatal(err)
	}
	qrSrc := qr.Value
	if !strings.HasPrefix(overview, "1 ") {
		t.Errorf("overview red count: got %q, want 1", overview)
	}
	if colour != "红码" {
		t.Errorf("colour: got %q, want 红码", colour)
	}
	if !strings.Contains(reasons, "核酸检测阳性") || !strings.Contains(reasons, "positive-result v1") {
		t.Errorf("reasons: got %q, want the positive-result rule in Chinese", reasons)
	}
	if !strings.HasPrefix(qrSrc, "/qr.png?text=HCC1%3A") { // the signed token
		t.Errorf("qr: got %q", qrSrc)
	}
}

func TestConsoleEnglishAndRejectsWrongToken(t *testing.T) {
	n, srv := server(t)
	res, err := n.Enrol(context.Background(), "test", []node.Enrolment{{IDNumber: nodetest.IDNumber(3), Name: "王五", Phone: "13800138002", HomeRegion: "440106"}})
	if err != nil {
		t.Fatal(err)
	}
	p := page{t, browser(t)}
	p.do(chromedp.Navigate(srv.URL + "/code?lang=en"))
	heading := p.text("h1")
	p.do(chromedp.SendKeys(chromedp.CSS("#pid"), health.PersonID(res[0].Person)),
		chromedp.SendKeys(chromedp.CSS("#tok"), "pt1.1.forged"),
		chromedp.Click(chromedp.CSS("#show")),
		chromedp.WaitVisible(chromedp.CSS("#err:not(:empty)")))
	errText := p.text("#err")
	p.do(chromedp.SetValue(chromedp.CSS("#tok"), res[0].Token),
		chromedp.Click(chromedp.CSS("#show")),
		chromedp.WaitVisible(chromedp.CSS("#code-box")))
	colour := p.text("#colour")
	if heading != "View a code" {
		t.Errorf("heading: got %q, want the English title", heading)
	}
	if !strings.Contains(errText, "invalid_token") {
		t.Errorf("error: got %q, want invalid_token", errText)
	}
	if colour != "Green" {
		t.Errorf("colour: got %q, want Green", colour)
	}
}
