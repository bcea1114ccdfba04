package token_test

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// TestCapLifetimeInvalidatesEachBatch: a cap in batches of 2 over 5 cached
// never-expiring tokens reports progress after every batch (changed count
// rising to 5, one ExpiresBy for the run) and drops each capped token from
// the Validator's cache, so the next request sees the new expiry.
func TestCapLifetimeInvalidatesEachBatch(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secrets := make([]string, 5)
	for i := range secrets {
		secrets[i], _ = e.create("alice", time.Time{})
		if r := e.validate(secrets[i]); r.Outcome != token.OutcomeValid || !r.ExpiresAt.IsZero() {
			t.Fatalf("before the cap: %+v", r)
		}
	}
	svc := token.NewService(e.store, token.Policy{}, e.v, e.clock.Now)
	var seen []token.CapProgress
	res, err := svc.CapLifetimeWith(e.ctx, token.Operator("ops"), 48*time.Hour, token.CapOptions{Batch: 2,
		Progress: func(p token.CapProgress) { seen = append(seen, p) }})
	want := e.clock.Now().Truncate(time.Microsecond).Add(48 * time.Hour)
	if err != nil || res.Changed != 5 || !res.ExpiresBy.Equal(want) {
		t.Fatalf("CapLifetimeWith = %+v, %v; want 5 changed, expires by %v", res, err, want)
	}
	if len(seen) < 3 || seen[len(seen)-1].Changed != 5 || seen[0].Total != 5 {
		t.Fatalf("progress %+v, want at least 3 batches ending at 5 changed of 5", seen)
	}
	for i, p := range seen {
		if p.Batches != i+1 || !p.ExpiresBy.Equal(want) || (i > 0 && p.Changed < seen[i-1].Changed) {
			t.Errorf("progress %d: %+v", i, p)
		}
	}
	for _, s := range secrets {
		if r := e.validate(s); r.Outcome != token.OutcomeValid || !r.ExpiresAt.Equal(want) {
			t.Errorf("after the cap: %+v, want valid until %v (cache dropped)", r, want)
		}
	}
}
