// Package staff holds the staff side of a node: roles and their region
// scope, the authorisation matrix (Allowed), password hashing (argon2id),
// TOTP second factors, sessions, login throttling and API keys. It keeps no
// files and opens no connections; the node persists accounts as events and
// calls this package for the checks. Time is always passed in.
package staff

import (
	"strconv"
	"strings"

	"healthcode/internal/health"
	"healthcode/internal/region"
)

// Role is a staff role (DESIGN.md §1). Values are not stored (events store
// the names), but keep them stable anyway.
type Role uint8

// The roles.
const (
	Investigator Role = iota + 1 // 流调员 (CDC): cases, stops, tracing
	Community                    // 社区: contact lists, follow-up, first-level appeals
	Lab                          // uploads test results
	Verifier                     // gate, station and venue staff
	Official                     // risk areas, override requests and approvals, places
	Auditor                      // audit log, rollbacks, suspensions (level above)
	Operator                     // runs the node: accounts, keys, metrics
)

// roleNames are the stable names of the roles, as stored in events and
// given on the command line.
var roleNames = [...]string{Investigator: "investigator", Community: "community", Lab: "lab",
	Verifier: "verifier", Official: "official", Auditor: "auditor", Operator: "operator"}

// AllRoles lists every role in order.
func AllRoles() []Role {
	return []Role{Investigator, Community, Lab, Verifier, Official, Auditor, Operator}
}

// String returns the role's stable name ("investigator"), or "role(n)".
func (r Role) String() string {
	if int(r) < len(roleNames) && roleNames[r] != "" {
		return roleNames[r]
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// NeedsTOTP reports whether an account with this role must have a second
// factor (officials, auditors and operators).
func (r Role) NeedsTOTP() bool { return r == Official || r == Auditor || r == Operator }

// ParseRole returns the role with the given name ("community worker" is
// "community"). It returns an Invalid error for an unknown name.
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if name != "" && name == s {
			return Role(r), nil
		}
	}
	return 0, health.Errorf(health.Invalid, "unknown_role", "roles", "%q is not a role (one of %s)", s, strings.Join(roleNames[1:], ", "))
}

// RoleSet is a set of roles.
type RoleSet uint16

// RolesOf returns the set of the given roles.
func RolesOf(rs ...Role) RoleSet {
	var s RoleSet
	for _, r := range rs {
		s |= 1 << r
	}
	return s
}

// ParseRoles parses a comma-separated list of role names
// ("investigator,community") or the names one by one. It returns an Invalid
// error for an empty list, an unknown name or a name given twice.
func ParseRoles(names ...string) (RoleSet, error) {
	var s RoleSet
	for _, n := range names {
		for _, part := range strings.Split(n, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			r, err := ParseRole(part)
			if err != nil {
				return 0, err
			}
			if s.Has(r) {
				return 0, health.Errorf(health.Invalid, "duplicate_role", "roles", "%s is given twice", part)
			}
			s |= 1 << r
		}
	}
	if s == 0 {
		return 0, health.Errorf(health.Invalid, "missing_field", "roles", "at least one role is required (%s)", strings.Join(roleNames[1:], ", "))
	}
	return s, nil
}

// Has reports whether r is in the set.
func (s RoleSet) Has(r Role) bool { return s&(1<<r) != 0 }

// Roles returns the roles of the set in order.
func (s RoleSet) Roles() []Role {
	var out []Role
	for _, r := range AllRoles() {
		if s.Has(r) {
			out = append(out, r)
		}
	}
	return out
}

// Names returns the names of the roles in the set, in order.
func (s RoleSet) Names() []string {
	var out []string
	for _, r := range s.Roles() {
		out = append(out, r.String())
	}
	return out
}

// String returns the names joined by commas ("investigator,community").
func (s RoleSet) String() string { return strings.Join(s.Names(), ",") }

// NeedsTOTP reports whether any role of the set requires a second factor.
func (s RoleSet) NeedsTOTP() bool {
	return s.Has(Official) || s.Has(Auditor) || s.Has(Operator)
}

// Level is the administrative level of an account's region. A smaller value
// is a higher level (more authority).
type Level uint8

// The levels. National accounts have the region NationalRegion.
const (
	National Level = iota + 1
	Province
	City
	County
)

var levelNames = [...]string{National: "national", Province: "province", City: "city", County: "county"}

// String returns "national", "province", "city" or "county" (or "level(n)").
func (l Level) String() string {
	if int(l) < len(levelNames) && levelNames[l] != "" {
		return levelNames[l]
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// AtLeast reports whether l is level m or above it (National is above
// Province, and so on). The zero Level is below every level.
func (l Level) AtLeast(m Level) bool { return l != 0 && l <= m }

// NationalRegion is the region code of national accounts; it covers every
// region. It is not in GB/T 2260 and is accepted only for accounts.
const NationalRegion = "000000"

// AccountRegion checks that code can be an account's region: NationalRegion
// or a 6-digit code of the table at county level or above (a street is too
// small to hold staff of its own). It returns the region's level, or an
// Invalid error (field "region").
func AccountRegion(t *region.Table, code string) (Level, error) {
	if code == NationalRegion {
		return National, nil
	}
	if len(code) != 6 {
		return 0, health.Errorf(health.Invalid, "invalid_region", "region",
			"%q is not a 6-digit GB/T 2260 code of a county or above (or %s for a national account)", code, NationalRegion)
	}
	if err := t.Validate(code); err != nil {
		return 0, health.Errorf(health.Invalid, "invalid_region", "region", "%v", err)
	}
	r, _ := t.Lookup(code)
	switch r.Level {
	case region.Province:
		return Province, nil
	case region.City:
		return City, nil
	case region.County:
		return County, nil
	}
	return 0, health.Errorf(health.Invalid, "invalid_region", "region", "%s is a %s; an account's region is a county or above", code, r.Level)
}

// Covers reports whether an account of region account has authority over an
// object in region object: the object is in the account region's subtree
// (440000 covers 440100 and 440106001; 440100 covers 440106; 440106 covers
// only itself and its streets). NationalRegion covers every well-formed
// code. Both codes are compared by their digit prefixes (region.Prefix),
// which is ancestry for codes of the table; a malformed object is covered
// by nobody.
func Covers(account, object string) bool {
	if !wellFormed(object) {
		return false
	}
	if account == NationalRegion {
		return true
	}
	if len(account) != 6 || !wellFormed(account) || account == NationalRegion {
		return false
	}
	return object != NationalRegion && strings.HasPrefix(object, region.Prefix(account))
}

// wellFormed reports whether s is 6 or 9 digits.
func wellFormed(s string) bool {
	if len(s) != 6 && len(s) != 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// LevelOf returns the level of an account region code by its digits:
// NationalRegion is National, xx0000 Province, xxxx00 City, other 6-digit
// codes County (the table's levels for its 6-digit codes). It returns 0 for
// a string that is not 6 digits.
func LevelOf(code string) Level {
	switch {
	case code == NationalRegion:
		return National
	case len(code) != 6 || !wellFormed(code):
		return 0
	case strings.HasSuffix(code, "0000"):
		return Province
	case strings.HasSuffix(code, "00"):
		return City
	}
	return County
}
