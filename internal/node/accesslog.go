package node

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	"healthcode/internal/health"
)

// Who looked at my data (D48). Every staff read of personal data is a
// data_read event, group-committed like any write before the data is
// shown; every event about a person whose actor is staff is a change to
// their record. The access index lists both per person, in memory: each
// entry is 24 bytes, chained per person from a 4-byte head, so a person's
// list costs nothing to keep apart and is read without touching the store.

// accessIndex is the per-person list of staff reads and changes: entries
// in log order, each linking to the person's previous one.
type accessIndex struct {
	last    []uint32    // by person: the newest entry (index into ents), 0 = none
	ents    []accessEnt // [0] unused
	actors  []string    // interned actors
	actorID map[string]uint32
	whats   []string // interned "what" of reads and kind names of changes
	whatID  map[string]uint16
}

type accessEnt struct {
	seq   uint64
	at    uint32 // Recorded, seconds since health.Epoch
	prev  uint32
	actor uint32
	what  uint16
	read  bool
}

func newAccessIndex() accessIndex {
	return accessIndex{ents: make([]accessEnt, 1), actorID: map[string]uint32{}, whatID: map[string]uint16{}}
}

func (x *accessIndex) intern(actor, what string) (uint32, uint16) {
	a, ok := x.actorID[actor]
	if !ok {
		a = uint32(len(x.actors))
		x.actors = append(x.actors, actor)
		x.actorID[actor] = a
	}
	w, ok := x.whatID[what]
	if !ok {
		w = uint16(len(x.whats))
		x.whats = append(x.whats, what)
		x.whatID[what] = w
	}
	return a, w
}

func (x *accessIndex) add(p uint32, ent accessEnt) {
	if p == 0 {
		return
	}
	if int(p) >= len(x.last) {
		x.last = append(x.last, make([]uint32, int(p)+1-len(x.last))...)
	}
	ent.prev = x.last[p]
	x.ents = append(x.ents, ent)
	x.last[p] = uint32(len(x.ents) - 1)
}

// noteEvent folds e into the accountability views: the recourse events
// (40–44), the persons of batch override requests, and, for an event by
// staff, an access entry for each person it concerns. It runs for every
// event once, voided or not (see apply, skipVoided).
func (n *Node) noteEvent(e *health.Event, affected map[uint32]struct{}) error {
	rc := n.rc
	var persons []uint32 // whom e concerns, if not just e.Person
	what, read := "", false
	switch e.Kind {
	case health.EvOverrideRequested:
		var d struct {
			Persons []uint32 `json:"persons"`
		}
		if json.Unmarshal(e.Data, &d) == nil && len(d.Persons) > 1 {
			rc.reqPersons[e.Seq] = d.Persons
			persons = d.Persons
		}
	case health.EvOverrideApproved, health.EvOverrideRefused, health.EvOverrideRevoked, health.EvOverrideCleared:
		if e.Person == 0 {
			persons = rc.reqPersons[e.Ref]
		}
	case health.EvDependantBound:
		persons = []uint32{e.Person, uint32(e.Aux)}
	case health.EvIDLookup:
		what, read = "id_lookup", true
	case health.EvDataRead:
		var d readData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("read data: %w", err)
		}
		ps, err := parseRanges[uint32](d.Persons)
		if err != nil {
			return fmt.Errorf("read persons: %w", err)
		}
		if len(ps) > 0 {
			persons = ps
		}
		what, read = d.What, true
	case health.EvRolledBack:
		ps, err := n.noteRollback(e)
		if err != nil {
			return err
		}
		persons = ps
	case health.EvAppealFiled, health.EvAppealEscalated, health.EvAppealResolved:
		if err := n.noteAppeal(e, affected); err != nil {
			return err
		}
	}
	if len(e.Actor) < 6 || (e.Actor[:6] != "staff:" && e.Actor[:4] != "lab:") {
		return nil
	}
	if _, _, _, ok := staffOf(e.Actor); !ok {
		return nil
	}
	if what == "" {
		what = e.Kind.String()
	}
	actor, w := rc.access.intern(e.Actor, what)
	ent := accessEnt{seq: e.Seq, at: health.Sec(e.Recorded), actor: actor, what: w, read: read}
	if persons == nil {
		rc.access.add(e.Person, ent)
		return nil
	}
	for _, p := range persons {
		rc.access.add(p, ent)
	}
	return nil
}

