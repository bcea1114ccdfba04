package token

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// entryState is the cached state of a digest. Expiry is not a state: it is
// checked against the clock on every hit.
type entryState uint8

const (
	stateValid entryState = iota
	stateUnknown
	stateRevoked
)

// entry is an immutable cached validation result.
type entry struct {
	digest    Digest
	state     entryState
	tokenID   string
	owner     string
	label     string
	expiresAt time.Time
	until     time.Time // by the injected clock: the entry is stale from then on
}

// matches compares the full digest in constant time (the cache key is only
// its first 8 bytes).
func (e *entry) matches(d *Digest) bool {
	return subtle.ConstantTimeCompare(e.digest[:], d[:]) == 1
}

// fresh reports whether e answers for d at now. A sticky revoked entry
// written without the token's identity (it was not cached when revoked) is
// looked up once more, so the owner's rejections can name the token.
func (e *entry) fresh(d *Digest, now time.Time) bool {
	return e.matches(d) && now.Before(e.until) && (e.state != stateRevoked || e.tokenID != "")
}

func (e *entry) result(now time.Time, hit bool) Result {
	r := Result{CacheHit: hit}
	switch e.state {
	case stateUnknown:
		r.Outcome = OutcomeUnknown
		return r
	case stateRevoked:
		r.Outcome = OutcomeRevoked
	default:
		r.Outcome = OutcomeValid
		if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
			r.Outcome = OutcomeExpired
		}
	}
	r.TokenID, r.Owner, r.Label, r.ExpiresAt = e.tokenID, e.owner, e.label, e.expiresAt
	return r
}

func cacheKey(d *Digest) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

// Validator checks presented secrets against the Store through an in-memory
// cache, and writes last-used records and rejections behind requests. It
// implements Invalidator. Create it with NewValidator, call Start, and Close
// it when done. Its methods are safe for concurrent use.
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
	now := v.cfg.Clock()
	e := &entry{digest: d, state: stateUnknown}
	ttl := v.cfg.NegativeTTL
	if err == nil {
		e.tokenID, e.owner, e.label, e.expiresAt = t.ID, t.Owner, t.Label, t.ExpiresAt
		switch {
		case t.Revoked():
			e.state, ttl = stateRevoked, v.cfg.CacheTTL
		case t.ExpiredAt(now):
			// Expiry is final (nothing lengthens a token): cache it like a
			// negative answer.
			e.state = stateValid
		default:
			e.state, ttl = stateValid, v.cfg.CacheTTL
		}
	}
	// The entry stays fresh for ttl by the injected clock; ristretto drops
	// it (by the wall clock) no later than the token's expiry.
	e.until = now.Add(ttl)
	cacheTTL := ttl
	if e.state == stateValid && !e.expiresAt.IsZero() {
		if left := e.expiresAt.Sub(now); left > 0 && left < cacheTTL {
			cacheTTL = left
		}
	}
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
	sticky := &entry{digest: d, state: stateRevoked, until: v.cfg.Clock().Add(v.cfg.CacheTTL)}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.epoch.Add(1)
	if old, ok := v.cache.Get(key); ok && old != nil && old.matches(&d) && old.state != stateUnknown {
		// Keep who owns it, so rejections can still be shown to the owner.
		sticky.tokenID, sticky.owner, sticky.label, sticky.expiresAt = old.tokenID, old.owner, old.label, old.expiresAt
	}
	v.evictLocked(key)
	v.cache.SetWithTTL(key, sticky, 1, v.cfg.CacheTTL)
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

// FlushAll drops every cached result, discards fills in flight, and asks the
// store again whether it holds legacy tokens (assuming so if it cannot tell).
func (v *Validator) FlushAll() {
	v.mu.Lock()
	v.epoch.Add(1)
	v.cache.Clear()
	v.mu.Unlock()
	v.flushVault()
	v.refreshLegacy(context.Background(), true)
}

// refreshFilter syncs the prefilter (loading it when it could not be loaded
// before) and reports a failure; until the first load succeeds, every miss
// is looked up in the store.
func (v *Validator) refreshFilter(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.LookupTimeout)
	defer cancel()
	if err := v.filter.load(ctx); err != nil {
		v.report(fmt.Errorf("validator: %w", err))
	}
}

// refreshLegacy asks the store whether it holds legacy tokens. On failure it
// reports the error and, if assumeOnError, assumes it does; otherwise it
// keeps the previous answer.
func (v *Validator) refreshLegacy(ctx context.Context, assumeOnError bool) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.LookupTimeout)
	defer cancel()
	has, err := v.store.HasLegacy(ctx)
	if err != nil {
		if assumeOnError {
			v.legacy.Store(true)
		}
		v.report(fmt.Errorf("validator: checking for legacy tokens: %w", err))
		return
	}
	v.legacy.Store(has)
}

func (v *Validator) report(err error) {
	if v.cfg.OnError != nil {
		v.cfg.OnError(err)
	}
}
