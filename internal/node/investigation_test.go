package node_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcode/internal/gazetteer"
	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
	"healthcode/internal/publish"
	"healthcode/internal/trace"
)

// world is a hand-made tracing scenario with its ground truth.
type world struct {
	n       *nodetest.Node
	T       time.Time // the start of case A's infectious period
	p       []uint32  // p[i] is person i (p[0] unused)
	r1, m1  uint32    // a restaurant and a mall
	o1      uint32    // an office
	caseA   string
	caseB   string
	ctx     context.Context
	sources map[string]string
}

// must returns v, or panics with err (the test fails with it).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// newWorld builds the scenario. Case A (p1, home 440106) is infectious
// from T (onset T+48h) to isolation at T+72h; case B (p2, home 440103)
// from T+0:30 (onset half an hour later). The ground truth, item by item:
//
//	p3  R1 [T+1:30, T+2:00) overlaps A's R1 stop [T+1:00, T+2:00) by 30m ≥ 15m: close
//	p4  R1 [T+2:00, T+3:00) only touches A's stop (and p3's visit): not a contact
//	p5  R1 [T+1:50, T+3:00) overlaps A (and p3, p6) by 10m < 15m: not a contact
//	p6  R1 scan at T+0:30 without an end: dwell 90m, overlaps by 60m: close
//	p7  R1 scan at T-1:00 without an end: ends T+0:30, before A came: not
//	p8  train G1234 carriage 05 with A: close
//	p9  train G1234 carriage 06: not a contact
//	p10 flight CA1234 row 15, A in row 12 (within 3 rows): close
//	p11 flight CA1234 row 19: 7 rows from A, 4 from p10: not a contact
//	p12 M1 with p3 before p3's exposure: not a contact
//	p13 O1 with p3 after p3's exposure: secondary (via p3)
//	p14 M1 with A before A's infectious period: not a contact
//	B shares R1 with A [T+1:00, T+1:40); p6 overlaps B by 40m (already close)
func newWorld(t *testing.T) *world {
	n := nodetest.Start(t, "", nil)
	ctx := context.Background()
	w := &world{n: n, ctx: ctx, T: time.Date(2022, 6, 5, 10, 0, 0, 0, health.CST)}
	homes := []string{"", "440106", "440103", "440106", "440106", "440106", "440106", "440106", "440106", "440106", "440106", "440106", "440106", "440104", "440106"}
	var in []node.Enrolment
	for i := 1; i < len(homes); i++ {
		in = append(in, node.Enrolment{IDNumber: nodetest.IDNumber(100 + i), Name: "测试", Phone: "13800138000", HomeRegion: homes[i]})
	}
	res := must(n.Enrol(ctx, "t", in))
	w.p = make([]uint32, len(homes))
	for i, r := range res {
		w.p[i+1] = r.Person
	}
	place := func(name, kind string) uint32 {
		return must(n.RegisterPlace(ctx, "t", node.PlaceInput{Name: name, Kind: kind, Region: "440106", Lat: 23.13, Lng: 113.32}))
	}
	w.r1, w.m1, w.o1 = place("海底捞(天河店)", "restaurant"), place("天河城", "mall"), place("中信广场", "office")
	T, h := w.T, time.Hour
	scan := func(p, place uint32, at time.Time, until time.Time) {
		code, _, err := n.PlaceCode(place)
		if err != nil {
			t.Fatal(err)
		}
		must(n.RecordVisits(ctx, "t", []node.VisitInput{{Person: w.p[p], PlaceCode: code, At: at, Until: until, Trusted: true}}))
	}
	scan(3, w.r1, T.Add(90*time.Minute), T.Add(2*h))
	scan(4, w.r1, T.Add(2*h), T.Add(3*h))
	scan(5, w.r1, T.Add(110*time.Minute), T.Add(3*h))
	scan(6, w.r1, T.Add(30*time.Minute), time.Time{})
	scan(7, w.r1, T.Add(-h), time.Time{})
	scan(3, w.m1, T.Add(-3*h), T.Add(-2*h))
	scan(12, w.m1, T.Add(-3*h), T.Add(-2*h))
	scan(3, w.o1, T.Add(4*h), T.Add(6*h))
	scan(13, w.o1, T.Add(4*h), T.Add(5*h))
	scan(14, w.m1, T.Add(-10*h), T.Add(-9*h))
	must(n.RecordManifest(ctx, "carrier:12306", node.ManifestInput{Trip: "G1234 2022-06-05", From: T.Add(5 * h), To: T.Add(8 * h),
		Passengers: []node.Passenger{{Person: w.p[8], Carriage: "5", Seat: "08A"}, {Person: w.p[9], Carriage: "6", Seat: "08A"}}}))
	must(n.RecordManifest(ctx, "carrier:CA", node.ManifestInput{Trip: "CA1234 2022-06-05", From: T.Add(10 * h), To: T.Add(13 * h),
		Passengers: []node.Passenger{{Person: w.p[10], Row: 15, Seat: "C"}, {Person: w.p[11], Row: 19, Seat: "C"}}}))

	a := must(n.OpenCase(ctx, "staff:li@440106", node.CaseInput{Person: w.p[1], Classification: node.Confirmed,
		Onset: T.Add(48 * h), Site: "GZ01", IsolatedAt: T.Add(72 * h)}))
	b := must(n.OpenCase(ctx, "staff:wu@440103", node.CaseInput{Person: w.p[2], Classification: node.Confirmed,
		Onset: T.Add(48*h + 30*time.Minute), Site: "GZ02", IsolatedAt: T.Add(72 * h)}))
	w.caseA, w.caseB = a.ID, b.ID
	must(n.ReplaceStops(ctx, "staff:li@440106", a.ID, []node.StopInput{
		{Place: w.m1, From: T.Add(-10 * h), To: T.Add(-9 * h)},
		{Place: w.r1, From: T.Add(h), To: T.Add(2 * h)},
		{Transport: &node.Transport{Trip: "G1234 2022-06-05", Carriage: "05", Seat: "12F"}, From: T.Add(5 * h), To: T.Add(8 * h)},
		{Transport: &node.Transport{Trip: "CA1234 2022-06-05", Row: 12, Seat: "A"}, From: T.Add(10 * h), To: T.Add(13 * h)},
	}))
	must(n.ReplaceStops(ctx, "staff:wu@440103", b.ID, []node.StopInput{
		{Place: w.r1, From: T.Add(h), To: T.Add(100 * time.Minute)},
	}))
	return w
}

