package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/httpapi"
	"healthcode/internal/node"
)

// signedNode is a node with 300 persons and the bench's lab results: person
// 1 is green, person 7 red.
func signedNode(t *testing.T) (*node.Node, *codesign.TrustList) {
	t.Helper()
	n := testNode(t, 300)
	if _, err := UploadResults(context.Background(), n, 300, nil); err != nil {
		t.Fatal(err)
	}
	tl, err := codesign.ParseTrustList(n.TrustListJSON(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return n, tl
}

// answers returns person p's code, and its signed and unsigned bodies as
// the API builds them.
func answers(t *testing.T, n *node.Node, p uint32) (node.CodeView, node.SignedCode, []byte, []byte) {
	t.Helper()
	v, err := n.Code(p)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := n.SignCode(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	return v, sc, httpapi.AppendCodeJSON(nil, &v, &sc), httpapi.AppendCodeJSON(nil, &v, nil)
}

func TestCheckSigned(t *testing.T) {
	n, tl := signedNode(t)
	now := n.Now()
	v1, sc1, s1, u1 := answers(t, n, 1)
	v7, sc7, s7, u7 := answers(t, n, 7)
	if v1.Colour != health.Green || v7.Colour != health.Red {
		t.Fatalf("person 1 is %s, person 7 %s; want green and red", v1.Colour, v7.Colour)
	}
	for _, c := range []struct {
		v      *node.CodeView
		s, u   []byte
		colour string
	}{{&v1, s1, u1, "green"}, {&v7, s7, u7, "red"}} {
		tok, err := checkSigned(c.s, c.u, c.v, tl, now)
		if err != nil {
			t.Fatalf("good %s answer: %v\n%s", c.colour, err, c.s)
		}
		if tok.Colour != c.colour || !strings.HasPrefix(tok.Payload, codesign.HealthCodePrefix) || !tok.At.Equal(now) {
			t.Errorf("token %+v, want a %s HCC1 token at %v", tok, c.colour, now)
		}
	}

	other := testNode(t, 1) // its own keys: its tokens are not in n's trust list
	sco, err := other.SignCode(context.Background(), 1, false)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(strings.Replace(string(s1), sc1.Payload, sc1.Payload[:40]+flip(sc1.Payload[40])+sc1.Payload[41:], 1))
	for name, c := range map[string]struct {
		s, u []byte
		v    *node.CodeView
		now  time.Time
		want string
	}{
		"unsigned body differs":   {s1, bytes.Replace(u1, []byte(`"star":false`), []byte(`"star":true`), 1), &v1, now, "differ"},
		"another person's body":   {s1, u7, &v1, now, "differ"},
		"signed body differs":     {bytes.Replace(s1, []byte(`"last_test":null`), []byte(`"last_test":{}`), 1), u1, &v1, now, "differ"},
		"token of another colour": {httpapi.AppendCodeJSON(nil, &v1, &sc7), u1, &v1, now, "node.Code says green"},
		"code of another colour":  {s1, u1, &v7, now, "node.Code says red"},
		"token from another node": {httpapi.AppendCodeJSON(nil, &v1, &sco), u1, &v1, now, codesign.CodeUnknownKey},
		"tampered token":          {tampered, u1, &v1, now, "does not verify"},
		"expired token":           {s1, u1, &v1, now.Add(time.Hour), codesign.CodeExpired},
		"no token":                {u1, u1, &v1, now, "no qr"},
		"wrong qr_expires_at":     {bytes.Replace(s1, []byte(`"qr_expires_at":"`), []byte(`"qr_expires_at":"1`), 1), u1, &v1, now, "qr_expires_at"},
		"unsigned body has qr":    {s1, s1, &v1, now, `"qr":null`},
		"signed body is not JSON": {s1[:len(s1)-1], u1, &v1, now, "signed body"},
		"both bodies of person 7": {s7, u7, &v1, now, "node.Code says green"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := checkSigned(c.s, c.u, c.v, tl, c.now)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// flip returns a different Base45 character.
func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func TestTimeVerify(t *testing.T) {
	n, tl := signedNode(t)
	var tokens []SignedToken
	for _, p := range []uint32{1, 2, 7, 13} {
		_, sc, s, u := answers(t, n, p)
		v, _ := n.Code(p)
		tok, err := checkSigned(s, u, &v, tl, n.Now())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Payload != sc.Payload {
			t.Fatalf("checkSigned returned token %q, want %q", tok.Payload, sc.Payload)
		}
		tokens = append(tokens, tok)
	}
	ctx := context.Background()
	res, err := TimeVerify(ctx, tokens, tl, 100, 20*time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Same || res.Ops < 100 || res.PeerOps < 100 || res.Took < 20*time.Millisecond || res.PeerTook < 20*time.Millisecond {
		t.Fatalf("timing %+v: want both sides at least 100 calls and 20ms, and the same answer", res)
	}
	raw, _ := codesign.Base45Decode(strings.TrimPrefix(tokens[0].Payload, codesign.HealthCodePrefix))
	if res.TBSMin <= 64 || res.TBSMax >= len(raw) || res.NsPerOp() <= 0 || res.PeerNsPerOp() <= 0 {
		t.Fatalf("Sig_structure %d–%d B for a %d-byte COSE_Sign1 (want shorter, without the signature); %v and %v ns/op",
			res.TBSMin, res.TBSMax, len(raw), res.NsPerOp(), res.PeerNsPerOp())
	}

	if res, err := TimeVerify(ctx, tokens, tl, 10, 0, false); err != nil || res.Ops < 10 || res.PeerOps != 0 || res.Same {
		t.Fatalf("without the peer: %+v, %v", res, err)
	}

	// A token whose claims say another colour than expected, an expired
	// one and one from another node's key all end the timing with an error.
	wrong := append([]SignedToken(nil), tokens...)
	wrong[1].Colour = "red"
	if _, err := TimeVerify(ctx, wrong, tl, 10, 0, true); err == nil || !strings.Contains(err.Error(), "want red") {
		t.Errorf("a token of the wrong colour: %v", err)
	}
	late := append([]SignedToken(nil), tokens...)
	late[2].At = late[2].At.Add(24 * time.Hour)
	if _, err := TimeVerify(ctx, late, tl, 10, 0, true); codesign.ErrorCode(err) != codesign.CodeExpired {
		t.Errorf("an expired token: %v", err)
	}
	other := testNode(t, 1)
	otl, _ := codesign.ParseTrustList(other.TrustListJSON(), nil)
	if _, err := TimeVerify(ctx, tokens, otl, 10, 0, true); err == nil {
		t.Error("tokens verified against another node's trust list")
	}
	if _, err := TimeVerify(ctx, nil, tl, 10, 0, true); err == nil {
		t.Error("no tokens: no error")
	}
}

// serveAPI serves the node's API on 127.0.0.1:0.
func serveAPI(t *testing.T, n *node.Node) *Running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httpapi.New(httpapi.Config{Node: n})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &Running{Addr: ln.Addr().String(), Node: n, Stop: srv.Close}
}

func TestCodeLookupRows(t *testing.T) {
	n, _ := signedNode(t)
	rn := serveAPI(t, n)
	r := &runner{cfg: Config{Persons: 300, Duration: 300 * time.Millisecond, Conns: 2, Redis: "127.0.0.1:1"},
		rep: &Report{}, stderr: io.Discard, verifyOps: 50, verifyDur: 50 * time.Millisecond}
	ctx := context.Background()
	tokens, err := r.codeLookup(ctx, rn)
	if err != nil {
		t.Fatalf("code lookup: %v\nnotes: %q", err, r.rep.Notes)
	}
	// 100 sampled persons plus the non-green ones (3 red and 2 yellow
	// among 300 persons): every signed answer verified.
	if len(tokens) < 100 || len(tokens) > 150 {
		t.Fatalf("%d tokens from the same-answer check", len(tokens))
	}
	if err := r.offlineVerify(ctx, n, tokens); err != nil {
		t.Fatal(err)
	}
	rows := map[string]Row{}
	for _, row := range r.rep.Rows {
		rows[row.Name] = row
	}
	get := func(prefix string) Row {
		t.Helper()
		for name, row := range rows {
			if strings.HasPrefix(name, prefix) {
				return row
			}
		}
		t.Fatalf("no row %q in %v", prefix, r.rep.Rows)
		return Row{}
	}
	unsigned := get("code lookup unsigned, GET /persons/{id}/code?qr=none")
	if unsigned.Project <= 0 || unsigned.PeerValue == nil || unsigned.Ratio == nil || unsigned.SameAnswer == nil || !*unsigned.SameAnswer {
		t.Errorf("unsigned row %+v: want a rate next to the bare server's and the same answer", unsigned)
	}
	signed := get("code lookup signed, GET /persons/{id}/code, fresh token")
	if signed.Project <= 0 || signed.PeerValue != nil || !strings.Contains(signed.Peer, "Redis GET: could not run") {
		t.Errorf("signed row %+v: want a rate, and Redis (unreachable here) with its reason", signed)
	}
	vs := get("signed vs unsigned code lookup")
	if vs.Project != signed.Project || vs.PeerValue == nil || *vs.PeerValue != unsigned.Project || vs.SameAnswer == nil || !*vs.SameAnswer {
		t.Errorf("signed vs unsigned row %+v: want %v next to %v and the same answer", vs, signed.Project, unsigned.Project)
	}
	for _, name := range []string{"signed code lookup latency p99.9 vs Redis", "unsigned code lookup latency p99.9", "signed vs unsigned latency p99"} {
		if row := get(name); row.Project <= 0 || row.Unit != "µs" {
			t.Errorf("row %+v", row)
		}
	}
	ver := get("offline verification, codesign.Verify")
	per := get("offline verifications per core")
	if ver.Unit != "ns/op" || ver.Project <= 0 || ver.PeerValue == nil || ver.SameAnswer == nil || !*ver.SameAnswer ||
		!strings.Contains(ver.Peer, "crypto/ed25519.Verify") || per.Project <= 0 || per.PeerValue == nil {
		t.Errorf("verification rows %+v and %+v", ver, per)
	}
	var goals []string
	for _, g := range r.rep.Goals {
		goals = append(goals, g.Text)
	}
	want := []string{"signed code lookup ≥ 20,000 req/s", "code lookup ?qr=none ≥ 20,000 req/s",
		"code lookup ?qr=none ≥ 0.8× the bare net/http server", "offline verification ≥ 20,000/s per core"}
	if strings.Join(goals, "|") != strings.Join(want, "|") {
		t.Errorf("goals %q, want %q", goals, want)
	}
	if len(r.rep.Failures) != 0 {
		t.Errorf("failures: %q", r.rep.Failures)
	}
	if notes := strings.Join(r.rep.Notes, "\n"); !strings.Contains(notes, "node.SignCode was called once for each of the 300 persons") {
		t.Errorf("no note on filling the masked-name cache: %s", notes)
	}
}

// TestCodeSameAnswerMismatch: a bare server whose body differs for one
// person makes the unsigned same answer false, and nothing else.
func TestCodeSameAnswerMismatch(t *testing.T) {
	n, _ := signedNode(t)
	rn := serveAPI(t, n)
	sample := []uint32{1, 2, 7, 13}
	bodies := map[string][]byte{}
	for _, p := range sample {
		v, _ := n.Code(p)
		bodies[health.PersonID(p)] = httpapi.AppendCodeJSON(nil, &v, nil)
	}
	check := func() (sameU, sameS bool, r *runner) {
		t.Helper()
		bare, err := StartBare(bodies)
		if err != nil {
			t.Fatal(err)
		}
		defer bare.Close()
		r = &runner{rep: &Report{}, stderr: io.Discard}
		tokens, u, s, err := r.codeSameAnswer(rn, bare, sample, 2)
		if err != nil {
			t.Fatal(err)
		}
		if u == nil || s == nil || len(tokens) != len(sample) {
			t.Fatalf("same answer %v %v, %d tokens", u, s, len(tokens))
		}
		return *u, *s, r
	}
	if u, s, r := check(); !u || !s {
		t.Fatalf("identical answers: unsigned %t, signed %t; notes %q", u, s, r.rep.Notes)
	}
	bodies["p7"] = bytes.Replace(bodies["p7"], []byte(`"colour":"red"`), []byte(`"colour":"green"`), 1)
	u, s, r := check()
	if u || !s {
		t.Fatalf("a differing bare body: unsigned %t, signed %t", u, s)
	}
	if !strings.Contains(strings.Join(r.rep.Notes, "\n"), "answers differ for p7") {
		t.Errorf("notes do not name the differing person: %q", r.rep.Notes)
	}
	// Without the bare server the unsigned check is not made.
	r = &runner{rep: &Report{}, stderr: io.Discard}
	_, u2, s2, err := r.codeSameAnswer(rn, nil, sample, 2)
	if err != nil || u2 != nil || s2 == nil || !*s2 {
		t.Fatalf("without peers: %v, %v, %v", u2, s2, err)
	}
	var se *StatusError
	if _, err := fetchOnce(rn.Addr, CodeRequest(rn.Addr, "p1", n.PersonToken(1), "qr=bogus")); !errors.As(err, &se) || se.Status != 400 {
		t.Errorf("?qr=bogus: %v, want status 400", err)
	}
}

func TestCodeLookupSkipPeers(t *testing.T) {
	n, _ := signedNode(t)
	rn := serveAPI(t, n)
	r := &runner{cfg: Config{Persons: 300, Duration: 200 * time.Millisecond, Conns: 2, SkipPeers: true},
		rep: &Report{}, stderr: io.Discard, verifyOps: 20, verifyDur: 10 * time.Millisecond}
	ctx := context.Background()
	tokens, err := r.codeLookup(ctx, rn)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.offlineVerify(ctx, n, tokens); err != nil {
		t.Fatal(err)
	}
	for _, row := range r.rep.Rows {
		switch {
		case strings.HasPrefix(row.Name, "signed vs unsigned code lookup"):
			if row.PeerValue == nil || row.SameAnswer == nil || !*row.SameAnswer {
				t.Errorf("%+v: the signed check needs no peer", row)
			}
		case strings.HasPrefix(row.Name, "signed vs unsigned"):
			if row.PeerValue == nil {
				t.Errorf("%+v: the unsigned figure is healthcode's own", row)
			}
		default:
			if row.PeerValue != nil || row.SameAnswer != nil || !strings.Contains(row.Peer, "skipped (--skip-peers)") {
				t.Errorf("%+v: want the peer skipped", row)
			}
		}
	}
	if len(r.rep.Rows) != 16 {
		t.Errorf("%d rows, want 16", len(r.rep.Rows))
	}
	for _, g := range r.rep.Goals {
		if strings.Contains(g.Text, "bare net/http") != (g.Reason != "") {
			t.Errorf("goal %+v", g)
		}
	}
}
