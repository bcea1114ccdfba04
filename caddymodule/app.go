package caddymodule

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

func init() {
	caddy.RegisterModule(App{})
}

// Bounds of the app's settings. The defaults are token's
// (token.DefaultCacheTTL, token.DefaultMaxEntries, …) and DefaultStorePath.
const (
	// MinInterval is the shortest cache lifetime or flush interval
	// accepted: they drive tickers, and a nanosecond one (a JSON number
	// meant as seconds) would spin a CPU.
	MinInterval = 10 * time.Millisecond
	// MinMaxLifetime is the shortest max_lifetime: expiry dates are whole days.
	MinMaxLifetime = 24 * time.Hour
	// MaxCacheEntries bounds cache_max_entries. The cache's admission
	// counters are allocated for the configured size up front (about 50
	// bytes per entry), so a stray digit must not claim all memory.
	MaxCacheEntries = 100_000_000
)

// App is the "tokengate" Caddy app. It owns the token store, the validation
// cache and (for Postgres) the revocation listener. These are kept in a
// caddy.UsagePool keyed by the store and cache settings, so a config reload
// with the same settings keeps the warm cache and the open connections.
type App struct {
	// Store selects where tokens live. Default: the embedded file
	// ./data/tokengate.db.
	Store StoreConfig `json:"store,omitempty"`
	// CacheTTL bounds how long a validation result is cached (default 1m).
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// CacheMaxEntries is the validation cache's capacity in entries, valid
	// and negative ones together (default token.DefaultMaxEntries, one
	// million); beyond it the cache evicts.
	CacheMaxEntries int64 `json:"cache_max_entries,omitempty"`
	// NegativeTTL is how long an unknown token is remembered (default 10s).
	NegativeTTL caddy.Duration `json:"negative_ttl,omitempty"`
	// LastUsedFlush is how often last-used data is written (default 30s).
	LastUsedFlush caddy.Duration `json:"last_used_flush,omitempty"`
	// MaxTokensPerUser bounds a person's unrevoked tokens (default 25).
	MaxTokensPerUser int `json:"max_tokens_per_user,omitempty"`
	// MaxLifetime, when set, makes an expiry date required and caps it.
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`
	// VaultKey (32 bytes, base64 or hex) turns on the vault of upstream
	// credentials people store on the token page (XChaCha20-Poly1305 at
	// rest). Use a placeholder such as {env.TOKENGATE_VAULT_KEY}; it is
	// never logged. Without it, the embedded store keeps a generated key
	// in a file beside the store (VaultKeyFile), and with Postgres the
	// vault is off (every instance needs the same key).
	VaultKey string `json:"vault_key,omitempty"`
	// VaultKinds are the kinds of credential people may store (default:
	// jira "Jira API token").
	VaultKinds []token.VaultKind `json:"vault_kinds,omitempty"`
	// RequireAllowedIPs, when true, makes an IP allow-list required for
	// new tokens (existing tokens are left alone). Default false.
	RequireAllowedIPs bool `json:"require_allowed_ips,omitempty"`
	// Notify turns on expiry warnings and rejection alerts by mail and
	// webhook (see NotifyConfig); nil means none.
	Notify *NotifyConfig `json:"notify,omitempty"`

	poolKey string
	scopes  *scopeRegistry            // scope names the config's tokengate_auth handlers define
	sealer  *token.Sealer             // nil when the vault is off
	started *atomic.Pointer[runState] // set once the store is acquired (a pointer: App values are copied)
	logger  *zap.Logger
}

// runState is what a started App serves with.
type runState struct {
	shared    *shared
	service   *token.Service
	notifier  *pooledNotifier // nil without a notify block
	notifyKey string          // its notifyPool key
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tokengate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves placeholders, validates the settings and acquires the
// pooled store and cache: the first config opens them (a locked bolt file,
// an unreachable database or a failed migration fails the load here, before
// any server of the new config takes traffic, so a bad reload leaves the
// running config untouched); a reload shares them, cheaply. When the config
// is only checked (`caddy validate`, see CheckConfigOnly) nothing is opened.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.started = new(atomic.Pointer[runState])
	a.scopes = new(scopeRegistry)
	repl := caddy.NewReplacer()
	storeType, location, err := a.Store.resolve(repl)
	if err != nil {
		return err
	}
	a.setDefaults()
	if err := a.validate(); err != nil {
		return err
	}
	if a.sealer, err = a.vaultSealer(repl, storeType, location); err != nil {
		return err
	}
	notifySet, err := a.Notify.build(repl)
	if err != nil {
		return err
	}
	notifySet.warn(a.logger)
	vcfg := a.validatorConfig()
	keys := poolKeys{store: storeKey(storeType, location)}
	keys.cache = fmt.Sprintf("%s:%d:%d:%d:%d", keys.store, vcfg.CacheTTL, vcfg.NegativeTTL, vcfg.LastUsedFlush, vcfg.MaxEntries)
	a.poolKey = keys.cache
	registerMetrics(ctx.GetMetricsRegistry())

	if checkOnly.Load() {
		return nil
	}
	sh, err := acquireShared(keys, storeType, location, vcfg, a.logger)
	if err != nil {
		return err
	}
	svc := token.NewService(sh.store, a.policy(), sh.validator, nil)
	if a.sealer != nil {
		svc.EnableVault(a.sealer, a.VaultKinds)
	}
	run := &runState{shared: sh, service: svc}
	if notifySet != nil {
		if run.notifier, run.notifyKey, err = acquireNotifier(sh, notifySet, a.logger); err != nil {
			_, _ = cachePool.Delete(keys.cache)
			return err
		}
	}
	a.started.Store(run)
	return nil
}

// validatorConfig is the cache configuration of the (defaulted) settings.
func (a *App) validatorConfig() token.ValidatorConfig {
	return token.ValidatorConfig{
		CacheTTL:      time.Duration(a.CacheTTL),
		NegativeTTL:   time.Duration(a.NegativeTTL),
		LastUsedFlush: time.Duration(a.LastUsedFlush),
		MaxEntries:    a.CacheMaxEntries,
		Observer:      validatorMetrics{},
	}
}

// policy is the token policy of the (defaulted) settings.
func (a *App) policy() token.Policy {
	return token.Policy{
		MaxTokensPerUser:  a.MaxTokensPerUser,
		MaxLifetime:       time.Duration(a.MaxLifetime),
		RequireAllowedIPs: a.RequireAllowedIPs,
		KnownScopes:       a.ScopeNames,
	}
}

// vaultSealer resolves and checks the vault settings; nil when the vault is
// off. Without vault_key the embedded store's key comes from the file beside
// it (see fileVaultKey); with Postgres the vault is off.
func (a *App) vaultSealer(repl *caddy.Replacer, storeType, location string) (*token.Sealer, error) {
	var key []byte
	var err error
	switch {
	case a.VaultKey != "":
		if key, err = token.ParseVaultKey(repl.ReplaceKnown(a.VaultKey, "")); err != nil {
			return nil, fmt.Errorf("tokengate: %w (is the environment variable set?)", err)
		}
	case storeType == "bolt":
		if key, err = fileVaultKey(location, checkOnly.Load(), a.logger); err != nil {
			return nil, err
		}
	default: // every instance sharing the database needs the same key: no file
		if len(a.VaultKinds) > 0 {
			return nil, errors.New("tokengate: vault_kind: needs vault_key with store " + storeType + " (every instance needs the same key; set it from a secret)")
		}
		return nil, nil
	}
	seen := map[string]bool{}
	for _, k := range a.VaultKinds {
		if err := token.ValidateVaultKind(k.ID); err != nil {
			return nil, fmt.Errorf("tokengate: vault_kind: %w", err)
		}
		if strings.TrimSpace(k.Label) == "" {
			return nil, fmt.Errorf("tokengate: vault_kind %s: label is empty", k.ID)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("tokengate: vault_kind %s: defined twice", k.ID)
		}
		seen[k.ID] = true
	}
	return token.NewSealer(key)
}

// setDefaults fills in the settings left unset.
func (a *App) setDefaults() {
	if a.CacheTTL == 0 {
		a.CacheTTL = caddy.Duration(token.DefaultCacheTTL)
	}
	if a.NegativeTTL == 0 {
		a.NegativeTTL = caddy.Duration(token.DefaultNegativeTTL)
	}
	if a.LastUsedFlush == 0 {
		a.LastUsedFlush = caddy.Duration(token.DefaultLastUsedFlush)
	}
	if a.CacheMaxEntries == 0 {
		a.CacheMaxEntries = token.DefaultMaxEntries
	}
	if a.MaxTokensPerUser == 0 {
		a.MaxTokensPerUser = token.DefaultMaxTokensPerUser
	}
}

// validate checks the (defaulted) settings; errors name the field.
func (a *App) validate() error {
	for name, d := range map[string]caddy.Duration{
		"cache_ttl": a.CacheTTL, "negative_ttl": a.NegativeTTL, "last_used_flush": a.LastUsedFlush,
	} {
		if d < 0 {
			return fmt.Errorf("tokengate: %s: must not be negative, got %s", name, time.Duration(d))
		}
		if d > 0 && time.Duration(d) < MinInterval {
			return fmt.Errorf("tokengate: %s: must be at least %s, got %s (JSON numbers are nanoseconds; write a string like \"30s\")", name, MinInterval, time.Duration(d))
		}
	}
	if a.MaxLifetime < 0 {
		return fmt.Errorf("tokengate: max_lifetime: must not be negative, got %s", time.Duration(a.MaxLifetime))
	}
	if a.MaxLifetime > 0 && time.Duration(a.MaxLifetime) < MinMaxLifetime {
		return fmt.Errorf("tokengate: max_lifetime: must be at least 1d (expiry dates are whole days), got %s", time.Duration(a.MaxLifetime))
	}
	if a.CacheMaxEntries < 0 || a.CacheMaxEntries > MaxCacheEntries {
		return fmt.Errorf("tokengate: cache_max_entries: must be between 1 and %d, got %d", MaxCacheEntries, a.CacheMaxEntries)
	}
	if a.MaxTokensPerUser < 0 {
		return fmt.Errorf("tokengate: max_tokens_per_user: must be positive, got %d", a.MaxTokensPerUser)
	}
	return nil
}

// Start makes this app the one the admin API (admin.api.tokengate) serves
// with, and starts its Notifier (if any; once across reloads with the same
// settings) and routes the store's rejections to it; the store and cache
// were acquired in Provision.
func (a *App) Start() error {
	setActive(a)
	if r := a.running(); r != nil && r.notifier != nil {
		r.notifier.begin()
	}
	return nil
}

// Stop hands the admin API over (unless a newer config's app already
// took it); Cleanup releases the shared state.
func (a *App) Stop() error { clearActive(a); return nil }

// Cleanup releases this config's reference to the shared store and cache.
func (a *App) Cleanup() error {
	if a.started == nil {
		return nil
	}
	r := a.started.Swap(nil)
	if r == nil {
		return nil
	}
	nerr := releaseNotifier(r.notifyKey) // before the store it uses
	_, err := cachePool.Delete(a.poolKey)
	return errors.Join(nerr, err)
}

// Service returns the token service (nil when the config is only checked,
// see CheckConfigOnly, or after Cleanup).
func (a *App) Service() *token.Service {
	if r := a.running(); r != nil {
		return r.service
	}
	return nil
}

// Validator returns the shared cached validator (nil when the config is
// only checked, see CheckConfigOnly, or after Cleanup).
func (a *App) Validator() *token.Validator {
	if r := a.running(); r != nil {
		return r.shared.validator
	}
	return nil
}

// running returns the started state, or nil.
func (a *App) running() *runState {
	if a.started == nil {
		return nil
	}
	return a.started.Load()
}

// Sealer returns the vault's sealer (nil when the vault is off); it is
// ready after Provision.
func (a *App) Sealer() *token.Sealer { return a.sealer }

// VaultKindIDs returns the ids of the vault kinds people may store (none
// when the vault is off); ready after Provision.
func (a *App) VaultKindIDs() []string {
	if a.sealer == nil {
		return nil
	}
	kinds := a.VaultKinds
	if len(kinds) == 0 {
		kinds = token.DefaultVaultKinds
	}
	ids := make([]string, len(kinds))
	for i, k := range kinds {
		ids[i] = k.ID
	}
	return ids
}

// registerScopes adds the scope names a tokengate_auth handler of this
// config defines (called from the handler's Provision, after the app's).
func (a *App) registerScopes(names []string) {
	if a.scopes == nil { // not provisioned: nothing will ask
		return
	}
	a.scopes.add(names)
}

// ScopeNames returns the scope names the config's tokengate_auth handlers
// define, sorted: the scopes people may give a token. Handlers provisioned
// after the app count, so the token service asks on every create.
func (a *App) ScopeNames() []string {
	if a.scopes == nil {
		return nil
	}
	return a.scopes.list()
}

// AppFrom returns the tokengate app of the running config, loading it with
// its defaults when the config has no "tokengate" app block.
func AppFrom(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("tokengate")
	if err != nil {
		return nil, fmt.Errorf("loading tokengate app: %w", err)
	}
	app, ok := v.(*App)
	if !ok {
		return nil, fmt.Errorf("tokengate app has unexpected type %T", v)
	}
	return app, nil
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
