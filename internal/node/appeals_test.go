package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
)

func noticeKinds(ns []node.Notice) []string {
	var out []string
	for _, nt := range ns {
		out = append(out, nt.Kind+" "+nt.Ref)
	}
	return out
}

// TestAppealEscalatesAndIsCorrected: a contact coloured red by an
// override appeals it. The appeal goes to the requester's county; nobody
// answers in 24 h and the node moves it to the city; the county can no
// longer resolve it, the city corrects it by lifting the override for this
// person only; the code is green, the person is told at each step, and a
// restart gives the same appeal, notices and codes.
func TestAppealEscalatesAndIsCorrected(t *testing.T) {
	dir := t.TempDir()
	w := newCaseWorld(t, dir, nil)
	n, ctx := w.n, w.ctx
	o := w.request(t, 7*24*time.Hour)
	ap := must(n.ApproveOverride(ctx, w.zhao, o.ID, ""))
	p := w.contacts[0]
	filed := n.Clock.Now()

	_, err := n.FileAppeal(ctx, p, node.AppealInput{Text: "我没有去过", Reason: "positive-result"})
	wantErr(t, "an appeal of a reason the code does not have", err, health.Invalid, "not_a_reason")
	_, err = n.FileAppeal(ctx, p, node.AppealInput{})
	wantErr(t, "an appeal without text", err, health.Invalid, "missing_field")
	a := must(n.FileAppeal(ctx, p, node.AppealInput{Text: "我与该病例没有接触。\n电话流调时我在外地。", Evidence: []string{"doc:火车票 G1234"}, Reason: "manual-override-red"}))
	want := node.Appeal{ID: a.ID, Seq: a.Seq, Person: p, Text: "我与该病例没有接触。\n电话流调时我在外地。", Evidence: []string{"doc:火车票 G1234"},
		Reason: "manual-override-red", Source: "override", Cited: []uint64{ap.Approval.Seq, o.Seq}, Origin: "440106", Region: "440106",
		Filed: filed, Deadline: filed.Add(24 * time.Hour), Status: node.AppealOpen}
	if d := cmp.Diff(want, a); d != "" {
		t.Fatalf("filed appeal (-want +got):\n%s", d)
	}
	_, err = n.FileAppeal(ctx, p, node.AppealInput{Text: "again", Reason: "manual-override-red"})
	wantErr(t, "a second appeal of the same reason", err, health.Conflict, "appeal_open")
	fix := node.Resolution{Outcome: node.OutcomeCorrected, Note: "经核实，该人员当时不在广州", Revoke: []string{o.ID}}
	_, err = n.ResolveAppeal(ctx, node.Official{Account: "he", Region: "440103"}, a.ID, fix)
	wantErr(t, "a resolution by another county", err, health.Permission, "outside_region")

	n.Clock.Add(23 * time.Hour)
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := must(n.Appeal(a.ID)); got.Region != "440106" || len(got.Escalations) != 0 || got.Overdue {
		t.Fatalf("before the deadline: %+v, want still with 440106", got)
	}
	n.Clock.Add(time.Hour + time.Minute)
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	a = must(n.Appeal(a.ID))
	esc := []node.AppealEscalation{{Seq: a.Escalations[0].Seq, From: "440106", To: "440100", At: filed.Add(24 * time.Hour)}}
	if a.Region != "440100" || !cmp.Equal(a.Escalations, esc) || !a.Deadline.Equal(filed.Add(48*time.Hour)) || a.Overdue {
		t.Fatalf("after the deadline: %+v, want escalated to 440100 at %v, due %v", a, filed.Add(24*time.Hour), filed.Add(48*time.Hour))
	}
	if e := must(n.Event(ctx, esc[0].Seq)); e.Kind != health.EvAppealEscalated || e.Ref != a.Seq || e.Actor != "node" {
		t.Errorf("escalation event: %+v", e)
	}
	if got := n.Appeals(node.AppealFilter{Region: "440100", Status: node.AppealOpen}); len(got) != 1 || got[0].ID != a.ID {
		t.Errorf("open appeals of the city: %+v", got)
	}
	if got := n.Appeals(node.AppealFilter{Region: "440106"}); len(got) != 0 {
		t.Errorf("appeals with the county after the escalation: %+v", got)
	}
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := must(n.Appeal(a.ID)); len(got.Escalations) != 1 {
		t.Fatalf("a second look before the next deadline escalated again: %+v", got.Escalations)
	}
	_, err = n.ResolveAppeal(ctx, w.li, a.ID, fix)
	wantErr(t, "a resolution by the county after the escalation", err, health.Permission, "outside_region")

	city := node.Official{Account: "gz-cdc", Region: "440100"}
	r := must(n.ResolveAppeal(ctx, city, a.ID, fix))
	if r.Status != node.AppealResolved || r.Resolution == nil || r.Resolution.Outcome != node.OutcomeCorrected ||
		!slices.Equal(r.Resolution.Lifted, []string{o.ID}) || r.Resolution.By != city {
		t.Fatalf("resolved: %+v", r)
	}
	if c := colourOf(t, n, p); c != health.Green {
		t.Fatalf("the appellant after the correction: %v, want green", c)
	}
	if got := countColour(t, n, w.contacts[1:], health.Red); got != 4 {
		t.Fatalf("%d of the 4 other persons of the override red, want all (the override is lifted for one person)", got)
	}
	if got := must(n.PersonOverrides(p)); len(got) != 0 {
		t.Errorf("overrides shown to the appellant: %+v", got)
	}
	notices := must(n.Notices(p))
	wantNotices := []string{node.NoticeOverrideApplied + " " + o.ID, node.NoticeAppealEscalated + " " + a.ID, node.NoticeAppealResolved + " " + a.ID}
	if !slices.Equal(noticeKinds(notices), wantNotices) || notices[2].Outcome != node.OutcomeCorrected || notices[1].Region != "440100" {
		t.Errorf("notices: %+v, want %v", notices, wantNotices)
	}
	_, err = n.ResolveAppeal(ctx, city, a.ID, node.Resolution{Outcome: node.OutcomeUpheld, Note: "x"})
	wantErr(t, "a second resolution", err, health.Conflict, "appeal_resolved")

	snap := codes(t, n, w.contacts)
	n.Close()
	n2 := nodetest.Start(t, dir, n.Clock)
	if d := cmp.Diff(r, must(n2.Appeal(a.ID))); d != "" {
		t.Errorf("appeal after restart (-before +after):\n%s", d)
	}
	if d := cmp.Diff(notices, must(n2.Notices(p))); d != "" {
		t.Errorf("notices after restart (-before +after):\n%s", d)
	}
	if d := cmp.Diff(snap, codes(t, n2, w.contacts)); d != "" {
		t.Errorf("codes after restart (-before +after):\n%s", d)
	}
}

