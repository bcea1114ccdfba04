package token_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// createRestricted stores a new token of owner with allowed and scopes
// (expiring at expires unless zero) and returns its secret and record.
func (e *env) createRestricted(owner string, expires time.Time, allowed []netip.Prefix, scopes []string) (string, token.Token) {
	e.t.Helper()
	secret, err := token.Generate()
	if err != nil {
		e.t.Fatalf("Generate: %v", err)
	}
	id, err := token.NewID()
	if err != nil {
		e.t.Fatalf("NewID: %v", err)
	}
	tok := token.Token{ID: id, Owner: owner, Label: "restricted " + id, Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret), CreatedAt: e.clock.Now(), ExpiresAt: expires, AllowedIPs: allowed, Scopes: scopes}
	if err := e.store.Create(e.ctx, tok, 0); err != nil {
		e.t.Fatalf("creating token: %v", err)
	}
	return secret, tok
}

// expectRestrictions checks the restrictions a Result carries.
func expectRestrictions(t *testing.T, what string, r token.Result, allowed []netip.Prefix, scopes []string) {
	t.Helper()
	if !slices.Equal(r.AllowedIPs, allowed) || !slices.Equal(r.Scopes, scopes) ||
		(r.AllowedIPs == nil) != (len(allowed) == 0) || (r.Scopes == nil) != (len(scopes) == 0) {
		t.Errorf("%s: Result carries %#v, %#v; want %v, %q", what, r.AllowedIPs, r.Scopes, allowed, scopes)
	}
}

// A restricted token's Result carries its restrictions whether it came from
// the store or the cache, valid, expired or revoked; an unrestricted one's
// carries none.
func TestResultCarriesRestrictions(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{CacheTTL: time.Minute})
	allowed := prefixes("10.9.9.0/24", "2001:db8::/48", "127.0.0.1/32")
	scopes := []string{"issues", "worklogs"}
	secret, tok := e.createRestricted("alice", e.clock.Now().Add(time.Hour), allowed, scopes)
	plainSecret, plain := e.create("alice", time.Time{})

	r := e.validate(secret)
	e.expect(r, token.OutcomeValid, tok.ID, false)
	expectRestrictions(t, "miss", r, allowed, scopes)
	r = e.validate(secret)
	e.expect(r, token.OutcomeValid, tok.ID, true)
	expectRestrictions(t, "hit", r, allowed, scopes)
	if token.AllowsIP(r.AllowedIPs, "127.0.0.1") != true || token.AllowsIP(r.AllowedIPs, "192.0.2.1") != false {
		t.Errorf("AllowsIP on the Result's list: 127.0.0.1 %v, 192.0.2.1 %v; want true, false",
			token.AllowsIP(r.AllowedIPs, "127.0.0.1"), token.AllowsIP(r.AllowedIPs, "192.0.2.1"))
	}

	for i, hit := range []bool{false, true} {
		r := e.validate(plainSecret)
		e.expect(r, token.OutcomeValid, plain.ID, hit)
		expectRestrictions(t, []string{"unrestricted miss", "unrestricted hit"}[i], r, nil, nil)
	}

	// Expired: still the token's, with its restrictions (the owner's
	// rejection names it; nothing is enforced on a refused token).
	e.clock.Advance(2 * time.Hour)
	r = e.validate(secret)
	e.expect(r, token.OutcomeExpired, tok.ID, false)
	expectRestrictions(t, "expired, looked up again", r, allowed, scopes)

	// Revoked, through the sticky entry.
	secret2, tok2 := e.createRestricted("bob", time.Time{}, prefixes("198.51.100.0/24"), nil)
	e.expect(e.validate(secret2), token.OutcomeValid, tok2.ID, false)
	e.revoke(tok2)
	r = e.validate(secret2)
	e.expect(r, token.OutcomeRevoked, tok2.ID, true)
	expectRestrictions(t, "revoked (sticky entry)", r, prefixes("198.51.100.0/24"), nil)
}

// The hit path of a restricted token, with the allow-list check a handler
// makes, does not allocate either: the Result shares the cached slices.
func TestRestrictedHitPathDoesNotAllocate(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{Observer: &countingObserver{}})
	secret, tok := e.createRestricted("alice", e.clock.Now().Add(time.Hour),
		prefixes("10.9.9.0/24", "2001:db8::/48", "127.0.0.0/8"), []string{"issues"})
	r := e.validate(secret)
	e.v.RecordUse(r, "127.0.0.1", "PowerBI")
	e.expect(e.v.Validate(e.ctx, secret), token.OutcomeValid, tok.ID, true)
	allocs := testing.AllocsPerRun(1000, func() {
		r := e.v.Validate(e.ctx, secret)
		if r.Outcome != token.OutcomeValid || !r.CacheHit || !token.AllowsIP(r.AllowedIPs, "127.0.0.1") ||
			token.AllowsIP(r.AllowedIPs, "2001:db9::1") {
			t.Fatalf("not a valid, allowed cache hit: %v", r.Outcome)
		}
		e.v.RecordUse(r, "127.0.0.1", "PowerBI")
	})
	if allocs != 0 {
		t.Errorf("restricted cached Validate + AllowsIP + RecordUse allocates %.1f times per call, want 0", allocs)
	}
}
