package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
)

// idNumber returns a valid synthetic ID number for any k >= 0 (region
// 410105, so never one of nodetest.IDNumber's).
func idNumber(k int) string {
	birth := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k/900)
	base := "410105" + birth.Format("20060102") + fmt.Sprintf("%03d", 100+k%900)
	return base + string(health.IDCheckDigit(base))
}

// enrolHomes enrols one person per home region, by actor in one batch,
// with ID numbers from serial on.
func enrolHomes(t *testing.T, n *nodetest.Node, actor string, serial int, homes []string) []uint32 {
	t.Helper()
	in := make([]node.Enrolment, len(homes))
	for i, h := range homes {
		in[i] = node.Enrolment{IDNumber: idNumber(serial + i), Name: "测试", Phone: "13800138000", HomeRegion: h}
	}
	res, err := n.Enrol(context.Background(), actor, in)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, len(res))
	for i, r := range res {
		if r.Existing {
			t.Fatalf("enrolment %d: ID number %s already enrolled", i, idNumber(serial+i))
		}
		out[i] = r.Person
	}
	return out
}

func repeat(s string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = s
	}
	return out
}

func colourOf(t *testing.T, n *nodetest.Node, p uint32) health.Colour {
	t.Helper()
	v, err := n.Code(p)
	if err != nil {
		t.Fatal(err)
	}
	return v.Colour
}

// countColour counts the persons whose code has colour c.
func countColour(t *testing.T, n *nodetest.Node, ps []uint32, c health.Colour) int {
	t.Helper()
	k := 0
	for _, p := range ps {
		if colourOf(t, n, p) == c {
			k++
		}
	}
	return k
}

func wantErr(t *testing.T, what string, err error, kind health.Kind, code string) {
	t.Helper()
	var e *health.Error
	if err == nil || health.KindOf(err) != kind || !asError(err, &e) || e.Code != code {
		t.Fatalf("%s: got %v, want a %s error %q", what, err, kind, code)
	}
}

func asError(err error, e **health.Error) bool { return errors.As(err, e) }

func checks(as []node.AbuseAlert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Check)
	}
	slices.Sort(out)
	return out
}

// caseWorld is a Guangzhou case with five close contacts found by phone,
// all living in 天河区 (440106), and two officials of that county.
type caseWorld struct {
	n        *nodetest.Node
	ctx      context.Context
	caseSeq  uint64 // the case_opened event
	contacts []uint32
	li, zhao node.Official
}

func newCaseWorld(t *testing.T, dir string, clock *nodetest.Clock) *caseWorld {
	n := nodetest.Start(t, dir, clock)
	ctx := context.Background()
	w := &caseWorld{n: n, ctx: ctx, li: node.Official{Account: "li", Region: "440106"}, zhao: node.Official{Account: "zhao", Region: "440106"}}
	ps := enrolHomes(t, n, "t", 0, repeat("440106", 6))
	now := n.Clock.Now()
	c := must(n.OpenCase(ctx, "staff:li@440106", node.CaseInput{Person: ps[0], Classification: node.Confirmed,
		Onset: now.Add(-48 * time.Hour), Site: "GZ01", IsolatedAt: now.Add(-time.Hour)}))
	w.caseSeq, w.contacts = c.Seq, ps[1:]
	return w
}

func (w *caseWorld) request(t *testing.T, until time.Duration) node.Override {
	t.Helper()
	o, alerts, err := w.n.RequestOverride(w.ctx, w.li, node.OverrideInput{Persons: w.contacts, Colour: "red", Reason: "close_contact_by_phone",
		Evidence: []string{health.EventID(w.caseSeq), "doc:电话流调记录 GZ01-20220611-001 第3页"}, Until: w.n.Clock.Now().Add(until)})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 0 {
		t.Fatalf("a legitimate request raised alerts: %+v", alerts)
	}
	return o
}

