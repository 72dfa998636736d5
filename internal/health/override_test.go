package health

import "testing"

func TestOverrideReasons(t *testing.T) {
	t.Parallel()
	all := OverrideReasons()
	if len(all) < 4 || len(all) > 6 {
		t.Fatalf("got %d grounds, want a closed list of 4 to 6", len(all))
	}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.Code] || r.Title["zh"] == "" || r.Title["en"] == "" || len(r.Colours) == 0 || r.Allows(Green) {
			t.Errorf("ground %+v: want a unique code, zh and en titles, and yellow or red only", r)
		}
		seen[r.Code] = true
	}
	// The result is a copy.
	all[0].Title["en"], all[0].Colours[0] = "changed", Green
	if again := OverrideReasons(); again[0].Title["en"] == "changed" || again[0].Colours[0] == Green {
		t.Errorf("OverrideReasons returned shared storage")
	}

	cases := []struct {
		code        string
		wantErr     bool
		red, yellow bool
	}{
		{code: "close_contact_by_phone", red: true, yellow: true},
		{code: "positive_awaiting_upload", red: true},
		{code: "fever_clinic_visit", yellow: true},
		{code: "bank_depositor", wantErr: true},
		{code: "", wantErr: true},
	}
	for _, tc := range cases {
		r, err := ParseOverrideReason("reason", tc.code)
		if tc.wantErr {
			if e, ok := err.(*Error); !ok || e.Kind != Invalid || e.Code != "invalid_reason" || e.Field != "reason" {
				t.Errorf("ParseOverrideReason(%q): got %v, want invalid_reason at reason", tc.code, err)
			}
			continue
		}
		if err != nil || r.Code != tc.code || r.Allows(Red) != tc.red || r.Allows(Yellow) != tc.yellow {
			t.Errorf("ParseOverrideReason(%q): got %+v, %v", tc.code, r, err)
		}
	}
}
