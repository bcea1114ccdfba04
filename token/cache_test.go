package token

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// The cache rules (cache.go) as tables: what is cached for which answer of
// the store, and for how long by the injected clock (freshFor) and by
// ristretto (cacheTTL).

var (
	ruleNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ruleCfg = ValidatorConfig{CacheTTL: time.Minute, NegativeTTL: 10 * time.Second}
	errDown = fmt.Errorf("store down: %w", ErrUnavailable)
)

func TestEntryFor(t *testing.T) {
	d := DigestOf("tgp_rule")
	tok := func(expires, revoked time.Time) Token {
		return Token{ID: "id1", Owner: "alice", Label: "dataset", Digest: d, ExpiresAt: expires, RevokedAt: revoked}
	}
	never, past := time.Time{}, ruleNow.Add(-time.Hour)
	// jittered is CacheTTL less the jitter of d (ttlJitter: 2.739806569s).
	const jittered = time.Minute - 2739806569*time.Nanosecond
	tests := []struct {
		name      string
		t         Token
		err       error
		nilEntry  bool
		state     entryState
		identity  bool // the token's id, owner, label and expiry are kept
		freshFor  time.Duration
		cacheTTL  time.Duration
		wantOnHit Outcome
	}{
		{name: "unknown", err: ErrNotFound, state: stateUnknown,
			freshFor: 10 * time.Second, cacheTTL: 10 * time.Second, wantOnHit: OutcomeUnknown},
		{name: "unknown (wrapped)", err: fmt.Errorf("bolt: %w", ErrNotFound), state: stateUnknown,
			freshFor: 10 * time.Second, cacheTTL: 10 * time.Second, wantOnHit: OutcomeUnknown},
		{name: "store failure is not cached", err: errDown, nilEntry: true},
		{name: "other failure is not cached", err: errors.New("boom"), nilEntry: true},
		{name: "valid, never expires: CacheTTL less the jitter", t: tok(never, never), state: stateValid, identity: true,
			freshFor: jittered, cacheTTL: jittered, wantOnHit: OutcomeValid},
		{name: "valid, expires after CacheTTL", t: tok(ruleNow.Add(time.Hour), never), state: stateValid, identity: true,
			freshFor: jittered, cacheTTL: jittered, wantOnHit: OutcomeValid},
		{name: "valid, expires within CacheTTL: ristretto drops it at expiry", t: tok(ruleNow.Add(15*time.Second), never),
			state: stateValid, identity: true, freshFor: jittered, cacheTTL: 15 * time.Second, wantOnHit: OutcomeValid},
		{name: "valid, expires in 1ns", t: tok(ruleNow.Add(time.Nanosecond), never),
			state: stateValid, identity: true, freshFor: jittered, cacheTTL: time.Nanosecond, wantOnHit: OutcomeValid},
		{name: "expired: cached like a negative answer", t: tok(past, never), state: stateValid, identity: true,
			freshFor: 10 * time.Second, cacheTTL: 10 * time.Second, wantOnHit: OutcomeExpired},
		{name: "expires exactly now: expired", t: tok(ruleNow, never), state: stateValid, identity: true,
			freshFor: 10 * time.Second, cacheTTL: 10 * time.Second, wantOnHit: OutcomeExpired},
		{name: "revoked", t: tok(never, past), state: stateRevoked, identity: true,
			freshFor: time.Minute, cacheTTL: time.Minute, wantOnHit: OutcomeRevoked},
		{name: "revoked, expiring soon: no clamp", t: tok(ruleNow.Add(time.Second), past), state: stateRevoked, identity: true,
			freshFor: time.Minute, cacheTTL: time.Minute, wantOnHit: OutcomeRevoked},
		{name: "revoked and expired: revoked wins", t: tok(past, past), state: stateRevoked, identity: true,
			freshFor: time.Minute, cacheTTL: time.Minute, wantOnHit: OutcomeRevoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, cacheTTL := entryFor(d, tc.t, tc.err, ruleNow, ruleCfg)
			if tc.nilEntry {
				if e != nil || cacheTTL != 0 {
					t.Fatalf("entryFor = %+v, %v; want nil, 0", e, cacheTTL)
				}
				return
			}
			if e == nil {
				t.Fatal("entryFor = nil, want an entry")
			}
			if e.digest != d || e.state != tc.state {
				t.Errorf("entry digest %v state %d, want %v %d", e.digest, e.state, d, tc.state)
			}
			if got := e.until.Sub(ruleNow); got != tc.freshFor {
				t.Errorf("fresh for %v, want %v", got, tc.freshFor)
			}
			if cacheTTL != tc.cacheTTL {
				t.Errorf("cacheTTL %v, want %v", cacheTTL, tc.cacheTTL)
			}
			hasID := e.tokenID == "id1" && e.owner == "alice" && e.label == "dataset" && e.expiresAt.Equal(tc.t.ExpiresAt)
			if tc.identity != hasID || (!tc.identity && (e.tokenID != "" || e.owner != "")) {
				t.Errorf("entry identity %q %q %q %v, want kept: %v", e.tokenID, e.owner, e.label, e.expiresAt, tc.identity)
			}
			if !e.fresh(&d, ruleNow) || e.fresh(&d, e.until) {
				t.Errorf("fresh at now %v, at until %v; want true, false", e.fresh(&d, ruleNow), e.fresh(&d, e.until))
			}
			if other := DigestOf("tgp_other"); e.fresh(&other, ruleNow) {
				t.Error("the entry answers for another digest")
			}
			if r := e.result(ruleNow, true); r.Outcome != tc.wantOnHit || !r.CacheHit {
				t.Errorf("result on a hit = %v (hit %v), want %v", r.Outcome, r.CacheHit, tc.wantOnHit)
			}
		})
	}
}