// TestOverrideAppliesOnlyAfterApproval: the legitimate batch: five close
// contacts confirmed by phone, citing the case. Nothing changes while it is
// pending; once a second official approves it the codes are red, and each
// reason cites the rule and the approval and request events; the person
// sees the ground, the authority and the appeal route.
func TestOverrideAppliesOnlyAfterApproval(t *testing.T) {
	w := newCaseWorld(t, "", nil)
	n, ctx := w.n, w.ctx
	o := w.request(t, 7*24*time.Hour)
	if o.Status != node.OverridePending || o.Held || o.ID != node.OverrideID(o.Seq) || o.Reason.Code != "close_contact_by_phone" {
		t.Fatalf("new request: %+v, want pending and not held", o)
	}
	if got := countColour(t, n, w.contacts, health.Green); got != 5 {
		t.Fatalf("%d of 5 codes green while pending, want 5", got)
	}
	a := must(n.ApproveOverride(ctx, w.zhao, o.ID, "已电话核实"))
	if a.Status != node.OverrideActive || a.Approval == nil || a.Approval.By != w.zhao {
		t.Fatalf("approved: %+v, want active, approved by zhao", a)
	}
	for _, p := range w.contacts {
		v := must(n.Code(p))
		want := []health.Reason{{Rule: "manual-override-red", RuleVersion: 1, Colour: health.Red,
			Evidence: []uint64{a.Approval.Seq, o.Seq}, Until: o.Until}}
		ignoreTitle := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Title" }, cmp.Ignore())
		if v.Colour != health.Red || cmp.Diff(want, v.Reasons, ignoreTitle) != "" {
			t.Fatalf("%s after approval: %v %+v, want red citing manual-override-red v1, %s and %s", health.PersonID(p), v.Colour, v.Reasons,
				health.EventID(a.Approval.Seq), health.EventID(o.Seq))
		}
		if v.Reasons[0].Title["zh"] == "" || v.Reasons[0].Title["en"] == "" {
			t.Errorf("reason title %v, want zh and en", v.Reasons[0].Title)
		}
	}
	notes := must(n.PersonOverrides(w.contacts[0]))
	if len(notes) != 1 {
		t.Fatalf("person overrides: %+v, want one", notes)
	}
	nt := notes[0]
	if nt.Reason.Title["en"] != "Close contact confirmed by phone investigation" || nt.Authority != "440106" || nt.AuthorityName == "" ||
		nt.Appeal.Region != "440106" || nt.Appeal.Escalation != "440100" || nt.Appeal.Deadline != 24*time.Hour || !nt.Until.Equal(o.Until) {
		t.Errorf("person's notice: %+v", nt)
	}
	// The case's person is not in the batch and stays green.
	if c := colourOf(t, n, w.contacts[0]-1); c != health.Green {
		t.Errorf("the case person (not in the batch): %v", c)
	}
}