// TestAppealRoutes: an appeal goes to the region that produced the
// reason: a contact record to its case's county, a risk-area stay to the
// area's county, a test result and a code without reasons to the home
// county.
func TestAppealRoutes(t *testing.T) {
	w := newWorld(t)
	n, ctx := w.n, w.ctx
	// p6 is a close contact of case B only (investigated by 440103).
	must(n.RecordContacts(ctx, "staff:wu@440103", must(n.Trace([]string{w.caseB}, 1))))
	// p4 has a positive test.
	upload(t, n, "lab:L2/staff:lab-good@440106", "L2", health.Positive, w.p[4])
	// p9 stayed in a high-risk street of 越秀区 (440104).
	street := n.Regions.Children("440104")[0].Code
	pl := must(n.RegisterPlace(ctx, "t", node.PlaceInput{Name: "北京路", Kind: "mall", Region: street, Lat: 23.12, Lng: 113.27}))
	now := n.Clock.Now()
	must(n.RecordVisits(ctx, "t", []node.VisitInput{{Person: w.p[9], PlaceCode: health.PlaceCode(pl), At: now.Add(-3 * time.Hour), Trusted: true}}))
	must(n.DeclareRiskArea(ctx, "staff:yx@440104", node.RiskAreaInput{Region: street, Level: health.High, From: now.Add(-4 * time.Hour), Until: now.Add(7 * 24 * time.Hour)}))
	// p0: a person of 海珠区 (440105) with no visits and no reasons.
	w.p[0] = enrolHomes(t, n, "t", 500, []string{"440105"})[0]
	for _, r := range []struct {
		name           string
		person         int
		reason         string
		region, source string
	}{
		{"contact of a case of another county", 6, "close-contact", "440103", "contact"},
		{"test result", 4, "", "440106", "test"},
		{"risk-area stay", 9, "high-risk-stay", "440104", "risk_area"},
		{"no reason", 0, "", "440105", "home"},
	} {
		t.Run(r.name, func(t *testing.T) {
			a, err := n.FileAppeal(ctx, w.p[r.person], node.AppealInput{Text: "申诉", Reason: r.reason})
			if err != nil {
				t.Fatal(err)
			}
			if a.Region != r.region || a.Source != r.source {
				t.Fatalf("appeal %+v: goes to %s (%s), want %s (%s)", a, a.Region, a.Source, r.region, r.source)
			}
			if e := must(n.Event(ctx, a.Seq)); e.Kind != health.EvAppealFiled || e.Person != w.p[r.person] {
				t.Fatalf("appeal event %+v", e)
			}
		})
	}
}

