package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
)

// TestIncrementalAreaReevaluationMatchesRebuild checks the narrowing of
// re-evaluation when risk areas are declared: the codes the running node
// holds after random declarations, lifts, visits and time steps must equal
// those a fresh node computes from the same log at start-up, where every
// person an area could touch is evaluated in full.
func TestIncrementalAreaReevaluationMatchesRebuild(t *testing.T) {
	dir := t.TempDir()
	clock := nodetest.NewClock(time.Date(2022, 6, 11, 2, 0, 0, 0, time.UTC))
	n := nodetest.Start(t, dir, clock)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))

	// Places on streets of two Guangzhou districts, one Shenzhen district
	// and one Beijing district.
	var streets []string
	for _, county := range []string{"440106", "440105", "440305", "110105"} {
		ch := n.Regions.Children(county)
		if len(ch) < 3 {
			t.Fatalf("region %s has %d streets, want at least 3", county, len(ch))
		}
		for _, s := range ch[:3] {
			streets = append(streets, s.Code)
		}
	}
	var places []uint32
	for i, st := range streets {
		for k := 0; k < 2; k++ {
			pl, err := n.RegisterPlace(ctx, "t", node.PlaceInput{Name: fmt.Sprintf("店%d-%d", i, k), Kind: "restaurant", Region: st, Lat: 23.1, Lng: 113.3})
			if err != nil {
				t.Fatal(err)
			}
			places = append(places, pl)
		}
	}
	const persons = 60
	var enrol []node.Enrolment
	for i := 0; i < persons; i++ {
		enrol = append(enrol, node.Enrolment{IDNumber: nodetest.IDNumber(i), Name: "张三", Phone: "13800138000", HomeRegion: "440106"})
	}
	if _, err := n.Enrol(ctx, "t", enrol); err != nil {
		t.Fatal(err)
	}
	addVisits := func(k int, span time.Duration) {
		now := clock.Now()
		var vs []node.VisitInput
		for i := 0; i < k; i++ {
			at := now.Add(-time.Duration(r.Int64N(int64(span))))
			vs = append(vs, node.VisitInput{Person: uint32(1 + r.IntN(persons)), PlaceCode: health.PlaceCode(places[r.IntN(len(places))]), At: at, Trusted: true})
		}
		if _, err := n.RecordVisits(ctx, "t", vs); err != nil {
			t.Fatal(err)
		}
	}
	addVisits(400, 9*24*time.Hour)

	areaRegions := append([]string{"440106", "440100", "440000", "110105", "440305"}, streets...)
	var active []uint64
	snapshot := func(n *nodetest.Node) []string {
		out := make([]string, 0, persons)
		for p := uint32(1); p <= persons; p++ {
			c, err := n.Code(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s star=%v next=%s reasons=%+v", c.Colour, c.Star, c.NextEval.Format(time.RFC3339), c.Reasons))
		}
		return out
	}
	declared, lifted := 0, 0
	for step := 0; step < 60; step++ {
		switch x := r.IntN(10); {
		case x < 5:
			lvl := health.Medium
			if r.IntN(2) == 0 {
				lvl = health.High
			}
			res, err := n.DeclareRiskArea(ctx, "t", node.RiskAreaInput{
				Region: areaRegions[r.IntN(len(areaRegions))], Level: lvl,
				From:  clock.Now().Add(-time.Duration(r.IntN(72)) * time.Hour),
				Until: clock.Now().Add(time.Duration(1+r.IntN(240)) * time.Hour),
			})
			if err != nil {
				t.Fatal(err)
			}
			active = append(active, res.Area.Seq)
			declared++
		case x < 6 && len(active) > 0:
			i := r.IntN(len(active))
			if _, err := n.LiftRiskArea(ctx, "t", active[i]); err == nil {
				lifted++
			}
			active = append(active[:i], active[i+1:]...)
		case x < 8:
			addVisits(20, 2*24*time.Hour)
		default:
			clock.Add(time.Duration(1+r.IntN(30)) * time.Hour)
			if err := n.Reevaluate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if step%15 != 14 {
			continue
		}
		running := snapshot(n)
		n.Close()
		n = nodetest.Start(t, dir, clock)
		rebuilt := snapshot(n)
		if diff := cmp.Diff(rebuilt, running); diff != "" {
			t.Fatalf("step %d: running codes differ from the codes rebuilt from the log (-rebuilt +running):\n%s", step, diff)
		}
	}
	if declared < 10 || lifted < 2 {
		t.Fatalf("the random walk declared %d and lifted %d areas; want at least 10 and 2", declared, lifted)
	}
	// Not vacuous: some codes must carry stars and some stay reasons.
	final := snapshot(n)
	stars, stays := 0, 0
	for _, s := range final {
		if strings.Contains(s, "star=true") {
			stars++
		}
		if strings.Contains(s, "risk-stay") {
			stays++
		}
	}
	if stars == 0 || stays == 0 {
		t.Fatalf("final codes have %d stars and %d stay reasons; the walk exercised too little", stars, stays)
	}
}
