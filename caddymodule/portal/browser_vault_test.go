package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/portal/internal/browsertest"
	"github.com/tokengate/tokengate/token"
)

// TestBrowserVault drives the "Other tokens" section in a real Chromium: the
// plain handler mounted at /tokens/, the vault on, a real bbolt store whose
// ciphertexts the test decrypts to check what the server holds.
func TestBrowserVault(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := browsertest.NewBrowser(t)
	// A kind besides the default one: its form and help come from this
	// configuration.
	kinds := []token.VaultKind{{ID: "jira", Label: "Jira API token"}, {ID: "tempo", Label: "Tempo Timesheets token"}}
	e := newEnv(t, "bolt", envOptions{realClock: true, vault: true, vaultKinds: kinds})
	mux := http.NewServeMux()
	mux.Handle("/tokens/", http.StripPrefix("/tokens", e.h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	browsertest.RunVaultFlow(t, browser, browsertest.VaultSite{
		PageURL: srv.URL + "/tokens/",
		Headers: func(who string) map[string]string { return map[string]string{testUserHeader: who} },
		Kinds:   kinds,
		Stored: func(t *testing.T, who, kind string) (string, bool) {
			t.Helper()
			v, err := e.store.VaultSecret(context.Background(), who, kind)
			if errors.Is(err, token.ErrNotFound) {
				return "", false
			}
			if err != nil {
				t.Fatalf("store.VaultSecret: %v", err)
			}
			plain, err := e.sealer.Open(who, kind, v.Ciphertext)
			if err != nil {
				t.Fatalf("opening the stored credential: %v", err)
			}
			return plain, true
		},
	})
}
