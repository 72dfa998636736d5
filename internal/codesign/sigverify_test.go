package codesign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/edwards25519"
	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Ed25519 group order L and field prime p, little-endian, as used below.
var (
	edL = bigLE("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	edP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
)

func bigLE(h string) *big.Int {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return new(big.Int).SetBytes(reversed(b))
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

// le32 encodes n (< 2^256) as 32 little-endian bytes.
func le32(n *big.Int) []byte {
	var b [32]byte
	n.FillBytes(b[:])
	return reversed(b[:])
}

// torsion returns the 8 points of the 8-torsion subgroup.
func torsion(t testing.TB) []*edwards25519.Point {
	t8, err := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	if err != nil {
		t.Fatal(err)
	}
	T, err := new(edwards25519.Point).SetBytes(t8)
	if err != nil {
		t.Fatal(err)
	}
	pts := []*edwards25519.Point{edwards25519.NewIdentityPoint()}
	for range 7 {
		pts = append(pts, new(edwards25519.Point).Add(pts[len(pts)-1], T))
	}
	seen := map[string]bool{}
	for _, p := range pts {
		seen[string(p.Bytes())] = true
	}
	if len(seen) != 8 || new(edwards25519.Point).Add(pts[7], T).Equal(pts[0]) != 1 {
		t.Fatal("T8 is not of order 8")
	}
	return pts
}

// edgeEncodings returns point encodings that stress decoding: the small
// order points, their non-canonical encodings (y >= p, and x = 0 with the
// sign bit set), and small y values, some of them not on the curve.
func edgeEncodings(t testing.TB) [][]byte {
	var out [][]byte
	seen := map[string]bool{}
	add := func(b []byte) {
		if !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	for _, T := range torsion(t) {
		e := T.Bytes()
		add(e)
		f := bytes.Clone(e)
		f[31] ^= 0x80
		add(f)
	}
	for y := range int64(19) {
		for _, v := range []*big.Int{big.NewInt(y), new(big.Int).Add(edP, big.NewInt(y)), new(big.Int).Sub(edP, big.NewInt(y+1))} {
			e := le32(v)
			add(e)
			f := bytes.Clone(e)
			f[31] |= 0x80
			add(f)
		}
	}
	return out
}

// edgeScalars returns S values around L and the bounds crypto/ed25519 checks.
func edgeScalars() [][]byte {
	one := big.NewInt(1)
	two253 := new(big.Int).Lsh(one, 253)
	var out [][]byte
	for _, v := range []*big.Int{
		big.NewInt(0), one, big.NewInt(8),
		new(big.Int).Sub(edL, one), edL, new(big.Int).Add(edL, one), new(big.Int).Add(edL, big.NewInt(8)),
		new(big.Int).Sub(two253, one), two253, new(big.Int).Sub(new(big.Int).Lsh(one, 256), one),
	} {
		out = append(out, le32(v))
	}
	return out
}

func checkSame(t *testing.T, pub, msg, sig []byte) bool {
	t.Helper()
	want := ed25519.Verify(pub, msg, sig)
	if got := newEdKey(pub).verify(msg, sig); got != want {
		t.Fatalf("pub %x msg %x sig %x: verify %v, crypto/ed25519.Verify %v", pub, msg, sig, got, want)
	}
	return want
}

// The cached-key Ed25519 verification accepts exactly the signatures
// crypto/ed25519.Verify accepts.
func TestEdKeyMatchesCryptoEd25519(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{'e', 'd'}))
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}

	t.Run("real keys, mutated signatures and messages", func(t *testing.T) {
		for i := range 4 {
			priv := ed25519.NewKeyFromSeed(randBytes(32))
			pub := priv.Public().(ed25519.PublicKey)
			msg := randBytes(r.IntN(300))
			sig := ed25519.Sign(priv, msg)
			if !checkSame(t, pub, msg, sig) {
				t.Fatal("a genuine signature does not verify")
			}
			for bit := range 64 * 8 {
				s := bytes.Clone(sig)
				s[bit/8] ^= 1 << (bit % 8)
				checkSame(t, pub, msg, s)
			}
			if len(msg) > 0 {
				m := bytes.Clone(msg)
				m[r.IntN(len(m))] ^= 1 << r.IntN(8)
				checkSame(t, pub, m, sig)
			}
			checkSame(t, pub, append(bytes.Clone(msg), 0), sig)
			checkSame(t, pub, msg, sig[:63])
			checkSame(t, pub, msg, append(bytes.Clone(sig), 0))
			checkSame(t, pub, msg, nil)
			// S + L (non-canonical S for the same point), and S with
			// the edge values.
			S := new(big.Int).SetBytes(reversed(sig[32:]))
			for _, s := range append(edgeScalars(), le32(new(big.Int).Add(S, edL)), le32(new(big.Int).Add(S, new(big.Int).Lsh(edL, 1)))) {
				checkSame(t, pub, msg, append(bytes.Clone(sig[:32]), s...))
			}
			// A non-canonical R of the same point, where one exists, and
			// edge R values.
			for _, R := range edgeEncodings(t) {
				checkSame(t, pub, msg, append(bytes.Clone(R), sig[32:]...))
			}
			// Another key.
			other := ed25519.NewKeyFromSeed(randBytes(32)).Public().(ed25519.PublicKey)
			checkSame(t, other, msg, sig)
			_ = i
		}
	})

	t.Run("edge keys and signatures", func(t *testing.T) {
		tors := torsion(t)
		accepted := 0
		keys := append(edgeEncodings(t), randBytes(32), randBytes(32))
		for _, pub := range keys {
			msg := randBytes(r.IntN(64))
			scalars := append(edgeScalars(), randBytes(31), randBytes(32))
			for _, sb := range scalars {
				rs := append(edgeEncodings(t)[:8], randBytes(32))
				if S, err := new(edwards25519.Scalar).SetCanonicalBytes(sb); err == nil {
					// R = [S]B + T: with a small-order A, [S]B - [k]A is
					// one of these, so some of them verify.
					SB := new(edwards25519.Point).ScalarBaseMult(S)
					for _, T := range tors {
						rs = append(rs, new(edwards25519.Point).Add(SB, T).Bytes())
					}
				}
				for _, R := range rs {
					if checkSame(t, pub, msg, append(bytes.Clone(R), sb...)) {
						accepted++
					}
				}
			}
		}
		if accepted == 0 {
			t.Fatal("no edge signature verified: the accepting paths were not compared")
		}
		t.Logf("%d edge keys, %d edge signatures accepted by both", len(keys), accepted)
	})
}

