package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// twoKinds is the vault configuration of most vault tests.
var twoKinds = []token.VaultKind{{ID: "jira", Label: "Jira API token"}, {ID: "tempo", Label: "Tempo API token"}}

type vaultList struct {
	Enabled bool            `json:"enabled"`
	Entries []apiVaultEntry `json:"entries"`
}

// vault returns who's GET /api/vault, failing the test if any of secrets
// (or a long piece of one) is in the answer.
func (e *env) vault(who string, secrets ...string) vaultList {
	e.t.Helper()
	r := e.do("GET", "/api/vault", who, "")
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		e.t.Fatalf("GET /api/vault as %s: %d (Cache-Control %q) %s", who, r.status, r.header.Get("Cache-Control"), r.body)
	}
	noSecret(e.t, "GET /api/vault", r.body, secrets...)
	var v vaultList
	r.json(e.t, &v)
	return v
}

// noSecret fails the test when body holds one of the secrets or its first 12 bytes.
func noSecret(t *testing.T, what string, body []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) || bytes.Contains(body, []byte(s[:12])) {
			t.Fatalf("%s contains a stored secret", what)
		}
	}
}

func (e *env) putVault(who, kind, secret string) resp {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"secret": secret})
	return e.do("PUT", "/api/vault/"+kind, who, string(b))
}