func TestTraceGroundTruth(t *testing.T) {
	w := newWorld(t)
	res := must(w.n.Trace([]string{w.caseA, w.caseB}, 2))
	cs := res.Contacts
	got := map[uint32]int{}
	for _, c := range cs {
		got[c.Person] = c.Degree
	}
	want := map[uint32]int{w.p[3]: 1, w.p[6]: 1, w.p[8]: 1, w.p[10]: 1, w.p[13]: 2}
	tp := 0
	for p, d := range want {
		if got[p] == d {
			tp++
		}
	}
	precision, recall := float64(tp)/float64(max(len(got), 1)), float64(tp)/float64(len(want))
	if precision != 1 || recall != 1 {
		t.Fatalf("precision %.2f recall %.2f: got %v, want %v", precision, recall, got, want)
	}
	// The flight contact's exposure is at their own row, from A's row.
	for _, c := range cs {
		switch c.Person {
		case w.p[10]:
			pl := must(w.n.Place(c.Exposures[0].Place))
			if pl.Kind != "flight" || pl.Section != "15" || res.Case(&c.Exposures[0]) != w.caseA {
				t.Errorf("p10 exposure at %+v (source %s), want row 15 of the flight from case A", pl, res.Case(&c.Exposures[0]))
			}
		case w.p[13]:
			if e := c.Exposures[0]; e.Via != w.p[3] || e.Place != w.o1 || res.Case(&e) != w.caseA {
				t.Errorf("p13 exposure %+v, want at O1 via p3 from case A", e)
			}
		case w.p[6]:
			if len(c.Exposures) != 2 {
				t.Errorf("p6 has %d exposures, want 2 (cases A and B at R1)", len(c.Exposures))
			}
		}
	}
	// Depth 1 has the close contacts only.
	close1 := must(w.n.Trace([]string{w.caseA, w.caseB}, 1))
	if len(close1.Contacts) != 4 {
		t.Errorf("depth 1: %d contacts, want 4", len(close1.Contacts))
	}
}

