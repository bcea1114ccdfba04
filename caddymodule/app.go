package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/postgres"
)

func init() {
	caddy.RegisterModule(App{})
}

// Defaults of the app's settings (DESIGN.md).
const (
	DefaultStorePath     = "./data/tokengate.db"
	DefaultCacheTTL      = time.Minute
	DefaultNegativeTTL   = 10 * time.Second
	DefaultLastUsedFlush = 30 * time.Second
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
	// never logged.
	VaultKey string `json:"vault_key,omitempty"`
	// VaultKinds are the kinds of credential people may store (default:
	// jira "Jira API token").
	VaultKinds []token.VaultKind `json:"vault_kinds,omitempty"`

	poolKey string
	sealer  *token.Sealer             // nil when the vault is off
	started *atomic.Pointer[runState] // set once the store is acquired (a pointer: App values are copied)
	logger  *zap.Logger
}

// runState is what a started App serves with.
type runState struct {
	shared  *shared
	service *token.Service
}

// StoreConfig selects the token store.
type StoreConfig struct {
	// Type is "bolt" (default) or "postgres".
	Type string `json:"type,omitempty"`
	// Path is the bolt file (type bolt). Placeholders such as {env.X} work.
	Path string `json:"path,omitempty"`
	// DSN is the Postgres connection string (type postgres). Placeholders
	// such as {env.TOKENGATE_POSTGRES_DSN} work and keep the password out of
	// the config. It is never logged.
	DSN string `json:"dsn,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tokengate",
		New: func() caddy.Module { return new(App) },
	}
}

// Two pools share state across config reloads: stores by location, and
// validators (cache + listener) by location and cache settings, so that a
// reload that changes only cache_ttl gets a new cache on the same open store
// (a bolt file cannot be opened twice).
var (
	storePool = caddy.NewUsagePool()
	cachePool = caddy.NewUsagePool()
)

// sharedStore is one open store, owned by storePool.
type sharedStore struct{ store token.Store }

// Destruct closes the store when the last validator using it is gone.
func (s *sharedStore) Destruct() error { return s.store.Close() }

// shared is one validator with its listener, owned by cachePool.
type shared struct {
	store     token.Store
	storeKey  string
	validator *token.Validator
	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// Destruct stops the listener, flushes the validator and releases the store.
func (s *shared) Destruct() error {
	if s.stopWatch != nil {
		s.stopWatch()
		<-s.watchDone
	}
	verr := s.validator.Close()
	_, serr := storePool.Delete(s.storeKey)
	return errors.Join(verr, serr)
}

// Provision resolves placeholders, validates the settings and acquires the
// pooled store and cache: the first config opens them (a locked bolt file,
// an unreachable database or a failed migration fails the load here, before
// any server of the new config takes traffic, so a bad reload leaves the
// running config untouched); a reload shares them, cheaply. Under
// `tokengate validate` (CheckConfigOnly) nothing is opened.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.started = new(atomic.Pointer[runState])
	repl := caddy.NewReplacer()
	storeType, location, err := a.resolveStore(repl)
	if err != nil {
		return err
	}
	a.setDefaults()
	if err := a.validate(); err != nil {
		return err
	}
	if a.sealer, err = a.vaultSealer(repl); err != nil {
		return err
	}
	vcfg := token.ValidatorConfig{
		CacheTTL:      time.Duration(a.CacheTTL),
		NegativeTTL:   time.Duration(a.NegativeTTL),
		LastUsedFlush: time.Duration(a.LastUsedFlush),
		// 100k entries (≈4 MB of counters) hold every token of a large
		// organisation plus negative entries; ristretto evicts beyond that.
		MaxEntries: 100_000,
		Observer:   validatorMetrics{},
	}
	sum := sha256.Sum256([]byte(location))
	storeKey := storeType + ":" + hex.EncodeToString(sum[:])
	a.poolKey = fmt.Sprintf("%s:%d:%d:%d", storeKey, vcfg.CacheTTL, vcfg.NegativeTTL, vcfg.LastUsedFlush)
	registerMetrics(ctx.GetMetricsRegistry())

	if checkOnly.Load() {
		return nil
	}
	logger := a.logger
	val, _, err := cachePool.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) {
		return openShared(storeKey, storeType, location, vcfg, logger)
	})
	if err != nil {
		return err
	}
	sh := val.(*shared)
	svc := token.NewService(sh.store, token.Policy{
		MaxTokensPerUser: a.MaxTokensPerUser,
		MaxLifetime:      time.Duration(a.MaxLifetime),
	}, sh.validator, nil)
	if a.sealer != nil {
		svc.EnableVault(a.sealer, a.VaultKinds)
	}
	a.started.Store(&runState{shared: sh, service: svc})
	return nil
}

// checkOnly is set by CheckConfigOnly.
var checkOnly atomic.Bool

// CheckConfigOnly makes the tokengate app skip opening its store: for
// `tokengate validate`, which must work beside a running server (whose bolt
// file is locked) and must not touch, let alone migrate, a database. Call it
// before Caddy loads a config; the binary does for its validate command.
func CheckConfigOnly() { checkOnly.Store(true) }

// vaultSealer resolves and checks the vault settings; nil when the vault is off.
func (a *App) vaultSealer(repl *caddy.Replacer) (*token.Sealer, error) {
	if a.VaultKey == "" {
		if len(a.VaultKinds) > 0 {
			return nil, errors.New("tokengate: vault_kind: needs vault_key")
		}
		return nil, nil
	}
	key, err := token.ParseVaultKey(repl.ReplaceKnown(a.VaultKey, ""))
	if err != nil {
		return nil, fmt.Errorf("tokengate: %w (is the environment variable set?)", err)
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

// resolveStore returns the store type and its resolved location (path or DSN).
func (a *App) resolveStore(repl *caddy.Replacer) (string, string, error) {
	switch a.Store.Type {
	case "", "bolt":
		if a.Store.DSN != "" {
			return "", "", errors.New("tokengate: store: dsn is only for type postgres")
		}
		path := a.Store.Path
		if path == "" {
			path = DefaultStorePath
		}
		path = repl.ReplaceKnown(path, "")
		if path == "" {
			return "", "", errors.New("tokengate: store bolt: path is empty after replacing placeholders")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", "", fmt.Errorf("tokengate: store bolt: path %q: %w", path, err)
		}
		return "bolt", abs, nil
	case "postgres":
		if a.Store.Path != "" {
			return "", "", errors.New("tokengate: store: path is only for type bolt")
		}
		dsn := repl.ReplaceKnown(a.Store.DSN, "")
		if dsn == "" {
			return "", "", errors.New("tokengate: store postgres: dsn is empty (is the environment variable set?)")
		}
		return "postgres", dsn, nil
	default:
		return "", "", fmt.Errorf("tokengate: store: unknown type %q (want bolt or postgres)", a.Store.Type)
	}
}

// MinInterval is the shortest cache lifetime, flush interval or limiter
// window accepted: they drive tickers, and a nanosecond one (a JSON number
// meant as seconds) would spin a CPU.
const MinInterval = 10 * time.Millisecond

func (a *App) setDefaults() {
	if a.CacheTTL == 0 {
		a.CacheTTL = caddy.Duration(DefaultCacheTTL)
	}
	if a.NegativeTTL == 0 {
		a.NegativeTTL = caddy.Duration(DefaultNegativeTTL)
	}
	if a.LastUsedFlush == 0 {
		a.LastUsedFlush = caddy.Duration(DefaultLastUsedFlush)
	}
	if a.MaxTokensPerUser == 0 {
		a.MaxTokensPerUser = token.DefaultMaxTokensPerUser
	}
}

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
	if a.MaxLifetime > 0 && time.Duration(a.MaxLifetime) < 24*time.Hour {
		return fmt.Errorf("tokengate: max_lifetime: must be at least 1d (expiry dates are whole days), got %s", time.Duration(a.MaxLifetime))
	}
	if a.MaxTokensPerUser < 0 {
		return fmt.Errorf("tokengate: max_tokens_per_user: must be positive, got %d", a.MaxTokensPerUser)
	}
	return nil
}

// openShared opens the store, starts the validator and, for shared stores,
// the revocation listener.
func openShared(storeKey, storeType, location string, vcfg token.ValidatorConfig, logger *zap.Logger) (*shared, error) {
	val, _, err := storePool.LoadOrNew(storeKey, func() (caddy.Destructor, error) {
		st, err := OpenStore(context.Background(), storeType, location, false, logger)
		if err != nil {
			return nil, err
		}
		return &sharedStore{store: st}, nil
	})
	if err != nil {
		return nil, err
	}
	st := val.(*sharedStore).store
	vcfg.OnError = func(err error) { logger.Error("token store background write failed", zap.Error(err)) }
	v, err := token.NewValidator(st, vcfg)
	if err != nil {
		_, _ = storePool.Delete(storeKey)
		return nil, fmt.Errorf("tokengate: starting validator: %w", err)
	}
	v.Start()
	sh := &shared{store: st, storeKey: storeKey, validator: v}
	if w, ok := st.(token.Watcher); ok {
		ctx, cancel := context.WithCancel(context.Background())
		sh.stopWatch = cancel
		sh.watchDone = make(chan struct{})
		inv := &firstFlush{Invalidator: v, done: make(chan struct{})}
		go func() {
			defer close(sh.watchDone)
			if err := w.Watch(ctx, inv); err != nil && ctx.Err() == nil {
				logger.Error("revocation listener stopped", zap.Error(err))
			}
		}()
		// Serve only once revocations from other instances are heard: the
		// listener flushes the cache when it connects, and anything cached
		// before then would be flushed (and looked up) again.
		t := time.NewTimer(listenWait)
		select {
		case <-inv.done:
		case <-t.C:
			logger.Warn("revocation listener not connected yet; serving anyway (the cache is flushed when it connects)",
				zap.Duration("waited", listenWait))
		}
		t.Stop()
	}
	return sh, nil
}

// listenWait bounds how long the app's start waits for the revocation
// listener's first connection.
const listenWait = 5 * time.Second

// firstFlush passes invalidations on and closes done at the first FlushAll,
// which a Watcher sends once it is listening.
type firstFlush struct {
	token.Invalidator
	once sync.Once
	done chan struct{}
}

// FlushAll flushes and marks the listener as connected.
func (f *firstFlush) FlushAll() {
	f.Invalidator.FlushAll()
	f.once.Do(func() { close(f.done) })
}

// OpenStore opens a token store of the given type ("bolt" with a file path,
// "postgres" with a DSN; skipMigrate leaves the Postgres schema alone).
// Errors never contain the DSN's password.
func OpenStore(ctx context.Context, storeType, location string, skipMigrate bool, logger *zap.Logger) (token.Store, error) {
	switch storeType {
	case "bolt":
		st, err := bolt.Open(location)
		if err != nil {
			return nil, fmt.Errorf("tokengate: store bolt: %w", err)
		}
		return st, nil
	case "postgres":
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := postgres.Open(ctx, location, postgres.Options{
			SkipMigrate:  skipMigrate,
			OnWatchError: func(err error) { logger.Warn("revocation listener", zap.Error(err)) },
			OnWatchState: func(listening bool) {
				listenerState(listening)
				if listening {
					logger.Info("revocation listener connected; cache flushed")
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("tokengate: store postgres %s: %w", postgres.RedactDSN(location), err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("tokengate: store: unknown type %q", storeType)
	}
}

// Start is a no-op: the store and cache were acquired in Provision.
func (a *App) Start() error { return nil }

// Stop is a no-op; Cleanup releases the shared state.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's reference to the shared store and cache.
func (a *App) Cleanup() error {
	if a.started == nil {
		return nil
	}
	if r := a.started.Swap(nil); r == nil {
		return nil
	}
	_, err := cachePool.Delete(a.poolKey)
	return err
}

// Service returns the token service (nil under CheckConfigOnly or after Cleanup).
func (a *App) Service() *token.Service {
	if r := a.running(); r != nil {
		return r.service
	}
	return nil
}

// Validator returns the shared cached validator (nil under CheckConfigOnly
// or after Cleanup).
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
	_ caddy.Destructor   = (*shared)(nil)
)
