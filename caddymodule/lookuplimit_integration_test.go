package caddymodule_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token"
)

// TestLookupLimitPerIP: a client that rotates user names (so failure_limit,
// keyed by IP + user name, never trips) and presents fresh well-formed
// unknown tokens costs one store lookup each only up to lookup_limit. Then
// that IP is answered from the cache alone: 429 + Retry-After for anything
// the cache does not know, no more store lookups, while a token the cache
// knows keeps working for a colleague behind the same IP.
func TestLookupLimitPerIP(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := postgresKind(t)
			if name == "bolt" {
				kind = boltKind(t, dir)
			}
			st := kind.open(t)
			warm := seed(t, st, "alice", "warm")
			cold := seed(t, st, "alice", "cold")
			st.Close()
			up := newEchoUpstream(t)
			inst, base := startGate(t, kind, dir, up.URL, "lookup_limit 5 1m")
			feed := base + "/odata/x"
			if s := status(t, feed, basic("alice", warm.Secret)); s != http.StatusOK {
				t.Fatalf("warm-up: %d", s)
			}

			const limit = 5
			for i := 0; i < limit; i++ {
				unknown, err := token.Generate()
				if err != nil {
					t.Fatal(err)
				}
				if s := status(t, feed, basic(fmt.Sprintf("user%d", i), unknown)); s != http.StatusUnauthorized {
					t.Fatalf("unknown token %d: %d, want 401", i, s)
				}
			}
			lookups := storeLookups(t, inst)
			for i := 0; i < 20; i++ {
				unknown, _ := token.Generate()
				resp, _ := get(t, feed, basic(fmt.Sprintf("other%d", i), unknown), nil)
				if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("unknown token beyond lookup_limit: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			}
			if s := status(t, feed, basic("alice", cold.Secret)); s != http.StatusTooManyRequests {
				t.Errorf("a valid token the cache does not know, from the blocked IP: %d, want 429 (no lookup)", s)
			}
			if s := status(t, feed, basic("alice", warm.Secret)); s != http.StatusOK {
				t.Errorf("a cached valid token from the blocked IP: %d, want 200", s)
			}
			if after := storeLookups(t, inst); after != lookups {
				t.Errorf("store lookups went from %v to %v while the IP was over lookup_limit, want none", lookups, after)
			}
		})
	}
}

// storeLookups reads how many store lookups the instance has made.
func storeLookups(t testing.TB, inst *testcaddy.Instance) float64 {
	t.Helper()
	return metricValue(t, inst, "caddy_tokengate_store_lookup_duration_seconds_count")
}
