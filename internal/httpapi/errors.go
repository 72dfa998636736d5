package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"healthcode/internal/health"
)

// statusOf is the one table from error kinds to HTTP statuses.
var statusOf = map[health.Kind]int{
	health.Invalid:       http.StatusBadRequest,
	health.Unauthorized:  http.StatusUnauthorized,
	health.Permission:    http.StatusForbidden,
	health.NotFound:      http.StatusNotFound,
	health.Conflict:      http.StatusConflict,
	health.Unprocessable: http.StatusUnprocessableEntity,
	health.Internal:      http.StatusInternalServerError,
	health.Unavailable:   http.StatusServiceUnavailable,
	health.Throttled:     http.StatusTooManyRequests,
	health.Other:         http.StatusInternalServerError,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError writes err as {"error":{"code","message","field"}} with the
// status of its kind. Internal errors are logged and not shown.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *health.Error
	kind := health.KindOf(err)
	body := errorBody{Error: errorDetail{Code: kind.String(), Message: err.Error()}}
	if errors.As(err, &he) {
		if he.Code != "" {
			body.Error.Code = he.Code
		}
		body.Error.Field = he.Field
		body.Error.Message = he.Message
		if he.Message == "" {
			body.Error.Message = he.Error()
		}
	}
	status := statusOf[kind]
	if status == 0 || status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		if status == 0 || status == http.StatusInternalServerError {
			status = http.StatusInternalServerError
			body.Error = errorDetail{Code: "internal", Message: "internal error; it has been logged"}
		}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// maxBody is the largest request body accepted (a batch of about 100,000 visits).
const maxBody = 32 << 20

// decode reads a JSON body strictly: one object, no unknown fields. A
// malformed body is an Invalid error naming the field where possible.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return health.Errorf(health.Invalid, "unsupported_media_type", "", "Content-Type must be application/json, got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &te):
			return health.Errorf(health.Invalid, "invalid_type", te.Field, "must be a %s, got a JSON %s", jsonType(te.Type.Kind().String()), te.Value)
		case errors.As(err, &se):
			return health.Errorf(health.Invalid, "malformed_json", "", "malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &mbe):
			return health.Errorf(health.Invalid, "body_too_large", "", "the body is larger than %d bytes", maxBody)
		case errors.Is(err, io.EOF):
			return health.Errorf(health.Invalid, "empty_body", "", "a JSON body is required")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return health.Errorf(health.Invalid, "unknown_field", f, "is not a field of this request")
		default:
			return health.Errorf(health.Invalid, "malformed_json", "", "%v", err)
		}
	}
	if dec.More() {
		return health.Errorf(health.Invalid, "malformed_json", "", "the body must hold exactly one JSON value")
	}
	return nil
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "float64", "float32", "int", "int64", "uint32", "uint64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return fmt.Sprint(goKind)
}