func TestContactsColourCodesAndRefer(t *testing.T) {
	w := newWorld(t)
	n, ctx := w.n, w.ctx
	cs := must(n.Trace([]string{w.caseA}, 2))
	written := must(n.RecordContacts(ctx, "staff:li@440106", cs))
	// Close: p3, p6, p8, p10 and case B's p2 (B is not a seed here); secondary: p13.
	if written != len(cs.Contacts) || written != 6 {
		t.Fatalf("recorded %d contact records for %d contacts, want 6", written, len(cs.Contacts))
	}
	if again := must(n.RecordContacts(ctx, "staff:li@440106", cs)); again != 0 {
		t.Errorf("recording the same trace again wrote %d records, want 0", again)
	}
	colour := func(p uint32) (health.Colour, []string) {
		v := must(n.Code(p))
		var rules []string
		for _, r := range v.Reasons {
			rules = append(rules, r.Rule)
		}
		return v.Colour, rules
	}
	if c, rules := colour(w.p[3]); c != health.Red || !slices.Contains(rules, "close-contact") {
		t.Errorf("close contact p3: %v %v, want red by close-contact", c, rules)
	}
	if c, rules := colour(w.p[13]); c != health.Yellow || !slices.Equal(rules, []string{"secondary-contact"}) {
		t.Errorf("secondary contact p13: %v %v, want yellow by secondary-contact", c, rules)
	}
	if c, _ := colour(w.p[4]); c != health.Green {
		t.Errorf("p4 (no contact): %v, want green", c)
	}
	// The code turns back by the rules: yellow after 7 days, green after 10.
	n.Clock.Add(3 * 24 * time.Hour)
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := colour(w.p[3]); c != health.Yellow {
		t.Errorf("p3 after the quarantine: %v, want yellow (monitoring)", c)
	}
	n.Clock.Add(3 * 24 * time.Hour)
	if err := n.Reevaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := colour(w.p[3]); c != health.Green {
		t.Errorf("p3 after monitoring: %v, want green", c)
	}

	// p13 lives in 440104, case A is investigated by 440106: a referral.
	refs := n.Referrals("440104", false)
	if len(refs) != 1 || refs[0].Person != w.p[13] || refs[0].From != "440106" || refs[0].Case != w.caseA {
		t.Fatalf("referrals to 440104: %+v, want p13 from 440106", refs)
	}
	if others := n.Referrals("440106", false); len(others) != 0 {
		t.Errorf("referrals to 440106: %+v, want none (the contacts there are local)", others)
	}
	_, err := n.AckReferral(ctx, "staff:li@440106", "440106", refs[0].Seq, "")
	if !isKind(err, health.Permission) {
		t.Errorf("ack by the sending county: %v, want a permission error", err)
	}
	must(n.AckReferral(ctx, "staff:he@440104", "440104", refs[0].Seq, "已转社区"))
	if open := n.Referrals("440104", false); len(open) != 0 {
		t.Errorf("open referrals to 440104 after the ack: %+v", open)
	}
	if all := n.Referrals("440104", true); len(all) != 1 || all[0].AckedNote != "已转社区" {
		t.Errorf("all referrals to 440104: %+v", all)
	}
	// Case B's person, a close contact of A, lives in 440103: referred there.
	if open := n.Referrals("4401", false); len(open) != 1 || open[0].Person != w.p[2] || open[0].To != "440103" {
		t.Errorf("open referrals in the city: %+v, want p2's to 440103", open)
	}
	// The community list of 440106 has the local contacts, closest first.
	list := n.CommunityList("440106")
	if len(list) != 4 {
		t.Errorf("community list of 440106: %d contacts, want 4", len(list))
	}
}

