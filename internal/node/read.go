package node

import (
	"context"
	"errors"
	"sort"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/identity"
	"healthcode/internal/sqlite"
)

// CodeView is a person's code as shown to them: colour, star, the reasons
// (rule and evidence), the last test and how long it is valid.
type CodeView struct {
	Person         uint32
	Colour         health.Colour
	Star           bool
	Reasons        []health.Reason
	LastResult     health.Result
	LastTestAt     time.Time
	ValidUntil     time.Time
	NextEval       time.Time
	Ruleset        string
	RulesetVersion int
}

// Code returns a person's current code at now. It is lock-free for codes
// without reasons. It returns NotFound for an unknown person.
func (n *Node) Code(p uint32) (CodeView, error) {
	if p == 0 || p > n.nPersons.Load() {
		return CodeView{}, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(p))
	}
	now := n.now()
	st := n.codes.load(p)
	v := CodeView{Person: p, Colour: st.colour(), Star: st.star(), LastResult: st.lastResult(),
		NextEval: st.nextEval(), Ruleset: n.rules.ID, RulesetVersion: n.rules.Version}
	if v.LastResult != health.NoResult {
		v.LastTestAt = st.lastTest()
	}
	if st.hasDetail() {
		if c := n.codes.reasons(p); c != nil {
			v.Reasons = c.Reasons
		}
	}
	v.ValidUntil = now.Add(n.cfg.CodeTTL).Truncate(time.Second)
	if !v.NextEval.IsZero() && v.NextEval.Before(v.ValidUntil) {
		v.ValidUntil = v.NextEval
	}
	return v, nil
}

// PersonToken returns a person's bearer token.
func (n *Node) PersonToken(p uint32) string { return n.vault.PersonToken(p) }

// CheckPersonToken returns the person a token belongs to; ok is false for a
// forged or malformed token or an unknown person.
func (n *Node) CheckPersonToken(tok string) (uint32, bool) {
	p, ok := n.vault.CheckPersonToken(tok)
	if !ok || p > n.nPersons.Load() {
		return 0, false
	}
	return p, true
}

// Identity decrypts a person's identity. Callers must be authorised; the
// read is the caller's to audit. It returns NotFound for an unknown person.
func (n *Node) Identity(ctx context.Context, p uint32) (identity.Identity, error) {
	h, sealed, err := n.store.Identity(ctx, p)
	if errors.Is(err, sqlite.ErrNotFound) {
		return identity.Identity{}, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(p))
	}
	if err != nil {
		return identity.Identity{}, err
	}
	return n.vault.Open(sealed, h[:])
}

// Place returns a registered place, or NotFound.
func (n *Node) Place(idx uint32) (health.Place, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if idx == 0 || int(idx) >= len(n.places) {
		return health.Place{}, health.Errorf(health.NotFound, "unknown_place", "place_id", "no place %s", health.PlaceID(idx))
	}
	return n.places[idx], nil
}

// Places returns up to limit places starting after index after, in index order.
func (n *Node) Places(after uint32, limit int) []health.Place {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []health.Place
	for i := int(after) + 1; i < len(n.places) && len(out) < limit; i++ {
		out = append(out, n.places[i])
	}
	return out
}

// RiskAreas returns the areas in force at now, newest first.
func (n *Node) RiskAreas(all bool) []health.RiskArea {
	now := n.now()
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []health.RiskArea
	for _, a := range n.areas {
		if all || a.Active(now) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq > out[j].Seq })
	return out
}

// Ruleset returns the ruleset in force.
func (n *Node) Ruleset() *health.Ruleset { return n.rules }

// Stats are the node's counts.
type Stats struct {
	Persons, Places, Visits, Tests, Events int
	Codes                                  [3]int
	Starred                                int
	NonGreen                               int
	TopReasons                             []ReasonCount
	CodeViewBytes, VisitIndexBytes         int
}

// ReasonCount is how many codes cite a rule.
type ReasonCount struct {
	Rule  string
	Title map[string]string
	Count int
}

// Stats returns the node's counts and the most cited rules.
func (n *Node) Stats() Stats {
	s := Stats{Persons: int(n.nPersons.Load()), Places: int(n.nPlaces.Load()), Events: int(n.nEvents.Load()), Tests: int(n.nTests.Load())}
	for c := range s.Codes {
		s.Codes[c] = int(n.codes.counts[c].Load())
	}
	s.Starred = int(n.codes.stars.Load())
	s.NonGreen = s.Codes[health.Yellow] + s.Codes[health.Red]
	n.mu.RLock()
	s.Visits = n.visits.Len()
	s.VisitIndexBytes = n.visits.MemBytes()
	n.mu.RUnlock()
	s.CodeViewBytes = n.codes.memBytes()
	counts := map[string]*ReasonCount{}
	n.codes.mu.RLock()
	for _, c := range n.codes.detail {
		seen := map[string]bool{}
		for _, r := range c.Reasons {
			if seen[r.Rule] {
				continue
			}
			seen[r.Rule] = true
			rc := counts[r.Rule]
			if rc == nil {
				rc = &ReasonCount{Rule: r.Rule, Title: r.Title}
				counts[r.Rule] = rc
			}
			rc.Count++
		}
	}
	n.codes.mu.RUnlock()
	for _, rc := range counts {
		s.TopReasons = append(s.TopReasons, *rc)
	}
	sort.Slice(s.TopReasons, func(i, j int) bool {
		if s.TopReasons[i].Count != s.TopReasons[j].Count {
			return s.TopReasons[i].Count > s.TopReasons[j].Count
		}
		return s.TopReasons[i].Rule < s.TopReasons[j].Rule
	})
	return s
}

// Event returns one event from the log (for "why is my code red").
func (n *Node) Event(ctx context.Context, seq uint64) (health.Event, error) {
	e, err := n.store.Event(ctx, seq)
	if errors.Is(err, sqlite.ErrNotFound) {
		return e, health.Errorf(health.NotFound, "unknown_event", "event_id", "no event %s", health.EventID(seq))
	}
	return redactCredentials(e), err
}

// Now returns the node's current time.
func (n *Node) Now() time.Time { return n.now() }
