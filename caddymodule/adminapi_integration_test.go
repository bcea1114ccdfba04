package caddymodule_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule"
	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
)

// adminCall sends one request to the admin endpoint at addr and returns
// the status and body.
func adminCall(t testing.TB, addr, method, path, contentType, body string, hdr map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminJSON is adminCall that wants want and decodes the body into out.
func adminJSON(t testing.TB, addr, method, path, contentType, body string, want int, out any) string {
	t.Helper()
	st, b := adminCall(t, addr, method, path, contentType, body, map[string]string{caddymodule.ActorHeader: "ops"})
	if st != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, st, b, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return b
}

// TestAdminAPIRoutes drives every admin.api.tokengate route on a running
// instance, on both stores: a revoke is refused at the very next request,
// an import works without a restart, no answer carries a secret, errors
// say what to fix, and a browser request from a foreign origin is refused.
func TestAdminAPIRoutes(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := boltKind(t, dir)
			if name == "postgres" {
				kind = postgresKind(t)
			}
			up := newEchoUpstream(t)
			inst, base := startGate(t, kind, dir, up.URL, "")
			admin := inst.AdminAddr
			feed := base + "/odata/x"
			bob := createVia(t, base, "bob", "Power BI")
			alice := createVia(t, base, "alice", "Excel")
			alice2 := createVia(t, base, "alice", "Excel 2")
			for who, s := range map[string]string{"bob": bob, "alice": alice} {
				if st := status(t, feed, basicauth.Header(who, s)); st != http.StatusOK {
					t.Fatalf("%s's token before: %d", who, st)
				}
			}

			// A browser page elsewhere may not use the endpoint (Caddy's origin check).
			if st, body := adminCall(t, admin, http.MethodGet, "/tokengate/tokens", "", "",
				map[string]string{"Origin": "http://evil.example"}); st != http.StatusForbidden {
				t.Fatalf("foreign Origin: %d %s, want 403", st, body)
			}

			var list caddymodule.AdminTokenList
			body := adminJSON(t, admin, http.MethodGet, "/tokengate/tokens", "", "", 200, &list)
			if len(list.Tokens) != 3 || list.NextCursor != "" || list.Total == nil || *list.Total != 3 {
				t.Fatalf("list: %s", body)
			}
			for _, s := range []string{bob, alice, alice2} {
				if strings.Contains(body, s) {
					t.Fatal("the list carries a secret")
				}
			}
			adminJSON(t, admin, http.MethodGet, "/tokengate/tokens?owner=alice&limit=1", "", "", 200, &list)
			if len(list.Tokens) != 1 || list.Tokens[0].Owner != "alice" || list.NextCursor == "" || list.Total == nil || *list.Total != 2 {
				t.Fatalf("first page of alice's: %+v", list)
			}
			first, cursor := list.Tokens[0].ID, list.NextCursor
			list = caddymodule.AdminTokenList{}
			adminJSON(t, admin, http.MethodGet, "/tokengate/tokens?owner=alice&limit=1&cursor="+cursor, "", "", 200, &list)
			if len(list.Tokens) != 1 || list.Tokens[0].ID == first || list.NextCursor != "" || list.Total != nil {
				t.Fatalf("second page of alice's: %+v", list)
			}
			adminJSON(t, admin, http.MethodGet, "/tokengate/tokens?owner=alice", "", "", 200, &list)
			aliceID := ""
			for _, tk := range list.Tokens {
				if tk.Label == "Excel" {
					aliceID = tk.ID
				}
			}

			var rv caddymodule.AdminRevoked
			adminJSON(t, admin, http.MethodDelete, "/tokengate/tokens/"+aliceID, "", "", 200, &rv)
			if rv.Revoked.ID != aliceID || rv.Revoked.RevokedBy != "ops" {
				t.Fatalf("revoke: %+v", rv)
			}
			if st := status(t, feed, basicauth.Header("alice", alice)); st != http.StatusUnauthorized {
				t.Fatalf("alice's revoked token on the next request: %d", st)
			}
			if st := status(t, feed, basicauth.Header("alice", alice2)); st != http.StatusOK {
				t.Fatalf("alice's other token: %d", st)
			}
			adminJSON(t, admin, http.MethodDelete, "/tokengate/tokens/"+aliceID, "", "", 404, nil)

			var n caddymodule.AdminCount
			adminJSON(t, admin, http.MethodPost, "/tokengate/revoke-user", "application/json", `{"owner":"bob"}`, 200, &n)
			if n.Revoked == nil || *n.Revoked != 1 {
				t.Fatalf("revoke-user: %+v", n)
			}
			if st := status(t, feed, basicauth.Header("bob", bob)); st != http.StatusUnauthorized {
				t.Fatalf("bob's token after revoke-user: %d", st)
			}

			legacy := "legacy-secret-of-dave-0123456789"
			adminJSON(t, admin, http.MethodPost, "/tokengate/import", "text/csv", "owner,label,token\ndave,Old report,"+legacy+"\n", 200, &n)
			if n.Imported == nil || *n.Imported != 1 {
				t.Fatalf("import: %+v", n)
			}
			if st := status(t, feed, basicauth.Header("dave", legacy)); st != http.StatusOK {
				t.Fatalf("imported token without a restart: %d", st)
			}
			adminJSON(t, admin, http.MethodPost, "/tokengate/cap-lifetime", "application/json", `{"max_lifetime":"30d"}`, 200, &n)
			if n.Changed == nil || *n.Changed != 2 || n.ExpiresBy == "" {
				t.Fatalf("cap-lifetime: %+v", n)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) { // the log arrives through a pipe
				logs := inst.Logs.String()
				if strings.Contains(logs, "token lifetime cap in progress") && strings.Contains(logs, `"unrevoked_tokens":2`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no progress line of the cap in the log:\n%s", logs)
				}
			}

			var h caddymodule.AdminHistory
			adminJSON(t, admin, http.MethodGet, "/tokengate/history?limit=4", "", "", 200, &h)
			if len(h.Events) != 4 || h.NextCursor == "" || h.Events[0].Actor != "ops" || h.Events[0].Kind != "cap" {
				t.Fatalf("history: %+v", h)
			}
			var more caddymodule.AdminHistory
			adminJSON(t, admin, http.MethodGet, "/tokengate/history?limit=100&cursor="+h.NextCursor, "", "", 200, &more)
			if len(more.Events) != 4 || more.NextCursor != "" { // 3 creates, revoke, revoke-user, import, 2 caps
				t.Fatalf("history page 2: %+v", more)
			}

			// Errors say what to fix.
			for _, c := range []struct {
				method, path, ctype, body string
				status                    int
				want                      string
			}{
				{"POST", "/tokengate/cap-lifetime", "application/json", `{"max_lifetime":"50000d"}`, 400, "too long"},
				{"POST", "/tokengate/cap-lifetime", "application/json", `{"max_lifetime":"soon"}`, 400, "not a lifetime"},
				{"POST", "/tokengate/cap-lifetime", "text/plain", `30d`, 415, "application/json"},
				{"POST", "/tokengate/revoke-user", "application/json", `{"owner":""}`, 400, "owner"},
				{"POST", "/tokengate/import", "text/csv", "erin,,legacy-secret-of-erin-000000\n", 400, "import line 1"},
				{"POST", "/tokengate/import", "application/json", `{}`, 415, "text/csv"},
				{"POST", "/tokengate/import", "text/csv", "frank,x,legacy-secret-of-frank-0123456789\nerin,Mine now," + legacy + "\n", 409,
					"import line 2: token: the store holds it already as a legacy token of another owner"},
				{"GET", "/tokengate/history?limit=5000", "", "", 400, "limit must be"},
				{"GET", "/tokengate/history?cursor=x", "", "", 400, "next_cursor"},
				{"GET", "/tokengate/revoke-user", "", "", 405, "use POST"},
				{"GET", "/tokengate/nope", "", "", 404, "no such tokengate admin route"},
			} {
				st, b := adminCall(t, admin, c.method, c.path, c.ctype, c.body, nil)
				if st != c.status || !strings.Contains(b, c.want) {
					t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, st, b, c.status, c.want)
				}
			}

			// Posting the file again (as after an interruption) skips what
			// is there and imports the rest, with progress in the log.
			n = caddymodule.AdminCount{}
			adminJSON(t, admin, http.MethodPost, "/tokengate/import", "text/csv", "dave,Old report,"+legacy+"\nerin,New,legacy-secret-of-erin-0123456789\n", 200, &n)
			if n.Imported == nil || *n.Imported != 1 || n.AlreadyThere == nil || *n.AlreadyThere != 1 {
				t.Fatalf("import again with one more row: %+v, want 1 imported, 1 already there", n)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				logs := inst.Logs.String()
				if strings.Contains(logs, "legacy token import in progress") && strings.Contains(logs, `"already_there":1`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no progress line of the import in the log:\n%s", logs)
				}
			}
		})
	}
}