// TestOverrideFourEyes: no self-approval, the approver must cover every
// person, and the level must meet the batch size for both signatures.
func TestOverrideFourEyes(t *testing.T) {
	w := newCaseWorld(t, "", nil)
	n, ctx := w.n, w.ctx
	o := w.request(t, 7*24*time.Hour)
	_, err := n.ApproveOverride(ctx, w.li, o.ID, "")
	wantErr(t, "self-approval", err, health.Permission, "own_request")
	// Another account of the same person's region is still a second official;
	// an official of another county does not cover the persons.
	_, err = n.ApproveOverride(ctx, node.Official{Account: "he", Region: "440103"}, o.ID, "")
	wantErr(t, "approval from another county", err, health.Permission, "outside_region")
	_, err = n.ApproveOverride(ctx, node.Official{Account: "x", Region: "4401"}, o.ID, "")
	wantErr(t, "approval by a malformed region", err, health.Permission, "invalid_official")
	if got := must(n.Override(o.ID)); got.Status != node.OverridePending || got.Approval != nil {
		t.Fatalf("after refused approvals: %+v, want still pending", got)
	}
	must(n.ApproveOverride(ctx, w.zhao, o.ID, ""))
	_, err = n.ApproveOverride(ctx, node.Official{Account: "wang", Region: "440106"}, o.ID, "")
	wantErr(t, "a second approval", err, health.Conflict, "override_active")

	// 21 persons need the city; 501 the province.
	now := n.Clock.Now()
	batch := enrolHomes(t, n, "t", 100, repeat("440106", 501))
	in := node.OverrideInput{Persons: batch[:21], Colour: "yellow", Reason: "close_contact_by_phone",
		Evidence: []string{health.EventID(w.caseSeq)}, Until: now.Add(3 * 24 * time.Hour)}
	before := n.Stats().Events
	_, _, err = n.RequestOverride(ctx, w.li, in)
	wantErr(t, "21 persons by a county official", err, health.Permission, "insufficient_level")
	if !strings.Contains(err.Error(), "city level") {
		t.Errorf("error %q does not name the level needed", err)
	}
	if got := n.Stats().Events; got != before {
		t.Fatalf("a refused request wrote %d events", got-before)
	}
	chen, lin := node.Official{Account: "chen", Region: "440100"}, node.Official{Account: "lin", Region: "440100"}
	o21, _, err := n.RequestOverride(ctx, chen, in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.ApproveOverride(ctx, w.zhao, o21.ID, "")
	wantErr(t, "21 persons approved by a county official", err, health.Permission, "insufficient_level")
	if a := must(n.ApproveOverride(ctx, lin, o21.ID, "")); a.Approval == nil {
		t.Fatalf("approval by a second city official: %+v", a)
	}
	in.Persons = batch
	_, _, err = n.RequestOverride(ctx, chen, in)
	wantErr(t, "501 persons by a city official", err, health.Permission, "insufficient_level")
	if !strings.Contains(err.Error(), "province level") {
		t.Errorf("error %q does not name the level needed", err)
	}
	if _, _, err := n.RequestOverride(ctx, node.Official{Account: "gd", Region: "440000"}, in); err != nil {
		t.Fatalf("501 persons by a province official: %v", err)
	}
	// A person seen nowhere in the region is outside its authority.
	far := enrolHomes(t, n, "t", 700, []string{"110105"})
	in.Persons = append(slices.Clone(w.contacts), far[0])
	_, _, err = n.RequestOverride(ctx, w.li, in)
	wantErr(t, "a Beijing resident by a Guangzhou county official", err, health.Permission, "outside_region")
}

// TestOverrideRequestValidation: every malformed request is refused with an
// Invalid error naming the field, and writes nothing.
func TestOverrideRequestValidation(t *testing.T) {
	w := newCaseWorld(t, "", nil)
	n, ctx := w.n, w.ctx
	outsider := enrolHomes(t, n, "t", 50, []string{"440106"})[0]
	must(n.UploadResults(ctx, "lab:1", "lab1", []node.ResultInput{{SampleID: "S1", Person: outsider, SampledAt: n.Clock.Now().Add(-time.Hour), Result: health.Positive}}))
	pl := must(n.RegisterPlace(ctx, "t", node.PlaceInput{Name: "天河城", Kind: "mall", Region: "440106", Lat: 23.13, Lng: 113.32}))
	var testSeq uint64
	for s := uint64(1); s <= uint64(n.Stats().Events); s++ {
		if e := must(n.Event(ctx, s)); e.Kind == health.EvTestResult {
			testSeq = s
		}
	}
	placeSeq := must(n.Place(pl)).Seq
	now := n.Clock.Now()
	good := func() node.OverrideInput {
		return node.OverrideInput{Persons: slices.Clone(w.contacts), Colour: "red", Reason: "close_contact_by_phone",
			Evidence: []string{health.EventID(w.caseSeq)}, Until: now.Add(24 * time.Hour)}
	}
	rows := []struct {
		name        string
		edit        func(in *node.OverrideInput)
		code, field string
	}{
		{"no persons", func(in *node.OverrideInput) { in.Persons = nil }, "invalid_persons", "persons"},
		{"unknown person", func(in *node.OverrideInput) { in.Persons[1] = 99999 }, "unknown_person", "persons[1]"},
		{"duplicate person", func(in *node.OverrideInput) { in.Persons[2] = in.Persons[0] }, "duplicate_person", "persons[2]"},
		{"green", func(in *node.OverrideInput) { in.Colour = "green" }, "invalid_colour", "colour"},
		{"no colour", func(in *node.OverrideInput) { in.Colour = "" }, "invalid_colour", "colour"},
		{"unknown reason", func(in *node.OverrideInput) { in.Reason = "petition" }, "invalid_reason", "reason"},
		{"colour beyond the ground", func(in *node.OverrideInput) { in.Reason = "fever_clinic_visit" }, "colour_not_allowed", "colour"},
		{"no evidence", func(in *node.OverrideInput) { in.Evidence = nil }, "missing_evidence", "evidence"},
		{"unknown event", func(in *node.OverrideInput) { in.Evidence = append(in.Evidence, "e999999") }, "unknown_evidence", "evidence[1]"},
		{"malformed reference", func(in *node.OverrideInput) { in.Evidence = []string{"bank-list.xlsx"} }, "invalid_evidence", "evidence[0]"},
		{"empty document", func(in *node.OverrideInput) { in.Evidence = []string{"doc: "} }, "invalid_evidence", "evidence[0]"},
		{"not epidemic", func(in *node.OverrideInput) { in.Evidence = []string{health.EventID(placeSeq)} }, "evidence_not_epidemic", "evidence[0]"},
		{"someone else's test", func(in *node.OverrideInput) { in.Evidence = []string{health.EventID(testSeq)} }, "evidence_unrelated", "evidence[0]"},
		{"no expiry", func(in *node.OverrideInput) { in.Until = time.Time{} }, "missing_field", "until"},
		{"over 14 days", func(in *node.OverrideInput) { in.Until = now.Add(14*24*time.Hour + time.Minute) }, "invalid_until", "until"},
		{"expiry in the past", func(in *node.OverrideInput) { in.Until = now.Add(-time.Minute) }, "invalid_until", "until"},
		{"long note", func(in *node.OverrideInput) { in.Note = strings.Repeat("x", 501) }, "invalid_note", "note"},
	}
	before := n.Stats().Events
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			in := good()
			r.edit(&in)
			_, _, err := n.RequestOverride(ctx, w.li, in)
			var e *health.Error
			if health.KindOf(err) != health.Invalid || !asError(err, &e) || e.Code != r.code || e.Field != r.field {
				t.Fatalf("got %v, want invalid %s at %s", err, r.code, r.field)
			}
		})
	}
	if got := n.Stats().Events; got != before {
		t.Fatalf("refused requests wrote %d events", got-before)
	}
	// The good request itself passes, and exactly 14 days is allowed.
	in := good()
	in.Until = now.Add(14 * 24 * time.Hour)
	if _, _, err := n.RequestOverride(ctx, w.li, in); err != nil {
		t.Fatalf("a valid request: %v", err)
	}
}