func isKind(err error, k health.Kind) bool {
	return err != nil && health.KindOf(err) == k
}

func TestReviewAssignChainAlerts(t *testing.T) {
	w := newWorld(t)
	n, ctx := w.n, w.ctx
	// A second official reviews.
	if _, err := n.ReviewStops(ctx, "staff:li@440106", w.caseA, 1, node.Approved, "", nil); !isKind(err, health.Permission) {
		t.Errorf("review by the author: %v, want a permission error", err)
	}
	if _, err := n.ReviewStops(ctx, "staff:zhao@440106", w.caseA, 2, node.Approved, "", nil); !isKind(err, health.Conflict) {
		t.Errorf("review of a version that does not exist yet: %v, want a conflict", err)
	}
	if _, err := n.ReviewStops(ctx, "staff:zhao@440106", w.caseA, 1, node.Returned, "", nil); !isKind(err, health.Invalid) {
		t.Errorf("return without a comment: %v, want invalid", err)
	}
	must(n.ReviewStops(ctx, "staff:zhao@440106", w.caseA, 1, node.Approved, "", []string{"gap"}))
	c := must(n.Case(w.caseA))
	if r := c.Versions[0].Review; r == nil || r.Decision != node.Approved || r.Actor != "staff:zhao@440106" {
		t.Errorf("review of version 1: %+v", r)
	}
	// Remote help: 440103 supplements A's trajectory.
	must(n.AssignCase(ctx, "staff:li@440106", w.caseA, "440103", "wu"))
	tr := must(n.SupplementStops(ctx, "staff:wu@440103", w.caseA, []node.StopInput{{Place: w.o1, From: w.T.Add(20 * time.Hour), To: w.T.Add(21 * time.Hour)}}))
	if tr.Version != 2 || len(tr.Stops) != 5 || tr.Stops[4].Actor != "staff:wu@440103" || tr.Stops[0].Actor != "staff:li@440106" {
		t.Errorf("supplement: version %d, %d stops, actors %q %q", tr.Version, len(tr.Stops), tr.Stops[0].Actor, tr.Stops[4].Actor)
	}
	c = must(n.Case(w.caseA))
	if len(c.Assignments) != 1 || c.Assignments[0].Region != "440103" || c.Versions[1].Review != nil {
		t.Errorf("case after assignment and supplement: %+v", c)
	}
	// A and B share R1; B (440103) was entered after A (440106): alerted.
	alerts := n.Alerts("440103")
	if len(alerts) != 1 || alerts[0].Place != w.r1 || alerts[0].Case != w.caseB || alerts[0].Other != w.caseA {
		t.Fatalf("alerts for 440103: %+v", alerts)
	}
	if again := n.Alerts("440106"); len(again) != 1 {
		t.Errorf("alerts for 440106: %+v, want the same one", again)
	}
	ch := must(n.Chain(w.caseB))
	if len(ch.Members) != 2 || ch.Members[0].Case != w.caseA || ch.Members[1].Case != w.caseB {
		t.Fatalf("chain of B: %+v, want A then B", ch.Members)
	}
	if m := ch.Members[1]; m.Basis != "shared_stop" || !m.Infection.Equal(w.T.Add(time.Hour)) || len(m.Shared) != 1 || m.Shared[0].Place != w.r1 {
		t.Errorf("B in the chain: %+v, want infected at the shared R1 stop", m)
	}
}

