package token_test

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// The hit path (a cached valid token, then recording its use) must not
// allocate once the token id has a last-used slot.
func TestHitPathDoesNotAllocate(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{Observer: &countingObserver{}})
	secret, tok := e.create("alice", e.clock.Now().Add(time.Hour))
	r := e.validate(secret)
	e.v.RecordUse(r, "10.0.0.1", "PowerBI")
	r = e.v.Validate(e.ctx, secret)
	e.expect(r, token.OutcomeValid, tok.ID, true)
	allocs := testing.AllocsPerRun(1000, func() {
		r := e.v.Validate(e.ctx, secret)
		if r.Outcome != token.OutcomeValid || !r.CacheHit {
			t.Fatalf("not a valid cache hit: %v", r.Outcome)
		}
		e.v.RecordUse(r, "10.0.0.1", "PowerBI")
	})
	if allocs != 0 {
		t.Errorf("cached Validate + RecordUse allocates %.1f times per call, want 0", allocs)
	}
	junk := secret[:token.Len-1] + "!"
	if a := testing.AllocsPerRun(1000, func() { e.v.Validate(e.ctx, junk) }); a != 0 {
		t.Errorf("rejecting junk allocates %.1f times, want 0", a)
	}
}

// benchEnv is a Validator on the real clock (the cache entries must not go
// stale during a long benchmark) over a fresh bbolt file.
func benchEnv(b *testing.B) *env {
	e := newEnv(b, token.ValidatorConfig{Clock: token.SystemClock, MaxEntries: 100_000})
	e.clock.Set(time.Now().UTC())
	return e
}

func BenchmarkValidateHit(b *testing.B) {
	e := benchEnv(b)
	secret, _ := e.create("alice", time.Time{})
	r := e.validate(secret)
	e.v.RecordUse(r, "10.0.0.1", "PowerBI")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.v.Validate(e.ctx, secret)
		if r.Outcome != token.OutcomeValid {
			b.Fatalf("outcome %v", r.Outcome)
		}
		e.v.RecordUse(r, "10.0.0.1", "PowerBI")
	}
}

func BenchmarkValidateHitParallel(b *testing.B) {
	e := benchEnv(b)
	secrets := make([]string, 64)
	for i := range secrets {
		secrets[i], _ = e.create("alice", time.Time{})
		e.v.RecordUse(e.validate(secrets[i]), "10.0.0.1", "PowerBI")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := e.v.Validate(e.ctx, secrets[i%len(secrets)])
			if r.Outcome != token.OutcomeValid {
				b.Errorf("outcome %v", r.Outcome)
				return
			}
			e.v.RecordUse(r, "10.0.0.1", "PowerBI")
			i++
		}
	})
}

func BenchmarkValidateJunk(b *testing.B) {
	e := benchEnv(b)
	s := generate(b)
	junk := s[:token.Len-1] + string(otherBase62(s[token.Len-1])) // bad checksum
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := e.v.Validate(e.ctx, junk); r.Outcome != token.OutcomeMalformed {
			b.Fatalf("outcome %v", r.Outcome)
		}
	}
	if n := e.lookups(); n != 0 {
		b.Fatalf("junk made %d store lookups", n)
	}
}

func BenchmarkValidateMissNegative(b *testing.B) {
	// prefiltered: a new made-up token every time, refused by the prefilter
	// without a lookup. Each call waits for the filter's next sync (shared,
	// at most one per PrefilterSyncInterval), so ns/op is mostly that wait,
	// not CPU; run it in parallel to see the sharing.
	b.Run("prefiltered", func(b *testing.B) {
		e := benchEnv(b)
		b.ReportAllocs()
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				unknown, _ := token.Generate()
				if r := e.v.Validate(e.ctx, unknown); r.Outcome != token.OutcomeUnknown || r.CacheHit {
					b.Errorf("outcome %v hit %v", r.Outcome, r.CacheHit)
					return
				}
			}
		})
		b.ReportMetric(float64(e.v.PrefilterSyncs()), "syncs")
	})
	// The prefilter's false positives (bypassed here) are looked up:
	// cached: the same unknown token again (a negative cache hit).
	b.Run("cached", func(b *testing.B) {
		e := benchEnv(b)
		e.v.BypassPrefilter()
		unknown := generate(b)
		e.validate(unknown)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if r := e.v.Validate(e.ctx, unknown); r.Outcome != token.OutcomeUnknown || !r.CacheHit {
				b.Fatalf("outcome %v hit %v", r.Outcome, r.CacheHit)
			}
		}
	})
	// lookup: a new unknown token every time (bbolt lookup + negative fill).
	b.Run("lookup", func(b *testing.B) {
		e := benchEnv(b)
		e.v.BypassPrefilter()
		unknown := make([]string, b.N)
		for i := range unknown {
			unknown[i] = generate(b)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if r := e.v.Validate(e.ctx, unknown[i]); r.Outcome != token.OutcomeUnknown || r.CacheHit {
				b.Fatalf("outcome %v hit %v", r.Outcome, r.CacheHit)
			}
		}
	})
}
