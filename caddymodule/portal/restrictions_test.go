package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/token"
)

// knownScopes is the operator's scope definitions as the portal tests see
// them (in Caddy, tokengate_auth's scope lines).
func knownScopes(names ...string) func() []string {
	return func() []string { return names }
}

// scopedOptions are envOptions with the scopes issues and worklogs defined.
var scopedOptions = envOptions{admins: []string{"carol"},
	policy: token.Policy{KnownScopes: knownScopes("worklogs", "issues")}}

// createRaw posts body to POST /api/tokens as who.
func (e *env) createRaw(who, body string) resp {
	e.t.Helper()
	return e.do("POST", "/api/tokens", who, body)
}

func TestCreateRestricted(t *testing.T) {
	forEachStore(t, scopedOptions, func(t *testing.T, e *env) {
		r := e.createRaw("alice", `{"label":"gateway","expires_on":null,
			"allowed_ips":["203.0.113.0/24"," 2001:db8::/48 ","198.51.100.7","","::ffff:10.1.2.3","203.0.113.9/24"],
			"scopes":["worklogs","issues","issues"]}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create restricted: %d %s", r.status, r.body)
		}
		var c createdToken
		r.json(t, &c)
		wantIPs := []string{"203.0.113.0/24", "2001:db8::/48", "198.51.100.7", "10.1.2.3"}
		wantScopes := []string{"issues", "worklogs"}
		if !slices.Equal(c.AllowedIPs, wantIPs) || !slices.Equal(c.Scopes, wantScopes) || !token.WellFormed(c.Token) {
			t.Fatalf("201 answer: allowed_ips %q scopes %q, want %q %q", c.AllowedIPs, c.Scopes, wantIPs, wantScopes)
		}
		one := e.createRaw("alice", `{"label":"office","allowed_ips":["198.51.100.7"],"scopes":["issues"]}`)
		if one.status != http.StatusCreated {
			t.Fatalf("create with one address: %d %s", one.status, one.body)
		}
		addrs := e.createRaw("alice", `{"label":"two desks","allowed_ips":["198.51.100.7","2001:db8::1"]}`)
		if addrs.status != http.StatusCreated {
			t.Fatalf("create with two addresses: %d %s", addrs.status, addrs.body)
		}
		plain := e.create("alice", "plain", "")

		// The restrictions are stored with the token: read back by the
		// store, the user's list and the admin list.
		stored, err := e.store.ByDigest(context.Background(), token.DigestOf(c.Token))
		if err != nil {
			t.Fatalf("ByDigest: %v", err)
		}
		if got := token.FormatAllowedIPs(stored.AllowedIPs); !slices.Equal(got, wantIPs) || !slices.Equal(stored.Scopes, wantScopes) {
			t.Errorf("stored restrictions: %q %q (is the store persisting them?)", got, stored.Scopes)
		}
		byLabel := map[string]apiToken{}
		for _, tk := range e.list("alice") {
			byLabel[tk.Label] = tk
		}
		if g := byLabel["gateway"]; !slices.Equal(g.AllowedIPs, wantIPs) || !slices.Equal(g.Scopes, wantScopes) {
			t.Errorf("GET /api/tokens: allowed_ips %q scopes %q, want %q %q", g.AllowedIPs, g.Scopes, wantIPs, wantScopes)
		}
		// Unrestricted: both fields present and [] (never null, never absent).
		raw := string(e.do("GET", "/api/tokens", "alice", "").body)
		if !strings.Contains(raw, `"id":"`+plain.ID+`"`) || strings.Count(raw, `"allowed_ips":[]`) != 1 || strings.Count(raw, `"scopes":[]`) != 2 {
			t.Errorf("unrestricted token in GET /api/tokens: %s", raw)
		}
		var admin struct {
			Tokens []apiToken `json:"tokens"`
		}
		e.do("GET", "/api/admin/tokens?owner=alice", "carol", "").json(t, &admin)
		var seen bool
		for _, tk := range admin.Tokens {
			if tk.ID == c.ID {
				seen = true
				if !slices.Equal(tk.AllowedIPs, wantIPs) || !slices.Equal(tk.Scopes, wantScopes) || tk.Owner != "alice" {
					t.Errorf("GET /api/admin/tokens: %+v", tk)
				}
			}
		}
		if !seen {
			t.Errorf("admin list lacks the restricted token: %+v", admin.Tokens)
		}

		// The page shows them compactly, the whole list in a tooltip and a
		// disclosure; the admin view too.
		for who, section := range map[string]string{"alice": `id="tokens"`, "carol": `id="admin"`} {
			page := string(e.do("GET", "/", who, "").body)
			page = page[strings.Index(page, section):]
			for _, want := range []string{
				`<summary title="Usable only from 203.0.113.0/24, 2001:db8::/48, 198.51.100.7, 10.1.2.3">from 4 ranges</summary>`,
				`<li><code>2001:db8::/48</code></li>`,
				"scopes: issues, worklogs",
				`<span class="ips" title="Usable only from 198.51.100.7">from 198.51.100.7</span>`,
				"scopes: issues<",
				">from 2 addresses</summary>",
				`title="Usable from anywhere, on all data">none</span>`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("%s's page (%s) lacks %q", who, section, want)
				}
			}
		}
	})
}

func TestCreateRestrictedValidation(t *testing.T) {
	forEachStore(t, scopedOptions, func(t *testing.T, e *env) {
		many := make([]string, token.MaxAllowedIPs+1)
		for i := range many {
			many[i] = fmt.Sprintf("%q", fmt.Sprintf("198.51.100.%d", i+1))
		}
		for _, c := range []struct{ name, body, want string }{
			{"prefix too long", `{"label":"x","allowed_ips":["203.0.113.0/24","10.0.0.0/33"]}`, `allowed IP 2, "10.0.0.0/33"`},
			{"not an address", `{"label":"x","allowed_ips":["gateway.example"]}`, `"gateway.example": not an IP address`},
			{"zone", `{"label":"x","allowed_ips":["fe80::1%eth0"]}`, `"fe80::1%eth0"`},
			{"too many", `{"label":"x","allowed_ips":[` + strings.Join(many, ",") + `]}`, fmt.Sprintf("at most %d", token.MaxAllowedIPs)},
			{"unknown scope", `{"label":"x","scopes":["issues","admin"]}`, `unknown scope "admin"; known scopes: issues, worklogs`},
			{"list as string", `{"label":"x","allowed_ips":"203.0.113.0/24"}`, `"allowed_ips" must be a list`},
			{"scope number", `{"label":"x","scopes":[1]}`, `"scopes`},
		} {
			r := e.createRaw("alice", c.body)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", c.name, r.status, r.body)
				continue
			}
			if msg := r.errMsg(t); !strings.Contains(msg, c.want) {
				t.Errorf("%s: error %q, want it to name %q", c.name, msg, c.want)
			}
		}
		if ts := e.list("alice"); len(ts) != 0 {
			t.Fatalf("refused requests created tokens: %+v", ts)
		}
	})
}

