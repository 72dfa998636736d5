package staff

import (
	"strings"

	"healthcode/internal/health"
)

// Action is something a staff member may be allowed to do. Every staff
// endpoint names one action and the region of the object it acts on, and
// asks Allowed.
type Action uint8

// The actions. docs/authorization.md lists the endpoints of each.
const (
	EnrolPersons       Action = iota + 1 // enrol persons in batches
	ReadCodes                            // read a person's code, reasons and evidence
	ReadPersonalData                     // decrypt name, ID number and phone (audited)
	BindDependants                       // bind a dependant to a holder on their behalf
	GateLookup                           // look a person's colour up by ID number at a gate
	VerifyCodes                          // verify scanned codes as staff
	ManageCases                          // open, list, read and assign cases; chains
	RecordStops                          // record, supplement, confirm and review trajectories
	Trace                                // run contact tracing
	RecordTrips                          // record carriers' passenger lists
	RecordVisits                         // record visits in staff batches
	UploadResults                        // upload and correct test results
	ReadReferrals                        // list referrals to the region
	AckReferrals                         // take a referral over
	ReadAlerts                           // read cross-region and abuse alerts
	ReadCommunityLists                   // read the contact lists of communities
	HandleAppeals                        // work and resolve appeals
	DeclareRiskAreas                     // declare and lift risk areas
	ManagePlaces                         // register places and print their codes
	RequestOverrides                     // request a manual code change
	ApproveOverrides                     // approve another official's request
	ReadEvents                           // read events of the log with their actors
	ReadAudit                            // read the audit log and who read what
	Rollback                             // roll back an account's or a batch's events
	SuspendAccounts                      // suspend and reinstate accounts
	ManageAccounts                       // create accounts, reset passwords (not auditors)
	ManageAuditors                       // create, suspend and reset auditor accounts
	ManageAPIKeys                        // issue and revoke API keys
	ManageSigningKeys                    // rotate and revoke code-signing keys
	ReadMetrics                          // node statistics and metrics (no personal data)
	numActions
)

var actionNames = [numActions]string{
	EnrolPersons: "enrol_persons", ReadCodes: "read_codes", ReadPersonalData: "read_personal_data",
	BindDependants: "bind_dependants", GateLookup: "gate_lookup", VerifyCodes: "verify_codes",
	ManageCases: "manage_cases", RecordStops: "record_stops", Trace: "trace", RecordTrips: "record_trips",
	RecordVisits: "record_visits", UploadResults: "upload_results", ReadReferrals: "read_referrals",
	AckReferrals: "ack_referrals", ReadAlerts: "read_alerts", ReadCommunityLists: "read_community_lists",
	HandleAppeals: "handle_appeals", DeclareRiskAreas: "declare_risk_areas", ManagePlaces: "manage_places",
	RequestOverrides: "request_overrides", ApproveOverrides: "approve_overrides", ReadEvents: "read_events",
	ReadAudit: "read_audit", Rollback: "rollback", SuspendAccounts: "suspend_accounts",
	ManageAccounts: "manage_accounts", ManageAuditors: "manage_auditors", ManageAPIKeys: "manage_api_keys",
	ManageSigningKeys: "manage_signing_keys", ReadMetrics: "read_metrics",
}

// AllActions lists every action in order.
func AllActions() []Action {
	out := make([]Action, 0, numActions-1)
	for a := Action(1); a < numActions; a++ {
		out = append(out, a)
	}
	return out
}

// String returns the action's stable name ("read_codes").
func (a Action) String() string {
	if a > 0 && a < numActions {
		return actionNames[a]
	}
	return "unknown_action"
}

// Roles returns the roles that may perform the action.
func (a Action) Roles() RoleSet {
	if a > 0 && a < numActions {
		return matrix[a]
	}
	return 0
}

const (
	inv = 1 << Investigator
	com = 1 << Community
	lab = 1 << Lab
	ver = 1 << Verifier
	off = 1 << Official
	aud = 1 << Auditor
	opr = 1 << Operator
)