// TestTTLJitter: the jitter is within [0, TTL/10] (so no entry lives longer
// than CacheTTL), the same for a digest every time, and spread: 10,000
// entries filled at one instant go stale over the whole last tenth of
// CacheTTL, no tenth of that span holding much more than its share.
func TestTTLJitter(t *testing.T) {
	const ttl, n = time.Minute, 10_000
	var buckets [10]int
	for i := range n {
		d := DigestOf(fmt.Sprintf("tgp_jitter%d", i))
		j := ttlJitter(d, ttl)
		if j < 0 || j > ttl/10 {
			t.Fatalf("jitter %v outside [0, %v]", j, ttl/10)
		}
		if ttlJitter(d, ttl) != j {
			t.Fatal("jitter not deterministic")
		}
		e, cacheTTL := entryFor(d, Token{ID: "id"}, nil, ruleNow, ruleCfg)
		if got := e.until.Sub(ruleNow); got != ttl-j || cacheTTL != ttl-j {
			t.Fatalf("fresh for %v, cacheTTL %v; want %v", got, cacheTTL, ttl-j)
		}
		buckets[min(int(j*10/(ttl/10)), 9)]++
	}
	for b, c := range buckets {
		if c < n/10*8/10 || c > n/10*12/10 {
			t.Errorf("tenth %d of the jitter span holds %d of %d entries: not spread (%v)", b, c, n, buckets)
		}
	}
	for _, small := range []time.Duration{0, 1, 9} {
		if j := ttlJitter(DigestOf("tgp_rule"), small); j != 0 {
			t.Errorf("jitter of a %v TTL = %v, want 0", small, j)
		}
	}
}

// TestEntryForExpiresWhileCached: a valid entry turns into Expired on a hit
// once the clock passes the expiry, although it is still fresh.
func TestEntryForExpiresWhileCached(t *testing.T) {
	d := DigestOf("tgp_rule")
	e, _ := entryFor(d, Token{ID: "id1", ExpiresAt: ruleNow.Add(time.Second)}, nil, ruleNow, ruleCfg)
	later := ruleNow.Add(2 * time.Second)
	if !e.fresh(&d, later) {
		t.Fatal("entry stale 2s after the lookup, want fresh for CacheTTL")
	}
	if r := e.result(later, true); r.Outcome != OutcomeExpired || r.TokenID != "id1" {
		t.Errorf("result after expiry = %v %q, want expired id1", r.Outcome, r.TokenID)
	}
}

