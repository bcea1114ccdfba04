package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/caddymodule/jiraexport"
)

// rootCaddyfile returns the path of the repository's quickstart Caddyfile.
func rootCaddyfile(t *testing.T) string {
	return filepath.Join(testcaddy.ModuleRoot(t), "Caddyfile")
}

// adapt runs "tokengate adapt" on the Caddyfile at path and returns the JSON.
func adapt(t *testing.T, path string) map[string]any {
	t.Helper()
	cmd := exec.Command(testcaddy.Binary(t), "adapt", "--config", path)
	cmd.Dir = filepath.Dir(path)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("adapt %s: %v\n%s", path, err, stderr)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("adapt %s: output is not JSON: %v", path, err)
	}
	return cfg
}

// handlers returns every object in the adapted config whose "handler" is name.
func handlers(node any, name string) []map[string]any {
	var out []map[string]any
	switch n := node.(type) {
	case map[string]any:
		if n["handler"] == name {
			out = append(out, n)
		}
		for _, v := range n {
			out = append(out, handlers(v, name)...)
		}
	case []any:
		for _, v := range n {
			out = append(out, handlers(v, name)...)
		}
	}
	return out
}

// one returns the single handler called name in cfg.
func one(t *testing.T, cfg map[string]any, name string) map[string]any {
	t.Helper()
	hs := handlers(cfg, name)
	if len(hs) != 1 {
		t.Fatalf("adapted config has %d %s handlers, want 1", len(hs), name)
	}
	return hs[0]
}

// num reads a JSON number field (absent = 0).
func num(m map[string]any, key string) int64 {
	f, _ := m[key].(float64)
	return int64(f)
}

// TestQuickstartTimeouts: the sample config allows Power BI's 600 s per
// request on the way to the backend.
func TestQuickstartTimeouts(t *testing.T) {
	cfg := adapt(t, rootCaddyfile(t))
	rp := one(t, cfg, "reverse_proxy")
	tr, _ := rp["transport"].(map[string]any)
	if tr == nil || tr["protocol"] != "http" {
		t.Fatalf("reverse_proxy transport %v, want the http transport", rp["transport"])
	}
	const want = int64(600_000_000_000) // 600 s in nanoseconds
	for _, k := range []string{"response_header_timeout", "read_timeout"} {
		if got := num(tr, k); got != want {
			t.Errorf("reverse_proxy transport %s = %d, want %d (600s)", k, got, want)
		}
	}
	// The proxy points at the backend site of the same file.
	ups, _ := rp["upstreams"].([]any)
	if len(ups) != 1 {
		t.Fatalf("reverse_proxy upstreams %v, want one", rp["upstreams"])
	}
	dial, _ := ups[0].(map[string]any)["dial"].(string)
	_, port, _ := strings.Cut(dial, ":")
	servers, _ := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)
	found := false
	for _, srv := range servers {
		if len(handlers(srv, "jira_export_demo")) == 0 {
			continue
		}
		for _, l := range srv.(map[string]any)["listen"].([]any) {
			found = found || strings.HasSuffix(l.(string), ":"+port)
		}
	}
	if !found {
		t.Errorf("reverse_proxy dials %q but no jira_export_demo site listens on port %s", dial, port)
	}
}

