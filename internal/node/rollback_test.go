package node_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
	"healthcode/internal/staff"
)

// upload records one result per person by a lab's account and returns
// the batch id of the upload.
func upload(t *testing.T, n *nodetest.Node, actor, lab string, res health.Result, ps ...uint32) string {
	t.Helper()
	first := uint64(n.Stats().Events) + 1
	in := make([]node.ResultInput, len(ps))
	for i, p := range ps {
		in[i] = node.ResultInput{SampleID: fmt.Sprintf("%s-%d-%d", lab, first, p), Person: p, SampledAt: n.Clock.Now().Add(-time.Hour), Result: res}
	}
	if _, err := n.UploadResults(context.Background(), actor, lab, in); err != nil {
		t.Fatal(err)
	}
	b := "b" + fmt.Sprint(first)
	if e := must(n.Event(context.Background(), first)); e.Batch != b {
		t.Fatalf("upload: first event %d is of batch %s, want %s", first, e.Batch, b)
	}
	return b
}

// codes returns the codes of ps as the node shows them.
func codes(t *testing.T, n *nodetest.Node, ps []uint32) []node.CodeView {
	t.Helper()
	out := make([]node.CodeView, len(ps))
	for i, p := range ps {
		out[i] = must(n.Code(p))
	}
	return out
}

func colours(t *testing.T, n *nodetest.Node, ps []uint32) []health.Colour {
	t.Helper()
	out := make([]health.Colour, len(ps))
	for i, p := range ps {
		out[i] = colourOf(t, n, p)
	}
	return out
}

const (
	badLab  = "lab:L1/staff:lab-bad@440106"
	goodLab = "lab:L2/staff:lab-good@440106"
)