// storedVault decrypts who's stored credential of kind straight from the store.
func (e *env) storedVault(who, kind string) (token.VaultSecret, string) {
	e.t.Helper()
	v, err := e.store.VaultSecret(context.Background(), who, kind)
	if err != nil {
		e.t.Fatalf("store.VaultSecret(%s, %s): %v", who, kind, err)
	}
	plain, err := e.sealer.Open(who, kind, v.Ciphertext)
	if err != nil {
		e.t.Fatalf("opening the stored %s of %s: %v", kind, who, err)
	}
	return v, plain
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func TestVaultRoundTrip(t *testing.T) {
	forEachStore(t, envOptions{vault: true, vaultKinds: twoKinds, admins: []string{"carol"}}, func(t *testing.T, e *env) {
		v := e.vault("alice")
		if !v.Enabled || len(v.Entries) != 2 || v.Entries[0].Kind != "jira" || v.Entries[1].Kind != "tempo" ||
			v.Entries[0].Label != "Jira API token" || v.Entries[1].Label != "Tempo API token" {
			t.Fatalf("empty vault = %+v", v)
		}
		for _, en := range v.Entries {
			if en.Stored || en.Hint != nil || en.UpdatedAt != nil {
				t.Errorf("nothing stored yet, but %+v", en)
			}
		}

		first := "ATATT3xFfGF0-first-Jira-token-9a7Q"
		r := e.putVault("alice", "jira", "  "+first+"  ")
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("PUT jira: %d %s", r.status, r.body)
		}
		noSecret(t, "the PUT answer", r.body, first)
		var got apiVaultEntry
		r.json(t, &got)
		if got.Kind != "jira" || got.Label != "Jira API token" || !got.Stored || strOr(got.Hint, "") != "9a7Q" ||
			strOr(got.UpdatedAt, "") != "2026-03-10T12:30:00Z" {
			t.Fatalf("PUT answer = %+v", got)
		}
		// At rest: encrypted, bound to alice, trimmed, with the hint.
		sv, plain := e.storedVault("alice", "jira")
		if plain != first || sv.Hint != "9a7Q" || bytes.Contains(sv.Ciphertext, []byte(first)) {
			t.Fatalf("stored: plaintext %q (want the trimmed secret), hint %q", plain, sv.Hint)
		}
		if _, err := e.sealer.Open("bob", "jira", sv.Ciphertext); err == nil {
			t.Fatalf("alice's ciphertext opens as bob's")
		}

		v = e.vault("alice", first)
		if !v.Entries[0].Stored || strOr(v.Entries[0].Hint, "") != "9a7Q" || strOr(v.Entries[0].UpdatedAt, "") != "2026-03-10T12:30:00Z" || v.Entries[1].Stored {
			t.Fatalf("after PUT: %+v", v.Entries)
		}
		page := e.do("GET", "/", "alice", "")
		noSecret(t, "the page", page.body, first)
		for _, want := range []string{`<h2 id="vault-heading">Other tokens</h2>`,
			`<p id="vault-jira-help" class="help">Paste the Jira API token that`, `<p id="vault-tempo-help" class="help">Paste the Tempo API token that`,
			"stored</span> <code>…9a7Q</code>, updated <time datetime=\"2026-03-10T12:30:00Z\">2026-03-10 12:30 UTC</time>",
			`<label for="vault-jira-secret">`, `id="vault-jira-secret" name="secret" type="password"`, `autocomplete="off"`,
			`<button type="submit" aria-label="Replace Jira API token">Replace</button>`, `data-action="vault-remove" data-kind="jira"`,
			"not stored", `<button type="submit" aria-label="Save Tempo API token">Save</button>`} {
			if !strings.Contains(string(page.body), want) {
				t.Errorf("page lacks %q", want)
			}
		}

		// Replace.
		e.clock.Advance(time.Hour)
		second := "ATATT3xFfGF0-second-Jira-token-Zz42"
		if r := e.putVault("alice", "jira", second); r.status != 200 || !strings.Contains(string(r.body), `"hint":"Zz42"`) {
			t.Fatalf("replace: %d %s", r.status, r.body)
		}
		if _, plain := e.storedVault("alice", "jira"); plain != second {
			t.Fatalf("after replace the store holds another secret")
		}
		v = e.vault("alice", first, second)
		if strOr(v.Entries[0].Hint, "") != "Zz42" || strOr(v.Entries[0].UpdatedAt, "") != "2026-03-10T13:30:00Z" {
			t.Fatalf("after replace: %+v", v.Entries[0])
		}

		// Bob sees and touches nothing of alice's; no owner parameter works.
		for _, path := range []string{"/api/vault", "/api/vault?owner=alice"} {
			r := e.do("GET", path, "bob", "")
			noSecret(t, "bob's GET", r.body, second)
			var bv vaultList
			r.json(t, &bv)
			if r.status != 200 || len(bv.Entries) != 2 || bv.Entries[0].Stored || bv.Entries[0].Hint != nil {
				t.Fatalf("bob's %s: %d %s", path, r.status, r.body)
			}
		}
		if r := e.do("DELETE", "/api/vault/jira", "bob", ""); r.status != 404 || !strings.Contains(r.errMsg(t), "you have no Jira API token stored") {
			t.Fatalf("bob deleting: %d %s, want 404", r.status, r.body)
		}
		if page := e.do("GET", "/", "bob", ""); strings.Contains(string(page.body), "Zz42") {
			t.Fatalf("bob's page shows alice's hint")
		}
		// Administrators have no vault routes and see no secret.
		for _, path := range []string{"/api/admin/vault", "/api/admin/vault/jira", "/api/admin/users/alice/vault"} {
			if r := e.do("GET", path, "carol", ""); r.status != 404 {
				t.Errorf("GET %s as admin: %d, want 404", path, r.status)
			}
		}
		for _, path := range []string{"/", "/api/admin/tokens", "/api/admin/history", "/api/admin/history?owner=alice"} {
			noSecret(t, "admin "+path, e.do("GET", path, "carol", "").body, first, second)
		}
		var hist struct {
			Events []apiEvent `json:"events"`
		}
		e.do("GET", "/api/admin/history?owner=alice", "carol", "").json(t, &hist)
		sets := 0
		for _, ev := range hist.Events {
			if ev.Kind == string(token.EventVault) && ev.Owner == "alice" && ev.Actor == "alice" && ev.Label == "jira" {
				sets++
			}
		}
		if sets != 2 {
			t.Errorf("history has %d vault events of alice, want 2: %+v", sets, hist.Events)
		}

		// Delete.
		if r := e.do("DELETE", "/api/vault/jira", "alice", ""); r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE: %d %s, want 204", r.status, r.body)
		}
		if _, err := e.store.VaultSecret(context.Background(), "alice", "jira"); !errors.Is(err, token.ErrNotFound) {
			t.Fatalf("after DELETE the store still answers %v", err)
		}
		if v := e.vault("alice"); v.Entries[0].Stored || v.Entries[0].Hint != nil || v.Entries[0].UpdatedAt != nil {
			t.Fatalf("after DELETE: %+v", v.Entries[0])
		}
		if r := e.do("DELETE", "/api/vault/jira", "alice", ""); r.status != 404 || !strings.Contains(r.errMsg(t), "no Jira API token stored") {
			t.Fatalf("second DELETE: %d %s, want 404", r.status, r.body)
		}

		// The log names the action and the kind, never the secret.
		var sawSet bool
		for _, en := range e.logs.All() {
			b, _ := json.Marshal(en.ContextMap())
			noSecret(t, "log entry "+en.Message, append([]byte(en.Message), b...), first, second)
			m := en.ContextMap()
			if m["action"] == "vault_set" && m["identity"] == "alice" && m["kind"] == "jira" {
				sawSet = true
			}
		}
		if !sawSet {
			t.Errorf("no vault_set log entry")
		}
	})
}
