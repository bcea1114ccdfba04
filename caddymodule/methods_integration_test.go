package caddymodule_test

import (
	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMethods: in the real binary, a method other than GET and HEAD gets 405
// with Allow before any upstream sees it, with a valid token or none;
// `methods` widens the set; TRACE cannot be configured at all.
func TestMethods(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	var hits atomic.Int64
	up := newEchoUpstream(t)
	counting := up.Config.Handler
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/odata/") { // not the readiness probe
			hits.Add(1)
		}
		counting.ServeHTTP(w, r)
	})
	inst, base := startGate(t, kind, dir, up.URL, "")
	feed := base + "/odata/Issues"
	// A new connection per request: a kept-alive one that a reload closes
	// fails a POST (not retried: not idempotent) with EOF.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	do := func(method, authz string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, feed, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		resp.Body.Close()
		return resp
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} {
		for _, authz := range []string{basicauth.Header("alice", c.Secret), ""} {
			resp := do(m, authz)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s (credential %v): %d Allow %q, want 405 with Allow: GET, HEAD", m, authz != "", resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the upstream saw %d requests with refused methods", n)
	}
	for _, m := range []string{"GET", "HEAD"} {
		if resp := do(m, basicauth.Header("alice", c.Secret)); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with a valid token: %d, want 200", m, resp.StatusCode)
		}
	}
	if got := metricValue(t, inst, `caddy_tokengate_auth_requests_total{outcome="method_not_allowed"}`); got != 14 {
		t.Errorf("method_not_allowed counted %v times, want 14", got)
	}

	out, err := inst.TryReload(gateCaddyfile(kind.directive, portOf(t, base), up.URL, "methods GET HEAD POST"))
	if err != nil {
		t.Fatalf("reload with methods GET HEAD POST: %v\n%s", err, out)
	}
	if resp := do("POST", basicauth.Header("alice", c.Secret)); resp.StatusCode != http.StatusOK {
		t.Errorf("POST after methods GET HEAD POST: %d, want 200", resp.StatusCode)
	}
	if resp := do("POST", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without a credential: %d, want 401", resp.StatusCode)
	}
	out, err = inst.TryReload(gateCaddyfile(kind.directive, portOf(t, base), up.URL, "methods GET TRACE"))
	if err == nil || !strings.Contains(out+err.Error(), "TRACE is never forwarded") {
		t.Errorf("reload with methods GET TRACE: %v\n%s; want refused naming TRACE", err, out)
	}
}

// portOf returns the port of a base URL such as http://127.0.0.1:8080.
func portOf(t testing.TB, base string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("no port in %s", base)
	}
	return p
}