// TestAppealCorrectionVoidsEvents: a false positive is disputed; the home
// county voids the result for this person; the code is green and stays
// green after a restart. An event of someone else cannot be voided by the
// appeal, and an upheld appeal changes nothing.
func TestAppealCorrectionVoidsEvents(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.Start(t, dir, nil)
	ctx := context.Background()
	ps := enrolHomes(t, n, "t", 0, repeat("440106", 2))
	b := upload(t, n, badLab, "L1", health.Positive, ps[0], ps[1])
	seq, _ := health.ParseEventID("e" + b[1:])
	if c := colourOf(t, n, ps[0]); c != health.Red {
		t.Fatalf("after the positive: %v", c)
	}
	a := must(n.FileAppeal(ctx, ps[0], node.AppealInput{Text: "样本编号不是我的"}))
	if a.Reason != "positive-result" || a.Source != "test" || a.Region != "440106" || !slices.Equal(a.Cited, []uint64{seq}) {
		t.Fatalf("appeal: %+v", a)
	}
	cw := node.Official{Account: "cw", Region: "440106"}
	_, err := n.ResolveAppeal(ctx, cw, a.ID, node.Resolution{Outcome: node.OutcomeCorrected, Note: "x", RollBack: []uint64{seq + 1}})
	wantErr(t, "voiding another person's result", err, health.Invalid, "not_voidable")
	_, err = n.ResolveAppeal(ctx, cw, a.ID, node.Resolution{Outcome: node.OutcomeUpheld, Note: "x", RollBack: []uint64{seq}})
	wantErr(t, "an upheld appeal with changes", err, health.Invalid, "upheld_with_changes")
	_, err = n.ResolveAppeal(ctx, cw, a.ID, node.Resolution{Outcome: "maybe", Note: "x"})
	wantErr(t, "an unknown outcome", err, health.Invalid, "invalid_outcome")

	r := must(n.ResolveAppeal(ctx, cw, a.ID, node.Resolution{Outcome: node.OutcomeCorrected, Note: "实验室确认样本混装", RollBack: []uint64{seq}}))
	if !slices.Equal(r.Resolution.Voided, []uint64{seq}) || n.Voided(seq) != a.ID {
		t.Fatalf("resolution %+v, voided by %q", r.Resolution, n.Voided(seq))
	}
	if got := colours(t, n, ps); !slices.Equal(got, []health.Colour{health.Green, health.Red}) {
		t.Fatalf("after the correction: %v, want the appellant green and the other red", got)
	}
	n.Close()
	n2 := nodetest.Start(t, dir, n.Clock)
	if got := colours(t, n2, ps); !slices.Equal(got, []health.Colour{health.Green, health.Red}) {
		t.Fatalf("after restart: %v", got)
	}
}

