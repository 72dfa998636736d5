package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/region"
)

// Signing defaults.
const (
	DefaultScreenTTL = 5 * time.Minute // a code shown on a phone screen
	DefaultPaperTTL  = 24 * time.Hour  // a printed code for people without phones
	// DefaultScreenReuse is how long a signed screen token is handed out
	// again while the claims it carries are unchanged (D50).
	DefaultScreenReuse = 30 * time.Second
	signingKeyLife     = 365 * 24 * time.Hour
	renewBefore        = 30 * 24 * time.Hour // OpenKeys rotates a key this close to its end
)

// VenueKeyRegion is the keystore region of a node's venue key: place codes
// are signed by a key of their own, so rotating the personal-code key (which
// cuts its validity to a day) does not invalidate printed posters.
func VenueKeyRegion(node string) string { return node + "/venue" }

// OpenKeys opens the node's signing keystore in dir (sealed under a key
// derived from the master key) and makes sure the node has an active
// personal-code key and venue key. It is used by serve, demo and tests.
func OpenKeys(dir string, master []byte, nodeRegion string, now time.Time) (*codesign.Keystore, error) {
	kek, err := codesign.DeriveKEK(master)
	if err != nil {
		return nil, err
	}
	ks, err := codesign.OpenKeystore(filepath.Join(dir, codesign.KeystoreFile), kek)
	if err != nil {
		return nil, err
	}
	for _, r := range []string{nodeRegion, VenueKeyRegion(nodeRegion)} {
		s, err := ks.Active(r)
		switch {
		case err != nil:
			_, err = ks.Generate(codesign.AlgEdDSA, r, now, signingKeyLife)
		case s.Key().NotAfter.Sub(now) < renewBefore:
			// Close to (or past) the end of its validity: a key that
			// expired would make every code fail to sign.
			_, err = ks.Rotate(r, now)
		}
		if err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// signing is the node's view of its keys: signers and the trust lists it
// verifies against (its own first, then those of other nodes).
type signing struct {
	ks        *codesign.Keystore
	region    string
	code      *codesign.Signer
	venue     *codesign.Signer
	own       *codesign.TrustList
	ownJSON   []byte
	others    []*codesign.TrustList
	screenTTL time.Duration
	paperTTL  time.Duration
	reuse     time.Duration // DefaultScreenReuse; 0: every view signs
	screens   screenCache

	placeCache placeCodes // verified static venue codes

	maskMu sync.RWMutex
	masks  map[uint32]string // masked names, read lazily from the vault
}

func newSigning(cfg *Config, now time.Time) (*signing, error) {
	if cfg.Keys == nil {
		return nil, errors.New("node: Keys is required")
	}
	s := &signing{ks: cfg.Keys, region: cfg.Region, screenTTL: cfg.ScreenTTL, paperTTL: cfg.PaperTTL,
		masks: map[uint32]string{}, others: cfg.Trust}
	if s.screenTTL <= 0 {
		s.screenTTL = DefaultScreenTTL
	}
	if s.paperTTL <= 0 {
		s.paperTTL = DefaultPaperTTL
	}
	switch {
	case cfg.ScreenReuse == 0:
		s.reuse = DefaultScreenReuse
	case cfg.ScreenReuse > 0:
		s.reuse = min(cfg.ScreenReuse, s.screenTTL/2)
	}
	cfg.Keys.SetMaxTokenLifetime(max(s.screenTTL, s.paperTTL) + time.Hour)
	var err error
	if s.code, err = cfg.Keys.Active(cfg.Region); err != nil {
		return nil, fmt.Errorf("node: personal-code key: %w", err)
	}
	if s.venue, err = cfg.Keys.Active(VenueKeyRegion(cfg.Region)); err != nil {
		return nil, fmt.Errorf("node: venue key: %w", err)
	}
	if s.ownJSON, err = cfg.Keys.TrustList(now); err != nil {
		return nil, err
	}
	if s.own, err = codesign.ParseTrustList(s.ownJSON, nil); err != nil {
		return nil, fmt.Errorf("node: own trust list: %w", err)
	}
	return s, nil
}

// TrustListJSON returns the node's signed trust list (the file a verifier
// saves for offline use).
func (n *Node) TrustListJSON() []byte { return n.sign.ownJSON }

// NodeRegion returns the node's id (the region it serves), which is the
// issuer of its codes.
func (n *Node) NodeRegion() string { return n.sign.region }

// SignedCode is a signed personal code token.
type SignedCode struct {
	Payload   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Paper     bool
	Claims    codesign.Claims
	View      CodeView // the code the token shows
}

// SignCode signs person p's current code: a screen token valid for the
// screen TTL, or a paper token valid for the paper TTL; never beyond the
// time the code changes by itself.
func (n *Node) SignCode(ctx context.Context, p uint32, paper bool) (SignedCode, error) {
	v, err := n.Code(p)
	if err != nil {
		return SignedCode{}, err
	}
	mask, err := n.maskedName(ctx, p)
	if err != nil {
		return SignedCode{}, err
	}
	now := n.now().Truncate(time.Second)
	ttl := n.sign.screenTTL
	if paper {
		ttl = n.sign.paperTTL
	}
	exp := now.Add(ttl)
	if !v.NextEval.IsZero() && v.NextEval.After(now) && v.NextEval.Before(exp) {
		exp = v.NextEval.Truncate(time.Second)
		if !exp.After(now) {
			exp = now.Add(time.Second)
		}
	}
	c := codesign.Claims{Version: codesign.ClaimsVersion,
		Colour: v.Colour.String(), Star: v.Star, IssuedAt: now, ExpiresAt: exp,
		Issuer: n.sign.region, Region: n.homeRegion(p), MaskedName: mask, Paper: paper}
	if v.LastResult != health.NoResult {
		c.LastTest = v.LastTestAt
	}
	if !paper && n.sign.reuse > 0 {
		if sc, ok := n.sign.screens.get(p, &c, n.sign.reuse); ok {
			sc.View = v
			return sc, nil
		}
	}
	c.Pseudonym = n.vault.Pseudonym(p, now.Unix())
	payload, err := n.sign.code.SignCode(c)
	if err != nil {
		return SignedCode{}, fmt.Errorf("node: sign code: %w", err)
	}
	sc := SignedCode{Payload: payload, IssuedAt: now, ExpiresAt: exp, Paper: paper, Claims: c, View: v}
	if !paper && n.sign.reuse > 0 {
		n.sign.screens.put(p, &sc)
	}
	return sc, nil
}

// screenCache remembers the last screen token signed for a person, so that
// a phone refreshing its code (or a gate and the phone asking within
// seconds) does not cost an Ed25519 signature each time (D50). It is
// direct-mapped (a person's slot is p mod its size), so its memory is
// bounded whatever the population (about 12 MiB, allocated at the first
// token): a colliding person evicts the other.
type screenCache struct {
	once  sync.Once
	locks [64]sync.Mutex
	slots []screenSlot
}

const screenSlots = 1 << 16

type screenSlot struct {
	person  uint32
	set     bool
	payload string
	claims  codesign.Claims
}

func (sc *screenCache) slot(p uint32) (*screenSlot, *sync.Mutex) {
	sc.once.Do(func() { sc.slots = make([]screenSlot, screenSlots) })
	i := p & (screenSlots - 1)
	return &sc.slots[i], &sc.locks[i%uint32(len(sc.locks))]
}

// get returns the cached token for p if it was issued less than reuse ago
// and carries exactly the claims want would carry (colour, star, last test,
// region, masked name) with an expiry no later than want's: a token never
// outlives the time the code changes by itself.
func (sc *screenCache) get(p uint32, want *codesign.Claims, reuse time.Duration) (SignedCode, bool) {
	slot, mu := sc.slot(p)
	mu.Lock()
	s := *slot
	mu.Unlock()
	got := &s.claims
	if !s.set || s.person != p ||
		want.IssuedAt.Sub(got.IssuedAt) >= reuse || want.IssuedAt.Before(got.IssuedAt) ||
		got.ExpiresAt.After(want.ExpiresAt) || !got.ExpiresAt.After(want.IssuedAt) ||
		got.Colour != want.Colour || got.Star != want.Star || !got.LastTest.Equal(want.LastTest) ||
		got.Region != want.Region || got.MaskedName != want.MaskedName || got.Issuer != want.Issuer ||
		got.Paper != want.Paper {
		return SignedCode{}, false
	}
	return SignedCode{Payload: s.payload, IssuedAt: got.IssuedAt, ExpiresAt: got.ExpiresAt, Claims: s.claims}, true
}

func (sc *screenCache) put(p uint32, code *SignedCode) {
	slot, mu := sc.slot(p)
	mu.Lock()
	*slot = screenSlot{person: p, set: true, payload: code.Payload, claims: code.Claims}
	mu.Unlock()
}
func (n *Node) homeRegion(p uint32) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.home(p)
}

// home is homeRegion for callers that hold n.mu (or are the writer).
func (n *Node) home(p uint32) string {
	if int(p) < len(n.persons) {
		if r := n.persons[p].home; r != 0 {
			return region.Unpack(r)
		}
	}
	return ""
}

// maskedName returns the person's masked name ("张*"), decrypting the
// identity once and caching the masked form only.
func (n *Node) maskedName(ctx context.Context, p uint32) (string, error) {
	n.sign.maskMu.RLock()
	m, ok := n.sign.masks[p]
	n.sign.maskMu.RUnlock()
	if ok {
		return m, nil
	}
	id, err := n.Identity(ctx, p)
	if err != nil {
		return "", err
	}
	m = identity.MaskName(id.Name)
	n.sign.maskMu.Lock()
	n.sign.masks[p] = m
	n.sign.maskMu.Unlock()
	return m, nil
}

// VerifyCode checks a personal code token offline against the node's own
// trust list and those of other nodes it trusts. The error is a
// *codesign.Error naming the reason.
func (n *Node) VerifyCode(payload string) (codesign.Claims, error) {
	now := n.now()
	c, err := codesign.Verify(payload, n.sign.own, now)
	if codesign.ErrorCode(err) != codesign.CodeUnknownKey {
		return c, err
	}
	for _, tl := range n.sign.others {
		c, e := codesign.Verify(payload, tl, now)
		if codesign.ErrorCode(e) == codesign.CodeUnknownKey {
			continue
		}
		// Another node's list speaks only for other issuers: a key it lists
		// for this node's own region is not this node's key.
		if e == nil && (c.Issuer == n.sign.region || c.Issuer == VenueKeyRegion(n.sign.region)) {
			return codesign.Claims{}, &codesign.Error{Code: codesign.CodeWrongIssuer, Msg: "a foreign trust list vouched for this node's own issuer " + c.Issuer}
		}
		return c, e
	}
	return c, err
}
