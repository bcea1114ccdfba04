package token_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// A fill reads "valid" before the revoke commits and tries to Set after the
// invalidation: it must discard itself, so the revoked token never passes
// afterwards.
func TestRevokeRacingFill(t *testing.T) {
	for _, cachedBefore := range []bool{false, true} {
		e := newEnv(t, token.ValidatorConfig{})
		secret, tok := e.create("alice", time.Time{})
		if cachedBefore {
			// Cached, then evicted, so the racing fill is a real miss.
			e.expect(e.validate(secret), token.OutcomeValid, tok.ID, false)
			e.v.Changed(tok.Digest)
		}
		g := e.store.pauseNextLookup()
		inflight := make(chan token.Result, 1)
		go func() { inflight <- e.v.Validate(e.ctx, secret) }()
		<-g.reached // the fill has read "valid" from the store

		if _, err := e.store.Revoke(e.ctx, tok.ID, "", "admin", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.v.Revoked(tok.Digest)
		close(g.release) // the fill now tries to cache "valid"

		// The request that was in flight when the revoke happened may go
		// either way; nothing that starts afterwards may pass.
		if r := <-inflight; r.Outcome != token.OutcomeValid && r.Outcome != token.OutcomeRevoked {
			t.Fatalf("in-flight request: %v, want valid or revoked", r.Outcome)
		}
		for i := 0; i < 5; i++ {
			r := e.validate(secret)
			if r.Outcome != token.OutcomeRevoked || r.TokenID != tok.ID {
				t.Fatalf("cachedBefore=%v, request %d after the revoke: %v %q, want revoked %s",
					cachedBefore, i, r.Outcome, r.TokenID, tok.ID)
			}
		}
	}
}

// A caller that starts after an invalidation must not take the answer of a
// shared lookup that began before it.
func TestStaleSharedLookupIsRetried(t *testing.T) {
	obs := &countingObserver{}
	e := newEnv(t, token.ValidatorConfig{Observer: obs})
	secret, tok := e.create("alice", time.Time{})
	g := e.store.pauseNextLookup()
	first := make(chan token.Result, 1)
	go func() { first <- e.v.Validate(e.ctx, secret) }()
	<-g.reached // the shared lookup has read "valid"

	e.revoke(tok)
	second := make(chan token.Result, 1)
	go func() { second <- e.v.Validate(e.ctx, secret) }()
	waitFor(t, func() bool { return obs.misses.Load() == 2 })
	time.Sleep(50 * time.Millisecond) // let it join the shared lookup
	close(g.release)

	if r := <-second; r.Outcome != token.OutcomeRevoked || r.TokenID != tok.ID {
		t.Fatalf("request started after the revoke: %v %q, want revoked %s", r.Outcome, r.TokenID, tok.ID)
	}
	if r := <-first; r.Outcome != token.OutcomeValid {
		t.Errorf("request started before the revoke: %v, want the shared answer valid", r.Outcome)
	}
	if n := e.lookups(); n != 2 {
		t.Errorf("lookups = %d, want 2 (the stale shared one and the retry)", n)
	}
}

// Many validations race revocations, evictions and cache flushes on the real
// store; after Revoked returns, no validation that starts may pass.
func TestRevokeStress(t *testing.T) {
	iterations := 150
	if testing.Short() {
		iterations = 20
	}
	e := newEnv(t, token.ValidatorConfig{})
	e.store.jitter.Store(true)
	const workers = 4
	var failures atomic.Int64
	for it := 0; it < iterations; it++ {
		secret, tok := e.create("alice", time.Time{})
		if it%3 == 0 {
			e.v.Validate(e.ctx, secret) // sometimes start from a cached entry
		}
		var revoked atomic.Bool
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Go(func() {
				after := 0
				for !stop.Load() || after < 20 {
					wasRevoked := revoked.Load()
					r := e.v.Validate(e.ctx, secret)
					if wasRevoked {
						after++
						if r.Outcome != token.OutcomeRevoked {
							failures.Add(1)
							t.Errorf("iteration %d: validation started after Revoked returned: %v", it, r.Outcome)
							return
						}
					} else if r.Outcome != token.OutcomeValid && r.Outcome != token.OutcomeRevoked {
						failures.Add(1)
						t.Errorf("iteration %d: %v, want valid or revoked", it, r.Outcome)
						return
					}
					if rand.IntN(4) == 0 {
						time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
					}
				}
			})
		}
		wg.Go(func() { // churn: unrelated invalidations bump the epoch too
			for !stop.Load() {
				switch rand.IntN(3) {
				case 0:
					e.v.Changed(tok.Digest)
				case 1:
					e.v.Changed(token.Digest{byte(rand.IntN(256))})
				default:
					if rand.IntN(10) == 0 {
						e.v.FlushAll()
					}
				}
				time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
			}
		})
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		if _, err := e.store.Revoke(e.ctx, tok.ID, "", "admin", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.v.Revoked(tok.Digest) // no WaitCache: correctness must not need it
		revoked.Store(true)
		stop.Store(true)
		wg.Wait()
		if failures.Load() > 0 {
			t.FailNow()
		}
	}
}

// Revoked right after a fill queued its (asynchronous) cache write: once
// Revoked returns, the queued "valid" entry must never be served, not even
// for the instant between ristretto applying it and applying the delete.
// (The store is not revoked here, so only a cache hit can be wrong.)
func TestRevokedRightAfterQueuedFill(t *testing.T) {
	iterations := 5000
	if testing.Short() {
		iterations = 500
	}
	e := newEnv(t, token.ValidatorConfig{})
	secret, tok := e.create("alice", time.Time{})
	for i := 0; i < iterations; i++ {
		e.v.Changed(tok.Digest)
		e.v.Validate(e.ctx, secret) // miss: queues a Set of "valid"
		e.v.Revoked(tok.Digest)
		// The first request sees the sticky entry or nothing (and then reads
		// "valid" from the store, so later hits may rightly say valid).
		if r := e.v.Validate(e.ctx, secret); r.Outcome == token.OutcomeValid && r.CacheHit {
			t.Fatalf("iteration %d: a cache hit said valid after Revoked returned", i)
		}
	}
}