// FuzzEd25519Verify compares the cached-key verification with
// crypto/ed25519.Verify. With a 32-byte pub the inputs are used as they
// are; otherwise pub seeds a key that signs msg, and sig is XORed into the
// genuine signature, so that near-valid signatures are explored.
func FuzzEd25519Verify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte("Signature1 message")
	sig := ed25519.Sign(priv, msg)
	f.Add([]byte(pub), msg, sig)
	f.Add([]byte("seed"), msg, []byte{})
	f.Add([]byte("seed"), msg, []byte{1})
	f.Add([]byte("seed"), msg, append(make([]byte, 63), 0x10))
	for _, e := range edgeEncodings(f)[:4] {
		f.Add(e, msg, append(bytes.Clone(e), make([]byte, 32)...))
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			seed := sha256.Sum256(pub)
			priv := ed25519.NewKeyFromSeed(seed[:])
			genuine := ed25519.Sign(priv, msg)
			for i := range min(len(sig), len(genuine)) {
				genuine[i] ^= sig[i]
			}
			if len(sig) > len(genuine) {
				genuine = append(genuine, sig[len(genuine):]...)
			}
			pub, sig = priv.Public().(ed25519.PublicKey), genuine
		}
		checkSame(t, pub, msg, sig)
	})
}

// legacySign1 is the go-cose based parseSign1 this package used before the
// strict parser: the oracle the strict parser is compared with.
type legacySign1 struct {
	protected, payload, signature []byte
	alg                           int64
	kid                           string
}

func parseSign1Legacy(raw []byte) (*legacySign1, error) {
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(raw); err != nil {
		return nil, err
	}
	if len(msg.Headers.Unprotected) != 0 {
		return nil, fmt.Errorf("unprotected header is not empty")
	}
	if len(msg.Payload) == 0 {
		return nil, fmt.Errorf("payload is empty or detached")
	}
	var protected []byte
	if err := decMode.Unmarshal(msg.Headers.RawProtected, &protected); err != nil {
		return nil, err
	}
	canon, err := encMode.Marshal(cbor.Tag{
		Number:  cose.CBORTagSign1Message,
		Content: []any{protected, map[int]int{}, msg.Payload, msg.Signature},
	})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, raw) {
		return nil, fmt.Errorf("not in canonical encoding")
	}
	if len(msg.Headers.Protected) != 2 {
		return nil, fmt.Errorf("protected header must hold exactly alg and kid")
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return nil, err
	}
	kid, ok := msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if !ok || len(kid) != 4 {
		return nil, fmt.Errorf("kid must be 4 bytes")
	}
	return &legacySign1{msg.Headers.RawProtected, msg.Payload, msg.Signature, int64(alg), hex.EncodeToString(kid)}, nil
}

