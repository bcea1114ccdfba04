package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/caddymodule"
	"github.com/tokengate/tokengate/token"
)

// MaxBodyBytes bounds the size of a JSON request body.
const MaxBodyBytes = 64 << 10

// RetryAfterSeconds is sent in Retry-After when the store is unreachable,
// the same as tokengate_auth sends.
const RetryAfterSeconds = caddymodule.RetryAfterSeconds

type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v with status. API responses are never cached: one of
// them carries a secret, and the others are personal.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// serviceError maps an error of the token Service to a status and a message
// saying what to fix. Errors that are not the user's are logged and answered
// with a generic message.
func (h *Handler) serviceError(w http.ResponseWriter, r *http.Request, action, who string, err error) {
	var in *token.InputError
	switch {
	case errors.Is(err, token.ErrUnavailable):
		h.log.Warn("token store unavailable", zap.String("action", action),
			zap.String("identity", who), zap.Error(err))
		w.Header().Set("Retry-After", RetryAfterSeconds)
		writeError(w, http.StatusServiceUnavailable, "the token store is unavailable right now; try again in a few seconds")
	case errors.Is(err, token.ErrForbidden):
		writeError(w, http.StatusForbidden, "only administrators may use this; ask one if you need it")
	case errors.As(err, &in) && in.Kind == token.ErrLimitReached:
		writeError(w, http.StatusConflict, in.Msg)
	case errors.As(err, &in):
		writeError(w, http.StatusBadRequest, in.Msg)
	case errors.Is(err, token.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such token: it does not exist, is already revoked, or is not yours")
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		h.log.Error("portal request failed", zap.String("action", action),
			zap.String("identity", who), zap.Error(err))
		writeError(w, http.StatusInternalServerError, "internal error; the administrators can find the details in the server log")
	}
}

// decodeJSON reads a JSON object from r's body into dst: Content-Type must
// be application/json, the body at most MaxBodyBytes, and unknown fields are
// refused. On failure it writes the error response and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type must be application/json, got %q", truncate(ct, 60)))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	status, msg := http.StatusOK, ""
	if err := dec.Decode(dst); err != nil {
		status, msg = decodeError(err)
	} else if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		status, msg = http.StatusBadRequest, "the body must hold exactly one JSON object, found more after it"
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status, msg = decodeError(err)
		}
	}
	if msg != "" {
		writeError(w, status, msg)
		return false
	}
	return true
}

func decodeError(err error) (int, string) {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d KiB", MaxBodyBytes>>10)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, "request body is empty; send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "malformed JSON: the body ends in the middle of the object"
	case errors.As(err, &se):
		return http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		if te.Field == "" {
			return http.StatusBadRequest, "the body must be a JSON object"
		}
		return http.StatusBadRequest, fmt.Sprintf("field %q must be %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return http.StatusBadRequest, "unknown field " + truncate(field, 60) + " in the request body"
	default:
		return http.StatusBadRequest, "malformed JSON body: " + truncate(err.Error(), 200)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string", "ptr":
		return "a string"
	case "int", "int64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	}
	return "of another type"
}

// apiToken is a token as the API shows it. It never holds a secret except
// Token, set only in the answer to the request that created it.
type apiToken struct {
	ID            string  `json:"id"`
	Owner         string  `json:"owner,omitempty"`
	Label         string  `json:"label"`
	Hint          string  `json:"hint"`
	Legacy        bool    `json:"legacy"`
	CreatedAt     *string `json:"created_at"`
	ExpiresAt     *string `json:"expires_at"`
	LastUsedAt    *string `json:"last_used_at"`
	LastUsedIP    *string `json:"last_used_ip"`
	LastUsedAgent *string `json:"last_used_agent"`
	Status        string  `json:"status"`
	// AllowedIPs and Scopes are the token's restrictions, [] when none.
	AllowedIPs []string `json:"allowed_ips"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token,omitempty"`
}

func toAPI(t token.Token, now time.Time, withOwner bool) apiToken {
	a := apiToken{
		ID:            t.ID,
		Label:         t.Label,
		Hint:          t.Hint,
		Legacy:        t.Legacy(),
		CreatedAt:     timePtr(t.CreatedAt),
		ExpiresAt:     timePtr(t.ExpiresAt),
		LastUsedAt:    timePtr(t.LastUsedAt),
		LastUsedIP:    strPtr(t.LastUsedIP),
		LastUsedAgent: strPtr(t.LastUsedAgent),
		Status:        string(t.StatusAt(now)),
		AllowedIPs:    apiAllowedIPs(t),
		Scopes:        apiScopes(t),
	}
	if withOwner {
		a.Owner = t.Owner
	}
	return a
}

func toAPIList(ts []token.Token, now time.Time, withOwner bool) []apiToken {
	out := make([]apiToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, toAPI(t, now, withOwner))
	}
	return out
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
