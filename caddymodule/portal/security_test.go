package portal

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestCrossSiteRefused(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		host := strings.TrimPrefix(e.srv.URL, "http://")
		victim := e.create("alice", "keep", "")
		refused := [][]string{
			{"Sec-Fetch-Site: cross-site"},
			{"Sec-Fetch-Site: same-site"},
			{"Origin: http://evil.example"},
			{"Origin: http://" + host + ".evil.example"},
			{"Origin: null"},
			{"Sec-Fetch-Site: same-origin", "Origin: https://evil.example"},
		}
		for _, hdr := range refused {
			r := e.do("POST", "/api/tokens", "alice", `{"label":"csrf"}`, hdr...)
			if r.status != http.StatusForbidden || !strings.Contains(r.errMsg(t), "cross-site") {
				t.Errorf("POST with %v: %d %s, want 403", hdr, r.status, r.body)
			}
			r = e.do("DELETE", "/api/tokens/"+victim.ID, "alice", "", hdr...)
			if r.status != http.StatusForbidden {
				t.Errorf("DELETE with %v: %d, want 403", hdr, r.status)
			}
			r = e.do("DELETE", "/api/admin/users/alice/tokens", "carol", "", hdr...)
			if r.status != http.StatusForbidden {
				t.Errorf("admin DELETE with %v: %d, want 403", hdr, r.status)
			}
			r = e.do("POST", "/api/admin/cap", "carol", `{"max_lifetime":"1d"}`, hdr...)
			if r.status != http.StatusForbidden {
				t.Errorf("cap with %v: %d, want 403", hdr, r.status)
			}
		}
		ts := e.list("alice")
		if len(ts) != 1 || ts[0].ID != victim.ID || ts[0].ExpiresAt != nil {
			t.Fatalf("cross-site requests changed something: %+v", ts)
		}
		allowed := [][]string{
			nil,
			{"Sec-Fetch-Site: same-origin", "Origin: " + e.srv.URL},
			{"Sec-Fetch-Site: none"},
			{"Origin: https://" + strings.ToUpper(host)}, // scheme-insensitive, case-insensitive
		}
		for _, hdr := range allowed {
			r := e.do("POST", "/api/tokens", "alice", `{"label":"ok"}`, hdr...)
			if r.status != http.StatusCreated {
				t.Errorf("POST with %v: %d %s, want 201", hdr, r.status, r.body)
			}
		}
		// Reading stays possible from anywhere (the answer is not readable
		// cross-origin without CORS headers, which are never sent).
		r := e.do("GET", "/api/tokens", "alice", "", "Sec-Fetch-Site: cross-site")
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("cross-site GET: %d, ACAO %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
	})
}

func TestCrossSiteDefaultPorts(t *testing.T) {
	for _, c := range []struct {
		host, origin string
		ok           bool
	}{
		{"tokens.example", "https://tokens.example:443", true},
		{"tokens.example:443", "https://tokens.example", true},
		{"tokens.example", "http://tokens.example:80", true},
		{"tokens.example:8443", "https://tokens.example:8443", true},
		{"tokens.example:8443", "https://tokens.example", false},
		{"tokens.example", "https://tokens.example.evil", false},
		{"tokens.example", "https://user@evil", false},
		{"tokens.example", "not a url", false},
	} {
		r := httptest.NewRequest("POST", "http://"+c.host+"/api/tokens", nil)
		r.Host = c.host
		r.Header.Set("Origin", c.origin)
		if got := crossSite(r) == ""; got != c.ok {
			t.Errorf("Host %s, Origin %s: allowed=%v, want %v", c.host, c.origin, got, c.ok)
		}
	}
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		c := e.create("alice", "x", "")
		for _, x := range []struct{ method, path, who, body string }{
			{"GET", "/", "alice", ""},
			{"GET", "/", "carol", ""},
			{"GET", "/", "", ""},
			{"GET", "/api/tokens", "alice", ""},
			{"GET", "/api/tokens", "", ""},
			{"POST", "/api/tokens", "alice", `{"label":"y"}`},
			{"POST", "/api/tokens", "alice", `{`},
			{"DELETE", "/api/tokens/" + c.ID, "alice", ""},
			{"PUT", "/api/tokens", "alice", ""},
			{"GET", "/api/admin/tokens", "alice", ""},
			{"GET", "/assets/portal.js", "", ""},
			{"GET", "/nope", "", ""},
		} {
			r := e.do(x.method, x.path, x.who, x.body)
			want := map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
			}
			if strings.HasPrefix(x.path, "/api/") || x.path == "/" {
				want["Cache-Control"] = "no-store"
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s %s (%d): %s = %q, want %q", x.method, x.path, r.status, k, got, v)
				}
			}
		}
		// The cross-site refusal carries them too.
		r := e.do("POST", "/api/tokens", "alice", `{"label":"y"}`, "Sec-Fetch-Site: cross-site")
		if r.header.Get("Content-Security-Policy") == "" || r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("403 without security headers: %v", r.header)
		}
	})
}