// compareWithLegacy checks that parseSign1 accepts what the go-cose based
// parser accepted, with the same content, except a protected header that is
// not in canonical encoding, which only the strict parser refuses.
func compareWithLegacy(t *testing.T, raw []byte) {
	t.Helper()
	m, err := parseSign1(raw)
	old, oldErr := parseSign1Legacy(raw)
	switch {
	case err == nil && oldErr != nil:
		t.Fatalf("%x: strict parser accepts what go-cose refused: %v", raw, oldErr)
	case err == nil:
		if !bytes.Equal(m.protected, old.protected) || !bytes.Equal(m.payload, old.payload) || !bytes.Equal(m.signature, old.signature) || m.alg != old.alg || m.kidHex() != old.kid {
			t.Fatalf("%x: parsed %+v, go-cose %+v", raw, m, old)
		}
		// The signed bytes are the canonical Sig_structure.
		want, err := encMode.Marshal([]any{"Signature1", cbor.RawMessage(m.protected), []byte("HCC1:"), m.payload})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSigStructure(nil, m.protected, "HCC1:", m.payload); !bytes.Equal(got, want) {
			t.Fatalf("Sig_structure %x, want %x", got, want)
		}
	case oldErr == nil:
		var prot []byte
		if err := cbor.Unmarshal(old.protected, &prot); err != nil {
			t.Fatal(err)
		}
		kid, _ := hex.DecodeString(old.kid)
		canon, cerr := encMode.Marshal(map[int]any{1: old.alg, 4: kid})
		if cerr != nil {
			t.Fatal(cerr)
		}
		if bytes.Equal(prot, canon) {
			t.Fatalf("%x: strict parser refuses a canonical message go-cose accepted: %v", raw, err)
		}
	}
}

// sign1Seeds returns COSE_Sign1 messages: genuine ones (codes, place codes,
// a trust list) and hand-made variants around the strict parser's rules.
func sign1Seeds(t testing.TB) [][]byte {
	f := newFixture(t)
	var seeds [][]byte
	for _, region := range []string{regionEd, regionEC} {
		s := f.signer(t, region)
		for _, p := range []string{signCode(t, s, sampleClaims(t, t0)), signPlace(t, s, PlaceClaims{Place: "L45"})} {
			raw, err := Base45Decode(p[5:])
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, raw)
		}
	}
	msg := func(protected []byte, rest ...byte) []byte {
		p, _ := encMode.Marshal(protected)
		return append(append([]byte{0xd2, 0x84}, p...), rest...)
	}
	tail := []byte{0xa0, 0x41, 0x00, 0x41, 0x00} // {}, h'00', h'00'
	for _, prot := range [][]byte{
		{0xa2, 0x01, 0x27, 0x04, 0x44, 1, 2, 3, 4},                // canonical EdDSA
		{0xa2, 0x01, 0x26, 0x04, 0x44, 1, 2, 3, 4},                // canonical ES256
		{0xa2, 0x01, 0x38, 0x22, 0x04, 0x44, 1, 2, 3, 4},          // ES384
		{0xa2, 0x01, 0x18, 0x18, 0x04, 0x44, 1, 2, 3, 4},          // alg 24
		{0xa2, 0x04, 0x44, 1, 2, 3, 4, 0x01, 0x27},                // keys out of order
		{0xa2, 0x01, 0x38, 0x07, 0x04, 0x44, 1, 2, 3, 4},          // alg -8, non-minimal
		{0xa2, 0x01, 0x27, 0x04, 0x58, 0x04, 1, 2, 3, 4},          // kid length non-minimal
		{0xa2, 0x18, 0x01, 0x27, 0x04, 0x44, 1, 2, 3, 4},          // label non-minimal
		{0xa2, 0x01, 0x27, 0x04, 0x43, 1, 2, 3},                   // 3-byte kid
		{0xa2, 0x01, 0x63, 'a', 'b', 'c', 0x04, 0x44, 1, 2, 3, 4}, // text alg
		{0xa1, 0x01, 0x27}, // no kid
		{0xa3, 0x01, 0x27, 0x03, 0x00, 0x04, 0x44, 1, 2, 3, 4}, // content type too
		{},
	} {
		seeds = append(seeds, msg(prot, tail...))
	}
	canon := []byte{0xa2, 0x01, 0x27, 0x04, 0x44, 1, 2, 3, 4}
	seeds = append(seeds,
		msg(canon, 0xa0, 0x40, 0x41, 0x00),             // empty payload
		msg(canon, 0xa0, 0xf6, 0x41, 0x00),             // detached payload
		msg(canon, 0xa0, 0x41, 0x00, 0x40),             // empty signature
		msg(canon, 0xa0, 0x58, 0x01, 0x00, 0x41, 0x00), // non-minimal payload length
		msg(canon, 0xa1, 0x03, 0x00, 0x41, 0x00, 0x41, 0x00),
		msg(canon, 0xa0, 0x41, 0x00, 0x41, 0x00, 0x00),       // trailing byte
		msg(canon, 0xa0, 0x5f, 0x41, 0x00, 0xff, 0x41, 0x00), // indefinite payload
	)
	return seeds
}

