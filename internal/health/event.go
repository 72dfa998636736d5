package health

import (
	"strconv"
	"strings"
	"time"
)

// EventKind names what an event records. Values are stored; never renumber.
type EventKind uint8

// The event kinds. The list is append-only.
const (
	EvPersonEnrolled  EventKind = 1  // a person was enrolled (identity is in the vault, not the event)
	EvPlaceRegistered EventKind = 2  // a place was registered
	EvVisit           EventKind = 3  // a person was at a place (scan, self-report, investigation, manifest)
	EvTestResult      EventKind = 4  // a lab result for a sample
	EvTestCorrected   EventKind = 5  // a lab corrected an earlier result for the same sample
	EvRiskDeclared    EventKind = 6  // a risk area was declared
	EvRiskLifted      EventKind = 7  // a risk area was lifted before its expiry
	EvDependantBound  EventKind = 8  // Person may show and print the code of dependant Aux (proxy binding)
	EvIDLookup        EventKind = 9  // a verifier looked up Person's colour by ID number at Place
	EvCaseOpened      EventKind = 10 // an investigation case was opened for Person (Data: the case)
	EvStopsReplaced   EventKind = 11 // a new version of case Ref's trajectory; its stops are the visits that follow in the group
	EvVisitWithdrawn  EventKind = 12 // visit Ref no longer counts (a superseded trajectory stop)
	EvContactTraced   EventKind = 13 // tracing found Person a contact (Aux: degree) of a case (Data: the case and exposures)
	EvStopsReviewed   EventKind = 14 // a reviewer approved or returned trajectory version Ref (Data: the decision)
	EvCaseAssigned    EventKind = 15 // a case was assigned to an investigator of a region (Data: the assignment)
	EvReferralAcked   EventKind = 16 // the contact's home region acknowledged referral Ref (a contact_traced event)
	// Staff accounts (Region: the account's region, 0 for national; Data:
	// the username and the change; credentials only as hashes or sealed,
	// and never shown by the event API).
	EvAccountCreated    EventKind = 17 // a staff account was created (Data: roles, region, password hash, sealed TOTP secret)
	EvPasswordChanged   EventKind = 18 // an account's password was set (Data: the new hash); its sessions end
	EvAccountSuspended  EventKind = 19 // an account was suspended (Data: reason); its sessions and keys stop working
	EvAccountReinstated EventKind = 20 // a suspended account was reinstated (Data: reason)
	EvAPIKeyIssued      EventKind = 21 // an API key was issued to an account (Data: key id, keyed hash of the secret, label)
	EvAPIKeyRevoked     EventKind = 22 // an API key was revoked (Data: key id, reason)
)

// Manual code changes (人工赋码, invariant 2) and the abuse alerts raised on
// them (D45). Ref of a decision or an alert is the request event; Region is
// the acting official's region (Pack; 0 for national), for an alert the
// region it is addressed to; Data holds the details.
const (
	EvOverrideRequested EventKind = 30 // an official requested a manual colour for persons (Aux: colour, Until: expiry; Data: persons, reason, evidence)
	EvOverrideApproved  EventKind = 31 // a second official approved request Ref (Data: who, note)
	EvOverrideRefused   EventKind = 32 // request Ref was refused (Aux 1: by an auditor; Data: who, note)
	EvOverrideRevoked   EventKind = 33 // request Ref was withdrawn or revoked before its expiry (Data: who, note)
	EvOverrideCleared   EventKind = 34 // an auditor released request Ref, held by abuse alerts (Data: who, note)
	EvAbuseAlert        EventKind = 35 // abuse detection flagged request Ref to the level above (Data: check, counts, sample)
)

