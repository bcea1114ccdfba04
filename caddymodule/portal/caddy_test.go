package portal

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"golang.org/x/crypto/bcrypt"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/caddymodule/portal/internal/browsertest"
	"github.com/tokengate/tokengate/token"
)

func adapt(t *testing.T, caddyfile string) ([]byte, error) {
	t.Helper()
	a := caddyconfig.GetAdapter("caddyfile")
	if a == nil {
		t.Fatal("no caddyfile adapter")
	}
	out, _, err := a.Adapt([]byte(caddyfile), nil)
	return out, err
}

func TestCaddyfileAdapt(t *testing.T) {
	out, err := adapt(t, `:8080 {
	handle_path /tokens* {
		tokengate_portal {
			identity {http.request.header.X-Remote-User}
			admins carol dave
			admins erin
			feed_url https://bi.example/odata/
		}
	}
	tokengate_portal /other/*
}`)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var handlers []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "tokengate_portal" {
				handlers = append(handlers, x)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var cfg any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	walk(cfg)
	if len(handlers) != 2 {
		t.Fatalf("found %d tokengate_portal handlers in %s", len(handlers), out)
	}
	h := handlers[0]
	if h["identity"] != "{http.request.header.X-Remote-User}" || h["feed_url"] != "https://bi.example/odata/" ||
		fmt.Sprint(h["admins"]) != "[carol dave erin]" {
		t.Errorf("handler JSON = %v", h)
	}
	if len(handlers[1]) != 1 {
		t.Errorf("bare directive JSON = %v, want only the handler name", handlers[1])
	}
}

func TestCaddyfileErrors(t *testing.T) {
	for body, want := range map[string]string{
		"tokengate_portal extra":                           "no arguments",
		"tokengate_portal {\n\tadmins\n}":                  "admins",
		"tokengate_portal {\n\tidentity\n}":                "identity",
		"tokengate_portal {\n\tidentity {a} {b}\n}":        "identity",
		"tokengate_portal {\n\tfeed_url\n}":                "feed_url",
		"tokengate_portal {\n\towner alice\n}":             `unknown subdirective "owner"`,
		"tokengate_portal {\n\tfeed_url /a /b\n}":          "feed_url",
		"tokengate_portal {\n\tadmins carol\n\tbogus x\n}": "bogus",
	} {
		_, err := adapt(t, ":8080 {\n"+body+"\n}")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want it to mention %q", body, err, want)
		}
	}
}

