package portal

import (
	"net/http"
	"strings"
	"testing"
)

func TestVaultValidation(t *testing.T) {
	forEachStore(t, envOptions{vault: true, vaultKinds: twoKinds}, func(t *testing.T, e *env) {
		cases := []struct {
			name, method, path, body string
			hdr                      []string
			status                   int
			want                     string
		}{
			{"empty", "PUT", "/api/vault/jira", `{"secret":""}`, nil, 400, "secret is required"},
			{"blank", "PUT", "/api/vault/jira", `{"secret":"   "}`, nil, 400, "secret is required"},
			{"missing", "PUT", "/api/vault/jira", `{}`, nil, 400, "secret is required"},
			{"null", "PUT", "/api/vault/jira", `{"secret":null}`, nil, 400, "secret is required"},
			{"tab", "PUT", "/api/vault/jira", `{"secret":"abc\tdef"}`, nil, 400, "control characters"},
			{"newline", "PUT", "/api/vault/jira", `{"secret":"abc\ndef"}`, nil, 400, "control characters"},
			{"delete char", "PUT", "/api/vault/jira", `{"secret":"abc\u007fdef"}`, nil, 400, "control characters"},
			{"too long", "PUT", "/api/vault/jira", `{"secret":"` + strings.Repeat("a", 4097) + `"}`, nil, 400, "at most 4096"},
			{"number", "PUT", "/api/vault/jira", `{"secret":12345}`, nil, 400, `"secret" must be a string`},
			{"owner field", "PUT", "/api/vault/jira", `{"secret":"abcdef","owner":"bob"}`, nil, 400, `unknown field "owner"`},
			{"malformed", "PUT", "/api/vault/jira", `{"secret":"abc`, nil, 400, "malformed JSON"},
			{"two objects", "PUT", "/api/vault/jira", `{"secret":"a1"} {"secret":"b2"}`, nil, 400, "exactly one JSON object"},
			{"empty body", "PUT", "/api/vault/jira", ``, []string{"Content-Type: application/json"}, 400, "empty"},
			{"text/plain", "PUT", "/api/vault/jira", `{"secret":"abcdef"}`, []string{"Content-Type: text/plain"}, 415, "application/json"},
			{"no content type", "PUT", "/api/vault/jira", `{"secret":"abcdef"}`, []string{"Content-Type:"}, 415, "application/json"},
			{"too large", "PUT", "/api/vault/jira", `{"secret":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, nil, 413, "larger than 64 KiB"},
			{"unknown kind", "PUT", "/api/vault/github", `{"secret":"abcdef"}`, nil, 404, `no such kind of credential "github"; this server stores: jira, tempo`},
			{"upper-case kind", "PUT", "/api/vault/JIRA", `{"secret":"abcdef"}`, nil, 404, "no such kind"},
			{"unknown kind delete", "DELETE", "/api/vault/github", ``, nil, 404, "no such kind"},
			{"nested path", "PUT", "/api/vault/jira/x", `{"secret":"abcdef"}`, nil, 404, "no such API endpoint"},
			{"nothing stored", "DELETE", "/api/vault/tempo", ``, nil, 404, "you have no Tempo API token stored"},
		}
		for _, c := range cases {
			r := e.do(c.method, c.path, "alice", c.body, c.hdr...)
			if r.status != c.status {
				t.Errorf("%s: status %d (%s), want %d", c.name, r.status, r.body, c.status)
				continue
			}
			if msg := r.errMsg(t); !strings.Contains(msg, c.want) {
				t.Errorf("%s: error %q, want it to mention %q", c.name, msg, c.want)
			}
			if strings.Contains(string(r.body), "abcdef") || strings.Contains(string(r.body), "abc\\t") {
				t.Errorf("%s: the error echoes the secret: %s", c.name, r.body)
			}
		}
		for _, en := range e.vault("alice").Entries {
			if en.Stored {
				t.Fatalf("a refused request stored %+v", en)
			}
		}
		// Exactly MaxVaultSecretLen bytes and a charset parameter are fine.
		r := e.do("PUT", "/api/vault/tempo", "alice", `{"secret":"`+strings.Repeat("b", 4096)+`"}`, "Content-Type: application/json; charset=utf-8")
		if r.status != 200 {
			t.Fatalf("4096-byte secret: %d %s", r.status, r.body)
		}

		for _, c := range []struct{ method, path, allow string }{
			{"POST", "/api/vault", "GET, HEAD"},
			{"PUT", "/api/vault", "GET, HEAD"},
			{"GET", "/api/vault/jira", "DELETE, PUT"},
			{"POST", "/api/vault/jira", "DELETE, PUT"},
			{"PATCH", "/api/vault/jira", "DELETE, PUT"},
		} {
			r := e.do(c.method, c.path, "alice", "", "Content-Type: application/json")
			if r.status != 405 || r.header.Get("Allow") != c.allow || !strings.Contains(r.errMsg(t), "not allowed") {
				t.Errorf("%s %s: %d Allow=%q %s, want 405 Allow %q", c.method, c.path, r.status, r.header.Get("Allow"), r.body, c.allow)
			}
		}
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/vault", ""},
			{"PUT", "/api/vault/jira", `{"secret":"abcdef"}`},
			{"DELETE", "/api/vault/jira", ""},
		} {
			r := e.do(c.method, c.path, "", c.body)
			if r.status != http.StatusUnauthorized || !strings.Contains(r.errMsg(t), "not signed in") {
				t.Errorf("%s %s without identity: %d %s, want 401", c.method, c.path, r.status, r.body)
			}
		}
	})
}

func TestVaultOff(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		r := e.do("GET", "/api/vault", "alice", "")
		if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"enabled":false,"entries":[]}` || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /api/vault with the vault off: %d %s", r.status, r.body)
		}
		for _, c := range []struct{ method, path, body string }{
			{"PUT", "/api/vault/jira", `{"secret":"abcdef"}`},
			{"PUT", "/api/vault/unknown", `{"secret":"abcdef"}`},
			{"DELETE", "/api/vault/jira", ""},
		} {
			r := e.do(c.method, c.path, "alice", c.body)
			if r.status != http.StatusNotFound || r.errMsg(t) != VaultOffMessage {
				t.Errorf("%s %s with the vault off: %d %s, want 404 %q", c.method, c.path, r.status, r.body, VaultOffMessage)
			}
		}
		page := string(e.do("GET", "/", "alice", "").body)
		if strings.Contains(page, "Other tokens") || strings.Contains(page, `id="vault"`) || strings.Contains(page, "vault-form") {
			t.Errorf("the page shows the vault section with the vault off")
		}
	})
}

func TestVaultCrossSiteRefused(t *testing.T) {
	forEachStore(t, envOptions{vault: true}, func(t *testing.T, e *env) {
		keep := "keep-this-jira-token-1234"
		if r := e.putVault("alice", "jira", keep); r.status != 200 {
			t.Fatalf("PUT: %d %s", r.status, r.body)
		}
		for _, hdr := range [][]string{
			{"Sec-Fetch-Site: cross-site"},
			{"Sec-Fetch-Site: same-site"},
			{"Origin: http://evil.example"},
			{"Origin: null"},
			{"Sec-Fetch-Site: same-origin", "Origin: https://evil.example"},
		} {
			r := e.do("PUT", "/api/vault/jira", "alice", `{"secret":"attacker-chosen-token-0000"}`, hdr...)
			if r.status != http.StatusForbidden || !strings.Contains(r.errMsg(t), "cross-site") {
				t.Errorf("PUT with %v: %d %s, want 403", hdr, r.status, r.body)
			}
			r = e.do("DELETE", "/api/vault/jira", "alice", "", hdr...)
			if r.status != http.StatusForbidden || !strings.Contains(r.errMsg(t), "cross-site") {
				t.Errorf("DELETE with %v: %d %s, want 403", hdr, r.status, r.body)
			}
		}
		if _, plain := e.storedVault("alice", "jira"); plain != keep {
			t.Fatalf("a cross-site request replaced the stored secret")
		}
		r := e.do("PUT", "/api/vault/jira", "alice", `{"secret":"same-origin-token-5678"}`, "Sec-Fetch-Site: same-origin", "Origin: "+e.srv.URL)
		if r.status != 200 {
			t.Fatalf("same-origin PUT: %d %s", r.status, r.body)
		}
	})
}

func TestVaultStoreUnavailable(t *testing.T) {
	forEachStore(t, envOptions{vault: true}, func(t *testing.T, e *env) {
		if r := e.putVault("alice", "jira", "stored-before-the-outage-1"); r.status != 200 {
			t.Fatalf("PUT: %d %s", r.status, r.body)
		}
		e.cut()
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/vault", ""},
			{"PUT", "/api/vault/jira", `{"secret":"during-the-outage-2"}`},
			{"DELETE", "/api/vault/jira", ""},
		} {
			r := e.do(c.method, c.path, "alice", c.body)
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.errMsg(t), "try again") {
				t.Errorf("%s %s with the store down: %d (Retry-After %q) %s, want 503", c.method, c.path, r.status, r.header.Get("Retry-After"), r.body)
			}
		}
		if r := e.do("GET", "/", "alice", ""); r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("page with the store down: %d", r.status)
		}
	})
}
