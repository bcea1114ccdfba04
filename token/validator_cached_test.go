package token_test

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// TestValidateCachedNeverTouchesTheStore: ValidateCached answers what the
// cache knows (valid, expired, revoked, negative) exactly as Validate does,
// reports a miss as ok == false, and never looks anything up.
func TestValidateCachedNeverTouchesTheStore(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{NegativeTTL: 10 * time.Second})
	validSecret, valid := e.create("alice", time.Time{})
	expiringSecret, expiring := e.create("bob", e.clock.Now().Add(time.Hour))
	revokedSecret, revoked := e.create("carol", time.Time{})
	unknownSecret, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	all := []string{validSecret, expiringSecret, revokedSecret, unknownSecret}

	for _, s := range all {
		if r, ok := e.v.ValidateCached(s); ok {
			t.Fatalf("ValidateCached on a cold cache = %+v, ok; want a miss", r)
		}
	}
	if n := e.lookups(); n != 0 {
		t.Fatalf("ValidateCached made %d store lookups, want 0", n)
	}
	if r, ok := e.v.ValidateCached("tgp_junk"); !ok || r.Outcome != token.OutcomeMalformed {
		t.Errorf("ValidateCached of junk = %+v, %v; want malformed, ok", r, ok)
	}

	e.revoke(revoked)
	e.clock.Advance(2 * time.Hour) // past expiring's expiry
	for _, s := range all {
		e.validate(s) // fill the cache
	}
	before := e.lookups()
	for _, c := range []struct {
		secret string
		want   token.Outcome
		id     string
	}{
		{validSecret, token.OutcomeValid, valid.ID},
		{expiringSecret, token.OutcomeExpired, expiring.ID},
		{revokedSecret, token.OutcomeRevoked, revoked.ID},
	} {
		r, ok := e.v.ValidateCached(c.secret)
		if !ok || r.Outcome != c.want || r.TokenID != c.id || !r.CacheHit {
			t.Errorf("ValidateCached = %+v, %v; want %v for %s from the cache", r, ok, c.want, c.id)
		}
	}
	if r, ok := e.v.ValidateCached(unknownSecret); !ok || r.Outcome != token.OutcomeUnknown {
		t.Errorf("ValidateCached of a negatively cached token = %+v, %v; want unknown, ok", r, ok)
	}
	// Once the negative entry expires (NegativeTTL 10s), it is a miss again.
	e.clock.Advance(10 * time.Second)
	if r, ok := e.v.ValidateCached(unknownSecret); ok {
		t.Errorf("ValidateCached of an unknown token after NegativeTTL = %+v, ok; want a miss", r)
	}
	if n := e.lookups() - before; n != 0 {
		t.Errorf("ValidateCached made %d store lookups, want 0", n)
	}
}
