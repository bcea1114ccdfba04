package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Validator checks presented secrets against the Store through an in-memory
// cache (its rules are in cache.go), and writes last-used records and
// rejections behind requests. It implements Invalidator. Create it with
// NewValidator, call Start, and Close it when done. Its methods are safe for
// concurrent use.
type Validator struct {
	store Store
	cfg   ValidatorConfig
	cache *ristretto.Cache[uint64, *entry]
	group singleflight.Group

	// mu serializes every cache write: a fill's "epoch unchanged? then Set"
	// step and the invalidations (bump epoch, Del, Set/Clear).
	mu    sync.Mutex
	epoch atomic.Uint64

	legacy atomic.Bool // the store may hold legacy tokens

	closeMu sync.RWMutex // Validate holds it shared; Close exclusively
	closed  bool

	wb writeBehind

	vault vaultCache // ciphertexts of vault secrets, for injection

	filter prefilter // every digest in the store: unknown tokens cost no lookup

	lifeMu   sync.Mutex
	started  bool
	stopped  bool
	cancel   context.CancelFunc
	loopDone chan struct{}
	closeErr error
}

var _ Invalidator = (*Validator)(nil)

// NewValidator returns a Validator over store. It asks the store whether it
// holds legacy tokens; if it cannot tell, it assumes so (prefix-less
// passwords are then looked up) and reports the error to cfg.OnError.
func NewValidator(store Store, cfg ValidatorConfig) (*Validator, error) {
	if store == nil {
		return nil, inputErr(ErrInvalidInput, "validator: store must not be nil")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cache, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters:        10 * cfg.MaxEntries,
		MaxCost:            cfg.MaxEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("validator: creating cache: %w", err)
	}
	v := &Validator{store: store, cfg: cfg, cache: cache}
	v.wb.init()
	v.legacy.Store(true)
	v.refreshLegacy(context.Background(), true)
	v.filter.store, v.filter.timeout = store, cfg.LookupTimeout
	v.refreshFilter(context.Background())
	return v, nil
}

// plausible rejects junk before any cache or store access.
func (v *Validator) plausible(secret string) bool {
	if HasPrefix(secret) {
		return WellFormed(secret)
	}
	return secret != "" && len(secret) <= MaxLegacyLen && v.legacy.Load()
}

// Validate checks a presented secret. Junk (a prefixed string that is not
// well-formed, or a prefix-less one while the store holds no legacy tokens)
// is Malformed without touching cache or store. A cache hit does not touch
// the store; a miss looks the digest up once for all concurrent callers. A
// store failure on a miss is Unavailable, never a rejection.
func (v *Validator) Validate(ctx context.Context, secret string) Result {
	if !v.plausible(secret) {
		return Result{Outcome: OutcomeMalformed}
	}
	v.closeMu.RLock()
	defer v.closeMu.RUnlock()
	if v.closed {
		return Result{Outcome: OutcomeUnavailable}
	}
	d := DigestOf(secret)
	key := cacheKey(&d)
	start := v.epoch.Load()
	if r, ok := v.cached(&d, key); ok {
		return r
	}
	if may, loaded := v.filter.test(&d); !loaded {
		v.filter.kick() // look up meanwhile, as without a filter
	} else if !may {
		// Not in the store as of the last sync. A token committed since
		// (created on another instance a moment ago, or imported) is found
		// by the next sync, which this request waits for.
		asked := time.Now()
		if err := v.filter.syncedSince(ctx, asked); err != nil {
			return Result{Outcome: OutcomeUnavailable}
		}
		if !v.filter.mayHold(&d) {
			return Result{Outcome: OutcomeUnknown}
		}
	}
	e, err := v.fill(ctx, d, key, start)
	if err != nil {
		return Result{Outcome: OutcomeUnavailable}
	}
	return e.result(v.cfg.Clock(), false)
}

// MayBeStored reports whether s may be the secret of a token in the store
// (revoked ones included): it is plausible and the prefilter cannot rule it
// out (while the filter is not loaded, every plausible string may be). It
// never touches the store. Callers use it to keep a secret typed into the
// wrong field out of the logs.
func (v *Validator) MayBeStored(s string) bool {
	if !v.plausible(s) {
		return false
	}
	d := DigestOf(s)
	return v.filter.mayHold(&d)
}

