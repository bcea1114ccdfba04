package token_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

func TestValidateOutcomes(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	validSecret, valid := e.create("alice", time.Time{})
	expiredSecret, expired := e.create("bob", e.clock.Now().Add(time.Hour))
	revokedSecret, revoked := e.create("carol", time.Time{})
	e.revoke(revoked)
	e.clock.Advance(2 * time.Hour) // past expired's expiry
	unknownSecret, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}

	r := e.validate(validSecret)
	e.expect(r, token.OutcomeValid, valid.ID, false)
	if r.Owner != "alice" || r.Label != valid.Label || !r.ExpiresAt.IsZero() {
		t.Errorf("valid result = %+v, want owner alice, label %q, no expiry", r, valid.Label)
	}
	r = e.validate(expiredSecret)
	e.expect(r, token.OutcomeExpired, expired.ID, false)
	if r.Owner != "bob" || !r.ExpiresAt.Equal(expired.ExpiresAt) {
		t.Errorf("expired result = %+v, want owner bob and expiry %v", r, expired.ExpiresAt)
	}
	// It was not cached when revoked: the sticky entry does not know its
	// identity, so one lookup fetches it (and caches it).
	r = e.validate(revokedSecret)
	e.expect(r, token.OutcomeRevoked, revoked.ID, false)
	if r.Owner != "carol" {
		t.Errorf("revoked result owner = %q, want carol", r.Owner)
	}
	e.expect(e.validate(unknownSecret), token.OutcomeUnknown, "", false)

	// Second round: every one of them is answered from the cache.
	before := e.lookups()
	e.expect(e.validate(validSecret), token.OutcomeValid, valid.ID, true)
	e.expect(e.validate(expiredSecret), token.OutcomeExpired, expired.ID, true)
	e.expect(e.validate(revokedSecret), token.OutcomeRevoked, revoked.ID, true)
	// The unknown token is refused by the prefilter, never cached or looked up.
	e.expect(e.validate(unknownSecret), token.OutcomeUnknown, "", false)
	if got := e.lookups(); got != 3 {
		t.Errorf("store lookups = %d, want 3 (one per known token, none for the unknown one)", got)
	}
	if got := e.lookups() - before; got != 0 {
		t.Errorf("cache hits made %d store lookups, want 0", got)
	}
}

func TestValidateJunkTouchesNothing(t *testing.T) {
	obs := &countingObserver{}
	e := newEnv(t, token.ValidatorConfig{Observer: obs})
	secret, _ := e.create("alice", time.Time{})
	badSum := secret[:token.Len-1] + string(otherBase62(secret[token.Len-1]))
	junk := []string{
		"", "tgp_", "tgp_short", secret[:token.Len-1], secret + "x", badSum,
		"tgp_" + strings.Repeat("!", token.Len-4), strings.ToUpper(secret[:4]) + secret[4:],
		"password123", "ä" + secret[2:], strings.Repeat("x", 10_000),
	}
	for _, s := range junk {
		if r := e.v.Validate(e.ctx, s); r.Outcome != token.OutcomeMalformed || r.TokenID != "" {
			t.Errorf("Validate(junk of length %d) = %v %q, want malformed", len(s), r.Outcome, r.TokenID)
		}
	}
	if n := e.lookups(); n != 0 {
		t.Errorf("junk made %d store lookups, want 0", n)
	}
	if h, m := obs.hits.Load(), obs.misses.Load(); h != 0 || m != 0 {
		t.Errorf("junk touched the cache: %d hits, %d misses", h, m)
	}
}

