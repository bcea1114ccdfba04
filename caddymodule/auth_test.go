package caddymodule

import (
	"net/http"
	"testing"
	"time"
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

func TestOnceEvery(t *testing.T) {
	var o onceEvery
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !o.first("tok", t0) || o.first("tok", t0.Add(time.Minute)) {
		t.Fatal("want true once, then false within 10 minutes")
	}
	if !o.first("other", t0) {
		t.Error("another key is independent")
	}
	if !o.first("tok", t0.Add(10*time.Minute)) {
		t.Error("want true again after 10 minutes")
	}
}

func TestLoggableUser(t *testing.T) {
	const secret = "tgp_0123456789abcdefghijABCDEFGHIJ0123456789abcdefg"
	const legacy = "LegacySecretValue-42"
	for _, c := range []struct {
		user, secret string
		redacted     bool
	}{
		{"alice", secret, false},
		{"alice@example.com", legacy, false},
		{"", secret, false},
		{secret, secret, true},
		{" " + secret, secret, true},
		{"TGP_something", "whatever-password", true},
		{legacy, legacy, true},
		{legacy[:10], legacy, true}, // a part of the secret
		{string(make([]byte, 300)), "x", true},
	} {
		got := loggableUser(c.user, c.secret)
		if (got == redactedUser) != c.redacted || (!c.redacted && got != c.user) {
			t.Errorf("loggableUser(%.24q, %.8q) = %q, want redacted=%v", c.user, c.secret, got, c.redacted)
		}
	}
}