func TestParseSign1MatchesGoCOSE(t *testing.T) {
	for _, raw := range sign1Seeds(t) {
		compareWithLegacy(t, raw)
		for i := range len(raw) * 8 {
			alt := bytes.Clone(raw)
			alt[i/8] ^= 1 << (i % 8)
			compareWithLegacy(t, alt)
		}
		for n := range len(raw) {
			compareWithLegacy(t, raw[:n])
		}
	}
	// The trust list's signed message, with its longer payload.
	data, err := newFixture(t).ks.TrustList(t0)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := decodeJSONObject(data)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(doc["signed"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseSign1(raw); err != nil {
		t.Fatal(err)
	}
	compareWithLegacy(t, raw)
}

func FuzzParseSign1(f *testing.F) {
	for _, s := range sign1Seeds(f) {
		f.Add(s)
	}
	f.Fuzz(compareWithLegacy)
}

// A revoked id in upper case matches no kid, as before the index by raw kid.
func TestRevokedIDCase(t *testing.T) {
	// Key ids are random hex; an all-digit id has no upper case, so draw
	// fixtures until the id has a letter (each draw has one 97.7% of the time).
	var f *fixture
	var s *Signer
	for i := 0; i < 64; i++ {
		f = newFixture(t)
		s = f.signer(t, regionEd)
		if strings.ToUpper(s.Key().ID) != s.Key().ID {
			break
		}
	}
	if strings.ToUpper(s.Key().ID) == s.Key().ID {
		t.Fatalf("64 key ids without a letter: %s", s.Key().ID)
	}
	tl := f.list(t, t0)
	upper := &TrustList{Serial: tl.Serial, Issued: tl.Issued, Root: tl.Root, Keys: tl.Keys,
		Revoked: []string{string(bytes.ToUpper([]byte(s.Key().ID)))}}
	if _, err := Verify(signCode(t, s, sampleClaims(t, t0)), upper, t0.Add(time.Minute)); err != nil {
		t.Fatalf("upper-case revoked id: %v", err)
	}
	lower := &TrustList{Serial: tl.Serial, Issued: tl.Issued, Root: tl.Root, Keys: tl.Keys[:0:0],
		Revoked: []string{s.Key().ID}}
	for _, k := range tl.Keys {
		if k.ID != s.Key().ID {
			lower.Keys = append(lower.Keys, k)
		}
	}
	_, err := Verify(signCode(t, s, sampleClaims(t, t0)), lower, t0)
	wantCode(t, err, CodeRevokedKey)
	if _, ok := lower.Key(s.Key().ID); ok {
		t.Fatal("Key returns a revoked key")
	}
	if k, ok := tl.Key(s.Key().ID); !ok || k.ID != s.Key().ID {
		t.Fatal("Key does not find a trusted key")
	}
}

// A trusted Ed25519 key that is not a valid point verifies nothing (as
// crypto/ed25519.Verify refuses every signature under it).
func TestEdKeyInvalidPoint(t *testing.T) {
	var bad []byte
	for _, e := range edgeEncodings(t) {
		if _, err := new(edwards25519.Point).SetBytes(e); err != nil {
			bad = e
			break
		}
	}
	if bad == nil {
		t.Fatal("no invalid encoding among the edge encodings")
	}
	k := newEdKey(bad)
	if k.negA != nil {
		t.Fatal("invalid point decoded")
	}
	if k.verify([]byte("m"), make([]byte, 64)) || ed25519.Verify(bad, []byte("m"), make([]byte, 64)) {
		t.Fatal("verified under an invalid key")
	}
}

// codeWireSeeds returns the claims of signed codes with every combination
// of optional claims, and variants around the canonical form.
func codeWireSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for opt := range 1 << 5 {
		w := codeWire{Issuer: regionEd, IssuedAt: t0.Unix(), ExpiresAt: t0.Add(time.Hour).Unix(), Version: 1, Pseudonym: bytes.Repeat([]byte{7}, PseudonymSize), Colour: 2}
		if opt&1 != 0 {
			w.Star = true
		}
		if opt&2 != 0 {
			w.LastTest = -1
		}
		if opt&4 != 0 {
			w.Region = "440106"
		}
		if opt&8 != 0 {
			w.MaskedName = "欧**"
		}
		if opt&16 != 0 {
			w.Paper = true
		}
		b, err := encMode.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, v := range []any{
		codeWire{},
		map[int]any{1: "", 4: 0, 6: 0, -1: 0, -2: []byte{}, -3: 0, -4: false},
		map[int]any{1: "", 4: 0, 6: 0, -1: 0, -2: []byte{}, -3: 0, -5: 0},
		map[int]any{1: "", 4: 0, 6: 0, -1: 0, -2: []byte{}, -3: 0, -6: ""},
		map[int]any{1: "", 4: 0, 6: 0, -1: 0, -2: []byte{}, -3: 0, -9: 1},
		map[int]any{1: "", 4: 0, 6: 0, -1: 0, -2: []byte{}},
		map[int]any{1: "", 4: 0, 6: 0, -1: 0, -2: []byte{}, -4: true},
		map[int]any{4: 0, 6: 0, -1: 0, -2: []byte{}, -3: 0, -4: true, -5: 1, -6: "a", -7: "b", -8: true},
		map[int]any{1: "", 4: uint64(math.MaxUint64), 6: 0, -1: 0, -2: []byte{}, -3: 0},
		map[int]any{1: "\xff", 4: 0, 6: 0, -1: 0, -2: []byte{}, -3: 0},
		map[int]any{1: "", 4: 0, 6: 0, -1: -1, -2: []byte{}, -3: 0},
		map[int]any{1: "", 4: 1.5, 6: 0, -1: 0, -2: []byte{}, -3: 0},
	} {
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// checkFastDecode checks the fast path against decodeCanonical.
func checkFastDecode(t *testing.T, data []byte) bool {
	t.Helper()
	var fast, slow codeWire
	if !fastDecodeCodeWire(data, &fast) {
		return false
	}
	if err := decodeCanonical(data, &slow); err != nil {
		t.Fatalf("%x: fast path accepts what decodeCanonical refuses: %v", data, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%x: fast path %+v, decodeCanonical %+v", data, fast, slow)
	}
	var both codeWire
	if err := decodeCodeWire(data, &both); err != nil || !reflect.DeepEqual(both, slow) {
		t.Fatalf("%x: decodeCodeWire %+v, %v", data, both, err)
	}
	return true
}

func TestFastDecodeCodeWire(t *testing.T) {
	for i, b := range codeWireSeeds(t) {
		// The 32 genuine combinations take the fast path.
		if !checkFastDecode(t, b) && i < 32 {
			t.Fatalf("%x: genuine claims miss the fast path", b)
		}
		for j := range len(b) * 8 {
			alt := bytes.Clone(b)
			alt[j/8] ^= 1 << (j % 8)
			checkFastDecode(t, alt)
		}
		for n := range len(b) {
			checkFastDecode(t, b[:n])
		}
	}
	// Claims of a signed token, as Verify sees them.
	f := newFixture(t)
	p := signCode(t, f.signer(t, regionEd), sampleClaims(t, t0))
	raw, _ := Base45Decode(p[len(HealthCodePrefix):])
	m, err := parseSign1(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !checkFastDecode(t, m.payload) {
		t.Fatal("a signed token's claims miss the fast path")
	}
}

func FuzzDecodeCodeWire(f *testing.F) {
	for _, s := range codeWireSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastDecode(t, data) })
}
