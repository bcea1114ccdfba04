package token_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// TestPrefilterRefusesUnknownWithoutLookup: a flood of made-up well-formed
// tokens is refused by the prefilter: no store lookup, no cache entry, and
// the concurrent misses share a handful of incremental syncs. Valid tokens
// keep working in the middle of it.
func TestPrefilterRefusesUnknownWithoutLookup(t *testing.T) {
	obs := &countingObserver{}
	e := newEnv(t, token.ValidatorConfig{Observer: obs})
	validSecret, valid := e.create("alice", time.Time{})
	e.expect(e.validate(validSecret), token.OutcomeValid, valid.ID, false)

	syncsBefore, lookupsBefore := e.v.PrefilterSyncs(), e.lookups()
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				unknown, _ := token.Generate()
				if r := e.v.Validate(e.ctx, unknown); r.Outcome != token.OutcomeUnknown || r.CacheHit {
					errs <- r.Outcome.String()
				}
				if r := e.v.Validate(e.ctx, validSecret); r.Outcome != token.OutcomeValid {
					errs <- "valid token: " + r.Outcome.String()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Errorf("during the flood: %s", msg)
	}
	if n := e.lookups() - lookupsBefore; n != 0 {
		t.Errorf("500 unknown tokens made %d store lookups, want 0", n)
	}
	syncs := e.v.PrefilterSyncs() - syncsBefore
	maxSyncs := int64(time.Since(began)/token.PrefilterSyncInterval) + 2
	if syncs < 1 || syncs > maxSyncs {
		t.Errorf("500 filter misses ran %d syncs in %v, want 1..%d (one per %v at most)", syncs, time.Since(began), maxSyncs, token.PrefilterSyncInterval)
	}
}

// TestPrefilterFindsTokenAddedSince: a token written to the store after the
// filter was loaded (by another instance, or the command line) is valid on
// its first use: the miss waits for the next sync instead of refusing it.
func TestPrefilterFindsTokenAddedSince(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	unknown, _ := token.Generate()
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", false) // filter synced
	for i := 0; i < 5; i++ {
		secret, tok := e.create("bob", time.Time{})
		e.expect(e.validate(secret), token.OutcomeValid, tok.ID, false)
	}
	if n := e.lookups(); n != 5 {
		t.Errorf("store lookups = %d, want 5 (one per new token)", n)
	}
}

// TestPrefilterStoreDown: while the store cannot be reached, a token the
// filter does not know is "unavailable" (503 upstream), never "unknown": it
// may have been created since the last sync.
func TestPrefilterStoreDown(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	e.store.down.Store(true)
	unknown, _ := token.Generate()
	e.expect(e.validate(unknown), token.OutcomeUnavailable, "", false)
	e.store.down.Store(false)
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", false)
}

// TestPrefilterLoadsWhenStoreReturns: a validator created while the store
// is down looks every miss up (as without a filter) and loads the filter as
// soon as the store answers; from then on unknown tokens cost no lookup.
func TestPrefilterLoadsWhenStoreReturns(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secret, tok := e.create("alice", time.Time{})
	e.store.down.Store(true)
	v, err := token.NewValidator(e.store, token.ValidatorConfig{Clock: e.clock.Now, OnError: func(error) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if r := v.Validate(e.ctx, secret); r.Outcome != token.OutcomeUnavailable {
		t.Fatalf("store down: %v, want unavailable", r.Outcome)
	}
	e.store.down.Store(false)
	waitFor(t, func() bool {
		unknown, _ := token.Generate()
		before := e.lookups()
		r := v.Validate(e.ctx, unknown)
		return r.Outcome == token.OutcomeUnknown && e.lookups() == before
	})
	if r := v.Validate(e.ctx, secret); r.Outcome != token.OutcomeValid || r.TokenID != tok.ID {
		t.Errorf("after the store returned: %v %q, want valid %s", r.Outcome, r.TokenID, tok.ID)
	}
}
