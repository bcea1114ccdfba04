package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

func TestCreateListRevoke(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		c := e.create("alice", "  Power BI sprint report  ", "2026-06-30")
		if !token.WellFormed(c.Token) {
			t.Fatalf("created token %q is not well-formed", c.Token)
		}
		if c.Label != "Power BI sprint report" || c.Hint != c.Token[len(c.Token)-4:] || c.Legacy {
			t.Errorf("created = %+v", c.apiToken)
		}
		if c.CreatedAt == nil || *c.CreatedAt != "2026-03-10T12:30:00Z" {
			t.Errorf("created_at = %v, want 2026-03-10T12:30:00Z", c.CreatedAt)
		}
		if c.ExpiresAt == nil || *c.ExpiresAt != "2026-07-01T00:00:00Z" {
			t.Errorf("expires_at = %v, want 2026-07-01T00:00:00Z (valid through 2026-06-30 UTC)", c.ExpiresAt)
		}
		if c.LastUsedAt != nil || c.LastUsedIP != nil || c.LastUsedAgent != nil || c.Status != "active" || c.ID == "" {
			t.Errorf("created = %+v", c.apiToken)
		}

		never := e.create("alice", "laptop", "")
		if never.ExpiresAt != nil {
			t.Errorf("token without date: expires_at = %v, want null", *never.ExpiresAt)
		}

		r := e.do("GET", "/api/tokens", "alice", "")
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /api/tokens: %d, Cache-Control %q", r.status, r.header.Get("Cache-Control"))
		}
		for _, secret := range []string{c.Token, never.Token} {
			if strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), secret[:20]) {
				t.Fatalf("GET /api/tokens contains a secret: %s", r.body)
			}
		}
		var raw map[string][]map[string]any
		r.json(t, &raw)
		if len(raw["tokens"]) != 2 {
			t.Fatalf("tokens = %v, want 2", raw["tokens"])
		}
		for _, k := range []string{"id", "label", "hint", "created_at", "expires_at", "last_used_at", "last_used_ip", "last_used_agent", "status"} {
			if _, ok := raw["tokens"][0][k]; !ok {
				t.Errorf("token JSON lacks %q: %v", k, raw["tokens"][0])
			}
		}
		if _, ok := raw["tokens"][0]["token"]; ok {
			t.Errorf("listed token has a \"token\" field: %v", raw["tokens"][0])
		}
		if _, ok := raw["tokens"][0]["owner"]; ok {
			t.Errorf("user listing has an owner field: %v", raw["tokens"][0])
		}

		r = e.do("DELETE", "/api/tokens/"+c.ID, "alice", "")
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE: %d %s, want 204", r.status, r.body)
		}
		ts := e.list("alice")
		if len(ts) != 1 || ts[0].ID != never.ID {
			t.Fatalf("after revoke: %+v, want only %s", ts, never.ID)
		}
		if r := e.do("DELETE", "/api/tokens/"+c.ID, "alice", ""); r.status != 404 {
			t.Errorf("second DELETE: %d, want 404", r.status)
		}
		if r := e.do("DELETE", "/api/tokens/nonexistent", "alice", ""); r.status != 404 || !strings.Contains(r.errMsg(t), "no such token") {
			t.Errorf("DELETE unknown: %d %s, want 404", r.status, r.body)
		}
		// The store must really have revoked it, with alice as the actor.
		got, err := e.store.ByDigest(context.Background(), token.DigestOf(c.Token))
		if err != nil || !got.Revoked() || got.RevokedBy != "alice" {
			t.Errorf("stored token after revoke: %+v, %v", got, err)
		}
	})
}

func TestOtherPeopleTokens(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		a := e.create("alice", "alice's", "")
		if ts := e.list("bob"); len(ts) != 0 {
			t.Fatalf("bob sees %+v", ts)
		}
		r := e.do("DELETE", "/api/tokens/"+a.ID, "bob", "")
		if r.status != http.StatusNotFound {
			t.Fatalf("bob revoking alice's token: %d %s, want 404", r.status, r.body)
		}
		if ts := e.list("alice"); len(ts) != 1 {
			t.Fatalf("alice's token gone after bob's attempt: %+v", ts)
		}
		// No create-for-others: an owner field is refused, not honoured.
		r = e.do("POST", "/api/tokens", "carol", `{"label":"x","owner":"alice"}`)
		if r.status != 400 || !strings.Contains(r.errMsg(t), `"owner"`) {
			t.Fatalf("create with owner: %d %s, want 400 naming the field", r.status, r.body)
		}
		if ts := e.list("alice"); len(ts) != 1 {
			t.Fatalf("alice has %d tokens after carol's attempt", len(ts))
		}
	})
}

