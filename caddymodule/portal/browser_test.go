package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/portal/internal/browsertest"
	"github.com/tokengate/tokengate/token"
)

// TestBrowserFlow is phase A of the browser test: the plain handler mounted
// at /tokens/ (prefix stripped, as Caddy's handle_path does), people signed
// in by a test header, a real bbolt store. Phase B runs the same
// browsertest.RunTokenPageFlow inside Caddy with tokengate_auth.
func TestBrowserFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := browsertest.NewBrowser(t)
	e := newEnv(t, "bolt", envOptions{admins: []string{"carol"}, realClock: true})
	mux := http.NewServeMux()
	mux.Handle("/tokens/", http.StripPrefix("/tokens", e.h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	stored := func(t *testing.T, secret string) token.Token {
		t.Helper()
		tk, err := e.store.ByDigest(context.Background(), token.DigestOf(secret))
		if err != nil {
			t.Fatalf("the created secret is not in the store: %v", err)
		}
		return tk
	}
	browsertest.RunTokenPageFlow(t, browser, browsertest.Site{
		PageURL: srv.URL + "/tokens/",
		Headers: func(who string) map[string]string { return map[string]string{testUserHeader: who} },
		TokenWorks: func(t *testing.T, who, secret string) {
			if tk := stored(t, secret); tk.Owner != who || tk.Revoked() || tk.ExpiredAt(e.svc.Now()) {
				t.Errorf("token of %s: owner %q, revoked %v", who, tk.Owner, tk.Revoked())
			}
		},
		TokenRejected: func(t *testing.T, who, secret string) {
			if tk := stored(t, secret); tk.Owner != who || !tk.Revoked() {
				t.Errorf("token of %s should be revoked: owner %q, revoked %v", who, tk.Owner, tk.Revoked())
			}
		},
	})
}
