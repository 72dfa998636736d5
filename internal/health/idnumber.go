package health

import (
	"strconv"
	"time"
)

// idWeights and idCheck implement the ISO 7064 MOD 11-2 check of GB 11643.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheck = "10X98765432"

// IDCheckDigit returns the GB 11643 check character for the first 17 digits
// of an ID number. It panics if first17 is shorter than 17 bytes.
func IDCheckDigit(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheck[sum%11]
}

// ValidateIDNumber checks an 18-character resident ID number (GB 11643):
// length, digits, a real birth date not in the future, and the check digit.
// A lower-case x is accepted and normalised. It returns the normalised number,
// or an Invalid error with code "invalid_id_number" naming field. The region
// part (first six digits) is not checked here: historic codes stay valid on
// ID cards after a region is renamed.
func ValidateIDNumber(field, id string, now time.Time) (string, error) {
	if len(id) != 18 {
		return "", Errorf(Invalid, "invalid_id_number", field, "must be 18 characters, got %d", len(id))
	}
	b := []byte(id)
	if b[17] == 'x' {
		b[17] = 'X'
	}
	for i := 0; i < 17; i++ {
		if b[i] < '0' || b[i] > '9' {
			return "", Errorf(Invalid, "invalid_id_number", field, "character %d must be a digit", i+1)
		}
	}
	if !(b[17] >= '0' && b[17] <= '9') && b[17] != 'X' {
		return "", Errorf(Invalid, "invalid_id_number", field, "the check character must be a digit or X")
	}
	y, _ := strconv.Atoi(string(b[6:10]))
	m, _ := strconv.Atoi(string(b[10:12]))
	d, _ := strconv.Atoi(string(b[12:14]))
	birth := time.Date(y, time.Month(m), d, 0, 0, 0, 0, CST)
	if y < 1880 || m < 1 || m > 12 || d < 1 || birth.Day() != d || birth.Month() != time.Month(m) {
		return "", Errorf(Invalid, "invalid_id_number", field, "birth date %s is not a valid date", string(b[6:14]))
	}
	if birth.After(now) {
		return "", Errorf(Invalid, "invalid_id_number", field, "birth date %s is in the future", string(b[6:14]))
	}
	if c := IDCheckDigit(string(b[:17])); c != b[17] {
		return "", Errorf(Invalid, "invalid_id_number", field, "check character is %c, want %c", b[17], c)
	}
	return string(b), nil
}

// BirthYear returns the birth year encoded in a valid ID number.
func BirthYear(id string) int {
	y, _ := strconv.Atoi(id[6:10])
	return y
}