// otherBase62 returns a base62 character different from c.
func otherBase62(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// TestNegativeCaching: a made-up token that gets past the prefilter (a
// false positive; bypassed here) costs one lookup per NegativeTTL.
func TestNegativeCaching(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{NegativeTTL: 10 * time.Second})
	e.v.BypassPrefilter()
	unknown, _ := token.Generate()
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", false)
	if n := e.lookups(); n != 1 {
		t.Fatalf("first lookup count = %d, want 1", n)
	}
	for i := 0; i < 5; i++ {
		e.expect(e.validate(unknown), token.OutcomeUnknown, "", true)
	}
	e.clock.Advance(10*time.Second - time.Nanosecond)
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", true)
	if n := e.lookups(); n != 1 {
		t.Fatalf("lookups within NegativeTTL = %d, want 1", n)
	}
	e.clock.Advance(time.Nanosecond)
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", false)
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", true)
	if n := e.lookups(); n != 2 {
		t.Fatalf("lookups after NegativeTTL = %d, want 2", n)
	}
}

func TestPositiveCacheTTL(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{CacheTTL: time.Minute})
	secret, tok := e.create("alice", time.Time{})
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, false)
	// Fresh for CacheTTL less a jitter of at most a tenth (cache.go).
	e.clock.Advance(time.Minute*9/10 - time.Nanosecond)
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, true)
	e.clock.Advance(time.Minute/10 + time.Nanosecond)
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, false)
	if n := e.lookups(); n != 2 {
		t.Errorf("lookups = %d, want 2 (one per CacheTTL)", n)
	}
}

func TestExpiryAtTheExactInstant(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{CacheTTL: time.Hour})
	expires := e.clock.Now().Add(30 * time.Minute)
	secret, tok := e.create("alice", expires)
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, false)
	e.clock.Set(expires.Add(-time.Nanosecond))
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, true)
	e.clock.Set(expires)
	r := e.validate(secret)
	e.expect(r, token.OutcomeExpired, tok.ID, true)
	if !r.ExpiresAt.Equal(expires) {
		t.Errorf("ExpiresAt = %v, want %v", r.ExpiresAt, expires)
	}
	if n := e.lookups(); n != 1 {
		t.Errorf("lookups = %d, want 1: expiry must be decided on the cache hit", n)
	}
}

func TestSingleflightSharesOneLookup(t *testing.T) {
	obs := &countingObserver{}
	e := newEnv(t, token.ValidatorConfig{Observer: obs})
	secret, tok := e.create("alice", time.Time{})
	g := e.store.pauseNextLookup()
	const n = 16
	results := make(chan token.Result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() { results <- e.v.Validate(e.ctx, secret) })
	}
	<-g.reached
	// Every caller has missed before the lookup is let go.
	waitFor(t, func() bool { return obs.misses.Load() == n })
	time.Sleep(50 * time.Millisecond) // let the last callers reach singleflight
	close(g.release)
	wg.Wait()
	close(results)
	for r := range results {
		e.expect(r, token.OutcomeValid, tok.ID, false)
	}
	if got := e.lookups(); got != 1 {
		t.Errorf("%d concurrent misses made %d store lookups, want 1", n, got)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStoreDown(t *testing.T) {
	obs := &countingObserver{}
	e := newEnv(t, token.ValidatorConfig{Observer: obs})
	e.v.BypassPrefilter() // so that the unknown token is negatively cached
	cached, tok := e.create("alice", time.Time{})
	uncached, _ := e.create("bob", time.Time{})
	unknown, _ := token.Generate()
	e.expect(e.validate(cached), token.OutcomeValid, tok.ID, false)
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", false)

	e.store.down.Store(true)
	e.expect(e.validate(uncached), token.OutcomeUnavailable, "", false)
	e.expect(e.validate(cached), token.OutcomeValid, tok.ID, true)
	e.expect(e.validate(unknown), token.OutcomeUnknown, "", true)
	// An outage is never cached: still unavailable, and asked again.
	before := e.lookups()
	e.expect(e.validate(uncached), token.OutcomeUnavailable, "", false)
	if e.lookups() != before+1 {
		t.Errorf("a failed lookup was cached")
	}
	if obs.lookupErrs.Load() != 2 {
		t.Errorf("observer saw %d failed lookups, want 2", obs.lookupErrs.Load())
	}

	e.store.down.Store(false)
	r := e.validate(uncached)
	if r.Outcome != token.OutcomeValid || r.Owner != "bob" {
		t.Errorf("after recovery: %v owner %q, want valid bob", r.Outcome, r.Owner)
	}
}

func TestInvalidations(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secret, tok := e.create("alice", time.Time{})
	other, otherTok := e.create("bob", time.Time{})
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, false)
	e.expect(e.validate(other), token.OutcomeValid, otherTok.ID, false)

	e.v.FlushAll()
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, false)
	e.expect(e.validate(other), token.OutcomeValid, otherTok.ID, false)

	// Changed: the expiry was capped in the store; the next request sees it.
	limit := e.clock.Now().Add(time.Hour)
	if _, _, err := e.store.CapExpiry(e.ctx, limit, "admin", e.clock.Now(), "", 100); err != nil {
		t.Fatal(err)
	}
	e.v.Changed(tok.Digest)
	r := e.validate(secret)
	e.expect(r, token.OutcomeValid, tok.ID, false)
	if !r.ExpiresAt.Equal(limit) {
		t.Errorf("after Changed, ExpiresAt = %v, want %v", r.ExpiresAt, limit)
	}
	e.expect(e.validate(other), token.OutcomeValid, otherTok.ID, true) // untouched

	// Revoked keeps the identity of a cached token for the owner's rejections.
	e.revoke(tok)
	r = e.validate(secret)
	e.expect(r, token.OutcomeRevoked, tok.ID, true)
	if r.Owner != "alice" {
		t.Errorf("sticky revoked entry lost the owner: %q", r.Owner)
	}
}