// TestAdminAPIRevokeAcrossInstances: with Postgres, a revoke through
// instance A's admin API is refused on instance B within 5 s.
func TestAdminAPIRevokeAcrossInstances(t *testing.T) {
	kind := postgresKind(t)
	up := newEchoUpstream(t)
	instA, baseA := startGate(t, kind, t.TempDir(), up.URL, "")
	_, baseB := startGate(t, kind, t.TempDir(), up.URL, "")
	secret := createVia(t, baseB, "erin", "Power BI")
	authz := basicauth.Header("erin", secret)
	for _, b := range []string{baseA, baseB} {
		if s := status(t, b+"/odata/x", authz); s != http.StatusOK {
			t.Fatalf("warm-up on %s: %d", b, s)
		}
	}
	start := time.Now()
	var n caddymodule.AdminCount
	adminJSON(t, instA.AdminAddr, http.MethodPost, "/tokengate/revoke-user", "application/json", `{"owner":"erin"}`, 200, &n)
	if s := status(t, baseA+"/odata/x", authz); s != http.StatusUnauthorized {
		t.Fatalf("A still accepts the token: %d", s)
	}
	for status(t, baseB+"/odata/x", authz) != http.StatusUnauthorized {
		if time.Since(start) > 5*time.Second {
			t.Fatal("B still accepts the token 5 s after the revoke through A's admin API")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("refused on B after %s", time.Since(start).Round(time.Millisecond))
}