// TestOverrideExpiresByItself: the scheduler turns the code back to green
// at the override's expiry, with nobody acting.
func TestOverrideExpiresByItself(t *testing.T) {
	w := newCaseWorld(t, "", nil)
	n, ctx := w.n, w.ctx
	o := w.request(t, 48*time.Hour)
	must(n.ApproveOverride(ctx, w.zhao, o.ID, ""))
	p := w.contacts[0]
	if v := must(n.Code(p)); v.Colour != health.Red || !v.NextEval.Equal(o.Until) {
		t.Fatalf("approved: %v next %v, want red until %v", v.Colour, v.NextEval, o.Until)
	}
	n.Clock.Add(47 * time.Hour)
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if c := colourOf(t, n, p); c != health.Red {
		t.Fatalf("an hour before the expiry: %v, want red", c)
	}
	n.Clock.Add(time.Hour + time.Minute)
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countColour(t, n, w.contacts, health.Green); got != 5 {
		t.Fatalf("after the expiry %d of 5 codes are green", got)
	}
	if st := must(n.Override(o.ID)).Status; st != node.OverrideExpired {
		t.Errorf("status after the expiry: %s, want expired", st)
	}
	if notes := must(n.PersonOverrides(p)); len(notes) != 0 {
		t.Errorf("person overrides after the expiry: %+v", notes)
	}
	_, err := n.RevokeOverride(ctx, w.li, o.ID, "too late")
	wantErr(t, "revoking an expired override", err, health.Conflict, "override_expired")
}