func TestLegacyTokens(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	const legacy = "old-system-token-0123456789"
	if r := e.validate(legacy); r.Outcome != token.OutcomeMalformed {
		t.Fatalf("prefix-less password without legacy tokens: %v, want malformed", r.Outcome)
	}
	if n := e.lookups(); n != 0 {
		t.Fatalf("prefix-less password made %d lookups, want 0", n)
	}
	imported := token.Token{ID: "legacy-1", Owner: "dave", Label: "imported",
		Digest: token.DigestOf(legacy), Hint: token.HintOf(legacy)}
	if err := e.store.Import(e.ctx, []token.Token{imported}, "admin", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.v.FlushAll()
	r := e.validate(legacy)
	e.expect(r, token.OutcomeValid, "legacy-1", false)
	e.expect(e.validate("another-prefixless-guess"), token.OutcomeUnknown, "", false)
	// A prefixed string that is not well-formed stays junk even now.
	if r := e.validate("tgp_" + legacy); r.Outcome != token.OutcomeMalformed {
		t.Errorf("malformed prefixed token with legacy tokens present: %v", r.Outcome)
	}
	if r := e.validate(strings.Repeat("y", token.MaxLegacyLen+1)); r.Outcome != token.OutcomeMalformed {
		t.Errorf("over-long legacy password: %v, want malformed", r.Outcome)
	}
}

func TestLegacyCheckFailureAssumesLegacy(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	e.store.down.Store(true)
	e.v.FlushAll() // cannot tell: prefix-less passwords go to the store
	e.store.down.Store(false)
	e.expect(e.validate("some-password"), token.OutcomeUnknown, "", false)
	select {
	case err := <-e.errs:
		if !errors.Is(err, token.ErrUnavailable) {
			t.Errorf("reported error %v does not wrap ErrUnavailable", err)
		}
	default:
		t.Error("the failed legacy check was not reported to OnError")
	}
	e.v.FlushAll() // the store answers "no legacy tokens" again
	if r := e.validate("some-password"); r.Outcome != token.OutcomeMalformed {
		t.Errorf("after a good check: %v, want malformed", r.Outcome)
	}
}

func TestValidatorConfigErrors(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	cases := map[string]token.ValidatorConfig{
		"CacheTTL":      {CacheTTL: -time.Second},
		"NegativeTTL":   {NegativeTTL: -1},
		"LastUsedFlush": {LastUsedFlush: -time.Minute},
		"MaxEntries":    {MaxEntries: -5},
		"LookupTimeout": {LookupTimeout: -1},
	}
	for field, cfg := range cases {
		_, err := token.NewValidator(e.store, cfg)
		if !errors.Is(err, token.ErrInvalidInput) || !strings.Contains(err.Error(), field) {
			t.Errorf("config with bad %s: err = %v, want ErrInvalidInput naming the field", field, err)
		}
	}
	if _, err := token.NewValidator(nil, token.ValidatorConfig{}); !errors.Is(err, token.ErrInvalidInput) {
		t.Errorf("nil store: err = %v, want ErrInvalidInput", err)
	}
}

func TestOutcomeString(t *testing.T) {
	want := map[token.Outcome]string{
		token.OutcomeValid: "valid", token.OutcomeMalformed: "malformed", token.OutcomeUnknown: "unknown",
		token.OutcomeExpired: "expired", token.OutcomeRevoked: "revoked", token.OutcomeUnavailable: "unavailable",
		token.Outcome(99): "outcome(99)",
	}
	for o, s := range want {
		if o.String() != s {
			t.Errorf("Outcome(%d).String() = %q, want %q", uint8(o), o.String(), s)
		}
	}
}

func TestCloseIsIdempotentAndStops(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secret, _ := e.create("alice", time.Time{})
	e.v.Start()
	e.v.Start()
	if err := e.v.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.v.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r := e.v.Validate(e.ctx, secret); r.Outcome != token.OutcomeUnavailable {
		t.Errorf("Validate after Close: %v, want unavailable", r.Outcome)
	}
	e.v.Revoked(token.DigestOf(secret)) // must not panic on a closed cache
	e.v.Changed(token.DigestOf(secret))
	e.v.FlushAll()
	e.v.Start() // does nothing after Close
}

func TestLegacyCheckedAtStartAndPeriodically(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{CacheTTL: 20 * time.Millisecond})
	e.v.Start()
	const legacy = "periodic-legacy-token"
	imported := token.Token{ID: "legacy-2", Owner: "erin", Label: "old", Digest: token.DigestOf(legacy)}
	if err := e.store.Import(e.ctx, []token.Token{imported}, "admin", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// No FlushAll: the periodic check (every CacheTTL) notices the import.
	waitFor(t, func() bool { return e.v.Validate(e.ctx, legacy).Outcome == token.OutcomeValid })

	// A new validator over a store with legacy tokens accepts them at once.
	v2, err := token.NewValidator(e.store, token.ValidatorConfig{Clock: e.clock.Now, MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if r := v2.Validate(e.ctx, legacy); r.Outcome != token.OutcomeValid || r.Owner != "erin" {
		t.Errorf("fresh validator: %v owner %q, want valid erin", r.Outcome, r.Owner)
	}
}

func TestCallerCancelDoesNotFailSharedLookup(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secret, tok := e.create("alice", time.Time{})
	g := e.store.pauseNextLookup()
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan token.Result, 1)
	go func() { done <- e.v.Validate(ctx, secret) }()
	<-g.reached
	cancel() // the client went away while the store was being asked
	if r := <-done; r.Outcome != token.OutcomeUnavailable {
		t.Fatalf("cancelled caller: %v, want unavailable", r.Outcome)
	}
	close(g.release)
	// The lookup itself completed and was cached for everyone else.
	waitFor(t, func() bool {
		e.v.WaitCache()
		return e.v.Validate(e.ctx, secret).CacheHit
	})
	e.expect(e.validate(secret), token.OutcomeValid, tok.ID, true)
	if n := e.lookups(); n != 1 {
		t.Errorf("lookups = %d, want 1", n)
	}
}

// TestHitRightAfterMiss: once a miss has returned, the very next request for
// the same token is a cache hit — no waiting on ristretto's buffers — so a
// store outage right after a first request does not turn it into a 503.
func TestHitRightAfterMiss(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	for i := 0; i < 50; i++ {
		secret, tok := e.create("alice", time.Time{})
		// e.v.Validate directly: e.validate would wait for the cache.
		e.expect(e.v.Validate(e.ctx, secret), token.OutcomeValid, tok.ID, false)
		e.expect(e.v.Validate(e.ctx, secret), token.OutcomeValid, tok.ID, true)
	}
}
