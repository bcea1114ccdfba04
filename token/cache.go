package token

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// The cache rules (DESIGN.md, "Cache rules"), in one place: what the
// Validator caches for a digest or a vault secret, and for how long. The
// functions here are pure (the time and the configuration come in as
// arguments); validator.go and validator_vault.go apply them.
//
// Two lifetimes are at work for a token entry:
//   - freshFor (entry.until): by the injected clock, the entry answers for
//     that long; after it the digest is looked up again.
//   - cacheTTL: by the wall clock, ristretto drops the entry no later than
//     that — never after the token's expiry, so memory is not held by tokens
//     that can only fail.
//
// Expiry is not a state: it is checked against the clock on every hit.

// entryState is the cached state of a digest.
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
	allowed   []netip.Prefix // restrictions, shared read-only with Results
	scopes    []string
	until     time.Time // by the injected clock: the entry is stale from then on
}

// entryFor is the entry that caches the store's answer to a lookup of d at
// now — t when err is nil, "no such token" when err is ErrNotFound — and how
// long ristretto keeps it. A store failure is never cached: it returns nil.
//
//   - unknown digest: fresh for NegativeTTL;
//   - revoked token: fresh for CacheTTL (revocation is final);
//   - expired token: fresh for NegativeTTL (expiry is final too: nothing
//     lengthens a token, so it is cached like a negative answer);
//   - valid token: fresh for CacheTTL less a jitter of up to a tenth of it
//     (ttlJitter: derived from the digest, so entries filled together do not
//     all go stale together, and nothing is cached longer than CacheTTL),
//     kept by ristretto at most until it expires.
func entryFor(d Digest, t Token, err error, now time.Time, cfg ValidatorConfig) (e *entry, cacheTTL time.Duration) {
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, 0
	}
	e = &entry{digest: d, state: stateUnknown}
	ttl := cfg.NegativeTTL
	if err == nil {
		e.tokenID, e.owner, e.label, e.expiresAt = t.ID, t.Owner, t.Label, t.ExpiresAt
		e.allowed, e.scopes = t.AllowedIPs, t.Scopes
		switch {
		case t.Revoked():
			e.state, ttl = stateRevoked, cfg.CacheTTL
		case t.ExpiredAt(now):
			e.state = stateValid
		default:
			e.state, ttl = stateValid, cfg.CacheTTL-ttlJitter(d, cfg.CacheTTL)
		}
	}
	e.until = now.Add(ttl)
	cacheTTL = ttl
	if e.state == stateValid && !e.expiresAt.IsZero() {
		if left := e.expiresAt.Sub(now); left > 0 && left < cacheTTL {
			cacheTTL = left
		}
	}
	return e, cacheTTL
}

// ttlJitter is how much shorter than ttl a valid entry for d is cached:
// between 0 and ttl/10, spread evenly over digests and the same for a digest
// every time (a pure function of both).
func ttlJitter(d Digest, ttl time.Duration) time.Duration {
	spread := uint64(ttl / 10)
	if spread == 0 {
		return 0
	}
	// Bytes 8..15: independent of the cache key (bytes 0..7).
	return time.Duration(binary.LittleEndian.Uint64(d[8:16]) % (spread + 1))
}

// revokedEntry is the sticky revoked entry that replaces whatever was cached
// for d (old, possibly nil) when the token is revoked, and how long
// ristretto keeps it: CacheTTL both ways. It keeps the identity of a cached
// token (so the owner's rejections can name it); without one, fresh treats
// it as stale and the digest is looked up once more.
func revokedEntry(d Digest, old *entry, now time.Time, cfg ValidatorConfig) (e *entry, cacheTTL time.Duration) {
	e = &entry{digest: d, state: stateRevoked, until: now.Add(cfg.CacheTTL)}
	if old != nil && old.matches(&d) && old.state != stateUnknown {
		e.tokenID, e.owner, e.label, e.expiresAt = old.tokenID, old.owner, old.label, old.expiresAt
		e.allowed, e.scopes = old.allowed, old.scopes
	}
	return e, cfg.CacheTTL
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

// result is the Result e gives at now.
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
	r.AllowedIPs, r.Scopes = e.allowed, e.scopes
	return r
}

// cacheKey is the ristretto key of d: its first 8 bytes.
func cacheKey(d *Digest) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

// vaultCacheEntry is a cached vault lookup: the sealed secret (never the
// plaintext), or "none stored" when found is false.
type vaultCacheEntry struct {
	secret VaultSecret
	found  bool
	until  time.Time // by the injected clock
}

// vaultEntryFor is the entry that caches the store's answer to a vault
// lookup at now — s when err is nil, "none stored" when err is ErrNotFound —
// fresh for CacheTTL either way. A store failure is never cached: ok is
// false.
func vaultEntryFor(s VaultSecret, err error, now time.Time, cfg ValidatorConfig) (e vaultCacheEntry, ok bool) {
	switch {
	case err == nil:
		e = vaultCacheEntry{secret: s, found: true}
	case errors.Is(err, ErrNotFound):
	default:
		return vaultCacheEntry{}, false
	}
	e.until = now.Add(cfg.CacheTTL)
	return e, true
}

// recheckEvery is the period of the Validator's background re-checks: is
// there any legacy token in the store, and the prefilter's sync (which a
// filter miss also triggers). Both are cached views of the store, so they
// are kept as fresh as a cached entry.
func recheckEvery(cfg ValidatorConfig) time.Duration { return cfg.CacheTTL }