func TestSelfStopsConfirmed(t *testing.T) {
	w := newWorld(t)
	n, ctx := w.n, w.ctx
	seqs := must(n.RecordSelfStops(ctx, "person:p2", w.p[2], []node.StopInput{{Place: w.m1, From: w.T.Add(30 * time.Hour), To: w.T.Add(31 * time.Hour)}}))
	if got := n.SelfStops(w.p[2]); len(got) != 1 || !got[0].Unverified || got[0].Source != health.SourceSelfReport {
		t.Fatalf("self stops: %+v", got)
	}
	// Unconfirmed: not in the trajectory; it takes part in tracing, unverified.
	if _, err := n.ConfirmSelfStops(ctx, "staff:wu@440103", w.caseB, []uint64{seqs[0] + 1000}); !isKind(err, health.NotFound) {
		t.Errorf("confirming an unknown stop: %v, want not found", err)
	}
	tr := must(n.ConfirmSelfStops(ctx, "staff:wu@440103", w.caseB, seqs))
	if len(tr.Stops) != 2 || !tr.Stops[1].SelfReported || tr.Stops[1].Place != w.m1 {
		t.Errorf("confirmed trajectory: %+v", tr.Stops)
	}
	if got := n.SelfStops(w.p[2]); len(got) != 0 {
		t.Errorf("self stops after confirmation: %+v", got)
	}
}

// The ground truth holds after a restart: the views are rebuilt from the log.
func TestInvestigationSurvivesRestart(t *testing.T) {
	w := newWorld(t)
	cs := must(w.n.Trace([]string{w.caseA}, 2))
	must(w.n.RecordContacts(w.ctx, "t", cs))
	before := contactsOf(cs)
	w.n.Close()
	n2 := nodetest.Start(t, w.n.Dir, w.n.Clock)
	after := contactsOf(must(n2.Trace([]string{w.caseA}, 2)))
	if !slices.Equal(before, after) {
		t.Errorf("after restart: %v, want %v", after, before)
	}
	if v := must(n2.Code(w.p[3])); v.Colour != health.Red {
		t.Errorf("p3 after restart: %v, want red", v.Colour)
	}
	if refs := n2.Referrals("440104", false); len(refs) != 1 {
		t.Errorf("referrals after restart: %+v", refs)
	}
}

func contactsOf(res trace.Result) []uint32 {
	var out []uint32
	for _, c := range res.Contacts {
		out = append(out, c.Person*4+uint32(c.Degree))
	}
	return out
}

func TestAutoReviewPublicAndSelfCheck(t *testing.T) {
	w := newWorld(t)
	n, ctx := w.n, w.ctx
	version, findings, err := n.AutoReview(w.caseA)
	if err != nil || version != 1 {
		t.Fatalf("auto review: version %d, %v", version, err)
	}
	var codes []string
	for _, f := range findings {
		codes = append(codes, f.Code)
	}
	slices.Sort(codes)
	// M1 at T-10h is before the infectious period (from T), and 10 hours
	// pass between it and R1.
	if !slices.Equal(codes, []string{"gap", "outside_infectious_period"}) {
		t.Errorf("findings %v, want gap and outside_infectious_period", codes)
	}
	// Nothing is published before a review approves it.
	if hits := must(n.SelfCheck(ctx, []publish.Query{{Place: w.r1, From: w.T, To: w.T.Add(3 * time.Hour)}})); len(hits) != 0 {
		t.Fatalf("self-check before approval: %+v", hits)
	}
	must(n.ReviewStops(ctx, "staff:zhao@440106", w.caseA, 1, node.Approved, "", codes))
	hits := must(n.SelfCheck(ctx, []publish.Query{
		{Place: w.o1, From: w.T, To: w.T.Add(3 * time.Hour)},
		{Place: w.r1, From: w.T.Add(110 * time.Minute), To: w.T.Add(4 * time.Hour)}, // R1 from 10 minutes before A left
	}))
	if len(hits) != 1 || hits[0].Query != 1 || hits[0].Place != publish.PlaceID(w.r1) || hits[0].CaseRegion != "440106" ||
		!hits[0].From.Equal(w.T.Add(time.Hour)) || !hits[0].To.Equal(w.T.Add(2*time.Hour)) {
		t.Errorf("self-check hits %+v, want R1 [T+1h, T+2h) of a 440106 case", hits)
	}
	rep := must(n.PublicCases(ctx, "440106", 1))
	if len(rep.Regions) != 1 || len(rep.Regions[0].Records) != 1 || len(rep.Regions[0].Records[0].Stops) != 4 {
		t.Fatalf("public data with k=1: %+v", rep)
	}
	raw := must(json.Marshal(rep))
	for _, secret := range []string{w.caseA, health.PersonID(w.p[1]), nodetest.IDNumber(101)} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("public data leaks %q: %s", secret, raw)
		}
	}
	// With k=5, one case is a group too small to describe: its stops only.
	rep = must(n.PublicCases(ctx, "", 5))
	if len(rep.Regions) != 1 || !rep.Regions[0].Suppressed || len(rep.Regions[0].Records) != 0 || len(rep.Regions[0].Stops) == 0 {
		t.Errorf("public data with k=5: %+v", rep)
	}
}

