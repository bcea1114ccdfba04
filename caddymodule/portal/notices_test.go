package portal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// pageWith renders the page for who with a handler over e's service whose
// Notices is notices, at target (path and query).
func pageWith(t *testing.T, e *env, notices func(string) (string, []string), who, target string) string {
	t.Helper()
	h, err := NewHandler(Config{Service: e.svc, Identity: headerIdentity, Notices: notices})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set(testUserHeader, who)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s as %s: %d %s", target, who, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestPageSaysWhereNoticesGo (issue 13): the token page tells each person
// where their expiry warnings and alerts go.
func TestPageSaysWhereNoticesGo(t *testing.T) {
	e := newEnv(t, "bolt", envOptions{})
	mail := func(who string) string { return who + "@example.com" }
	for _, tc := range []struct {
		name    string
		notices func(string) (string, []string)
		want    string
	}{
		{"off", nil, "No notifications configured"},
		{"nothing configured", func(string) (string, []string) { return "", nil }, "No notifications configured"},
		{"mail", func(w string) (string, []string) { return mail(w), []string{"email"} },
			`Expiry warnings and alerts go to <strong id="notice-address">alice@example.com</strong>.`},
		{"mail and webhook", func(w string) (string, []string) { return mail(w), []string{"email", "webhook"} },
			`Expiry warnings and alerts go to <strong id="notice-address">alice@example.com</strong> and to the webhook.`},
		{"webhook", func(string) (string, []string) { return "", []string{"webhook"} },
			"Expiry warnings and alerts go to the webhook your administrators set up (not by mail)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := pageWith(t, e, tc.notices, "alice", "/")
			if !strings.Contains(page, tc.want) {
				t.Errorf("page lacks %q", tc.want)
			}
		})
	}
}

// TestReplaceLinkRendered: ?replace=<id> (the link notifications carry)
// marks the page to open that token's Replace — giving an active token the
// button it otherwise lacks — and says so when the token is not listed
// (revoked, or somebody else's), without revealing which.
func TestReplaceLinkRendered(t *testing.T) {
	e := newEnv(t, "bolt", envOptions{})
	active := e.create("alice", "Sprint dashboard", "")
	revoked := e.create("alice", "old", "")
	if r := e.do("DELETE", "/api/tokens/"+revoked.ID, "alice", "", "Origin: "+e.srv.URL); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	bobs := e.create("bob", "bob's", "")

	plain := pageWith(t, e, nil, "alice", "/")
	if strings.Contains(plain, `data-action="replace" data-label="Sprint dashboard"`) || strings.Contains(plain, "data-replace=") {
		t.Fatalf("an active token has a Replace button without the link")
	}
	page := pageWith(t, e, nil, "alice", "/?replace="+active.ID)
	for _, want := range []string{`<main data-replace="` + active.ID + `">`, `data-action="replace" data-label="Sprint dashboard"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page for ?replace=<active> lacks %q", want)
		}
	}
	if strings.Contains(page, `id="replace-gone"`) {
		t.Error("a listed token is reported gone")
	}
	for _, id := range []string{revoked.ID, bobs.ID, "no-such-id"} {
		page := pageWith(t, e, nil, "alice", "/?replace="+id)
		if !strings.Contains(page, `id="replace-gone"`) || strings.Contains(page, "data-replace=") || strings.Contains(page, "bob&#39;s") {
			t.Errorf("?replace=%s: want the no-longer-listed note and nothing else", id)
		}
	}
}
