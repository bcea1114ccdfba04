package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/portal/internal/browsertest"
	"github.com/tokengate/tokengate/token"
)

// TestBrowserRestrictions drives the restrictions of a new token (IP
// allow-list, scopes) in a real Chromium: the plain handler mounted at
// /tokens/ with two scopes defined, a real bbolt store that the test reads
// back to see what was stored.
func TestBrowserRestrictions(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := browsertest.NewBrowser(t)
	opts := scopedOptions
	opts.realClock = true
	e := newEnv(t, "bolt", opts)
	mux := http.NewServeMux()
	mux.Handle("/tokens/", http.StripPrefix("/tokens", e.h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	browsertest.RunRestrictionsFlow(t, browser, browsertest.RestrictionsSite{
		PageURL:  srv.URL + "/tokens/",
		Headers:  func(who string) map[string]string { return map[string]string{testUserHeader: who} },
		Scopes:   e.svc.KnownScopes(),
		ClientIP: "127.0.0.1",
		Stored: func(t *testing.T, who, secret string) ([]string, []string) {
			t.Helper()
			tk, err := e.store.ByDigest(context.Background(), token.DigestOf(secret))
			if err != nil || tk.Owner != who {
				t.Fatalf("the created secret is not %s's in the store: %+v, %v", who, tk, err)
			}
			return token.FormatAllowedIPs(tk.AllowedIPs), tk.Scopes
		},
	})
}

// TestBrowserRestrictionsInCaddy runs the same flow inside a real Caddy
// whose tokengate_auth defines the scopes: the token created in the
// browser reaches its scope and nothing else, one allowed only from
// elsewhere is refused from here, and both refusals reach alice's page.
func TestBrowserRestrictionsInCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := browsertest.NewBrowser(t)
	site := startCaddy(t)
	browsertest.RunRestrictionsFlow(t, browser, browsertest.RestrictionsSite{
		PageURL: site.base + "/tokens/",
		Headers: func(who string) map[string]string {
			return map[string]string{"Authorization": basicauth.Header(who, site.password)}
		},
		Scopes:   []string{"issues", "worklogs"},
		ClientIP: "127.0.0.1",
		Stored: func(t *testing.T, who, secret string) ([]string, []string) {
			t.Helper()
			st, _, body := site.call(t, "GET", "/tokens/api/tokens", basicauth.Header(who, site.password), "")
			var b struct {
				Tokens []apiToken `json:"tokens"`
			}
			if err := json.Unmarshal([]byte(body), &b); st != 200 || err != nil {
				t.Fatalf("GET /tokens/api/tokens: %d %s (%v)", st, body, err)
			}
			for _, tk := range b.Tokens {
				if tk.Hint == secret[len(secret)-4:] {
					return tk.AllowedIPs, tk.Scopes
				}
			}
			t.Fatalf("%s's list lacks the new token: %s", who, body)
			return nil, nil
		},
		ScopeWorks: func(t *testing.T, who, secret string) {
			t.Helper()
			for path, want := range map[string]int{"/odata/Issues": 200, "/odata/": 200, "/odata/$metadata": 200, "/odata/Worklogs": 403} {
				if st, body := site.odataPath(t, path, who, secret); st != want {
					t.Errorf("scoped token on %s: %d %q, want %d", path, st, body, want)
				}
			}
		},
		RefusedHere: func(t *testing.T, who, secret string) {
			t.Helper()
			if st, _ := site.odataStatus(t, who, secret); st != http.StatusUnauthorized {
				t.Errorf("token allowed only from 198.51.100.7, used from 127.0.0.1: %d, want 401", st)
			}
		},
	})
}