func TestCreateValidation(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		cases := []struct {
			name, body string
			hdr        []string
			status     int
			want       string // substring of the error message
		}{
			{"empty label", `{"label":""}`, nil, 400, "label is required"},
			{"blank label", `{"label":"   ","expires_on":null}`, nil, 400, "label is required"},
			{"missing label", `{"expires_on":null}`, nil, 400, "label is required"},
			{"long label", `{"label":"` + strings.Repeat("é", 101) + `"}`, nil, 400, "at most 100"},
			{"control chars", `{"label":"a\tb"}`, nil, 400, "control characters"},
			{"newline", `{"label":"a\nb"}`, nil, 400, "control characters"},
			{"bad date", `{"label":"x","expires_on":"2026-13-01"}`, nil, 400, "YYYY-MM-DD"},
			{"word date", `{"label":"x","expires_on":"tomorrow"}`, nil, 400, "YYYY-MM-DD"},
			{"past date", `{"label":"x","expires_on":"2026-03-09"}`, nil, 400, "in the past"},
			{"label number", `{"label":5}`, nil, 400, `"label" must be a string`},
			{"date number", `{"label":"x","expires_on":20260101}`, nil, 400, `"expires_on" must be a string`},
			{"unknown field", `{"label":"x","expires":"2026-05-01"}`, nil, 400, `unknown field "expires"`},
			{"malformed", `{"label":"x"`, nil, 400, "malformed JSON"},
			{"syntax", `{"label" "x"}`, nil, 400, "malformed JSON"},
			{"trailing", `{"label":"x"} {"label":"y"}`, nil, 400, "exactly one JSON object"},
			{"array", `[{"label":"x"}]`, nil, 400, "JSON object"},
			{"empty body", ``, []string{"Content-Type: application/json"}, 400, "empty"},
			{"text/plain", `{"label":"x"}`, []string{"Content-Type: text/plain"}, 415, "application/json"},
			{"form", `label=x`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415, "application/json"},
			{"no content type", `{"label":"x"}`, []string{"Content-Type:"}, 415, "application/json"},
			{"too large", `{"label":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, nil, 413, "larger than 64 KiB"},
		}
		for _, c := range cases {
			r := e.do("POST", "/api/tokens", "alice", c.body, c.hdr...)
			if r.status != c.status {
				t.Errorf("%s: status %d (%s), want %d", c.name, r.status, r.body, c.status)
				continue
			}
			if msg := r.errMsg(t); !strings.Contains(msg, c.want) {
				t.Errorf("%s: error %q, want it to mention %q", c.name, msg, c.want)
			}
		}
		if ts := e.list("alice"); len(ts) != 0 {
			t.Fatalf("rejected requests created tokens: %+v", ts)
		}
		// Charset parameters are fine; today is the earliest date.
		r := e.do("POST", "/api/tokens", "alice", `{"label":"x","expires_on":"2026-03-10"}`, "Content-Type: application/json; charset=utf-8")
		if r.status != 201 {
			t.Fatalf("create with charset: %d %s", r.status, r.body)
		}
	})
}

func TestLimitAndLifetimePolicy(t *testing.T) {
	opts := envOptions{policy: token.Policy{MaxTokensPerUser: 2, MaxLifetime: 30 * 24 * time.Hour}}
	forEachStore(t, opts, func(t *testing.T, e *env) {
		r := e.do("POST", "/api/tokens", "alice", `{"label":"x","expires_on":null}`)
		if r.status != 400 || !strings.Contains(r.errMsg(t), "expiry date is required") {
			t.Fatalf("no date under max_lifetime: %d %s", r.status, r.body)
		}
		// now = 2026-03-10 12:30; +30d = 2026-04-09 12:30 → latest date 2026-04-08.
		r = e.do("POST", "/api/tokens", "alice", `{"label":"x","expires_on":"2026-04-09"}`)
		if r.status != 400 || !strings.Contains(r.errMsg(t), "2026-04-08") {
			t.Fatalf("date beyond max_lifetime: %d %s", r.status, r.body)
		}
		e.create("alice", "one", "2026-04-08")
		e.create("alice", "two", "2026-03-20")
		r = e.do("POST", "/api/tokens", "alice", `{"label":"three","expires_on":"2026-03-20"}`)
		if r.status != http.StatusConflict || !strings.Contains(r.errMsg(t), "revoke one") {
			t.Fatalf("third token: %d %s, want 409", r.status, r.body)
		}
		// Others are not affected by alice's limit.
		e.create("bob", "one", "2026-03-20")
		// The page shows the policy on the date input.
		page := e.do("GET", "/", "alice", "")
		for _, want := range []string{`min="2026-03-10"`, `max="2026-04-08"`, " required", "at most 30d"} {
			if !strings.Contains(string(page.body), want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
}

func TestExpiryStatus(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		soon := e.create("alice", "soon", "2026-03-15")
		later := e.create("alice", "later", "2026-12-31")
		if soon.Status != "expiring_soon" || later.Status != "active" {
			t.Fatalf("statuses: soon %q, later %q", soon.Status, later.Status)
		}
		e.clock.Advance(6 * 24 * time.Hour) // 2026-03-16 12:30: soon has expired
		byID := map[string]apiToken{}
		for _, tk := range e.list("alice") {
			byID[tk.ID] = tk
		}
		if byID[soon.ID].Status != "expired" || byID[later.ID].Status != "active" {
			t.Fatalf("after 6 days: %+v", byID)
		}
		page := string(e.do("GET", "/", "alice", "").body)
		if !strings.Contains(page, "✕</span> expired") {
			t.Errorf("page does not mark the expired token in text")
		}
	})
}

func TestNoIdentity(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/tokens", ""},
			{"POST", "/api/tokens", `{"label":"x"}`},
			{"DELETE", "/api/tokens/abc", ""},
			{"GET", "/api/rejections", ""},
			{"GET", "/api/admin/tokens", ""},
			{"DELETE", "/api/admin/tokens/abc", ""},
			{"DELETE", "/api/admin/users/bob/tokens", ""},
			{"GET", "/api/admin/history", ""},
			{"POST", "/api/admin/cap", `{"max_lifetime":"1d"}`},
		} {
			r := e.do(c.method, c.path, "", c.body)
			if r.status != http.StatusUnauthorized || !strings.Contains(r.errMsg(t), "not signed in") {
				t.Errorf("%s %s without identity: %d %s, want 401", c.method, c.path, r.status, r.body)
			}
		}
		if r := e.do("GET", "/", "", ""); r.status != 401 || !strings.Contains(string(r.body), "not signed in") {
			t.Errorf("page without identity: %d", r.status)
		}
		if r := e.do("GET", "/api/tokens", strings.Repeat("x", 300), ""); r.status != 403 {
			t.Errorf("overlong identity: %d %s, want 403", r.status, r.body)
		}
	})
}

func TestLegacyAndLastUsed(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		legacy := token.Token{ID: "legacy0001", Owner: "alice", Label: "old system", Digest: token.DigestOf("old-secret-wxyz"), Hint: "wxyz"}
		if err := e.store.Import(ctx, []token.Token{legacy}, "admin", startTime); err != nil {
			t.Fatalf("Import: %v", err)
		}
		c := e.create("alice", "new", "")
		used := startTime.Add(time.Hour)
		if err := e.store.TouchLastUsed(ctx, []token.LastUse{{TokenID: c.ID, At: used, IP: "203.0.113.7", Agent: "Microsoft.Data.Mashup"}}); err != nil {
			t.Fatalf("TouchLastUsed: %v", err)
		}
		ts := e.list("alice")
		if len(ts) != 2 || ts[0].ID != c.ID || ts[1].ID != legacy.ID {
			t.Fatalf("list = %+v, want new then legacy", ts)
		}
		l := ts[1]
		if !l.Legacy || l.CreatedAt != nil || l.ExpiresAt != nil || l.Hint != "wxyz" || l.Status != "active" {
			t.Errorf("legacy = %+v", l)
		}
		n := ts[0]
		if n.LastUsedAt == nil || *n.LastUsedAt != "2026-03-10T13:30:00Z" || n.LastUsedIP == nil || *n.LastUsedIP != "203.0.113.7" ||
			n.LastUsedAgent == nil || *n.LastUsedAgent != "Microsoft.Data.Mashup" {
			t.Errorf("last used of %+v", n)
		}
		page := string(e.do("GET", "/", "alice", "").body)
		for _, want := range []string{"<code>…wxyz</code>", "<code>tgp_…" + c.Hint + "</code>", "<td>—</td>", "never", "203.0.113.7",
			"Microsoft.Data.Mashup", "2026-03-10 13:30 UTC", "never used"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
}

func TestRejections(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		c := e.create("alice", "dataset", "")
		rs := []token.Rejection{
			{TokenID: c.ID, Owner: "alice", Label: "dataset", At: startTime.Add(time.Minute), IP: "198.51.100.1", Agent: "PowerBI", Reason: token.RejectExpired},
			{TokenID: c.ID, Owner: "alice", Label: "dataset", At: startTime.Add(2 * time.Minute), IP: "198.51.100.2", Agent: "PowerBI", Reason: token.RejectUsernameMismatch},
			{TokenID: "other", Owner: "bob", Label: "bob's", At: startTime.Add(3 * time.Minute), IP: "198.51.100.3", Reason: token.RejectRevoked},
		}
		if err := e.store.AddRejections(context.Background(), rs); err != nil {
			t.Fatalf("AddRejections: %v", err)
		}
		r := e.do("GET", "/api/rejections", "alice", "")
		var b struct {
			Rejections []apiRejection `json:"rejections"`
		}
		r.json(t, &b)
		if r.status != 200 || len(b.Rejections) != 2 {
			t.Fatalf("alice's rejections: %d %s", r.status, r.body)
		}
		first := b.Rejections[0]
		if first.Reason != "username_mismatch" || first.IP != "198.51.100.2" || first.At != "2026-03-10T12:32:00Z" || first.Label != "dataset" || first.TokenID != c.ID {
			t.Errorf("newest rejection = %+v", first)
		}
		page := string(e.do("GET", "/", "alice", "").body)
		if !strings.Contains(page, "198.51.100.1") || !strings.Contains(page, "username mismatch") || strings.Contains(page, "198.51.100.3") {
			t.Errorf("page rejections wrong")
		}
		r = e.do("GET", "/api/rejections", "bob", "")
		r.json(t, &b)
		if len(b.Rejections) != 1 || b.Rejections[0].Reason != "revoked" {
			t.Errorf("bob's rejections = %+v", b.Rejections)
		}
	})
}

func TestStoreUnavailable(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		c := e.create("alice", "x", "")
		e.cut()
		for _, x := range []struct{ method, path, who, body string }{
			{"GET", "/api/tokens", "alice", ""},
			{"POST", "/api/tokens", "alice", `{"label":"y"}`},
			{"DELETE", "/api/tokens/" + c.ID, "alice", ""},
			{"GET", "/api/rejections", "alice", ""},
			{"GET", "/api/admin/tokens", "carol", ""},
			{"GET", "/api/admin/history", "carol", ""},
			{"POST", "/api/admin/cap", "carol", `{"max_lifetime":"9d"}`},
		} {
			r := e.do(x.method, x.path, x.who, x.body)
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.errMsg(t), "try again") {
				t.Errorf("%s %s with the store down: %d (Retry-After %q) %s, want 503", x.method, x.path, r.status, r.header.Get("Retry-After"), r.body)
			}
		}
		if r := e.do("GET", "/", "alice", ""); r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("page with the store down: %d", r.status)
		}
	})
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		for _, c := range []struct{ method, path, allow string }{
			{"PUT", "/api/tokens", "GET, HEAD, POST"},
			{"PATCH", "/api/tokens/abc", "DELETE"},
			{"GET", "/api/tokens/abc", "DELETE"},
			{"POST", "/api/rejections", "GET, HEAD"},
			{"GET", "/api/admin/cap", "POST"},
			{"POST", "/api/admin/users/bob/tokens", "DELETE"},
		} {
			r := e.do(c.method, c.path, "alice", "", "Content-Type: application/json")
			if r.status != 405 || r.header.Get("Allow") != c.allow || !strings.Contains(r.errMsg(t), "not allowed") {
				t.Errorf("%s %s: %d Allow=%q %s, want 405 Allow %q", c.method, c.path, r.status, r.header.Get("Allow"), r.body, c.allow)
			}
		}
		if r := e.do("GET", "/api/nope", "alice", ""); r.status != 404 || !strings.Contains(r.errMsg(t), "no such API endpoint") {
			t.Errorf("unknown API path: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/nope", "alice", ""); r.status != 404 {
			t.Errorf("unknown path: %d", r.status)
		}
		if r := e.do("GET", "/assets/", "alice", ""); r.status != 404 {
			t.Errorf("asset directory listing: %d", r.status)
		}
		for path, ct := range map[string]string{"/assets/portal.css": "text/css", "/assets/portal.js": "text/javascript"} {
			r := e.do("GET", path, "", "")
			if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ct) || len(r.body) < 100 {
				t.Errorf("%s: %d %q (%d bytes)", path, r.status, r.header.Get("Content-Type"), len(r.body))
			}
		}
	})
}

func TestNoSecretInLogsOrHistory(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		c := e.create("alice", "x", "")
		e.do("DELETE", "/api/tokens/"+c.ID, "alice", "")
		for _, path := range []string{"/api/admin/tokens", "/api/admin/history", "/"} {
			if r := e.do("GET", path, "carol", ""); strings.Contains(string(r.body), c.Token) {
				t.Errorf("%s contains the secret", path)
			}
		}
		entries := e.logs.All()
		var sawCreate bool
		for _, en := range entries {
			b, _ := json.Marshal(en.ContextMap())
			if strings.Contains(en.Message+string(b), c.Token) {
				t.Errorf("log entry %q carries the secret", en.Message)
			}
			m := en.ContextMap()
			if m["action"] == "create" && m["identity"] == "alice" && m["token_id"] == c.ID {
				sawCreate = true
			}
		}
		if !sawCreate {
			t.Errorf("no create log entry with action, identity and token id among %d entries", len(entries))
		}
	})
}