// readData is the Data of a data_read event.
type readData struct {
	What    string `json:"what"`
	Persons string `json:"persons,omitempty"` // ranges, when more than one
}

var whatRE = regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)

// maxReadPersons bounds the persons of one logged read.
const maxReadPersons = 1 << 20

// RecordRead logs that staff actor read personal data of persons: what
// names the data ("code", "case", "trace", "community_list", "events",
// "identity", …). It is a data_read event, group-committed like any write;
// show the data only after it returns nil. It returns Invalid for an actor
// that is not staff ("staff:<username>@<region>" or a lab's), a malformed
// what ([a-z_], at most 32 bytes) or no persons, and NotFound for an
// unknown person (naming persons[i]).
func (n *Node) RecordRead(ctx context.Context, actor, what string, persons []uint32) error {
	_, reg, _, ok := staffOf(actor)
	if !ok {
		return health.Errorf(health.Invalid, "not_staff", "actor", "%q is not a staff actor", truncateText(actor, 60))
	}
	if !whatRE.MatchString(what) {
		return health.Errorf(health.Invalid, "invalid_what", "what", "%q is not a name of data read ([a-z_], at most 32)", truncateText(what, 40))
	}
	switch {
	case len(persons) == 0:
		return health.Errorf(health.Invalid, "missing_field", "persons", "at least one person is required")
	case len(persons) > maxReadPersons:
		return health.Errorf(health.Invalid, "too_many", "persons", "at most %d persons a read", maxReadPersons)
	}
	max := n.nPersons.Load()
	for i, p := range persons {
		if p == 0 || p > max {
			return health.Errorf(health.NotFound, "unknown_person", fmt.Sprintf("persons[%d]", i), "no person %s", health.PersonID(p))
		}
	}
	ps := slices.Clone(persons)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	d := readData{What: what}
	var person uint32
	if len(ps) == 1 {
		person = ps[0]
	} else {
		d.Persons = formatRanges(ps)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return n.submit(ctx, func(g *group) error {
		g.add(health.Event{Kind: health.EvDataRead, At: g.now, Person: person, Region: accountRegion(reg), Aux: int64(len(ps)),
			Actor: actor, Batch: batchID(g), Data: data})
		return nil
	}, nil)
}

// Access is one staff read of a person's data or change to their record.
type Access struct {
	Seq        uint64 // the event
	At         time.Time
	Read       bool     // a read; false: a change
	What       string   // what was read ("code", "case", …, "id_lookup"), or the change's event kind ("test_result", "override_requested", …)
	Region     string   // the staff account's region
	Roles      []string // the account's roles (if the account is in this node's directory)
	Lab        string   // a lab's upload: the lab
	Account    string   // the staff account: for auditors only (the caller redacts it for the person)
	RolledBack string   // the rollback or appeal that voided the change, or ""
}

// AccessLog lists the staff reads of person p's data and the changes staff
// made to their record, newest first; the person's own actions, and the
// node's, are not in it. It returns NotFound for an unknown person.
func (n *Node) AccessLog(p uint32) ([]Access, error) {
	if p == 0 || p > n.nPersons.Load() {
		return nil, health.Errorf(health.NotFound, "unknown_person", "person_id", "no person %s", health.PersonID(p))
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	x := &n.rc.access
	var out []Access
	if int(p) >= len(x.last) {
		return out, nil
	}
	roles := map[string][]string{}
	for i := x.last[p]; i != 0; i = x.ents[i].prev {
		ent := &x.ents[i]
		user, reg, lab, _ := staffOf(x.actors[ent.actor])
		rs, ok := roles[user]
		if !ok {
			if acct, found := n.acc.get(user); found && acct.Region == reg {
				rs = acct.Roles.Names()
			}
			roles[user] = rs
		}
		a := Access{Seq: ent.seq, At: health.FromSec(ent.at), Read: ent.read, What: x.whats[ent.what], Region: reg,
			Roles: slices.Clone(rs), Lab: lab, Account: user}
		if by := n.rc.voided[ent.seq]; by != 0 {
			a.RolledBack = health.EventID(by)
			if n.rc.rbByID[by] != nil {
				a.RolledBack = RollbackID(by)
			} else if ap := n.rc.apByResolution(by); ap != nil {
				a.RolledBack = ap.ID
			}
		}
		out = append(out, a)
	}
	return out, nil
}
