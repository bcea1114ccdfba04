package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestMethodSet(t *testing.T) {
	def, err := newMethodSet(nil)
	if err != nil || def.allow != "GET, HEAD" || !def.permits("GET") || !def.permits("HEAD") || def.permits("POST") || def.permits("get") {
		t.Errorf("default: %+v %v, want GET and HEAD only (case-sensitive)", def, err)
	}
	s, err := newMethodSet([]string{"get", "HEAD", "PROPFIND", "GET"})
	if err != nil || s.allow != "GET, HEAD, PROPFIND" || !s.permits("PROPFIND") {
		t.Errorf("custom: %+v %v", s, err)
	}
	for in, want := range map[string]string{
		"TRACE":   "methods: TRACE is never forwarded",
		"connect": "methods: CONNECT is never forwarded",
		"GE T":    `methods: "GE T" is not an HTTP method`,
		"":        `methods: "" is not an HTTP method`,
	} {
		if _, err := newMethodSet([]string{"GET", in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("methods GET %q: %v, want %q", in, err, want)
		}
	}
	if _, err := newMethodSet([]string{}); err == nil || !strings.Contains(err.Error(), "at least one") {
		t.Errorf("empty methods (JSON []): %v", err)
	}
}

func TestMethodsCaddyfile(t *testing.T) {
	var h Auth
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate_auth {\nmethods GET HEAD OPTIONS\n}")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.Methods, " ") != "GET HEAD OPTIONS" {
		t.Errorf("methods = %q", h.Methods)
	}
	var bad Auth
	err := bad.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate_auth {\nmethods\n}"))
	if err == nil || !strings.Contains(err.Error(), "methods: list the methods") {
		t.Errorf("methods without arguments: %v", err)
	}
	trace := Auth{Methods: []string{"GET", "TRACE"}}
	if err := trace.Validate(); err == nil || !strings.Contains(err.Error(), "TRACE is never forwarded") {
		t.Errorf("Validate with TRACE: %v", err)
	}
}
