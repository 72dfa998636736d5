package health

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// withCheck appends the GB 11643 check character to a 17-digit base.
func withCheck(base17 string) string { return base17 + string(IDCheckDigit(base17)) }

func TestIDCheckDigit(t *testing.T) {
	t.Parallel()

	// Published examples of GB 11643 numbers, checked by hand against the
	// ISO 7064 MOD 11-2 algorithm so that the test does not trust the code
	// under test.
	cases := []struct {
		name string
		base string
		want byte
	}{
		{name: "standard example with X", base: "11010519491231002", want: 'X'},
		{name: "standard example with digit", base: "44052418800101001", want: '4'},
		{name: "leap day", base: "11010120000229123", want: 'X'},
		{name: "plain digit", base: "11010119900307123", want: '3'},
		{name: "born 2022-06-11", base: "11010520220611123", want: '1'},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := IDCheckDigit(tc.base); got != tc.want {
				t.Errorf("IDCheckDigit(%q) = %q, want %q", tc.base, got, tc.want)
			}
		})
	}
}

func TestValidateIDNumber(t *testing.T) {
	t.Parallel()

	// 2022-06-11 00:30 in China Standard Time; still 2022-06-10 in UTC.
	now := time.Date(2022, 6, 10, 16, 30, 0, 0, time.UTC)
	const field = "persons[2].id_number"

	cases := []struct {
		name    string
		id      string
		want    string // the normalised number; "" when an error is expected
		wantMsg string // a substring of the error message when an error is expected
	}{
		{name: "valid with X", id: "11010519491231002X", want: "11010519491231002X"},
		{name: "valid with digit", id: "440524188001010014", want: "440524188001010014"},
		{name: "lower-case x normalised", id: "11010519491231002x", want: "11010519491231002X"},
		{name: "leap day 2000", id: "11010120000229123X", want: "11010120000229123X"},
		{name: "born 1880", id: withCheck("11010518800101123"), want: withCheck("11010518800101123")},
		{name: "born today in CST", id: "110105202206111231", want: "110105202206111231"},

		{name: "empty", id: "", wantMsg: "must be 18 characters, got 0"},
		{name: "too short", id: "11010519491231002", wantMsg: "must be 18 characters, got 17"},
		{name: "too long", id: "11010519491231002X0", wantMsg: "must be 18 characters, got 19"},
		{name: "15-digit old format", id: "110105491231002", wantMsg: "must be 18 characters, got 15"},
		{name: "letter in body", id: "1101051949123100AX", wantMsg: "character 17 must be a digit"},
		{name: "X in body", id: "X10105194912310024", wantMsg: "character 1 must be a digit"},
		{name: "space in body", id: "110105 94912310024", wantMsg: "character 7 must be a digit"},
		{name: "multi-byte digits", id: "一二三四五六", wantMsg: "character 1 must be a digit"},
		{name: "bad check character", id: "11010519491231002Y", wantMsg: "must be a digit or X"},
		{name: "February 30", id: withCheck("11010119900230123"), wantMsg: "19900230 is not a valid date"},
		{name: "February 29 in common year", id: withCheck("11010120210229123"), wantMsg: "20210229 is not a valid date"},
		{name: "month 13", id: withCheck("11010119901301123"), wantMsg: "19901301 is not a valid date"},
		{name: "month 00", id: withCheck("11010119900001123"), wantMsg: "19900001 is not a valid date"},
		{name: "day 00", id: withCheck("11010119900100123"), wantMsg: "19900100 is not a valid date"},
		{name: "day 32", id: withCheck("11010119900132123"), wantMsg: "19900132 is not a valid date"},
		{name: "April 31", id: withCheck("11010119900431123"), wantMsg: "19900431 is not a valid date"},
		{name: "before 1880", id: withCheck("11010518791231123"), wantMsg: "18791231 is not a valid date"},
		{name: "born tomorrow in CST", id: withCheck("11010520220612123"), wantMsg: "20220612 is in the future"},
		{name: "born next year", id: withCheck("11010520230101123"), wantMsg: "20230101 is in the future"},
		{name: "wrong check digit", id: "110105194912310021", wantMsg: "check character is 1, want X"},
		{name: "x where a digit is due", id: "44052418800101001x", wantMsg: "check character is X, want 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			got, err := ValidateIDNumber(field, tc.id, now)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidateIDNumber(%q): got error %v, want nil", tc.id, err)
				}
				if got != tc.want {
					t.Errorf("ValidateIDNumber(%q) = %q, want %q", tc.id, got, tc.want)
				}
				return
			}

			if err == nil {
				t.Fatalf("ValidateIDNumber(%q) = %q, nil; want error containing %q", tc.id, got, tc.wantMsg)
			}
			if got != "" {
				t.Errorf("ValidateIDNumber(%q): got number %q with an error, want \"\"", tc.id, got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ValidateIDNumber(%q): got error of type %T, want *Error", tc.id, err)
			}
			if e.Kind != Invalid {
				t.Errorf("ValidateIDNumber(%q): got kind %v, want %v", tc.id, e.Kind, Invalid)
			}
			if e.Code != "invalid_id_number" {
				t.Errorf("ValidateIDNumber(%q): got code %q, want %q", tc.id, e.Code, "invalid_id_number")
			}
			if e.Field != field {
				t.Errorf("ValidateIDNumber(%q): got field %q, want %q", tc.id, e.Field, field)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("ValidateIDNumber(%q): got message %q, want it to contain %q", tc.id, e.Message, tc.wantMsg)
			}
		})
	}
}

func TestBirthYear(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name string
		id   string
		want int
	}{
		{name: "1949", id: "11010519491231002X", want: 1949},
		{name: "1880", id: "440524188001010014", want: 1880},
		{name: "2022", id: "110105202206111231", want: 2022},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := BirthYear(tc.id); got != tc.want {
				t.Errorf("BirthYear(%q) = %d, want %d", tc.id, got, tc.want)
			}
		})
	}
}
