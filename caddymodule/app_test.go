package caddymodule

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/tokengate/tokengate/token"
)

// provisionApp provisions the tokengate app of the JSON config raw in
// process and cleans it up when the test ends.
func provisionApp(t *testing.T, raw string) *App {
	t.Helper()
	var a App
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatalf("provision %s: %v", raw, err)
	}
	t.Cleanup(func() {
		if err := a.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return &a
}

// TestCacheMaxEntries: cache_max_entries defaults to token.DefaultMaxEntries
// and reaches the validator from the Caddyfile as from JSON; configs that
// differ only in it share the store (a bolt file opens once) but not the
// cache, and equal configs share both.
func TestCacheMaxEntries(t *testing.T) {
	d := caddyfile.NewTestDispenser("tokengate {\n\tcache_max_entries 5000\n}")
	v, err := parseGlobalOption(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	adapted := string(v.(httpcaddyfile.App).Value)
	if !strings.Contains(adapted, `"cache_max_entries":5000`) {
		t.Fatalf("adapted Caddyfile: %s, want cache_max_entries 5000", adapted)
	}

	path, _ := json.Marshal(filepath.Join(t.TempDir(), "t.db"))
	store := `"store":{"type":"bolt","path":` + string(path) + `}`
	def := provisionApp(t, `{`+store+`}`)
	small := provisionApp(t, `{`+store+`,"cache_max_entries":5000}`)
	again := provisionApp(t, `{`+store+`,"cache_max_entries":5000}`)
	if def.CacheMaxEntries != token.DefaultMaxEntries || def.validatorConfig().MaxEntries != token.DefaultMaxEntries {
		t.Errorf("default cache_max_entries %d, want token.DefaultMaxEntries", def.CacheMaxEntries)
	}
	if small.validatorConfig().MaxEntries != 5000 {
		t.Errorf("cache_max_entries 5000 gives the validator %d entries", small.validatorConfig().MaxEntries)
	}
	if def.Validator() == nil || def.Validator() == small.Validator() {
		t.Error("a different cache_max_entries shares the cache")
	}
	if small.Validator() != again.Validator() {
		t.Error("equal settings do not share the cache")
	}
	if def.running().shared.store != small.running().shared.store {
		t.Error("the same bolt file was opened twice")
	}
}
