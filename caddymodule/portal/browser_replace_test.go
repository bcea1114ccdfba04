package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/portal/internal/browsertest"
	"github.com/tokengate/tokengate/token"
)

// TestBrowserReplaceLink opens a notification's link (?replace=<token id>)
// in a real Chromium: the plain handler mounted at /tokens/, mail
// notifications on, a real bbolt store.
func TestBrowserReplaceLink(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := browsertest.NewBrowser(t)
	e := newEnv(t, "bolt", envOptions{realClock: true})
	c, err := e.svc.CreateWith(context.Background(), "alice", token.CreateRequest{Label: "Sprint dashboard", AllowedIPs: []string{"203.0.113.0/24", "198.51.100.7"}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := e.svc.Create(context.Background(), "alice", "old", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(context.Background(), "alice", gone.Token.ID); err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Config{Service: e.svc, Identity: headerIdentity,
		Notices: func(who string) (string, []string) { return who + "@example.com", []string{"email"} }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/tokens/", http.StripPrefix("/tokens", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	browsertest.RunReplaceLinkFlow(t, browser, browsertest.ReplaceLinkSite{
		PageURL: srv.URL + "/tokens/",
		Headers: func(who string) map[string]string { return map[string]string{testUserHeader: who} },
		Owner:   "alice", TokenID: c.Token.ID, Label: "Sprint dashboard", IPs: "203.0.113.0/24\n198.51.100.7",
		GoneID: gone.Token.ID,
		Notice: "Expiry warnings and alerts go to alice@example.com.",
	})
}
