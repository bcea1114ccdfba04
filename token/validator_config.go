package token

import (
	"fmt"
	"time"
)

// Validator defaults (see ValidatorConfig).
const (
	DefaultCacheTTL      = time.Minute
	DefaultNegativeTTL   = 10 * time.Second
	DefaultLastUsedFlush = 30 * time.Second
	DefaultMaxEntries    = 1_000_000
	DefaultLookupTimeout = 5 * time.Second
)

// MaxLegacyLen is the longest prefix-less password that is hashed and looked
// up as a legacy token; longer ones are rejected as malformed.
const MaxLegacyLen = 4096

// maxSharedAttempts bounds how often a caller joins a shared lookup that
// turns out to have started before the caller's own start (see fill).
const maxSharedAttempts = 3

// ValidatorConfig configures NewValidator. Zero values take the defaults.
type ValidatorConfig struct {
	CacheTTL      time.Duration // default 1m
	NegativeTTL   time.Duration // default 10s
	LastUsedFlush time.Duration // default 30s
	MaxEntries    int64         // cache capacity in entries, default 1_000_000
	Clock         Clock         // default SystemClock
	Observer      Observer      // optional metrics hooks (nil = none)
	OnError       func(error)   // optional: background errors (flush failures); never gets a secret
	// LookupTimeout bounds one (shared) store lookup, a legacy check and the
	// final flush of Close; default 5s.
	LookupTimeout time.Duration
	// OnRejectionsStored, if set, gets every batch of rejections right
	// after the store accepted it (AddRejections succeeded), from the
	// write-behind's goroutine and outside its locks; it must not block
	// (the notifier queues the batch and returns).
	OnRejectionsStored func([]Rejection)

	// maxPendingUses and maxPendingRejections bound the write-behind
	// buffers: MaxPendingUses and MaxPendingRejections unless a test sets
	// them (SetPendingBounds in export_test).
	maxPendingUses, maxPendingRejections int
}

// withDefaults checks cfg and fills in the defaults.
func (cfg ValidatorConfig) withDefaults() (ValidatorConfig, error) {
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"CacheTTL", &cfg.CacheTTL, DefaultCacheTTL},
		{"NegativeTTL", &cfg.NegativeTTL, DefaultNegativeTTL},
		{"LastUsedFlush", &cfg.LastUsedFlush, DefaultLastUsedFlush},
		{"LookupTimeout", &cfg.LookupTimeout, DefaultLookupTimeout},
	}
	for _, f := range durations {
		if *f.d < 0 {
			return cfg, inputErr(ErrInvalidInput, fmt.Sprintf("validator: %s must not be negative, got %v", f.name, *f.d))
		}
		if *f.d == 0 {
			*f.d = f.def
		}
	}
	if cfg.MaxEntries < 0 {
		return cfg, inputErr(ErrInvalidInput, fmt.Sprintf("validator: MaxEntries must not be negative, got %d", cfg.MaxEntries))
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.maxPendingUses <= 0 {
		cfg.maxPendingUses = MaxPendingUses
	}
	if cfg.maxPendingRejections <= 0 {
		cfg.maxPendingRejections = MaxPendingRejections
	}
	return cfg, nil
}

// Observer receives metric events; the Caddy module backs it with Prometheus.
// Its methods are called on the request path and must be cheap.
type Observer interface {
	// CacheHit: a well-formed token was answered from the cache.
	CacheHit()
	// CacheMiss: a well-formed token was not in the cache.
	CacheMiss()
	// StoreLookup: one store lookup took d; err is nil when the store
	// answered (found or not found) and the failure otherwise.
	StoreLookup(d time.Duration, err error)
}

// DropObserver is optionally implemented by an Observer: it then learns how
// many last-used records and rejections the write-behind buffers dropped
// (full while the store was slow or down). It is called from the background
// loop at most once per flush interval, with counts since the last call.
type DropObserver interface {
	// UsesDropped: n last-used records were dropped.
	UsesDropped(n int)
	// RejectionsDropped: n rejections were dropped.
	RejectionsDropped(n int)
}
