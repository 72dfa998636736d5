package staff

import (
	"errors"
	"os"
	"strings"
	"testing"

	"healthcode/internal/health"
)

// want is the authorisation matrix written out independently of the code:
// for each action, the roles that may perform it (initials: i investigator,
// c community, l lab, v verifier, f official, a auditor, o operator).
var want = map[Action]string{
	EnrolPersons:       "ic",
	ReadCodes:          "icfa",
	ReadPersonalData:   "ic",
	BindDependants:     "c",
	GateLookup:         "v",
	VerifyCodes:        "v",
	ManageCases:        "i",
	RecordStops:        "i",
	Trace:              "i",
	RecordTrips:        "i",
	RecordVisits:       "i",
	UploadResults:      "l",
	ReadReferrals:      "ic",
	AckReferrals:       "ic",
	ReadAlerts:         "ia",
	ReadCommunityLists: "ic",
	HandleAppeals:      "cf",
	DeclareRiskAreas:   "f",
	ManagePlaces:       "if",
	RequestOverrides:   "f",
	ApproveOverrides:   "f",
	ReadEvents:         "ifa",
	ReadAudit:          "a",
	Rollback:           "a",
	SuspendAccounts:    "ao",
	ManageAccounts:     "o",
	ManageAuditors:     "a",
	ManageAPIKeys:      "o",
	ManageSigningKeys:  "o",
	ReadMetrics:        "fao",
}

var initial = map[Role]byte{Investigator: 'i', Community: 'c', Lab: 'l', Verifier: 'v', Official: 'f', Auditor: 'a', Operator: 'o'}

// Every role × every action, inside the account's region and outside it.
func TestAllowedMatrix(t *testing.T) {
	if len(want) != len(AllActions()) {
		t.Fatalf("the test lists %d actions, the package %d", len(want), len(AllActions()))
	}
	for _, a := range AllActions() {
		for _, r := range AllRoles() {
			t.Run(a.String()+"/"+r.String(), func(t *testing.T) {
				p := Principal{Username: "u", Roles: RolesOf(r), Region: "440100", Level: City}
				allowed := strings.IndexByte(want[a], initial[r]) >= 0
				err := Allowed(p, a, "440106")
				if allowed && err != nil {
					t.Fatalf("in region: got %v, want allowed", err)
				}
				if !allowed {
					var he *health.Error
					if !errors.As(err, &he) || he.Kind != health.Permission || he.Code != "role_not_allowed" {
						t.Fatalf("in region: got %v, want a role_not_allowed Permission error", err)
					}
					if !strings.Contains(he.Message, a.String()) || !strings.Contains(he.Message, r.String()) {
						t.Errorf("message %q should name the action and the role the account has", he.Message)
					}
					return
				}
				// Outside the subtree: a sibling city, the province above.
				for _, other := range []string{"440304", "440000", NationalRegion} {
					err := Allowed(p, a, other)
					var he *health.Error
					if !errors.As(err, &he) || he.Kind != health.Permission || he.Code != "outside_region" {
						t.Errorf("object in %s: got %v, want an outside_region Permission error", other, err)
					}
				}
			})
		}
	}
}

func TestAllowedEdges(t *testing.T) {
	if err := Allowed(Principal{}, ReadCodes, "440106"); health.KindOf(err) != health.Unauthorized {
		t.Errorf("zero principal: got %v, want Unauthorized", err)
	}
	multi := Principal{Username: "u", Roles: RolesOf(Lab, Investigator), Region: "440106", Level: County}
	if err := Allowed(multi, Trace, "440106"); err != nil {
		t.Errorf("second role grants: got %v", err)
	}
	national := Principal{Username: "n", Roles: RolesOf(Auditor), Region: NationalRegion, Level: National}
	if err := Allowed(national, ReadAudit, "650102"); err != nil {
		t.Errorf("national auditor anywhere: got %v", err)
	}
	if err := Allowed(multi, Trace, ""); err != nil {
		t.Errorf("no regional object: got %v", err)
	}
	if err := Allowed(Principal{Username: "x", Region: "440106"}, ReadCodes, ""); health.KindOf(err) != health.Permission {
		t.Errorf("no roles: got %v, want Permission", err)
	}
}

// Separation of duties, spelled out as the issue states it.
func TestSeparationOfDuties(t *testing.T) {
	only := func(r Role, actions ...Action) {
		t.Helper()
		for _, a := range AllActions() {
			granted := a.Roles().Has(r)
			listed := false
			for _, b := range actions {
				listed = listed || a == b
			}
			if granted != listed {
				t.Errorf("%s may %s: got %v, want %v", r, a, granted, listed)
			}
		}
	}
	only(Lab, UploadResults)
	only(Verifier, GateLookup, VerifyCodes)
	for _, a := range []Action{ReadCodes, ReadPersonalData, RequestOverrides, ApproveOverrides, UploadResults,
		DeclareRiskAreas, Rollback, ManageAuditors, RecordStops, Trace, RecordVisits, EnrolPersons} {
		if a.Roles().Has(Operator) {
			t.Errorf("an operator may %s: operators cannot change codes or read personal data", a)
		}
	}
	if got := AccountAction(ManageAccounts, RolesOf(Auditor, Investigator)); got != ManageAuditors {
		t.Errorf("managing an auditor: got %v, want manage_auditors", got)
	}
	if got := AccountAction(SuspendAccounts, RolesOf(Auditor)); got != ManageAuditors {
		t.Errorf("suspending an auditor: got %v, want manage_auditors", got)
	}
	if got := AccountAction(SuspendAccounts, RolesOf(Official)); got != SuspendAccounts {
		t.Errorf("suspending an official: got %v, want suspend_accounts", got)
	}
}

// docs/authorization.md shows the matrix as a table; it must say what the
// code does.
func TestMatrixDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/authorization.md")
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	seen := map[Action]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		if cells[0] == "action" {
			header = cells
			continue
		}
		if header == nil || strings.HasPrefix(cells[0], "-") {
			continue
		}
		var a Action
		for _, x := range AllActions() {
			if x.String() == cells[0] {
				a = x
			}
		}
		if a == 0 {
			continue // another table
		}
		seen[a] = true
		for i, h := range header[1 : len(AllRoles())+1] {
			r, err := ParseRole(h)
			if err != nil {
				t.Fatalf("docs header %q: %v", h, err)
			}
			doc := cells[i+1] == "✓"
			if doc != a.Roles().Has(r) {
				t.Errorf("docs/authorization.md: %s × %s says %v, the code %v", a, r, doc, a.Roles().Has(r))
			}
		}
	}
	for _, a := range AllActions() {
		if !seen[a] {
			t.Errorf("docs/authorization.md has no row for %s", a)
		}
	}
}
