// Package health holds the domain of the health-code system: persons, places,
// visits, test results, risk areas, the events that record them, the published
// ruleset and the pure code engine that turns a person's events into a colour.
// It does no I/O; time is always passed in.
package health

import (
	"errors"
	"fmt"
)

// Kind classifies an Error. The set is append-only; httpapi maps each kind to
// one HTTP status in a single table.
type Kind uint8

// The error kinds.
const (
	Other         Kind = iota // unclassified; treated as internal
	Invalid                   // the request is malformed or a field is wrong (400)
	Unauthorized              // no or bad credentials (401)
	Permission                // authenticated but not allowed (403)
	NotFound                  // the named object does not exist (404)
	Conflict                  // the request conflicts with the current state (409)
	Unprocessable             // well-formed but semantically refused (422)
	Internal                  // a fault of the system (500)
	Unavailable               // the node is shutting down or overloaded (503)
	Throttled                 // too many attempts; retry later (429)
)

var kindNames = [...]string{"other", "invalid", "unauthorized", "permission", "not_found", "conflict", "unprocessable", "internal", "unavailable", "throttled"}

// String returns the kind's stable machine name, used as the JSON error code
// when no more specific code is given.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "other"
}

// Error is the error type of the system. Code is a stable machine-readable
// name (e.g. "invalid_id_number"); Field names the offending request field
// (a JSON path such as "visits[3].at") when there is one.
type Error struct {
	Kind    Kind
	Code    string
	Field   string
	Message string
	Err     error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the wrapped cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k with a machine code, a field and a
// formatted message.
func Errorf(k Kind, code, field, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal if
// there is none (nil returns Other).
func KindOf(err error) Kind {
	if err == nil {
		return Other
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// AtField returns a copy of err with its Field prefixed by prefix (so that an
// item error "at" becomes "visits[3].at"). Errors that are not *Error are
// returned unchanged.
func AtField(err error, prefix string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	if c.Field == "" {
		c.Field = prefix
	} else {
		c.Field = prefix + "." + c.Field
	}
	return &c
}