// TestRollBackAccount: a lab account uploads false positives for four
// persons in two batches; another lab has a true positive for a fifth and
// a negative for one of the four. The city's auditor rolls the account
// back and suspends it in one step: the four codes are green again, the
// other lab's results stand, the account is suspended by an event of the
// same transaction, the persons are told, and a restart gives the same
// views. An auditor who is not above the account is refused and nothing
// is written.
func TestRollBackAccount(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.Start(t, dir, nil)
	ctx := context.Background()
	addAccount(t, n, "lab-bad", "lab", "440106")
	addAccount(t, n, "lab-good", "lab", "440106")
	ps := enrolHomes(t, n, "t", 0, repeat("440106", 6))
	upload(t, n, badLab, "L1", health.Positive, ps[0], ps[1], ps[2])
	n.Clock.Add(time.Hour)
	upload(t, n, badLab, "L1", health.Positive, ps[3])
	upload(t, n, goodLab, "L2", health.Positive, ps[4])
	upload(t, n, goodLab, "L2", health.Negative, ps[0])
	want := []health.Colour{health.Red, health.Red, health.Red, health.Red, health.Red, health.Green}
	if got := colours(t, n, ps); !slices.Equal(got, want) {
		t.Fatalf("after the uploads: %v, want %v", got, want)
	}

	before := n.Stats().Events
	for _, r := range []struct {
		name    string
		auditor node.Official
		in      node.RollbackInput
		kind    health.Kind
		code    string
	}{
		{"an auditor of the account's own county", node.Official{Account: "audit-th", Region: "440106"}, node.RollbackInput{Account: "lab-bad", Reason: "x"}, health.Permission, "not_above"},
		{"an auditor of another city", node.Official{Account: "audit-sz", Region: "440300"}, node.RollbackInput{Account: "lab-bad", Reason: "x", Suspend: true}, health.Permission, "not_above"},
		{"both account and batch", node.Official{Account: "audit-gz", Region: "440100"}, node.RollbackInput{Account: "lab-bad", Batch: "b1", Reason: "x"}, health.Invalid, "account_or_batch"},
		{"no reason", node.Official{Account: "audit-gz", Region: "440100"}, node.RollbackInput{Account: "lab-bad"}, health.Invalid, "missing_field"},
		{"an unknown account", node.Official{Account: "audit-gz", Region: "440100"}, node.RollbackInput{Account: "nobody", Reason: "x"}, health.NotFound, "unknown_account"},
		{"a range without the uploads", node.Official{Account: "audit-gz", Region: "440100"}, node.RollbackInput{Account: "lab-bad", Reason: "x", To: n.Clock.Now().Add(-48 * time.Hour)}, health.Conflict, "nothing_to_roll_back"},
	} {
		_, err := n.RollBack(ctx, r.auditor, r.in)
		wantErr(t, r.name, err, r.kind, r.code)
	}
	if got := n.Stats().Events; got != before {
		t.Fatalf("refused rollbacks wrote %d events", got-before)
	}
	if got := colours(t, n, ps); !slices.Equal(got, want) {
		t.Fatalf("after refused rollbacks: %v, want %v", got, want)
	}

	auditor := node.Official{Account: "audit-gz", Region: "440100"}
	rb, err := n.RollBack(ctx, auditor, node.RollbackInput{Account: "lab-bad", Suspend: true, Reason: "伪造阳性结果，见稽核报告 2022-06-11"})
	if err != nil {
		t.Fatal(err)
	}
	want = []health.Colour{health.Green, health.Green, health.Green, health.Green, health.Red, health.Green}
	if got := colours(t, n, ps); !slices.Equal(got, want) {
		t.Fatalf("after the rollback: %v, want %v", got, want)
	}
	if v := must(n.Code(ps[0])); v.LastResult != health.Negative {
		t.Errorf("%s: last result %v, want the other lab's negative", health.PersonID(ps[0]), v.LastResult)
	}
	if rb.Count != 4 || len(rb.Events) != 4 || rb.Cascaded != 0 || !cmp.Equal(rb.ByKind, map[string]int{"test_result": 4}) ||
		!slices.Equal(rb.Persons, ps[:4]) || rb.Account != "lab-bad" || rb.AccountRegion != "440106" || rb.Auditor != auditor || !rb.Suspend {
		t.Fatalf("rollback record: %+v", rb)
	}
	// The suspension is the event before the rollback, in the same batch:
	// one write group, one transaction.
	sus, rbe := must(n.Event(ctx, rb.Suspension)), must(n.Event(ctx, rb.Seq))
	if rb.Suspension == 0 || sus.Kind != health.EvAccountSuspended || rbe.Kind != health.EvRolledBack || sus.Batch != rbe.Batch || rb.Suspension+1 != rb.Seq {
		t.Fatalf("suspension %+v and rollback %+v: want an account_suspended and a rolled_back event in one batch", sus, rbe)
	}
	if acct := must(n.Account("lab-bad")); acct.Status != staff.Suspended {
		t.Fatalf("lab-bad is %v, want suspended", acct.Status)
	}
	if acct := must(n.Account("lab-good")); acct.Status != staff.Active {
		t.Fatalf("lab-good is %v, want active", acct.Status)
	}
	for _, s := range rb.Events {
		if e := must(n.Event(ctx, s)); e.Actor != badLab || n.Voided(s) != rb.ID {
			t.Errorf("voided event %d by %s (voided by %q), want lab-bad's and %s", s, e.Actor, n.Voided(s), rb.ID)
		}
	}
	notices := must(n.Notices(ps[0]))
	if len(notices) != 1 || notices[0].Kind != node.NoticeCodeCorrected || notices[0].Ref != rb.ID || notices[0].Region != "440100" {
		t.Errorf("notices of %s: %+v, want one code_corrected by %s", health.PersonID(ps[0]), notices, rb.ID)
	}
	if got := must(n.Notices(ps[4])); len(got) != 0 {
		t.Errorf("notices of the other lab's positive: %+v, want none", got)
	}
	_, err = n.RollBack(ctx, auditor, node.RollbackInput{Account: "lab-bad", Reason: "again"})
	wantErr(t, "a second rollback", err, health.Conflict, "nothing_to_roll_back")

	// The rollback is reviewable, and a restart replays the same views.
	list := n.Rollbacks()
	if len(list) != 1 || list[0].ID != rb.ID || list[0].Events != nil || list[0].Count != 4 {
		t.Fatalf("Rollbacks: %+v", list)
	}
	snap := codes(t, n, ps)
	access := must(n.AccessLog(ps[1]))
	n.Close()
	n = nodetest.Start(t, dir, n.Clock)
	if d := cmp.Diff(snap, codes(t, n, ps)); d != "" {
		t.Fatalf("codes after restart (-before +after):\n%s", d)
	}
	if d := cmp.Diff(rb, must(n.Rollback(rb.ID))); d != "" {
		t.Fatalf("rollback after restart (-before +after):\n%s", d)
	}
	if d := cmp.Diff(notices, must(n.Notices(ps[0]))); d != "" {
		t.Fatalf("notices after restart (-before +after):\n%s", d)
	}
	if d := cmp.Diff(access, must(n.AccessLog(ps[1]))); d != "" {
		t.Fatalf("access log after restart (-before +after):\n%s", d)
	}
	if acct := must(n.Account("lab-bad")); acct.Status != staff.Suspended {
		t.Fatalf("lab-bad after restart is %v, want suspended", acct.Status)
	}
	// Rolled-back uploads stay in the person's access log, marked.
	var marked int
	for _, a := range access {
		if a.What == "test_result" && a.Account == "lab-bad" && a.Lab == "L1" && a.RolledBack == rb.ID {
			marked++
		}
	}
	if marked != 1 {
		t.Errorf("access log of %s: %+v, want lab-bad's upload marked rolled back by %s", health.PersonID(ps[1]), access, rb.ID)
	}
}