// cached answers for d from the cache, counting the hit or miss.
func (v *Validator) cached(d *Digest, key uint64) (Result, bool) {
	now := v.cfg.Clock()
	if e, ok := v.cache.Get(key); ok && e != nil && e.fresh(d, now) {
		if v.cfg.Observer != nil {
			v.cfg.Observer.CacheHit()
		}
		return e.result(now, true), true
	}
	if v.cfg.Observer != nil {
		v.cfg.Observer.CacheMiss()
	}
	return Result{}, false
}

// fillResult is what a (shared) lookup produced and the epoch it started in.
type fillResult struct {
	e     *entry
	epoch uint64
}

// fill looks d up through singleflight. A shared result whose lookup began
// in an earlier epoch than the caller's start may predate an invalidation the
// caller has already seen, so the caller forgets it and looks up again.
func (v *Validator) fill(ctx context.Context, d Digest, key uint64, start uint64) (*entry, error) {
	lookupCtx := context.WithoutCancel(ctx)
	sfKey := string(d[:])
	for attempt := 0; ; attempt++ {
		if attempt >= maxSharedAttempts {
			// Invalidations keep overtaking shared lookups: look up alone.
			fr, err := v.lookup(lookupCtx, d, key)
			if err != nil {
				return nil, err
			}
			return fr.e, nil
		}
		ch := v.group.DoChan(sfKey, func() (any, error) { return v.lookup(lookupCtx, d, key) })
		select {
		case res := <-ch:
			if res.Err != nil {
				return nil, res.Err
			}
			fr := res.Val.(fillResult)
			if fr.epoch >= start {
				return fr.e, nil
			}
			v.group.Forget(sfKey)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for token lookup: %w", ctx.Err())
		}
	}
}

// lookup reads d from the store and caches the answer unless an invalidation
// happened since the lookup began.
func (v *Validator) lookup(ctx context.Context, d Digest, key uint64) (fillResult, error) {
	epoch := v.epoch.Load()
	ctx, cancel := context.WithTimeout(ctx, v.cfg.LookupTimeout)
	defer cancel()
	began := time.Now()
	t, err := v.store.ByDigest(ctx, d)
	took := time.Since(began)
	if err != nil && !errors.Is(err, ErrNotFound) {
		if v.cfg.Observer != nil {
			v.cfg.Observer.StoreLookup(took, err)
		}
		return fillResult{}, fmt.Errorf("looking up token %s: %w", d, err)
	}
	if v.cfg.Observer != nil {
		v.cfg.Observer.StoreLookup(took, nil)
	}
	e, cacheTTL := entryFor(d, t, err, v.cfg.Clock(), v.cfg)
	v.mu.Lock()
	set := v.epoch.Load() == epoch && v.cache.SetWithTTL(key, e, 1, cacheTTL)
	v.mu.Unlock()
	if set {
		// ristretto applies new keys asynchronously: wait, so that the
		// request after this one is a hit (and, during a store outage,
		// keeps working) instead of racing the cache's goroutine.
		v.cache.Wait()
	}
	return fillResult{e: e, epoch: epoch}, nil
}

// Revoked marks the token with digest d as revoked: fills that started
// before are discarded, and a sticky revoked entry replaces any cached one.
// Call it after the revocation is committed to the store.
func (v *Validator) Revoked(d Digest) {
	key := cacheKey(&d)
	now := v.cfg.Clock()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.epoch.Add(1)
	old, _ := v.cache.Get(key)
	sticky, ttl := revokedEntry(d, old, now, v.cfg)
	v.evictLocked(key)
	v.cache.SetWithTTL(key, sticky, 1, ttl)
}

// Changed drops any cached result for d (its expiry changed) and discards
// fills that started before.
func (v *Validator) Changed(d Digest) {
	key := cacheKey(&d)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.epoch.Add(1)
	v.evictLocked(key)
}

// evictLocked deletes key and waits until ristretto has applied every Set
// queued before, so that no earlier fill can surface after the delete.
func (v *Validator) evictLocked(key uint64) {
	v.cache.Del(key)
	v.cache.Wait()
}

// FlushAll drops every cached result (vault secrets included), discards
// fills in flight, and asks the store again whether it holds legacy tokens
// (assuming so if it cannot tell).
func (v *Validator) FlushAll() {
	v.mu.Lock()
	v.epoch.Add(1)
	v.cache.Clear()
	v.mu.Unlock()
	v.flushVault()
	v.refreshLegacy(context.Background(), true)
}

// report hands a background error to cfg.OnError, if set.
func (v *Validator) report(err error) {
	if v.cfg.OnError != nil {
		v.cfg.OnError(err)
	}
}