// TestOverrideRevoke: revoking an active override turns the codes back at
// once; a revocation needs a note and standing.
func TestOverrideRevoke(t *testing.T) {
	w := newCaseWorld(t, "", nil)
	n, ctx := w.n, w.ctx
	o := w.request(t, 7*24*time.Hour)
	must(n.ApproveOverride(ctx, w.zhao, o.ID, ""))
	if got := countColour(t, n, w.contacts, health.Red); got != 5 {
		t.Fatalf("%d of 5 red after approval", got)
	}
	_, err := n.RevokeOverride(ctx, w.li, o.ID, "")
	wantErr(t, "revocation without a note", err, health.Invalid, "missing_field")
	_, err = n.RevokeOverride(ctx, node.Official{Account: "he", Region: "440103"}, o.ID, "not mine")
	wantErr(t, "revocation by another county", err, health.Permission, "outside_region")
	r := must(n.RevokeOverride(ctx, w.li, o.ID, "核酸结果已出，排除密接"))
	if r.Status != node.OverrideRevoked || r.Revocation == nil || r.Revocation.Note == "" {
		t.Fatalf("revoked: %+v", r)
	}
	if got := countColour(t, n, w.contacts, health.Green); got != 5 {
		t.Fatalf("%d of 5 green after the revocation", got)
	}
	_, err = n.RevokeOverride(ctx, w.li, o.ID, "again")
	wantErr(t, "second revocation", err, health.Conflict, "override_revoked")
	// A pending request can be withdrawn; it is never applied.
	o2 := w.request(t, 7*24*time.Hour)
	must(n.RevokeOverride(ctx, w.li, o2.ID, "撤回"))
	_, err = n.ApproveOverride(ctx, w.zhao, o2.ID, "")
	wantErr(t, "approving a withdrawn request", err, health.Conflict, "override_revoked")
	if got := countColour(t, n, w.contacts, health.Green); got != 5 {
		t.Fatalf("%d of 5 green after a withdrawn request", got)
	}
}