func TestScopesNotConfigured(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		r := e.createRaw("alice", `{"label":"x","scopes":["issues"]}`)
		if r.status != http.StatusBadRequest || !strings.Contains(r.errMsg(t), `scope "issues": no scopes are configured`) {
			t.Fatalf("scope without definitions: %d %s, want 400 naming it", r.status, r.body)
		}
		page := string(e.do("GET", "/", "alice", "").body)
		if strings.Contains(page, "scopes-field") || strings.Contains(page, `name="scopes"`) {
			t.Errorf("the page offers scopes although none are configured")
		}
		if !strings.Contains(page, `<label for="allowed_ips">Allowed IP addresses (optional)</label>`) {
			t.Errorf("the page lacks the optional allow-list")
		}
	})
}

func TestRequireAllowedIPs(t *testing.T) {
	opts := envOptions{policy: token.Policy{RequireAllowedIPs: true}}
	forEachStore(t, opts, func(t *testing.T, e *env) {
		for _, body := range []string{`{"label":"x"}`, `{"label":"x","allowed_ips":[]}`, `{"label":"x","allowed_ips":null}`, `{"label":"x","allowed_ips":[" "]}`} {
			r := e.createRaw("alice", body)
			if r.status != http.StatusBadRequest || !strings.Contains(r.errMsg(t), "allowed IPs are required") {
				t.Errorf("%s under require_allowed_ips: %d %s, want 400", body, r.status, r.body)
			}
		}
		r := e.createRaw("alice", `{"label":"x","allowed_ips":["203.0.113.0/24"]}`)
		if r.status != http.StatusCreated {
			t.Fatalf("with a list under require_allowed_ips: %d %s", r.status, r.body)
		}
		page := string(e.do("GET", "/", "alice", "").body)
		for _, want := range []string{
			`Allowed IP addresses <span class="required">(required)</span>`,
			`autocomplete="off" required`,
			"Required on this server",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
}

func TestCreateFormOffersRestrictions(t *testing.T) {
	e := newEnv(t, "bolt", scopedOptions)
	page := string(e.do("GET", "/", "alice", "").body)
	for _, want := range []string{
		`<label for="allowed_ips">Allowed IP addresses (optional)</label>`,
		`placeholder="203.0.113.0/24&#10;2001:db8::/48&#10;198.51.100.7"`,
		"at most " + fmt.Sprint(token.MaxAllowedIPs),
		`<code id="my-ip">127.0.0.1</code>`,
		`<button type="button" id="add-my-ip" class="secondary small" data-ip="127.0.0.1">Add my current IP</button>`,
		`<legend>Scopes (optional)</legend>`,
		`<input type="checkbox" id="scope-issues" name="scopes" value="issues"> issues</label>`,
		`<input type="checkbox" id="scope-worklogs" name="scopes" value="worklogs"> worklogs</label>`,
		"cannot be widened later; create a new token instead",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if i, j := strings.Index(page, `id="scope-issues"`), strings.Index(page, `id="scope-worklogs"`); i > j {
		t.Errorf("scopes not in order")
	}
}

// TestClientIPSuggestion: the suggested address is the one the server will
// store (IPv4-mapped unmapped); anything that is not an address offers none.
func TestClientIPSuggestion(t *testing.T) {
	svc := token.NewService(newEnv(t, "bolt", envOptions{}).store, token.Policy{}, nil, nil)
	for ip, want := range map[string]string{
		"::ffff:198.51.100.9": `data-ip="198.51.100.9"`,
		"2001:db8::7":         `data-ip="2001:db8::7"`,
		"":                    "",
		"not-an-ip":           "",
		"10.0.0.0/8":          "",
	} {
		h, err := NewHandler(Config{Service: svc, Identity: headerIdentity, ClientIP: func(*http.Request) string { return ip }})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(testUserHeader, "alice")
		h.ServeHTTP(rec, req)
		page := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("page: %d", rec.Code)
		}
		if want == "" {
			if strings.Contains(page, "add-my-ip") {
				t.Errorf("client IP %q: the page offers it", ip)
			}
		} else if !strings.Contains(page, want) {
			t.Errorf("client IP %q: page lacks %s", ip, want)
		}
	}
}

// TestCaddyClientIP: inside Caddy the suggestion is Caddy's client IP
// (trusted proxies honoured), else the connection's address.
func TestCaddyClientIP(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::1]:4711"
	if got := clientIP(r); got != "2001:db8::1" {
		t.Errorf("without Caddy's variable: %q", got)
	}
	vars := map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.50"}
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	if got := clientIP(r); got != "203.0.113.50" {
		t.Errorf("with Caddy's client IP: %q", got)
	}
}

func TestRestrictionRejectionsReadable(t *testing.T) {
	forEachStore(t, scopedOptions, func(t *testing.T, e *env) {
		c := e.createRaw("alice", `{"label":"gateway","allowed_ips":["10.9.9.0/24"],"scopes":["issues"]}`)
		var tk createdToken
		c.json(t, &tk)
		rs := []token.Rejection{
			{TokenID: tk.ID, Owner: "alice", Label: "gateway", At: startTime.Add(1e9), IP: "10.1.2.3", Reason: token.RejectIPNotAllowed},
			{TokenID: tk.ID, Owner: "alice", Label: "gateway", At: startTime.Add(2e9), IP: "10.9.9.4", Reason: token.RejectOutOfScope},
		}
		if err := e.store.AddRejections(context.Background(), rs); err != nil {
			t.Fatalf("AddRejections: %v", err)
		}
		var b struct {
			Rejections []apiRejection `json:"rejections"`
		}
		e.do("GET", "/api/rejections", "alice", "").json(t, &b)
		if len(b.Rejections) != 2 || b.Rejections[0].Reason != "out_of_scope" || b.Rejections[1].Reason != "ip_not_allowed" || b.Rejections[1].IP != "10.1.2.3" {
			t.Fatalf("rejections: %+v", b.Rejections)
		}
		page := string(e.do("GET", "/", "alice", "").body)
		for _, want := range []string{"<td>not allowed from this IP 10.1.2.3</td>", "<td>outside the token&#39;s scopes</td>"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
}

// TestRestrictionsJSONShape pins the wire form of the new fields.
func TestRestrictionsJSONShape(t *testing.T) {
	b, err := json.Marshal(toAPI(token.Token{ID: "x"}, startTime, false))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"allowed_ips":[],"scopes":[]`) {
		t.Errorf("unrestricted token JSON: %s", s)
	}
}
