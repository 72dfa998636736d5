package staff

import (
	"time"

	"healthcode/internal/health"
)

// Status is an account's state.
type Status uint8

// The statuses.
const (
	Active Status = iota + 1
	Suspended
)

// String returns "active" or "suspended".
func (s Status) String() string {
	switch s {
	case Active:
		return "active"
	case Suspended:
		return "suspended"
	}
	return "unknown"
}

// Account is a staff account as the directory shows it; credentials are
// never part of it.
type Account struct {
	Username  string
	Roles     RoleSet
	Region    string // NationalRegion or a 6-digit code, county or above
	Level     Level
	Status    Status
	TOTP      bool      // has a second factor
	Created   time.Time // when the account_created event was recorded
	CreatedBy string    // its actor
	Seq       uint64    // the account_created event
}

// Principal returns the principal of a session of the account.
func (a Account) Principal() Principal {
	return Principal{Username: a.Username, Roles: a.Roles, Region: a.Region, Level: a.Level}
}

// APIKey is an API key as listed; its secret is never kept.
type APIKey struct {
	ID       string // 16 hex digits, the middle of the token
	Username string // the account it acts as
	Label    string // what it is for ("lab LIMS uploader")
	Issued   time.Time
	Revoked  time.Time // zero while in force
	Seq      uint64    // the api_key_issued event
}

// MaxLabelLen is the longest API key label, in bytes.
const MaxLabelLen = 100

// CheckUsername returns nil if name is a valid username: 1 to 32 of a-z,
// 0-9, '.', '_' and '-'. It returns an Invalid error (field "username")
// otherwise.
func CheckUsername(name string) error {
	if name == "" {
		return health.Errorf(health.Invalid, "missing_field", "username", "is required")
	}
	if !validUsername(name) {
		return health.Errorf(health.Invalid, "invalid_username", "username",
			"%q is not a username: 1 to 32 of a-z 0-9 . _ -", name)
	}
	return nil
}

func validUsername(name string) bool {
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
