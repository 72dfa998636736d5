package node

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"healthcode/internal/health"
)

// MaxDependants is how many dependants one person may hold by default.
const MaxDependants = 5

// Relations a proxy holder may have to a dependant, and the bases of the
// binding (the 2020 national notice: family members or guardians act for
// the elderly and children, with their consent or by guardianship).
var (
	relations = []string{"child", "parent", "spouse", "grandchild", "relative", "guardian", "carer"}
	bases     = []string{"consent", "guardianship"}
)

// Binding is one proxy binding.
type Binding struct {
	Holder, Dependant uint32
	Relation, Basis   string
	Seq               uint64 // the binding event
}

type bindingData struct {
	Relation string `json:"relation"`
	Basis    string `json:"basis"`
}

// BindDependant lets holder show and print dependant's code: relation and
// basis (consent of the dependant, or guardianship) are recorded in the
// event. Binding the same pair again returns the existing binding. It
// returns Invalid for a bad relation or basis or a self-binding, and
// Conflict when the holder already has the maximum number of dependants.
func (n *Node) BindDependant(ctx context.Context, actor string, holder, dep uint32, relation, basis string) (Binding, bool, error) {
	if err := ValidateBinding(relation, basis); err != nil {
		return Binding{}, false, err
	}
	if holder == dep {
		return Binding{}, false, health.Errorf(health.Invalid, "self_binding", "id_number", "a person cannot be their own dependant")
	}
	data, _ := json.Marshal(bindingData{Relation: relation, Basis: basis})
	var out Binding
	existing := false
	err := n.submitSolo(ctx, func(g *group) error {
		if holder == 0 || holder > n.nPersons.Load() || dep == 0 || dep >= g.nextPerson {
			return health.Errorf(health.NotFound, "unknown_person", "id", "no such person")
		}
		for _, b := range n.dependants[holder] {
			if b.Dependant == dep {
				out, existing = b, true
				return nil
			}
		}
		if len(n.dependants[holder]) >= MaxDependants {
			return health.Errorf(health.Conflict, "too_many_dependants", "id", "a person may hold at most %d dependants", MaxDependants)
		}
		seq := g.add(health.Event{Kind: health.EvDependantBound, At: g.now, Person: holder, Aux: int64(dep), Actor: actor, Batch: batchID(g), Data: data})
		out = Binding{Holder: holder, Dependant: dep, Relation: relation, Basis: basis, Seq: seq}
		return nil
	}, nil)
	return out, existing, err
}

// AddDependant enrols a dependant (or finds them by ID number) and binds
// them to holder. Everything that can be checked first is checked before
// anyone is enrolled, so a refused request records nothing. Knowing an ID
// number is not enough to hold someone's code: unless trusted (staff, e.g.
// a community worker), binding an already enrolled person requires the
// name and phone on record.
func (n *Node) AddDependant(ctx context.Context, actor string, trusted bool, holder uint32, dep Enrolment, relation, basis string) (Binding, bool, error) {
	if err := ValidateBinding(relation, basis); err != nil {
		return Binding{}, false, err
	}
	if _, err := n.Code(holder); err != nil {
		return Binding{}, false, err
	}
	if len(n.Dependants(holder)) >= MaxDependants { // checked again when binding
		return Binding{}, false, health.Errorf(health.Conflict, "too_many_dependants", "id", "a person may hold at most %d dependants", MaxDependants)
	}
	res, err := n.Enrol(ctx, actor, []Enrolment{dep})
	if err != nil {
		return Binding{}, false, err
	}
	p := res[0].Person
	if res[0].Existing && !trusted && !n.IsDependant(holder, p) {
		id, err := n.Identity(ctx, p)
		if err != nil {
			return Binding{}, false, err
		}
		if id.Name != strings.TrimSpace(dep.Name) || id.Phone != strings.TrimSpace(dep.Phone) {
			return Binding{}, false, health.Errorf(health.Permission, "identity_mismatch", "id_number", "this ID number is enrolled with another name or phone; ask a community worker to bind it")
		}
	}
	return n.BindDependant(ctx, actor, holder, p, relation, basis)
}

// ValidateBinding checks a binding's relation and basis.
func ValidateBinding(relation, basis string) error {
	if !slices.Contains(relations, relation) {
		return health.Errorf(health.Invalid, "invalid_relation", "relation", "must be one of %v", relations)
	}
	if !slices.Contains(bases, basis) {
		return health.Errorf(health.Invalid, "invalid_basis", "basis", "must be consent (the dependant agreed) or guardianship")
	}
	return nil
}

// Dependants returns the persons whose codes holder may show.
func (n *Node) Dependants(holder uint32) []Binding {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Clone(n.dependants[holder])
}

// IsDependant reports whether holder holds p's code by a proxy binding.
func (n *Node) IsDependant(holder, p uint32) bool {
	if holder == 0 {
		return false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, b := range n.dependants[holder] {
		if b.Dependant == p {
			return true
		}
	}
	return false
}

// GateLookup is what a verifier sees when looking a person up by ID number.
type GateLookup struct {
	Colour     health.Colour
	Star       bool
	MaskedName string
	ValidUntil string
	Event      uint64 // the logged lookup
}

// LookupByID lets an authorised verifier at place look up the colour of a
// person without a phone by their ID number. Every lookup, found or not, is
// logged as an event with the verifier (actor) and the place before the
// answer is given; a lookup of an unknown ID number returns NotFound after
// logging it without a person.
func (n *Node) LookupByID(ctx context.Context, actor, idNumber string, place uint32) (GateLookup, error) {
	id, err := health.ValidateIDNumber("id_number", idNumber, n.now())
	if err != nil {
		return GateLookup{}, err
	}
	h := n.vault.HashID(id)
	var p uint32
	var seq uint64
	err = n.submit(ctx, func(g *group) error {
		if place == 0 || int(place) >= len(n.places) {
			return health.Errorf(health.NotFound, "unknown_place", "place_id", "no place %s", health.PlaceID(place))
		}
		p = n.byIDHash[h]
		seq = g.add(health.Event{Kind: health.EvIDLookup, At: g.now, Person: p, Place: place, Actor: actor, Batch: batchID(g)})
		return nil
	}, nil)
	if err != nil {
		return GateLookup{}, err
	}
	if p == 0 {
		return GateLookup{}, health.Errorf(health.NotFound, "unknown_id_number", "id_number", "no person is enrolled with this ID number (lookup %s logged)", health.EventID(seq))
	}
	v, err := n.Code(p)
	if err != nil {
		return GateLookup{}, err
	}
	mask, err := n.maskedName(ctx, p)
	if err != nil {
		return GateLookup{}, err
	}
	return GateLookup{Colour: v.Colour, Star: v.Star, MaskedName: mask, ValidUntil: health.FormatTime(v.ValidUntil), Event: seq}, nil
}

// CountVerification counts an online verification by outcome.
func (n *Node) CountVerification(result string) { n.m.verified.WithLabelValues(result).Inc() }