func TestSearchPlaces(t *testing.T) {
	w := newWorld(t)
	for _, q := range []string{"海底捞 天河", "haidilao tianhe", "海底捞"} {
		got := w.n.SearchPlaces(gazetteer.Query{Text: q})
		if len(got) == 0 || got[0].ID != w.r1 {
			t.Errorf("search %q: %+v, want %s first", q, got, health.PlaceID(w.r1))
		}
	}
	// A place added now is searchable at once; so are trip sections.
	p := must(w.n.RegisterPlace(w.ctx, "t", node.PlaceInput{Name: "陈记肠粉", Aliases: []string{"陈记"}, Kind: "restaurant", Region: "440106", Lat: 23.14, Lng: 113.33}))
	if got := w.n.SearchPlaces(gazetteer.Query{Text: "chenji changfen"}); len(got) == 0 || got[0].ID != p {
		t.Errorf("new place: %+v", got)
	}
	if got := w.n.SearchPlaces(gazetteer.Query{Text: "G1234"}); len(got) == 0 {
		t.Errorf("trip section not searchable: %+v", got)
	}
	if got := w.n.SearchPlaces(gazetteer.Query{Lat: 23.1401, Lng: 113.3301, HasCoords: true, RadiusM: 100}); len(got) != 1 || got[0].ID != p || got[0].DistanceM > 30 {
		t.Errorf("nearby: %+v", got)
	}
}

// A recorded close contact is quarantined from the record on: their later
// visits make no secondary contacts. Without the record they would.
func TestRecordedCloseContactIsQuarantined(t *testing.T) {
	for _, record := range []bool{false, true} {
		w := newWorld(t)
		n, ctx := w.n, w.ctx
		if record {
			must(n.RecordContacts(ctx, "t", must(n.Trace([]string{w.caseA}, 1))))
		}
		t0 := n.Clock.Now()
		n.Clock.Add(3 * time.Hour)
		code, _, err := n.PlaceCode(w.o1)
		if err != nil {
			t.Fatal(err)
		}
		must(n.RecordVisits(ctx, "t", []node.VisitInput{
			{Person: w.p[3], PlaceCode: code, At: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour), Trusted: true},
			{Person: w.p[7], PlaceCode: code, At: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour), Trusted: true},
		}))
		secondary := false
		for _, c := range must(n.Trace([]string{w.caseA}, 2)).Contacts {
			secondary = secondary || c.Person == w.p[7] && c.Degree == 2
		}
		if secondary == record {
			t.Errorf("recorded %v: p7 secondary %v, want %v", record, secondary, !record)
		}
	}
}
