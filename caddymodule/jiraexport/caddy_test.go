package jiraexport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser(`jira_export_demo {
		issues 50000
		page_size 1000
		seed -42
		base_path /odata
	}`)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{Issues: 50000, PageSize: 1000, Seed: -42, BasePath: "/odata"}
	if h.Issues != want.Issues || h.PageSize != want.PageSize || h.Seed != want.Seed || h.BasePath != want.BasePath {
		t.Fatalf("got %+v, want %+v", h, want)
	}
	var empty Handler
	if err := empty.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`jira_export_demo`)); err != nil {
		t.Fatalf("bare directive: %v", err)
	}
	if empty.Issues != 0 || empty.BasePath != "" {
		t.Fatalf("bare directive set %+v", empty)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	cases := map[string]string{
		"issues x":          `jira_export_demo: issues: must be a positive integer, got "x"`,
		"issues 0":          `jira_export_demo: issues: must be a positive integer, got "0"`,
		"issues 99999999":   `jira_export_demo: issues: must be between 1 and 5000000, got 99999999`,
		"page_size -3":      `jira_export_demo: page_size: must be a positive integer, got "-3"`,
		"seed forty-two":    `jira_export_demo: seed: must be an integer, got "forty-two"`,
		"base_path odata":   `jira_export_demo: base_path: must start with '/'`,
		"base_path /a/../b": `jira_export_demo: base_path: must be a clean path`,
		"issues":            `jira_export_demo: issues: missing value`,
		"issues 1 2":        `jira_export_demo: issues: expected one value, got extra "2"`,
		"colour blue":       `jira_export_demo: unrecognized subdirective "colour"`,
		"seed 1\n seed 2":   `jira_export_demo: seed: given more than once`,
	}
	for body, want := range cases {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jira_export_demo {\n" + body + "\n}"))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: error %v, want prefix %q", body, err, want)
		}
	}
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jira_export_demo 5000")); err == nil || !strings.Contains(err.Error(), `unexpected argument "5000"`) {
		t.Errorf("inline argument: %v", err)
	}
}

// adapt turns a Caddyfile into JSON config.
func adapt(t *testing.T, src string) string {
	t.Helper()
	out, warnings, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(src), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		t.Logf("adapt warning: %s", w.Message)
	}
	return string(out)
}

func TestDirectiveUsableOutsideRoute(t *testing.T) {
	out := adapt(t, `:8080 {
		jira_export_demo /odata/* {
			issues 300
			base_path /odata
		}
		respond "fallback"
	}`)
	if !strings.Contains(out, `"handler":"jira_export_demo"`) || !strings.Contains(out, `"issues":300`) || !strings.Contains(out, `"base_path":"/odata"`) {
		t.Fatalf("adapted config lacks the handler: %s", out)
	}
	// Ordered before file_server, i.e. after respond in Caddy's default order.
	if strings.Index(out, `"handler":"static_response"`) > strings.Index(out, `"handler":"jira_export_demo"`) {
		t.Fatalf("jira_export_demo is ordered before respond: %s", out)
	}
}

func TestJSONConfigProvisionAndServe(t *testing.T) {
	var h Handler
	if err := json.Unmarshal([]byte(`{"issues":400,"page_size":50,"seed":9,"base_path":"/odata"}`), &h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := h.Service().Config(); got.Issues != 400 || got.PageSize != 50 || got.Seed != 9 || got.BasePath != "/odata" {
		t.Fatalf("service config %+v", got)
	}
	req := httptest.NewRequest(http.MethodGet, "/odata/Issues", nil)
	req.Header.Set(UserHeader, "alice")
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, req, nil); err != nil {
		t.Fatal(err)
	}
	var p page[keyOnly]
	if err := json.Unmarshal(rec.Body.Bytes(), &p); rec.Code != http.StatusOK || err != nil || len(p.Value) != 50 {
		t.Fatalf("status %d, %d rows, err %v", rec.Code, len(p.Value), err)
	}

	bad := Handler{Issues: -1}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "jira_export_demo: issues:") {
		t.Fatalf("Validate of issues -1: %v", err)
	}
	if err := bad.Provision(ctx); err == nil || !strings.HasPrefix(err.Error(), "jira_export_demo: issues: must be between") {
		t.Fatalf("Provision of issues -1: %v", err)
	}
}

// TestRunsInCaddy loads an adapted Caddyfile into a real Caddy instance.
func TestRunsInCaddy(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testcaddy.FreePort(t))
	cfg := adapt(t, fmt.Sprintf(`{
		admin off
		auto_https off
		persist_config off
		storage file_system %s
	}
	http://%s {
		jira_export_demo {
			issues 300
			page_size 100
			base_path /odata
		}
	}`, t.TempDir(), addr))
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatalf("caddy.Load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	base := "http://" + addr + "/odata"
	rows, pages := getAll[keyOnly](t, base+"/Issues", "bob")
	svc, _ := New(Config{Issues: 300})
	if len(rows) != svc.VisibleIssueCount("bob") || pages != (len(rows)+99)/100 {
		t.Fatalf("%d rows over %d pages, want %d", len(rows), pages, svc.VisibleIssueCount("bob"))
	}
	resp, _ := do(t, http.MethodGet, base+"/$metadata", "bob")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ContentTypeXML {
		t.Fatalf("$metadata through Caddy: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkODataVersion(t, resp)
	expectError(t, base+"/Issues", "", http.StatusForbidden, UserHeader)
}