// TestOverrideRebuild: the overrides, their alerts and the codes they make
// are rebuilt from the log at start.
func TestOverrideRebuild(t *testing.T) {
	dir := t.TempDir()
	clock := nodetest.NewClock(time.Date(2022, 6, 11, 2, 0, 0, 0, time.UTC))
	w := newCaseWorld(t, dir, clock)
	n, ctx := w.n, w.ctx
	active := w.request(t, 7*24*time.Hour)
	must(n.ApproveOverride(ctx, w.zhao, active.ID, ""))
	refused := w.request(t, 7*24*time.Hour)
	must(n.RefuseOverride(ctx, w.zhao, refused.ID, "证据不足"))
	// A request for persons without evidence: alerted, approved, held.
	other := enrolHomes(t, n, "t", 60, repeat("440106", 3))
	held, alerts, err := n.RequestOverride(ctx, w.li, node.OverrideInput{Persons: other, Colour: "yellow", Reason: "fever_clinic_visit",
		Evidence: []string{"doc:发热门诊登记"}, Until: clock.Now().Add(5 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) == 0 {
		t.Fatal("a request without epidemic evidence raised no alert")
	}
	must(n.ApproveOverride(ctx, w.zhao, held.ID, ""))
	clock.Add(time.Hour)
	before := n.Overrides(node.OverrideFilter{})
	beforeAlerts := n.AbuseAlerts("")
	var codes []health.Colour
	all := append(slices.Clone(w.contacts), other...)
	for _, p := range all {
		codes = append(codes, colourOf(t, n, p))
	}
	n.Close()
	n = nodetest.Start(t, dir, clock)
	if diff := cmp.Diff(before, n.Overrides(node.OverrideFilter{})); diff != "" {
		t.Errorf("overrides after restart (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(beforeAlerts, n.AbuseAlerts("")); diff != "" {
		t.Errorf("alerts after restart (-before +after):\n%s", diff)
	}
	for i, p := range all {
		if c := colourOf(t, n, p); c != codes[i] {
			t.Errorf("%s after restart: %v, before %v", health.PersonID(p), c, codes[i])
		}
	}
	if got := countColour(t, n, w.contacts, health.Red); got != 5 {
		t.Errorf("%d of 5 red after restart, want 5 (the active override)", got)
	}
	if got := countColour(t, n, other, health.Green); got != 3 {
		t.Errorf("%d of 3 held persons green after restart, want 3", got)
	}
	st := map[string]string{}
	for _, o := range n.Overrides(node.OverrideFilter{}) {
		st[o.ID] = o.Status
	}
	want := map[string]string{active.ID: node.OverrideActive, refused.ID: node.OverrideRefused, held.ID: node.OverrideHeld}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("statuses after restart (-want +got):\n%s", diff)
	}
	// The held one still waits for the auditor, who can release it after
	// the restart: then it applies.
	must(n.ClearOverride(ctx, node.Official{Account: "audit-gz", Region: "440100"}, held.ID, "发热门诊名单已核实"))
	if got := countColour(t, n, other, health.Yellow); got != 3 {
		t.Errorf("%d of 3 yellow after the auditor's release, want 3", got)
	}
}

// TestZhengzhouReplay replays the June 2022 case: 1,317 bank depositors,
// most living outside the city and tied to it only by an unverified scan,
// all with negative tests, enrolled by one import. A red batch asked by a
// county official is refused for lack of level and writes nothing; asked by
// a city official (in parts small enough for the city level) it raises
// alerts to the province before anything applies; a second city official's
// approval leaves it held; the provincial auditor refuses it: no code is
// ever red. In the same city a legitimate batch of five phone-confirmed
// close contacts raises no alert and applies.
func TestZhengzhouReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("enrols 30,000 persons")
	}
	n := nodetest.Start(t, "", nil)
	ctx := context.Background()
	now := n.Clock.Now()
	zz := []string{"410102", "410103", "410104", "410105", "410108"} // 郑州 districts
	var elsewhere []string                                           // counties of other provinces
	for _, prov := range []string{"340000", "370000", "130000", "420000"} {
		for _, c := range n.Regions.Counties(prov)[:20] {
			elsewhere = append(elsewhere, c.Code)
		}
	}
	// The population: 28,000 self-enrolled residents (in batches, for speed).
	for b := 0; b < 14; b++ {
		homes := make([]string, 2000)
		for i := range homes {
			if i%2 == 0 {
				homes[i] = zz[i%len(zz)]
			} else {
				homes[i] = elsewhere[(b*2000+i)%len(elsewhere)]
			}
		}
		enrolHomes(t, n, "self", 10000+b*2000, homes)
	}
	// The depositors: 1,117 living elsewhere, 200 in the city, imported at once.
	homes := make([]string, 1317)
	for i := range homes {
		if i < 1117 {
			homes[i] = elsewhere[i%len(elsewhere)]
		} else {
			homes[i] = zz[i%len(zz)]
		}
	}
	dep := enrolHomes(t, n, "bank-import", 0, homes)
	// One scan each at a branch in the city, uploaded by a contractor with the
	// phones far away (in 合肥): unverified presence.
	bank := must(n.RegisterPlace(ctx, "t", node.PlaceInput{Name: "村镇银行郑州营业部", Kind: "other", Region: "410105", Lat: 34.77, Lng: 113.68}))
	var scans []node.VisitInput
	for _, p := range dep[:1117] {
		scans = append(scans, node.VisitInput{Person: p, PlaceCode: health.PlaceCode(bank), At: now.Add(-3 * 24 * time.Hour), Trusted: true,
			ScanLoc: true, ScanLat: 31.82, ScanLng: 117.23})
	}
	must(n.RecordVisits(ctx, "staff:contractor@410100", scans))
	var results []node.ResultInput
	for i, p := range dep {
		results = append(results, node.ResultInput{SampleID: fmt.Sprintf("ZZ%05d", i), Person: p, SampledAt: now.Add(-2 * 24 * time.Hour), Result: health.Negative})
	}
	must(n.UploadResults(ctx, "lab:zz", "zzlab", results))

	red := func(ps []uint32) node.OverrideInput {
		return node.OverrideInput{Persons: ps, Colour: "red", Reason: "risk_area_referral", Evidence: []string{"doc:上级通知"},
			Until: n.Clock.Now().Add(7 * 24 * time.Hour)}
	}
	noRed := func(when string) {
		t.Helper()
		if got := n.Stats().Codes[health.Red]; got != 0 {
			t.Fatalf("%s: %d red codes, want none", when, got)
		}
		if got := countColour(t, n, dep, health.Green); got != len(dep) {
			t.Fatalf("%s: %d of %d depositors green", when, got, len(dep))
		}
	}

	// A county official: refused for lack of level, nothing written.
	before := n.Stats().Events
	_, _, err := n.RequestOverride(ctx, node.Official{Account: "jinshui-1", Region: "410105"}, red(dep))
	wantErr(t, "1,317 persons by a county official", err, health.Permission, "insufficient_level")
	if !strings.Contains(err.Error(), "province level") {
		t.Errorf("error %q does not name the level needed", err)
	}
	// The city is not enough for 1,317 either.
	cityA, cityB := node.Official{Account: "zz-a", Region: "410100"}, node.Official{Account: "zz-b", Region: "410100"}
	_, _, err = n.RequestOverride(ctx, cityA, red(dep))
	wantErr(t, "1,317 persons by a city official", err, health.Permission, "insufficient_level")
	if got := n.Stats().Events; got != before {
		t.Fatalf("refused requests wrote %d events", got-before)
	}
	noRed("after the refused requests")

	// The city official splits the list into three batches of 439.
	want := []string{node.AbuseDailyQuota, node.AbuseFarFromCases, node.AbuseNoEvidence, node.AbuseSharedAttribute, node.AbuseUnverifiedOnly}
	var parts []node.Override
	for k := 0; k < 3; k++ {
		var ps []uint32
		for i := k; i < len(dep); i += 3 {
			ps = append(ps, dep[i])
		}
		o, alerts, err := n.RequestOverride(ctx, cityA, red(ps))
		if err != nil {
			t.Fatalf("part %d: %v", k, err)
		}
		if diff := cmp.Diff(want, checks(alerts)); diff != "" {
			t.Errorf("part %d alerts (-want +got):\n%s", k, diff)
		}
		for _, a := range alerts {
			if a.Target != "410000" || a.Override != o.ID || a.Account != "zz-a" || a.Region != "410100" || a.Batch != len(ps) ||
				len(a.Sample) == 0 || a.Detail == "" {
				t.Errorf("part %d alert %s: %+v", k, a.Check, a)
			}
			switch a.Check {
			case node.AbuseNoEvidence, node.AbuseFarFromCases:
				if a.Flagged != len(ps) {
					t.Errorf("part %d %s flagged %d of %d", k, a.Check, a.Flagged, len(ps))
				}
			case node.AbuseUnverifiedOnly:
				if a.Flagged < len(ps)*8/10 || a.Flagged >= len(ps) {
					t.Errorf("part %d %s flagged %d of %d, want those living elsewhere", k, a.Check, a.Flagged, len(ps))
				}
			case node.AbuseSharedAttribute:
				if !strings.Contains(a.Detail, "bank-import") {
					t.Errorf("part %d: shared attribute %q does not name the import", k, a.Detail)
				}
			}
		}
		if !o.Held || o.Status != node.OverridePending {
			t.Fatalf("part %d: %+v, want pending and held", k, o)
		}
		parts = append(parts, o)
	}
	if got := len(n.AbuseAlerts("410000")); got != 15 {
		t.Errorf("alerts to 河南省: %d, want 15", got)
	}
	if got := n.AbuseAlerts("410100"); len(got) != 0 {
		t.Errorf("alerts visible to the requester's own city: %d, want none (they go to the level above)", len(got))
	}
	noRed("after the requests")

	// A second city official approves: still held.
	for _, o := range parts {
		a := must(n.ApproveOverride(ctx, cityB, o.ID, "同意"))
		if a.Status != node.OverrideHeld || !a.Held {
			t.Fatalf("%s approved: %s, want held", o.ID, a.Status)
		}
	}
	noRed("after the approvals")

	// Neither the city nor the requester may audit it; the province refuses.
	_, err = n.ClearOverride(ctx, cityB, parts[0].ID, "放行")
	wantErr(t, "release by the approver", err, health.Permission, "own_request")
	_, err = n.ClearOverride(ctx, node.Official{Account: "zz-audit", Region: "410100"}, parts[0].ID, "放行")
	wantErr(t, "release by the city's own auditor", err, health.Permission, "outside_region")
	henan := node.Official{Account: "henan-audit", Region: "410000"}
	for _, o := range parts {
		r := must(n.AuditRefuseOverride(ctx, henan, o.ID, "无流行病学依据，储户名单不是赋码理由"))
		if r.Status != node.OverrideRefused || r.Refusal == nil || !r.Refusal.Audit {
			t.Fatalf("%s after the audit: %+v", o.ID, r)
		}
	}
	_, err = n.ClearOverride(ctx, henan, parts[0].ID, "改判")
	wantErr(t, "release after the refusal", err, health.Conflict, "override_refused")
	n.Clock.Add(24 * time.Hour)
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	noRed("after the audit")

	// Meanwhile a real case in 金水区 and five close contacts found by phone.
	ps := enrolHomes(t, n, "self", 50000, repeat("410105", 6))
	c := must(n.OpenCase(ctx, "staff:jinshui-1@410105", node.CaseInput{Person: ps[0], Classification: node.Confirmed,
		Onset: n.Clock.Now().Add(-48 * time.Hour), Site: "ZZ01", IsolatedAt: n.Clock.Now().Add(-time.Hour)}))
	o, alerts, err := n.RequestOverride(ctx, node.Official{Account: "jinshui-1", Region: "410105"}, node.OverrideInput{Persons: ps[1:], Colour: "red",
		Reason: "close_contact_by_phone", Evidence: []string{health.EventID(c.Seq), "doc:电话流调 ZZ01-0612"}, Until: n.Clock.Now().Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 0 {
		t.Fatalf("the legitimate batch raised alerts: %+v", alerts)
	}
	a := must(n.ApproveOverride(ctx, node.Official{Account: "jinshui-2", Region: "410105"}, o.ID, ""))
	for _, p := range ps[1:] {
		v := must(n.Code(p))
		if v.Colour != health.Red || len(v.Reasons) != 1 || v.Reasons[0].Rule != "manual-override-red" ||
			!slices.Equal(v.Reasons[0].Evidence, []uint64{a.Approval.Seq, o.Seq}) {
			t.Fatalf("%s: %v %+v, want red by manual-override-red citing the approval and the request", health.PersonID(p), v.Colour, v.Reasons)
		}
	}
	if got := n.Stats().Codes[health.Red]; got != 5 {
		t.Errorf("%d red codes, want the 5 contacts", got)
	}
}