// matrix is the authorisation table: the roles that may perform each
// action. docs/authorization.md shows it as a table; TestMatrixDocumented
// keeps the two equal. Separation of duties: operators run the node but
// cannot change codes or read personal data; a lab only uploads results; a
// verifier only verifies; auditor accounts are managed only by auditors.
var matrix = [numActions]RoleSet{
	EnrolPersons:       inv | com,
	ReadCodes:          inv | com | off | aud,
	ReadPersonalData:   inv | com,
	BindDependants:     com,
	GateLookup:         ver,
	VerifyCodes:        ver,
	ManageCases:        inv,
	RecordStops:        inv,
	Trace:              inv,
	RecordTrips:        inv,
	RecordVisits:       inv,
	UploadResults:      lab,
	ReadReferrals:      inv | com,
	AckReferrals:       inv | com,
	ReadAlerts:         inv | aud,
	ReadCommunityLists: inv | com,
	HandleAppeals:      com | off,
	DeclareRiskAreas:   off,
	ManagePlaces:       inv | off,
	RequestOverrides:   off,
	ApproveOverrides:   off,
	ReadEvents:         inv | off | aud,
	ReadAudit:          aud,
	Rollback:           aud,
	SuspendAccounts:    aud | opr,
	ManageAccounts:     opr,
	ManageAuditors:     aud,
	ManageAPIKeys:      opr,
	ManageSigningKeys:  opr,
	ReadMetrics:        off | aud | opr,
}

// Principal is an authenticated staff member: the account's name, roles,
// region and level, and the API key used (empty for a session).
type Principal struct {
	Username string
	Roles    RoleSet
	Region   string
	Level    Level
	KeyID    string
}

// Actor names the principal in events: "staff:<username>@<region>".
func (p Principal) Actor() string { return "staff:" + p.Username + "@" + p.Region }

// Has reports whether the principal has role r.
func (p Principal) Has(r Role) bool { return p.Roles.Has(r) }

// Allowed returns nil if p may perform action a on an object in region
// objectRegion: one of p's roles grants a, and p's region covers
// objectRegion (see Covers). Pass objectRegion "" only for an action with
// no regional object (a node metric); a list defaults to p.Region. It
// returns an Unauthorized error for a zero Principal, and a Permission
// error naming the missing role ("role_not_allowed") or the region
// ("outside_region").
func Allowed(p Principal, a Action, objectRegion string) error {
	if p.Username == "" {
		return health.Errorf(health.Unauthorized, "not_signed_in", "", "%s needs a signed-in staff account", a)
	}
	need := a.Roles()
	if p.Roles&need == 0 {
		have := p.Roles.String()
		if have == "" {
			have = "no role"
		}
		return health.Errorf(health.Permission, "role_not_allowed", "",
			"%s needs the role %s; account %s has %s", a, orList(need.Names()), p.Username, have)
	}
	if objectRegion != "" && !Covers(p.Region, objectRegion) {
		return health.Errorf(health.Permission, "outside_region", "",
			"%s: region %s is outside the authority of account %s (region %s)", a, objectRegion, p.Username, p.Region)
	}
	return nil
}

// AccountAction returns the action needed to do a (ManageAccounts,
// SuspendAccounts) to an account with roles target: ManageAuditors when the
// target is an auditor, so that operators can neither create nor silence
// the people who audit them. Other actions are returned unchanged.
func AccountAction(a Action, target RoleSet) Action {
	if target.Has(Auditor) && (a == ManageAccounts || a == SuspendAccounts) {
		return ManageAuditors
	}
	return a
}

// Above reports whether an account of region account is strictly above an
// object of region object: it covers it and is not the same region (the
// "level above" of auditors and escalations).
func Above(account, object string) bool { return account != object && Covers(account, object) }

func orList(names []string) string {
	switch len(names) {
	case 0:
		return "(none)"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
