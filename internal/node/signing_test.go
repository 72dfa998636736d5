package node_test

import (
	"context"
	"testing"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
)

// TestScreenTokenReuse: a screen token is handed out again within the reuse
// window while its claims are unchanged, and a new one is signed as soon as
// the code changes or the window has passed; paper tokens are always new.
func TestScreenTokenReuse(t *testing.T) {
	ctx := context.Background()
	n := nodetest.Start(t, "", nil)
	res, err := n.Enrol(ctx, "t", []node.Enrolment{
		{IDNumber: nodetest.IDNumber(1), Name: "张三", Phone: "13800138000", HomeRegion: "440106"},
		{IDNumber: nodetest.IDNumber(2), Name: "李四", Phone: "13800138001", HomeRegion: "440106"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, q := res[0].Person, res[1].Person
	sign := func(p uint32, paper bool) node.SignedCode {
		t.Helper()
		sc, err := n.SignCode(ctx, p, paper)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.VerifyCode(sc.Payload); err != nil {
			t.Fatalf("token does not verify: %v", err)
		}
		return sc
	}
	first := sign(p, false)
	n.Clock.Add(10 * time.Second)
	again := sign(p, false)
	if again.Payload != first.Payload || !again.IssuedAt.Equal(first.IssuedAt) {
		t.Fatalf("within the reuse window: a new token was signed (issued %v, first %v)", again.IssuedAt, first.IssuedAt)
	}
	if again.View.Colour != health.Green {
		t.Fatalf("view: %v", again.View.Colour)
	}
	if other := sign(q, false); other.Payload == first.Payload {
		t.Fatal("another person got the first person's token")
	}
	if a, b := sign(p, true), sign(p, true); a.Payload == b.Payload || a.Payload == first.Payload {
		t.Fatal("paper tokens must be signed each time")
	}

	// The code changes: a positive result turns it red; the cached green
	// token must not be handed out.
	if _, err := n.UploadResults(ctx, "t", "lab1", []node.ResultInput{{SampleID: "S1", Person: p, SampledAt: n.Clock.Now().Add(-time.Hour), Result: health.Positive}}); err != nil {
		t.Fatal(err)
	}
	red := sign(p, false)
	c, err := n.VerifyCode(red.Payload)
	if err != nil || c.Colour != "red" || red.Payload == first.Payload {
		t.Fatalf("after a positive result: colour %q err %v (same token: %v)", c.Colour, err, red.Payload == first.Payload)
	}

	// The window passes: a new token with a new issue time.
	n.Clock.Add(node.DefaultScreenReuse)
	later := sign(p, false)
	if later.Payload == red.Payload || !later.IssuedAt.After(red.IssuedAt) {
		t.Fatalf("after the reuse window: token reused (issued %v)", later.IssuedAt)
	}
	if later.ExpiresAt.Sub(n.Clock.Now()) < node.DefaultScreenTTL-node.DefaultScreenReuse {
		t.Fatalf("a handed-out token has %v left, less than TTL minus the reuse window", later.ExpiresAt.Sub(n.Clock.Now()))
	}
}