// TestRollBackBatch rolls back one upload of an account and leaves its
// other upload alone; batch ids that are malformed, unknown or not a staff
// account's are refused.
func TestRollBackBatch(t *testing.T) {
	n := nodetest.Start(t, "", nil)
	ctx := context.Background()
	addAccount(t, n, "lab-bad", "lab", "440106")
	ps := enrolHomes(t, n, "t", 0, repeat("440106", 3))
	a := upload(t, n, badLab, "L1", health.Positive, ps[0], ps[1])
	upload(t, n, badLab, "L1", health.Positive, ps[2])
	auditor := node.Official{Account: "audit-gd", Region: "440000"}
	for _, r := range []struct {
		name  string
		batch string
		kind  health.Kind
		code  string
	}{
		{"malformed", "x7", health.Invalid, "invalid_batch"},
		{"unknown", "b99999", health.NotFound, "unknown_batch"},
		{"an enrolment by a non-staff actor", "b1", health.Invalid, "not_staff_batch"},
	} {
		_, err := n.RollBack(ctx, auditor, node.RollbackInput{Batch: r.batch, Reason: "x"})
		wantErr(t, r.name, err, r.kind, r.code)
	}
	_, err := n.RollBack(ctx, node.Official{Account: "audit-th", Region: "440106"}, node.RollbackInput{Batch: a, Reason: "x"})
	wantErr(t, "an auditor not above the batch's account", err, health.Permission, "not_above")

	rb := must(n.RollBack(ctx, auditor, node.RollbackInput{Batch: a, Reason: "样本混装"}))
	if got, want := colours(t, n, ps), []health.Colour{health.Green, health.Green, health.Red}; !slices.Equal(got, want) {
		t.Fatalf("after rolling back %s: %v, want %v", a, got, want)
	}
	if rb.Batch != a || rb.Account != "lab-bad" || rb.Count != 2 || rb.Suspend || rb.Suspension != 0 {
		t.Fatalf("rollback record: %+v", rb)
	}
	if acct := must(n.Account("lab-bad")); acct.Status != staff.Active {
		t.Fatalf("lab-bad is %v after a rollback without suspension", acct.Status)
	}
}

// TestRollBackCascadesAndRestarts rolls back an official whose override
// request another official approved and whose risk area another official
// lifted: the approval and the lift go with them (the replay could not
// apply them alone), the case the official opened and the place they
// registered are kept, the codes return to green, and the node restarts
// on the log.
func TestRollBackCascadesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	w := newCaseWorld(t, dir, nil)
	n, ctx := w.n, w.ctx
	addAccount(t, n, "li", "official", "440106")
	o := w.request(t, 7*24*time.Hour)
	must(n.ApproveOverride(ctx, w.zhao, o.ID, "已核实"))
	street := n.Regions.Children("440106")[0].Code
	pl := must(n.RegisterPlace(ctx, "staff:li@440106", node.PlaceInput{Name: "菜市场", Kind: "market", Region: street, Lat: 23.13, Lng: 113.32}))
	visitor := enrolHomes(t, n, "t", 100, []string{"440106"})[0]
	now := n.Clock.Now()
	must(n.RecordVisits(ctx, "t", []node.VisitInput{{Person: visitor, PlaceCode: health.PlaceCode(pl), At: now.Add(-time.Hour), Trusted: true}}))
	area := must(n.DeclareRiskArea(ctx, "staff:li@440106", node.RiskAreaInput{Region: street, Level: health.High, From: now.Add(-2 * time.Hour), Until: now.Add(7 * 24 * time.Hour)}))
	must(n.LiftRiskArea(ctx, "staff:zhao@440106", area.Area.Seq))
	all := append(slices.Clone(w.contacts), visitor)
	if got := countColour(t, n, all, health.Red); got != len(all) {
		t.Fatalf("%d of %d codes red before the rollback", got, len(all))
	}

	rb := must(n.RollBack(ctx, node.Official{Account: "audit-gz", Region: "440100"}, node.RollbackInput{Account: "li", Reason: "无依据赋码"}))
	wantKinds := map[string]int{"override_requested": 1, "override_approved": 1, "risk_area_declared": 1, "risk_area_lifted": 1}
	if !cmp.Equal(rb.ByKind, wantKinds) || rb.Cascaded != 2 || !cmp.Equal(rb.Kept, map[string]int{"case_opened": 1, "place_registered": 1}) {
		t.Fatalf("rollback: by kind %v, cascaded %d, kept %v; want %v, 2, a case and a place", rb.ByKind, rb.Cascaded, rb.Kept, wantKinds)
	}
	if !slices.Equal(rb.Persons, all) {
		t.Errorf("persons told: %v, want %v", rb.Persons, all)
	}
	if got := countColour(t, n, all, health.Green); got != len(all) {
		t.Fatalf("%d of %d codes green after the rollback", got, len(all))
	}
	if _, err := n.Override(o.ID); health.KindOf(err) != health.NotFound {
		t.Errorf("the voided override: %v, want it gone from the view", err)
	}
	if as := n.RiskAreas(true); len(as) != 0 {
		t.Errorf("risk areas after the rollback: %+v", as)
	}
	if cs := n.Cases(); len(cs) != 1 {
		t.Errorf("cases after the rollback: %+v, want the one li opened", cs)
	}
	snap := codes(t, n, all)
	n.Close()
	n2 := nodetest.Start(t, dir, n.Clock)
	if d := cmp.Diff(snap, codes(t, n2, all)); d != "" {
		t.Fatalf("codes after restart (-before +after):\n%s", d)
	}
}