// TestAppealEscalationSurvivesRestart: deadlines are in the events, so a
// node that was down when they passed escalates on its first look, once
// per missed level, at the missed deadlines.
func TestAppealEscalationSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.Start(t, dir, nil)
	ctx := context.Background()
	p := enrolHomes(t, n, "t", 0, []string{"440106"})[0]
	filed := n.Clock.Now()
	a := must(n.FileAppeal(ctx, p, node.AppealInput{Text: "为什么我的码是绿码却不能进站"}))
	if a.Source != "home" || a.Region != "440106" {
		t.Fatalf("appeal of a code without reasons: %+v", a)
	}
	n.Close()
	n.Clock.Add(49 * time.Hour)
	n = nodetest.Start(t, dir, n.Clock)
	// The writer's timer may escalate before Reevaluate does: the outcome
	// is the same.
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	got := must(n.Appeal(a.ID))
	var path []string
	for _, e := range got.Escalations {
		path = append(path, e.From+">"+e.To+"@"+e.At.Sub(filed).String())
	}
	if want := []string{"440106>440100@24h0m0s", "440100>440000@48h0m0s"}; !slices.Equal(path, want) || got.Region != "440000" ||
		!got.Deadline.Equal(filed.Add(72*time.Hour)) || got.Overdue {
		t.Fatalf("escalations %v, region %s, deadline %v; want %v to 440000, due %v", path, got.Region, got.Deadline, want, filed.Add(72*time.Hour))
	}
	n.Close()
	n = nodetest.Start(t, dir, n.Clock)
	if d := cmp.Diff(got, must(n.Appeal(a.ID))); d != "" {
		t.Fatalf("after a second restart (-before +after):\n%s", d)
	}
}

// TestAccessLog: the person sees the staff reads of their data (one of
// their code, one of a community list naming them) and the changes staff
// made (a lab's upload), with region and roles (the account for
// auditors); not their own actions, nor another person's reads.
func TestAccessLog(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.Start(t, dir, nil)
	ctx := context.Background()
	addAccount(t, n, "cw", "community", "440106")
	ps := enrolHomes(t, n, "self", 0, repeat("440106", 3))
	p := ps[0]
	pl := must(n.RegisterPlace(ctx, "t", node.PlaceInput{Name: "超市", Kind: "supermarket", Region: "440106", Lat: 23.13, Lng: 113.32}))
	// The person's own scan and appeal.
	must(n.RecordVisits(ctx, "person:"+health.PersonID(p), []node.VisitInput{{Person: p, PlaceCode: health.PlaceCode(pl), At: n.Clock.Now().Add(-time.Hour), Trusted: true}}))
	must(n.FileAppeal(ctx, p, node.AppealInput{Text: "x"}))
	// Staff: a read of the code, a lab's upload, a community list.
	if err := n.RecordRead(ctx, "staff:cw@440106", "code", []uint32{p}); err != nil {
		t.Fatal(err)
	}
	upload(t, n, goodLab, "L2", health.Negative, p)
	if err := n.RecordRead(ctx, "staff:inv@440100", "community_list", []uint32{ps[2], p, ps[1]}); err != nil {
		t.Fatal(err)
	}
	if err := n.RecordRead(ctx, "staff:cw@440106", "code", []uint32{ps[1]}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name        string
		actor, what string
		persons     []uint32
		kind        health.Kind
		code        string
	}{
		{"a person", "person:" + health.PersonID(p), "code", []uint32{p}, health.Invalid, "not_staff"},
		{"a bad what", "staff:cw@440106", "Code!", []uint32{p}, health.Invalid, "invalid_what"},
		{"no persons", "staff:cw@440106", "code", nil, health.Invalid, "missing_field"},
		{"an unknown person", "staff:cw@440106", "code", []uint32{p, 999}, health.NotFound, "unknown_person"},
	} {
		wantErr(t, r.name, n.RecordRead(ctx, r.actor, r.what, r.persons), r.kind, r.code)
	}
	type row struct {
		Read              bool
		What, Region, Lab string
		Account           string
		Roles             []string
	}
	got := func(n *nodetest.Node) []row {
		var out []row
		for _, a := range must(n.AccessLog(p)) {
			out = append(out, row{a.Read, a.What, a.Region, a.Lab, a.Account, a.Roles})
		}
		return out
	}
	want := []row{ // newest first
		{true, "community_list", "440100", "", "inv", nil},
		{false, "test_result", "440106", "L2", "lab-good", nil},
		{true, "code", "440106", "", "cw", []string{"community"}},
	}
	if d := cmp.Diff(want, got(n)); d != "" {
		t.Fatalf("access log (-want +got):\n%s", d)
	}
	ev := must(n.Event(ctx, must(n.AccessLog(p))[0].Seq))
	if ev.Kind != health.EvDataRead || ev.Person != 0 || ev.Aux != 3 {
		t.Errorf("the list read: %+v, want one data_read event for 3 persons", ev)
	}
	n.Close()
	n2 := nodetest.Start(t, dir, n.Clock)
	if d := cmp.Diff(want, got(n2)); d != "" {
		t.Fatalf("access log after restart (-want +got):\n%s", d)
	}
}