// TestQuickstartCaddyfile runs the repository's own Caddyfile (ports moved
// to free ones, ./data under a temporary directory) and walks the Power BI
// flow through it, scopes, the feed URL without its slash and other tokens
// included, so the quickstart is proven to work as shipped.
func TestQuickstartCaddyfile(t *testing.T) {
	path := rootCaddyfile(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	demo := one(t, adapt(t, path), "jira_export_demo")
	backendCfg := jiraexport.Config{Issues: int(num(demo, "issues")), PageSize: int(num(demo, "page_size")),
		Seed: num(demo, "seed")}
	backendCfg.BasePath, _ = demo["base_path"].(string)
	svc, err := jiraexport.New(backendCfg)
	if err != nil {
		t.Fatalf("the quickstart's backend config %+v: %v", backendCfg, err)
	}

	proxyPort, backendPort, adminPort := testcaddy.FreePort(t), testcaddy.FreePort(t), testcaddy.FreePort(t)
	text := string(raw)
	for _, r := range []struct{ old, new string }{
		{"admin localhost:2019", fmt.Sprintf("admin localhost:%d", adminPort)},
		{"\n:8080 {", fmt.Sprintf("\n:%d {", proxyPort)},
		{"reverse_proxy 127.0.0.1:9090 ", fmt.Sprintf("reverse_proxy 127.0.0.1:%d ", backendPort)},
		{"\nhttp://:9090 {", fmt.Sprintf("\nhttp://:%d {", backendPort)},
	} {
		if n := strings.Count(text, r.old); n != 1 {
			t.Fatalf("the root Caddyfile contains %q %d times, want once (the test substitutes it)", r.old, n)
		}
		text = strings.Replace(text, r.old, r.new, 1)
	}
	dir := t.TempDir()
	base := fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	inst := testcaddy.Start(t, text, testcaddy.Options{Dir: dir, AdminPort: adminPort, ReadyURL: base + "/tokens/"})
	s := newStack(t, inst, base, backendPort)

	// The documented demo logins work; carol is the administrator.
	for user := range people {
		if resp, body := s.portalCall(t, http.MethodGet, "/api/tokens", user, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("portal as %s: status %d, body %s", user, resp.StatusCode, body)
		}
	}
	if resp, _ := s.portalCall(t, http.MethodGet, "/api/admin/tokens", "carol", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("admin API as carol: status %d, want 200", resp.StatusCode)
	}
	if resp, _ := s.portalCall(t, http.MethodGet, "/api/admin/tokens", "alice", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin API as alice: status %d, want 403", resp.StatusCode)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get(base + "/tokens"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/tokens/" {
		t.Errorf("GET /tokens: status %d, Location %q, want a redirect to /tokens/", resp.StatusCode, resp.Header.Get("Location"))
	}

	alice := s.createToken(t, "alice", "Power BI")
	if resp, _ := s.odataGet(t, base+"/odata/", "", ""); resp.StatusCode != http.StatusUnauthorized ||
		resp.Header.Get("WWW-Authenticate") != `Basic realm="Jira export", charset="UTF-8"` {
		t.Errorf("anonymous feed: status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	res := s.followPages(t, base+"/odata/Issues", "alice", alice.Token)
	if want := svc.VisibleIssueCount("alice"); res.rows != want {
		t.Fatalf("alice read %d issues over %d pages through the quickstart, VisibleIssueCount %d", res.rows, res.pages, want)
	}
	// The quickstart's scopes: a token scoped to worklogs reads its sets,
	// the service document and $metadata, and gets 403 for Issues.
	resp, body := s.portalCall(t, http.MethodPost, "/api/tokens", "bob",
		map[string]any{"label": "worklogs only", "expires_on": nil, "scopes": []string{"worklogs"}})
	var scoped created
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &scoped) != nil || scoped.Token == "" {
		t.Fatalf("create a token scoped to worklogs: %d %s", resp.StatusCode, body)
	}
	for path, want := range map[string]int{"/odata/Worklogs?$top=1": 200, "/odata/Users?$top=1": 200, "/odata/": 200,
		"/odata/$metadata": 200, "/odata/Issues?$top=1": 403, "/odata/Sprints": 403,
		// Issues through an allowed set: $expand and navigation are refused.
		"/odata/Worklogs?$top=1&$expand=Issue": 403} {
		if resp, _ := s.odataGet(t, base+path, "bob", scoped.Token); resp.StatusCode != want {
			t.Errorf("token scoped to worklogs on %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// As shipped: the feed without its slash, 404 elsewhere, and other
	// tokens on without a vault_key (the key file beside the store).
	s.checkFeedURL(t, "alice", alice.Token)
	s.checkOtherTokens(t, alice, s.createToken(t, "bob", "Power BI reports"))
	checkVaultKeyFile(t, dir, inst.Logs.String())
	if _, err := os.Stat(filepath.Join(dir, "data", "tokengate.db")); err != nil {
		t.Errorf("the quickstart's store is not at ./data/tokengate.db: %v", err)
	}
	t.Logf("quickstart %+v: alice read %d issues over %d pages", backendCfg, res.rows, res.pages)
}