// Recourse and accountability (D48): rollbacks, staff reads of personal
// data, appeals. None of them can itself be rolled back. Seq and person
// lists in Data are compact ranges ("3-7,12", first-last).
const (
	EvRolledBack      EventKind = 40 // an auditor voided events (Data: the auditor, the account or batch, the range, the reason, the seqs and the persons told; Aux: count)
	EvDataRead        EventKind = 41 // a staff member read personal data (Person: the one person, else 0; Region: the reader's; Aux: persons; Data: what, the persons)
	EvAppealEscalated EventKind = 42 // appeal Ref missed its deadline (At) and went one level up (Region: the new region; Data: from, to)
	EvAppealFiled     EventKind = 43 // Person appealed their code (Region: where it goes; Ref: the cited event; Data: text, evidence, reason, route)
	EvAppealResolved  EventKind = 44 // appeal Ref was resolved (Data: who, outcome, note, overrides lifted for Person, events of Person voided)
)

var eventKindNames = map[EventKind]string{
	EvPersonEnrolled:  "person_enrolled",
	EvPlaceRegistered: "place_registered",
	EvVisit:           "visit",
	EvTestResult:      "test_result",
	EvTestCorrected:   "test_corrected",
	EvRiskDeclared:    "risk_area_declared",
	EvRiskLifted:      "risk_area_lifted",
	EvDependantBound:  "dependant_bound",
	EvIDLookup:        "id_lookup",
	EvCaseOpened:      "case_opened",
	EvStopsReplaced:   "stops_replaced",
	EvVisitWithdrawn:  "visit_withdrawn",
	EvContactTraced:   "contact_traced",
	EvStopsReviewed:   "stops_reviewed",
	EvCaseAssigned:    "case_assigned",
	EvReferralAcked:   "referral_acknowledged",

	EvAccountCreated:    "account_created",
	EvPasswordChanged:   "password_changed",
	EvAccountSuspended:  "account_suspended",
	EvAccountReinstated: "account_reinstated",
	EvAPIKeyIssued:      "api_key_issued",
	EvAPIKeyRevoked:     "api_key_revoked",

	EvOverrideRequested: "override_requested",
	EvOverrideApproved:  "override_approved",
	EvOverrideRefused:   "override_refused",
	EvOverrideRevoked:   "override_revoked",
	EvOverrideCleared:   "override_cleared",
	EvAbuseAlert:        "abuse_alert",

	EvRolledBack:      "rolled_back",
	EvDataRead:        "data_read",
	EvAppealEscalated: "appeal_escalated",
	EvAppealFiled:     "appeal_filed",
	EvAppealResolved:  "appeal_resolved",
}

// String returns the kind's stable name.
func (k EventKind) String() string {
	if s, ok := eventKindNames[k]; ok {
		return s
	}
	return "kind_" + strconv.Itoa(int(k))
}

// Event is one entry of the append-only event log, the system of record.
// Columns that the hot paths need are typed fields; kind-specific details
// are in Data (JSON). Person and Place are internal indexes (0 = none).
type Event struct {
	Seq      uint64    // position in the log, assigned on append; also the event id
	Kind     EventKind //
	At       time.Time // the time the event is about (visit start, sampling time, declaration)
	Until    time.Time // end of the interval the event covers (visit end, risk area expiry), or zero
	Recorded time.Time // when the node appended it
	Person   uint32    // person index, or 0
	Place    uint32    // place index, or 0
	Region   uint32    // packed region code (see region.Pack), or 0
	Ref      uint64    // a referenced event (the corrected result, the lifted area), or 0
	Aux      int64     // a small kind-specific number (visit source, test result)
	Actor    string    // who: staff account, "person:<id>", or "lab:<id>"
	Batch    string    // the submission this event came in
	Data     []byte    // kind-specific JSON, or nil
}

// EventID formats an event sequence number as the public event id ("e42").
func EventID(seq uint64) string { return "e" + strconv.FormatUint(seq, 10) }

// ParseEventID parses a public event id; ok is false if s is not one.
func ParseEventID(s string) (uint64, bool) {
	if !strings.HasPrefix(s, "e") {
		return 0, false
	}
	n, err := strconv.ParseUint(s[1:], 10, 64)
	return n, err == nil && n > 0
}