func TestRevokedEntry(t *testing.T) {
	d := DigestOf("tgp_rule")
	valid, _ := entryFor(d, Token{ID: "id1", Owner: "alice", Label: "dataset", ExpiresAt: ruleNow.Add(time.Hour)}, nil, ruleNow, ruleCfg)
	unknown, _ := entryFor(d, Token{}, ErrNotFound, ruleNow, ruleCfg)
	otherDigest, _ := entryFor(DigestOf("tgp_other"), Token{ID: "id2", Owner: "bob"}, nil, ruleNow, ruleCfg)
	tests := []struct {
		name  string
		old   *entry
		keeps bool // the identity of old is kept, so the entry answers at once
	}{
		{"nothing cached", nil, false},
		{"a valid entry", valid, true},
		{"a negative entry", unknown, false},
		{"another digest's entry (same cache key)", otherDigest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, cacheTTL := revokedEntry(d, tc.old, ruleNow, ruleCfg)
			if e.digest != d || e.state != stateRevoked {
				t.Fatalf("entry digest %v state %d, want %v revoked", e.digest, e.state, d)
			}
			if got := e.until.Sub(ruleNow); got != time.Minute || cacheTTL != time.Minute {
				t.Errorf("fresh for %v, cacheTTL %v; want CacheTTL (1m) both", got, cacheTTL)
			}
			if tc.keeps {
				if e.tokenID != "id1" || e.owner != "alice" || e.label != "dataset" || !e.expiresAt.Equal(valid.expiresAt) {
					t.Errorf("identity %q %q %q %v, want the cached token's", e.tokenID, e.owner, e.label, e.expiresAt)
				}
				if !e.fresh(&d, ruleNow) {
					t.Error("sticky entry with identity is not fresh")
				}
				if r := e.result(ruleNow, true); r.Outcome != OutcomeRevoked || r.TokenID != "id1" {
					t.Errorf("result = %v %q, want revoked id1", r.Outcome, r.TokenID)
				}
				return
			}
			if e.tokenID != "" || e.owner != "" {
				t.Errorf("identity %q %q, want none", e.tokenID, e.owner)
			}
			if e.fresh(&d, ruleNow) {
				t.Error("sticky entry without identity is fresh; want one more lookup to name the token")
			}
		})
	}
}

func TestVaultEntryFor(t *testing.T) {
	s := VaultSecret{Owner: "alice", Kind: "jira", Ciphertext: []byte{1, 2, 3}}
	tests := []struct {
		name  string
		err   error
		ok    bool
		found bool
	}{
		{"stored", nil, true, true},
		{"none stored", fmt.Errorf("bolt: %w", ErrNotFound), true, false},
		{"store failure is not cached", errDown, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := s
			if tc.err != nil {
				in = VaultSecret{}
			}
			e, ok := vaultEntryFor(in, tc.err, ruleNow, ruleCfg)
			if ok != tc.ok || e.found != tc.found {
				t.Fatalf("vaultEntryFor = found %v, ok %v; want %v, %v", e.found, ok, tc.found, tc.ok)
			}
			if !ok {
				return
			}
			if got := e.until.Sub(ruleNow); got != time.Minute {
				t.Errorf("fresh for %v, want CacheTTL (1m)", got)
			}
			if tc.found && e.secret.Owner != "alice" {
				t.Errorf("secret %+v, want alice's", e.secret)
			}
		})
	}
}

func TestRecheckEvery(t *testing.T) {
	if got := recheckEvery(ruleCfg); got != ruleCfg.CacheTTL {
		t.Errorf("recheckEvery = %v, want CacheTTL %v", got, ruleCfg.CacheTTL)
	}
}