var (
	inlineScript  = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`)
	scriptTag     = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	styleTag      = regexp.MustCompile(`(?i)<style\b`)
	styleAttr     = regexp.MustCompile(`(?i)\sstyle\s*=`)
	handlerAttr   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	absoluteLinks = regexp.MustCompile(`(?i)\s(?:href|src|action)\s*=\s*"(?:/|https?:)`)
	externalURL   = regexp.MustCompile(`(?i)(?:href|src)\s*=\s*"(?:https?:)?//`)
	inputTag      = regexp.MustCompile(`(?i)<input\b[^>]*>`)
	idAttr        = regexp.MustCompile(`\sid="([^"]+)"`)
)

func TestPageIsSelfContained(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}, vault: true, vaultKinds: twoKinds}, func(t *testing.T, e *env) {
		e.create("carol", `<script>alert("x")</script>`, "2026-03-12")
		if r := e.putVault("carol", "tempo", "tempo-token-with-markup<b>x"); r.status != 200 {
			t.Fatalf("PUT tempo: %d %s", r.status, r.body)
		}
		page := string(e.do("GET", "/", "carol", "").body)
		if strings.Contains(page, "<b>x") || !strings.Contains(page, "<code>…&lt;b&gt;x</code>") {
			t.Errorf("the vault hint is not escaped")
		}
		if !strings.Contains(page, `<html lang="en">`) {
			t.Errorf("page lacks lang=en")
		}
		if inlineScript.MatchString(page) || styleTag.MatchString(page) || styleAttr.MatchString(page) || handlerAttr.MatchString(page) {
			t.Errorf("page has inline script or style")
		}
		for _, tag := range scriptTag.FindAllString(page, -1) {
			if !strings.Contains(tag, `src="assets/portal.js?v=`) {
				t.Errorf("unexpected script tag %s", tag)
			}
		}
		if m := absoluteLinks.FindString(page); m != "" {
			t.Errorf("absolute link %q: links must be relative to the mount point", m)
		}
		if externalURL.MatchString(page) {
			t.Errorf("page references another site")
		}
		if strings.Contains(page, `<script>alert`) || !strings.Contains(page, "&lt;script&gt;alert") {
			t.Errorf("the label is not escaped")
		}
		// Every input has a <label for=…> (hidden inputs excepted).
		for _, in := range inputTag.FindAllString(page, -1) {
			if strings.Contains(in, `type="hidden"`) {
				continue
			}
			id := idAttr.FindStringSubmatch(in)
			if id == nil || !strings.Contains(page, `<label for="`+id[1]+`"`) {
				t.Errorf("input without a label: %s", in)
			}
		}
		for _, want := range []string{"Copy", "will not be shown again", "Get Data", "OData feed", "Basic", e.srv.URL + "/odata/",
			"<code>carol</code>", "Recent rejected attempts", "expire within 7 days: 1", `data-action="replace"`, "Cap token lifetime", "only ever shortens",
			"Other tokens", `<label for="vault-jira-secret">`, `<label for="vault-tempo-secret">`} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		// No <button> without an explicit type inside a form could submit by accident.
		if strings.Contains(page, "<button>") {
			t.Errorf("button without type")
		}
	})
}

func TestMountedUnderPrefix(t *testing.T) {
	e := newEnv(t, "bolt", envOptions{})
	srv := httptest.NewServer(http.StripPrefix("/tokens", e.h))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", srv.URL+"/tokens?owner=x", nil)
	req.Header.Set(testUserHeader, "alice")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/tokens/?owner=x" {
		t.Fatalf("GET /tokens: %d Location %q, want a redirect to /tokens/?owner=x", res.StatusCode, res.Header.Get("Location"))
	}
	req, _ = http.NewRequest("GET", srv.URL+"/tokens/", nil)
	req.Header.Set(testUserHeader, "alice")
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /tokens/: %d", res.StatusCode)
	}
	// The API resolves under the prefix.
	u, _ := url.Parse(srv.URL + "/tokens/")
	api, _ := u.Parse("api/tokens")
	req, _ = http.NewRequest("GET", api.String(), nil)
	req.Header.Set(testUserHeader, "alice")
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || api.Path != "/tokens/api/tokens" {
		t.Fatalf("GET %s: %d", api.Path, res.StatusCode)
	}
}

func TestNewHandlerConfigErrors(t *testing.T) {
	e := newEnv(t, "bolt", envOptions{})
	for name, cfg := range map[string]Config{
		"Service":  {Identity: headerIdentity},
		"Identity": {Service: e.svc},
		"admins":   {Service: e.svc, Identity: headerIdentity, Admins: []string{""}},
		"feed":     {Service: e.svc, Identity: headerIdentity, FeedPath: "ftp://x/odata"},
	} {
		if _, err := NewHandler(cfg); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("config missing %s: err %v, want it named", name, err)
		}
	}
	f, err := FeedURLFrom("https://bi.example/odata/")
	if err != nil || f(httptest.NewRequest("GET", "/", nil)) != "https://bi.example/odata/" {
		t.Errorf("absolute feed URL: %v", err)
	}
}
