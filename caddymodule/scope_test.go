package caddymodule

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestScopesCaddyfile: `scope` lines (one per name) and `scope_always`
// lines (appended) become Auth.Scopes and Auth.ScopeAlways; mistakes are
// refused with the option and scope named.
func TestScopesCaddyfile(t *testing.T) {
	var h Auth
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`tokengate_auth {
		scope issues   /odata/Issues* /odata/Sprints* /odata/Projects*
		scope worklogs /odata/Worklogs* /odata/Users*
		scope_always   /odata/
		scope_always   /odata/$metadata
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Scopes["issues"], []string{"/odata/Issues*", "/odata/Sprints*", "/odata/Projects*"}) ||
		!slices.Equal(h.Scopes["worklogs"], []string{"/odata/Worklogs*", "/odata/Users*"}) || len(h.Scopes) != 2 ||
		!slices.Equal(h.ScopeAlways, []string{"/odata/", "/odata/$metadata"}) {
		t.Errorf("got scopes %v, scope_always %v", h.Scopes, h.ScopeAlways)
	}
	if err := h.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for in, want := range map[string]string{
		"scope issues":                       "scope: want 'scope <name> <path-pattern>...'",
		"scope":                              "scope: want",
		"scope issues /a*\nscope issues /b*": "scope issues: defined twice",
		"scope Issues /odata/Issues*":        `scopes: "Issues" is not a scope name`,
		"scope 1st /x":                       `scopes: "1st" is not a scope name`,
		"scope issues odata/Issues*":         `scopes: issues: path pattern "odata/Issues*" must start with /`,
		"scope mine /odata/Users('{http.auth.user.id}')": "placeholders are not supported",
		"scope_always":        "scope_always: list the path patterns",
		"scope_always odata/": `scope_always: path pattern "odata/" must start with /`,
		"scope " + strings.Repeat("x", 65) + " /odata/x*": "is not a scope name",
	} {
		var a Auth
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate_auth {\n" + in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

// TestScopesJSON: the same settings from JSON, checked by Validate (which
// names the field) without being changed.
func TestScopesJSON(t *testing.T) {
	var h Auth
	cfg := `{"scopes": {"issues": ["/odata/Issues*", "/odata/Sprints*"], "worklogs": ["/odata/Worklogs*"]}, "scope_always": ["/odata/", "/odata/$metadata"]}`
	if err := json.Unmarshal([]byte(cfg), &h); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if h.Scopes["issues"][0] != "/odata/Issues*" || h.ScopeAlways[1] != "/odata/$metadata" {
		t.Errorf("Validate changed the settings: %v %v", h.Scopes, h.ScopeAlways)
	}
	for in, want := range map[string]string{
		`{"scopes": {"issues": []}}`:                  "tokengate_auth: scopes: issues: list at least one path pattern",
		`{"scopes": {"issues": [""]}}`:                "tokengate_auth: scopes: issues: empty path pattern",
		`{"scopes": {"has space": ["/x"]}}`:           `tokengate_auth: scopes: "has space" is not a scope name`,
		`{"scopes": {"": ["/x"]}}`:                    `tokengate_auth: scopes: "" is not a scope name`,
		`{"scope_always": []}`:                        "tokengate_auth: scope_always: list at least one path pattern",
		`{"scope_always": ["relative"]}`:              `tokengate_auth: scope_always: path pattern "relative" must start with /`,
		`{"scopes": {"a": ["/{http.request.host}"]}}`: "placeholders are not supported",
	} {
		var a Auth
		if err := json.Unmarshal([]byte(in), &a); err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}

// TestScopeSetPermits: which paths a scoped token reaches, with Caddy's
// path matcher semantics (case-insensitive, cleaned path, wildcards).
func TestScopeSetPermits(t *testing.T) {
	s, err := newScopeSet(map[string][]string{
		"issues":   {"/odata/Issues*", "/odata/Sprints*"},
		"worklogs": {"/odata/Worklogs*"},
		"all":      {"*"},
	}, []string{"/odata/", "/odata/$metadata"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.names, []string{"all", "issues", "worklogs"}) {
		t.Errorf("names %v", s.names)
	}
	none, err := newScopeSet(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set    *scopeSet
		scopes []string
		path   string
		want   bool
	}{
		{&s, []string{"issues"}, "/odata/Issues", true},
		{&s, []string{"issues"}, "/odata/Issues('PRJ-1')", true},
		{&s, []string{"issues"}, "/odata/Issues/$count", true},
		{&s, []string{"issues"}, "/odata/sprints", true},
		{&s, []string{"issues"}, "/odata/", true},
		{&s, []string{"issues"}, "/odata/$metadata", true},
		{&s, []string{"issues"}, "/odata/$METADATA", true},
		{&s, []string{"issues"}, "/odata", false},
		{&s, []string{"issues"}, "/odata/Worklogs", false},
		{&s, []string{"issues"}, "/odata/Issues/../Worklogs", false},
		{&s, []string{"issues"}, "/odata//Worklogs", false},
		{&s, []string{"issues", "worklogs"}, "/odata/Worklogs", true},
		{&s, []string{"worklogs"}, "/odata/Issues", false},
		{&s, []string{"all"}, "/anything/at/all", true},
		{&s, []string{"gone"}, "/odata/Issues", false},
		{&s, []string{"gone"}, "/odata/$metadata", true},
		{&s, []string{"gone", "issues"}, "/odata/Issues", true},
		{&none, []string{"issues"}, "/odata/", false},
		// Reaching other entity sets through an allowed one.
		{&s, []string{"worklogs"}, "/odata/Worklogs?$expand=Issue", false},
		{&s, []string{"worklogs"}, "/odata/Worklogs?%24EXPAND=Issue", false},
		{&s, []string{"worklogs"}, "/odata/Worklogs?expand=Issue", false},
		{&s, []string{"worklogs"}, "/odata/Worklogs(7)/Issue", false},
		{&s, []string{"issues"}, "/odata/Issues('PRJ-1')/Worklogs", false},
		{&s, []string{"issues"}, "/odata/Issues('PRJ-1')/$value", true},
		{&s, []string{"issues"}, "/odata/Issues?$select=Key&$top=5", true},
		{&s, []string{"all"}, "/odata/Issues?$expand=Project", false},
	} {
		r := httptest.NewRequest("GET", "http://x"+c.path, nil)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		got, err := c.set.permits(r, c.scopes)
		if err != nil || got != c.want {
			t.Errorf("scopes %v, %s: %v %v, want %v", c.scopes, c.path, got, err, c.want)
		}
	}
}

// TestAppScopeNames: the app collects the names its handlers define
// (sorted, once each), and the token policy asks for them at create time,
// so handlers provisioned after the app count; require_allowed_ips reaches
// the policy.
func TestAppScopeNames(t *testing.T) {
	a := App{RequireAllowedIPs: true}
	a.scopes = new(scopeRegistry) // as Provision does
	p := a.policy()
	if !p.RequireAllowedIPs || p.KnownScopes == nil || len(p.KnownScopes()) != 0 {
		t.Fatalf("policy before any handler: %+v", p)
	}
	a.registerScopes([]string{"worklogs", "issues"})
	a.registerScopes([]string{"issues", "admin"})
	if got := p.KnownScopes(); !slices.Equal(got, []string{"admin", "issues", "worklogs"}) {
		t.Errorf("known scopes %v", got)
	}
	var unprovisioned App
	unprovisioned.registerScopes([]string{"x"})
	if got := unprovisioned.ScopeNames(); got != nil {
		t.Errorf("unprovisioned app: %v", got)
	}
}

// TestRequireAllowedIPsCaddyfile: a flag (or on/off) in the tokengate block.
func TestRequireAllowedIPsCaddyfile(t *testing.T) {
	for in, want := range map[string]bool{
		"require_allowed_ips": true, "require_allowed_ips on": true, "require_allowed_ips off": false,
	} {
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate {\n" + in + "\n}")); err != nil || a.RequireAllowedIPs != want {
			t.Errorf("%s: %v %v, want %v", in, err, a.RequireAllowedIPs, want)
		}
	}
	for in, want := range map[string]string{
		"require_allowed_ips yes":   `require_allowed_ips: want on or off (or nothing), got "yes"`,
		"require_allowed_ips on on": "require_allowed_ips: too many arguments",
	} {
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate {\n" + in + "\n}")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	var a App
	if err := json.Unmarshal([]byte(`{"require_allowed_ips": true}`), &a); err != nil || !a.policy().RequireAllowedIPs {
		t.Errorf("JSON require_allowed_ips: %v %+v", err, a)
	}
}
