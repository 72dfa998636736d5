package staff

import (
	"testing"

	"healthcode/internal/health"
	"healthcode/internal/region"
)

func TestCovers(t *testing.T) {
	cases := []struct {
		name            string
		account, object string
		want            bool
	}{
		{"province covers itself", "440000", "440000", true},
		{"province covers its city", "440000", "440100", true},
		{"province covers its county", "440000", "440106", true},
		{"province covers its street", "440000", "440106001", true},
		{"province not another province", "440000", "110000", false},
		{"province not another province's county", "440000", "110101", false},
		{"city covers itself", "440100", "440100", true},
		{"city covers its county", "440100", "440106", true},
		{"city covers its street", "440100", "440106001", true},
		{"city not its province", "440100", "440000", false},
		{"city not a sibling city", "440100", "440300", false},
		{"city not a sibling city's county", "440100", "440304", false},
		{"county covers itself", "440106", "440106", true},
		{"county covers its street", "440106", "440106001", true},
		{"county not its city", "440106", "440100", false},
		{"county not a sibling county", "440106", "440104", false},
		{"county not a sibling's street", "440106", "440104001", false},
		{"municipality covers its district", "110000", "110101", true},
		{"city without counties covers its towns", "441900", "441900003", true},
		{"national covers a province", NationalRegion, "440000", true},
		{"national covers a street", NationalRegion, "440106001", true},
		{"national covers national", NationalRegion, NationalRegion, true},
		{"province not a national object", "440000", NationalRegion, false},
		{"empty object", "440000", "", false},
		{"malformed object", "440000", "44", false},
		{"letters in object", "440000", "44010x", false},
		{"empty account", "", "440106", false},
		{"malformed account", "4401", "440106", false},
		{"street account", "440106001", "440106001", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Covers(c.account, c.object); got != c.want {
				t.Errorf("Covers(%q, %q): got %v, want %v", c.account, c.object, got, c.want)
			}
		})
	}
}

func TestAbove(t *testing.T) {
	if !Above("440000", "440106") || Above("440106", "440106") || Above("440106", "440000") {
		t.Error("Above: want strictly covering only")
	}
}

func TestAccountRegion(t *testing.T) {
	tab, err := region.Default()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		code string
		want Level // 0: refused
	}{
		{NationalRegion, National},
		{"440000", Province},
		{"440100", City},
		{"440106", County},
		{"110000", Province},
		{"440106001", 0}, // a street
		{"110199", 0},    // not in the table
		{"44", 0},
		{"", 0},
		{"abcdef", 0},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			got, err := AccountRegion(tab, c.code)
			if c.want == 0 {
				if health.KindOf(err) != health.Invalid {
					t.Fatalf("got %v, %v; want an Invalid error", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
			if l := LevelOf(c.code); l != c.want {
				t.Errorf("LevelOf(%q): got %v, want %v", c.code, l, c.want)
			}
		})
	}
}

func TestLevelAtLeast(t *testing.T) {
	cases := []struct {
		l, m Level
		want bool
	}{
		{National, Province, true}, {Province, Province, true}, {City, Province, false},
		{County, City, false}, {City, County, true}, {0, County, false},
	}
	for _, c := range cases {
		if got := c.l.AtLeast(c.m); got != c.want {
			t.Errorf("%v.AtLeast(%v): got %v, want %v", c.l, c.m, got, c.want)
		}
	}
}

func TestParseRoles(t *testing.T) {
	cases := []struct {
		name  string
		in    []string
		want  RoleSet
		error string // the error code, "" for none
	}{
		{"one", []string{"lab"}, RolesOf(Lab), ""},
		{"comma list", []string{"investigator,community"}, RolesOf(Investigator, Community), ""},
		{"separate and spaced", []string{"official", " auditor "}, RolesOf(Official, Auditor), ""},
		{"every role", []string{"investigator,community,lab,verifier,official,auditor,operator"}, RolesOf(AllRoles()...), ""},
		{"empty", []string{""}, 0, "missing_field"},
		{"none", nil, 0, "missing_field"},
		{"unknown", []string{"admin"}, 0, "unknown_role"},
		{"case matters", []string{"Lab"}, 0, "unknown_role"},
		{"twice", []string{"lab,lab"}, 0, "duplicate_role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseRoles(c.in...)
			if c.error != "" {
				if e, ok := err.(*health.Error); !ok || e.Code != c.error || e.Kind != health.Invalid {
					t.Fatalf("got %v, %v; want an Invalid %s error", got, err, c.error)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
	if s := RolesOf(Operator, Investigator).String(); s != "investigator,operator" {
		t.Errorf("String: got %q", s)
	}
	if !RolesOf(Community, Official).NeedsTOTP() || RolesOf(Lab, Verifier, Investigator, Community).NeedsTOTP() {
		t.Error("NeedsTOTP: want true exactly for official, auditor and operator")
	}
}

func TestCheckUsername(t *testing.T) {
	for _, ok := range []string{"a", "li.ming", "lab_01", "gz-cdc-7", "abcdefghijklmnopqrstuvwxyz012345"} {
		if err := CheckUsername(ok); err != nil {
			t.Errorf("%q: got %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "Li", "li ming", "李明", "a@b", "abcdefghijklmnopqrstuvwxyz0123456", "x\n"} {
		if err := CheckUsername(bad); health.KindOf(err) != health.Invalid {
			t.Errorf("%q: got %v, want an Invalid error", bad, err)
		}
	}
}