func TestValidateNamesField(t *testing.T) {
	for _, c := range []struct {
		p    Portal
		want string
	}{
		{Portal{Identity: "alice"}, "identity"},
		{Portal{Admins: []string{"ok", ""}}, "admins[1]"},
		{Portal{Admins: []string{strings.Repeat("x", 300)}}, "admins[0]"},
		{Portal{FeedURL: "odata"}, "feed_url"},
		{Portal{Identity: "{http.auth.user.id"}, "identity: \"{http.auth.user.id\" has unbalanced braces"},
		{Portal{FeedURL: "ftp://x/"}, "feed_url"},
	} {
		if err := c.p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want it to name %q", c.p, err, c.want)
		}
	}
	ok := Portal{Identity: DefaultIdentity, Admins: []string{"carol"}, FeedURL: "{env.FEED}"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// caddySite is an in-process Caddy with tokengate_auth in front of /odata/
// (scopes issues and worklogs defined) and the portal at /tokens behind
// basic_auth (alice, bob, carol; carol is an administrator).
type caddySite struct {
	base, password string
}

func startCaddy(t *testing.T) *caddySite {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	const password = "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	port := testcaddy.FreePort(t)
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %[4]s
	log {
		output stderr
		level ERROR
	}
	tokengate {
		store bolt %[1]s
		last_used_flush 100ms
	}
}
http://127.0.0.1:%[2]d {
	route /odata/* {
		tokengate_auth {
			realm "Jira export"
			scope issues /odata/Issues*
			scope worklogs /odata/Worklogs*
			scope_always /odata/ /odata/$metadata
		}
		respond "odata for {http.auth.user.id}" 200
	}
	handle_path /tokens* {
		basic_auth {
			alice %[3]s
			bob %[3]s
			carol %[3]s
		}
		tokengate_portal {
			admins carol
		}
	}
	# A templated identity with nobody signed in: must be nobody, not "@corp.example".
	handle_path /anon* {
		tokengate_portal {
			identity "{http.auth.user.id}@corp.example"
		}
	}
}
`, filepath.Join(dir, "tokens.db"), port, hash, filepath.Join(dir, "caddy"))
	cfg, err := adapt(t, caddyfile)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
	})
	return &caddySite{base: fmt.Sprintf("http://127.0.0.1:%d", port), password: password}
}

func (c *caddySite) call(t *testing.T, method, path, authz, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// odataStatus uses secret as the Power BI password of who against tokengate_auth.
func (c *caddySite) odataStatus(t *testing.T, who, secret string) (int, string) {
	t.Helper()
	return c.odataPath(t, "/odata/Issues", who, secret)
}

// odataPath requests path of the feed with secret as who's password.
func (c *caddySite) odataPath(t *testing.T, path, who, secret string) (int, string) {
	t.Helper()
	st, _, body := c.call(t, "GET", path, basicauth.Header(who, secret), "")
	return st, body
}

func TestInCaddy(t *testing.T) {
	site := startCaddy(t)
	alice := basicauth.Header("alice", site.password)

	if st, _, _ := site.call(t, "GET", "/tokens/api/tokens", "", ""); st != 401 {
		t.Errorf("API without login: %d, want basic_auth's 401", st)
	}
	st, hdr, _ := site.call(t, "GET", "/tokens", alice, "")
	if st != http.StatusFound || hdr.Get("Location") != "/tokens/" {
		t.Errorf("GET /tokens: %d Location %q, want a redirect to /tokens/", st, hdr.Get("Location"))
	}
	// "//tokens" must not redirect to the protocol-relative "//tokens/" (another host).
	if st, hdr, _ := site.call(t, "GET", "//tokens?x=1", alice, ""); st != http.StatusFound || hdr.Get("Location") != "/tokens/?x=1" {
		t.Errorf("GET //tokens: %d Location %q, want a redirect to /tokens/?x=1", st, hdr.Get("Location"))
	}
	for _, path := range []string{"/anon/api/tokens", "/anon/"} {
		if st, _, body := site.call(t, "GET", path, "", ""); st != http.StatusUnauthorized {
			t.Errorf("GET %s with a templated identity and nobody signed in: %d %q, want 401", path, st, body)
		}
	}
	if st, _, body := site.call(t, "POST", "/anon/api/tokens", "", `{"label":"x","expires_on":null}`); st != http.StatusUnauthorized {
		t.Errorf("anonymous POST with a templated identity: %d %q, want 401", st, body)
	}
	st, hdr, page := site.call(t, "GET", "/tokens/", alice, "")
	if st != 200 || !strings.Contains(page, `<strong id="identity">alice</strong>`) || hdr.Get("Content-Security-Policy") == "" {
		t.Fatalf("page in Caddy: %d %q", st, page)
	}
	if maxDate := time.Now().UTC().Truncate(24*time.Hour).AddDate(token.MaxExpiryYears, 0, 0).Format(token.DateLayout); !strings.Contains(page, `max="`+maxDate+`"`) {
		t.Errorf("the date picker lacks max=%q (what the service accepts)", maxDate)
	}
	if !strings.Contains(page, site.base+"/odata/") {
		t.Errorf("page lacks the feed URL %s/odata/", site.base)
	}
	if !strings.Contains(page, `data-ip="127.0.0.1"`) {
		t.Errorf("page does not offer Caddy's client IP 127.0.0.1 for the allow-list")
	}

	st, _, body := site.call(t, "POST", "/tokens/api/tokens", alice, `{"label":"Power BI","expires_on":null}`)
	if st != 201 {
		t.Fatalf("create in Caddy: %d %s", st, body)
	}
	var c createdToken
	if err := json.Unmarshal([]byte(body), &c); err != nil || !token.WellFormed(c.Token) {
		t.Fatalf("created: %s (%v)", body, err)
	}
	if st, body := site.odataStatus(t, "alice", c.Token); st != 200 || body != "odata for alice" {
		t.Fatalf("using the new token: %d %q", st, body)
	}
	st, _, body = site.call(t, "GET", "/tokens/api/tokens", basicauth.Header("bob", site.password), "")
	if st != 200 || strings.Contains(body, c.ID) {
		t.Errorf("bob's list: %d %s", st, body)
	}
	if st, _, _ := site.call(t, "GET", "/tokens/api/admin/tokens", alice, ""); st != 403 {
		t.Errorf("alice on the admin API: %d", st)
	}
	if st, _, _ := site.call(t, "DELETE", "/tokens/api/tokens/"+c.ID, alice, ""); st != 204 {
		t.Fatalf("revoke in Caddy: %d", st)
	}
	if st, _ := site.odataStatus(t, "alice", c.Token); st != 401 {
		t.Fatalf("revoked token: %d, want 401", st)
	}
	// The refused attempt shows up for alice (written behind).
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, body = site.call(t, "GET", "/tokens/api/rejections", alice, "")
		if strings.Contains(body, `"reason":"revoked"`) && strings.Contains(body, c.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rejected attempt recorded for alice: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserFlowInCaddy is phase B: the same browser flow inside a real
// Caddy, signed in with basic_auth, where every created token is used
// against tokengate_auth.
func TestBrowserFlowInCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := browsertest.NewBrowser(t)
	site := startCaddy(t)
	browsertest.RunTokenPageFlow(t, browser, browsertest.Site{
		PageURL: site.base + "/tokens/",
		Headers: func(who string) map[string]string {
			return map[string]string{"Authorization": basicauth.Header(who, site.password)}
		},
		TokenWorks: func(t *testing.T, who, secret string) {
			if st, body := site.odataStatus(t, who, secret); st != 200 || body != "odata for "+who {
				t.Errorf("token of %s through tokengate_auth: %d %q", who, st, body)
			}
		},
		TokenRejected: func(t *testing.T, who, secret string) {
			if st, _ := site.odataStatus(t, who, secret); st != 401 {
				t.Errorf("revoked token of %s through tokengate_auth: %d, want 401", who, st)
			}
		},
	})
}
