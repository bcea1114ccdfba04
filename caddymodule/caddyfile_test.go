package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestAppCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`tokengate {
		store postgres {env.DSN}
		cache_ttl 2m
		cache_max_entries 50000
		negative_ttl 5s
		last_used_flush 10s
		max_tokens_per_user 10
		max_lifetime 365d
	}`)
	var a App
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := App{
		Store:            StoreConfig{Type: "postgres", DSN: "{env.DSN}"},
		CacheTTL:         caddy.Duration(2 * time.Minute),
		CacheMaxEntries:  50000,
		NegativeTTL:      caddy.Duration(5 * time.Second),
		LastUsedFlush:    caddy.Duration(10 * time.Second),
		MaxTokensPerUser: 10,
		MaxLifetime:      caddy.Duration(365 * 24 * time.Hour),
	}
	if a.Store != want.Store || a.CacheTTL != want.CacheTTL || a.CacheMaxEntries != want.CacheMaxEntries || a.NegativeTTL != want.NegativeTTL ||
		a.LastUsedFlush != want.LastUsedFlush || a.MaxTokensPerUser != want.MaxTokensPerUser || a.MaxLifetime != want.MaxLifetime {
		t.Errorf("got %+v, want %+v", a, want)
	}
}

func TestAppCaddyfileErrorsNameTheField(t *testing.T) {
	for in, want := range map[string]string{
		"tokengate {\nstore sqlite ./x\n}":         "store: unknown type",
		"tokengate {\nstore bolt\n}":               "store: want",
		"tokengate {\ncache_ttl soon\n}":           "cache_ttl: invalid duration",
		"tokengate {\nnegative_ttl -5s\n}":         "negative_ttl: must not be negative",
		"tokengate {\nmax_tokens_per_user many\n}": "max_tokens_per_user: want an integer",
		"tokengate {\nmax_tokens_per_user 0\n}":    "max_tokens_per_user: must be positive",
		"tokengate {\ncache_max_entries 0\n}":      "cache_max_entries: must be between 1 and",
		"tokengate {\ncache_max_entries 1e6\n}":    "cache_max_entries: want an integer",
		"tokengate {\ncache_max_entries 1 2\n}":    "cache_max_entries: too many arguments",
		"tokengate {\nmax_lifetime\n}":             "max_lifetime: missing duration",
		"tokengate {\ncache_ttl 1m 2m\n}":          "cache_ttl: too many arguments",
		"tokengate {\nvault_keyz x\n}":             `unknown option "vault_keyz"`,
	} {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", in, err, want)
		}
	}
}

func TestAppValidate(t *testing.T) {
	for _, c := range []struct {
		app  App
		want string
	}{
		{App{MaxLifetime: caddy.Duration(time.Hour)}, "max_lifetime: must be at least 1d"},
		{App{Store: StoreConfig{Type: "postgres"}}, "dsn is empty"},
		{App{Store: StoreConfig{Type: "bolt", DSN: "x"}}, "dsn is only for type postgres"},
		{App{Store: StoreConfig{Type: "redis"}}, `unknown type "redis"`},
		{App{LastUsedFlush: 30}, "last_used_flush: must be at least 10ms, got 30ns (JSON numbers are nanoseconds"},
		{App{CacheTTL: caddy.Duration(time.Millisecond)}, "cache_ttl: must be at least 10ms"},
		{App{CacheMaxEntries: -1}, "cache_max_entries: must be between 1 and 100000000, got -1"},
		{App{CacheMaxEntries: MaxCacheEntries + 1}, "cache_max_entries: must be between 1 and"},
	} {
		_, _, err := c.app.Store.resolve(caddy.NewReplacer())
		if err == nil {
			c.app.setDefaults()
			err = c.app.validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.app, err, c.want)
		}
	}
}

func TestVaultCaddyfile(t *testing.T) {
	var a App
	err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`tokengate {
		vault_key {env.KEY}
		vault_kind jira "Jira API token"
		vault_kind tempo Tempo Timesheets token
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.VaultKey != "{env.KEY}" || len(a.VaultKinds) != 2 || a.VaultKinds[0].Label != "Jira API token" || a.VaultKinds[1].Label != "Tempo Timesheets token" {
		t.Errorf("got %+v", a)
	}
	var h Auth
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate_auth {\ninject_vault jira x-jira-api-token\n}")); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil || len(h.InjectVault) != 1 || h.InjectVault[0].Header != "x-jira-api-token" {
		t.Errorf("inject_vault: %v %+v (want it valid and left as configured: Validate is read-only)", err, h.InjectVault)
	}
	if inj, err := canonicalInjections(h.InjectVault); err != nil || len(inj) != 1 || inj[0].Header != "X-Jira-Api-Token" {
		t.Errorf("inject_vault for Provision: %v %+v (want the header canonicalized)", err, inj)
	}
	for in, want := range map[string]string{
		"tokengate {\nvault_kind jira\n}":         "vault_kind jira: missing label",
		"tokengate {\nvault_key\n}":               "vault_key: missing key",
		"tokengate_auth {\ninject_vault jira\n}":  "inject_vault: want",
		"tokengate_auth {\ninject_vault a b c\n}": "inject_vault: too many arguments",
	} {
		var err error
		if strings.HasPrefix(in, "tokengate_auth") {
			err = new(Auth).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		} else {
			err = new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	bad := Auth{InjectVault: []VaultInjection{{Kind: "jira", Header: "X Bad"}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "not a valid header name") {
		t.Errorf("bad header: %v", err)
	}
}

func TestAuthCaddyfile(t *testing.T) {
	var h Auth
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`tokengate_auth {
		realm "Jira export"
		match_username on
		failure_limit 10 30s
		lookup_limit 50 2m
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if h.Realm != "Jira export" || !h.MatchUsername || h.FailureLimit != 10 || h.FailureWindow != caddy.Duration(30*time.Second) ||
		h.LookupLimit != 50 || h.LookupWindow != caddy.Duration(2*time.Minute) {
		t.Errorf("got %+v", h)
	}
	var off Auth
	if err := off.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate_auth {\nfailure_limit off\nlookup_limit off\n}")); err != nil || off.FailureLimit != -1 || off.LookupLimit != -1 {
		t.Errorf("failure_limit off, lookup_limit off: %v %+v", err, off)
	}
	for in, want := range map[string]string{
		"tokengate_auth {\nmatch_username maybe\n}":  `match_username: want on or off, got "maybe"`,
		"tokengate_auth {\nfailure_limit -3\n}":      "failure_limit: count must be a positive integer",
		"tokengate_auth {\nfailure_limit 3 never\n}": "failure_limit: window must be a positive duration",
		"tokengate_auth {\nfailure_limit\n}":         "failure_limit: want '<count> [<window>]' or 'off'",
		"tokengate_auth {\nlookup_limit 0\n}":        "lookup_limit: count must be a positive integer",
		"tokengate_auth {\nlookup_limit 5 1m x\n}":   "lookup_limit: too many arguments",
		"tokengate_auth {\nrealm\n}":                 "realm: missing value",
		"tokengate_auth {\nrelam x\n}":               `unknown option "relam"`,
		`tokengate_auth extra`:                       "wrong argument count",
	} {
		var a Auth
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
	bad := Auth{Realm: `say "hi"`}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "realm") {
		t.Errorf("realm with quotes: %v", err)
	}
}
