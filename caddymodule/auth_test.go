package caddymodule

import (
	"net/http"
	"testing"
)

func TestStripIdentityHeaders(t *testing.T) {
	h := http.Header{
		"X-Authenticated-User":  {"mallory"},
		"X_authenticated_user":  {"mallory"},
		"x-access-token-id":     {"forged"},
		"X-Access-Token_id":     {"forged"},
		"X-Authenticated-Users": {"kept: another header"},
		"Accept":                {"application/json"},
	}
	stripHeaders(h, []string{HeaderUser, HeaderTokenID})
	if len(h) != 2 || h.Get("Accept") == "" || h.Get("X-Authenticated-Users") == "" {
		t.Errorf("after stripping: %v, want only Accept and X-Authenticated-Users", h)
	}
}
