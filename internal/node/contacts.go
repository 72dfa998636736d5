package node

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/region"
	"healthcode/internal/trace"
)

// maxExposures is how many exposures a contact_traced event keeps (the
// earliest); the count of all is kept beside them.
const maxExposures = 50

// ContactExposure is one exposure of a recorded contact.
type ContactExposure struct {
	Place       uint32    `json:"place"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Via         uint32    `json:"via,omitempty"` // the close contact, for a secondary one
	Visit       uint64    `json:"visit"`
	SourceVisit uint64    `json:"source_visit"`
	Unverified  bool      `json:"unverified,omitempty"`
}

// ContactRecord is what tracing found about one person and one case, as
// recorded (the contact_traced event). The latest record per person and
// case is the one in force.
type ContactRecord struct {
	Seq          uint64            `json:"-"`
	Person       uint32            `json:"-"`
	Case         string            `json:"case_id"`
	Degree       int               `json:"degree"`
	First        time.Time         `json:"first"`
	Last         time.Time         `json:"last"` // end of the latest exposure
	Unverified   bool              `json:"unverified,omitempty"`
	Exposures    []ContactExposure `json:"exposures"`
	AllExposures int               `json:"all_exposures"`
	Actor        string            `json:"-"`
	Recorded     time.Time         `json:"-"`
}

// Referral pushes a contact whose home county is not the case's to the
// inbox of the home county (replacing the paper 协查函).
type Referral struct {
	Seq       uint64 // the contact_traced event that made it (its id)
	Person    uint32
	Case      string
	From, To  string // the case's county, the contact's home county
	Degree    int
	Record    uint64    // the latest contact_traced event for the person and case
	Acked     uint64    // the acknowledgement event, 0 while open
	AckedBy   string    //
	AckedAt   time.Time //
	AckedNote string    //
}

type referralKey struct {
	person uint32
	caseID string
}

type ackData struct {
	Note string `json:"note,omitempty"`
}

// RecordContacts records the contacts of a trace as contact_traced events,
// so that the code rules act on them with the exposures as evidence. A
// contact already recorded for the same case with the same or a closer
// degree and no later exposure is not recorded again. It returns how many
// records were written.
func (n *Node) RecordContacts(ctx context.Context, actor string, res trace.Result) (int, error) {
	type rec struct {
		person uint32
		r      ContactRecord
	}
	var recs []rec
	for _, c := range res.Contacts {
		byCase := map[string]*ContactRecord{}
		var order []string
		for k := range c.Exposures {
			e := &c.Exposures[k]
			cas := res.Case(e)
			from, to := e.FromTime(), e.ToTime()
			r := byCase[cas]
			if r == nil {
				r = &ContactRecord{Case: cas, Degree: c.Degree, First: from, Unverified: true}
				byCase[cas] = r
				order = append(order, cas)
			}
			r.AllExposures++
			if len(r.Exposures) < maxExposures {
				r.Exposures = append(r.Exposures, ContactExposure{Place: e.Place, From: from, To: to, Via: e.Via,
					Visit: e.Visit, SourceVisit: e.SourceVisit, Unverified: e.Unverified})
			}
			r.First = minTime(r.First, from)
			if to.After(r.Last) {
				r.Last = to
			}
			r.Unverified = r.Unverified && e.Unverified
		}
		for _, k := range order {
			r := byCase[k]
			r.First, r.Last = r.First.UTC(), r.Last.UTC()
			recs = append(recs, rec{c.Person, *r})
		}
	}
	written := 0
	err := n.submitSolo(ctx, func(g *group) error {
		b := batchID(g)
		for _, x := range recs {
			if old, ok := n.contactRecord(x.person, x.r.Case); ok && old.Degree <= x.r.Degree && !x.r.Last.After(old.Last) &&
				(old.Unverified || !x.r.Unverified) {
				continue
			}
			data, err := json.Marshal(x.r)
			if err != nil {
				return err
			}
			g.add(health.Event{Kind: health.EvContactTraced, At: x.r.First, Until: x.r.Last, Person: x.person,
				Aux: int64(x.r.Degree), Actor: actor, Batch: b, Data: data})
			written++
		}
		return nil
	}, nil)
	return written, err
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// contactRecord returns the record in force for a person and a case.
func (n *Node) contactRecord(p uint32, caseID string) (ContactRecord, bool) {
	for _, r := range n.contacts[p] {
		if r.Case == caseID {
			return r, true
		}
	}
	return ContactRecord{}, false
}

// applyContact folds contact_traced and referral_acknowledged events.
func (n *Node) applyContact(e *health.Event, affected map[uint32]struct{}) error {
	switch e.Kind {
	case health.EvContactTraced:
		var r ContactRecord
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return fmt.Errorf("contact data: %w", err)
		}
		r.Seq, r.Person, r.Actor, r.Recorded = e.Seq, e.Person, e.Actor, e.Recorded
		list := n.contacts[e.Person]
		if i := slices.IndexFunc(list, func(o ContactRecord) bool { return o.Case == r.Case }); i >= 0 {
			list[i] = r
		} else {
			n.contacts[e.Person] = append(list, r)
		}
		if affected != nil {
			affected[e.Person] = struct{}{}
		}
		c, ok := n.cases[r.Case]
		if !ok {
			return nil // a case of another node (a federated trace)
		}
		home := countyOf(n.home(e.Person))
		if home == "" || home == c.Region {
			return nil
		}
		key := referralKey{e.Person, r.Case}
		if ref, ok := n.referralOf[key]; ok {
			ref.Record, ref.Degree = e.Seq, min(ref.Degree, r.Degree)
			return nil
		}
		ref := &Referral{Seq: e.Seq, Person: e.Person, Case: r.Case, From: c.Region, To: home, Degree: r.Degree, Record: e.Seq}
		n.referrals = append(n.referrals, ref)
		n.referralBySeq[e.Seq] = ref
		n.referralOf[key] = ref
	case health.EvReferralAcked:
		ref, ok := n.referralBySeq[e.Ref]
		if !ok {
			return fmt.Errorf("acknowledgement of unknown referral %d", e.Ref)
		}
		var d ackData
		if len(e.Data) > 0 {
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return fmt.Errorf("ack data: %w", err)
			}
		}
		ref.Acked, ref.AckedBy, ref.AckedAt, ref.AckedNote = e.Seq, e.Actor, e.Recorded, d.Note
	}
	return nil
}

// contactItems is the contacts evidence of a person for the rules.
func (n *Node) contactItems(p uint32) []health.ContactItem {
	list := n.contacts[p]
	if len(list) == 0 {
		return nil
	}
	out := make([]health.ContactItem, len(list))
	for i, r := range list {
		out[i] = health.ContactItem{Event: r.Seq, Case: r.Case, Degree: r.Degree, LastExposure: r.Last, Unverified: r.Unverified}
	}
	return out
}

// Contacts returns the contact records in force of a person.
func (n *Node) Contacts(p uint32) []ContactRecord {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Clone(n.contacts[p])
}

// Referrals lists the referrals to counties inside region (a prefix of
// county codes, "" for all), open ones only unless all is set, oldest
// first.
func (n *Node) Referrals(reg string, all bool) []Referral {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []Referral
	for _, r := range n.referrals {
		if strings.HasPrefix(r.To, region.Prefix(reg)) && (all || r.Acked == 0) {
			out = append(out, *r)
		}
	}
	return out
}

// Referral returns one referral with the contact record in force.
func (n *Node) Referral(seq uint64) (Referral, ContactRecord, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	r, ok := n.referralBySeq[seq]
	if !ok {
		return Referral{}, ContactRecord{}, health.Errorf(health.NotFound, "unknown_referral", "id", "no referral %s", health.EventID(seq))
	}
	rec, _ := n.contactRecord(r.Person, r.Case)
	return *r, rec, nil
}

// AckReferral records that the receiving county took the referral over.
// The acknowledging account must be of the receiving county (actorRegion,
// "" for a national account).
func (n *Node) AckReferral(ctx context.Context, actor, actorRegion string, seq uint64, note string) (Referral, error) {
	if len(note) > 500 {
		return Referral{}, health.Errorf(health.Invalid, "invalid_note", "note", "must be at most 500 bytes")
	}
	data, err := json.Marshal(ackData{Note: note})
	if err != nil {
		return Referral{}, err
	}
	var out Referral
	err = n.submitSolo(ctx, func(g *group) error {
		r, ok := n.referralBySeq[seq]
		switch {
		case !ok:
			return health.Errorf(health.NotFound, "unknown_referral", "id", "no referral %s", health.EventID(seq))
		case r.Acked != 0:
			return health.Errorf(health.Conflict, "already_acknowledged", "id", "referral %s was acknowledged by %s", health.EventID(seq), r.AckedBy)
		case !strings.HasPrefix(r.To, region.Prefix(actorRegion)):
			return health.Errorf(health.Permission, "not_your_referral", "id", "referral %s goes to %s, not to %s", health.EventID(seq), r.To, actorRegion)
		}
		g.add(health.Event{Kind: health.EvReferralAcked, At: g.now, Person: r.Person, Ref: seq, Actor: actor, Batch: batchID(g), Data: data})
		out = *r
		out.AckedBy, out.AckedAt, out.AckedNote = actor, g.now, note
		return nil
	}, nil)
	return out, err
}

// countyOf returns the county of a region code (a street's first six
// digits), or the code itself if it is a city or province.
func countyOf(code string) string {
	if len(code) > 6 {
		return code[:6]
	}
	return code
}

// ListedContact is a contact on a community list (社区名单).
type ListedContact struct {
	Person    uint32
	Home      string // the home region code (street or county)
	Degree    int    // the closest degree over the cases
	Records   []ContactRecord
	Colour    health.Colour
	FirstSeen time.Time
}

// CommunityList lists the contacts in force whose home is inside region,
// by home region, then degree, then person: the community workers' list.
func (n *Node) CommunityList(reg string) []ListedContact {
	n.mu.RLock()
	defer n.mu.RUnlock()
	prefix := region.Prefix(reg)
	var out []ListedContact
	for p, recs := range n.contacts {
		home := n.home(p)
		if !strings.HasPrefix(home, prefix) {
			continue
		}
		lc := ListedContact{Person: p, Home: home, Degree: 3, Records: slices.Clone(recs), Colour: n.codes.load(p).colour()}
		for _, r := range recs {
			lc.Degree = min(lc.Degree, r.Degree)
			if lc.FirstSeen.IsZero() || r.Recorded.Before(lc.FirstSeen) {
				lc.FirstSeen = r.Recorded
			}
		}
		out = append(out, lc)
	}
	slices.SortFunc(out, func(a, b ListedContact) int {
		return cmp.Or(strings.Compare(a.Home, b.Home), cmp.Compare(a.Degree, b.Degree), cmp.Compare(a.Person, b.Person))
	})
	return out
}
