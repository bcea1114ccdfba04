package token

import (
	"context"
	"fmt"
	"time"
)

// Bounds of the cap action's batches.
const (
	// DefaultCapBatch is how many tokens one cap transaction looks at when
	// CapOptions.Batch is zero.
	DefaultCapBatch = 5000
	// MaxCapBatch is the largest CapOptions.Batch accepted.
	MaxCapBatch = 50000
)

// CapOptions tunes CapLifetimeWith. The zero value is the default.
type CapOptions struct {
	// Batch is how many tokens one transaction looks at (0: DefaultCapBatch,
	// at most MaxCapBatch). Memory and the time a transaction holds its
	// locks grow with it, not with the number of tokens.
	Batch int
	// Progress, if set, is called after every committed batch, from the
	// calling goroutine. Cancelling the context from it stops the run
	// before the next batch.
	Progress func(CapProgress)
}

// CapProgress is the state of a cap run after a committed batch.
type CapProgress struct {
	// Changed is how many tokens the run has capped so far.
	Changed int
	// Batches is how many batches have committed.
	Batches int
	// Total is how many unrevoked tokens there were when the run began: an
	// upper bound of Changed.
	Total int
	// ExpiresBy is the new latest expiry (now+limit, one now for the run).
	ExpiresBy time.Time
}

// CapResult is what a cap run did.
type CapResult struct {
	// Changed is how many tokens were capped (by this run, before an error).
	Changed int
	// ExpiresBy is the new latest expiry: the run's now plus the limit.
	ExpiresBy time.Time
}

// CapLifetime applies a maximum lifetime to existing tokens with the
// default options and returns how many changed; see CapLifetimeWith.
func (s *Service) CapLifetime(ctx context.Context, actor Actor, limit time.Duration) (int, error) {
	r, err := s.CapLifetimeWith(ctx, actor, limit, CapOptions{})
	return r.Changed, err
}

// CapLifetimeWith applies a maximum lifetime to existing tokens: every
// unrevoked token that would live longer than now+limit (never-expiring
// ones included) now expires at now+limit; shorter-lived tokens are left
// alone. limit must be positive and at most MaxCapLifetime (see
// ParseLifetime). It works in batches of opts.Batch tokens (one transaction
// each, Store.CapExpiry) with one now for the whole run, drops each batch's
// tokens from the cache as it commits, and reports progress. Memory stays
// flat in the number of tokens.
//
// An interrupted run (a cancelled context, an unreachable store) keeps the
// batches that committed and returns how many tokens they changed with the
// error. Running it again finishes the job and caps no token twice: a capped
// token expires by the earlier now+limit, which is not later than the new
// one, so it no longer qualifies.
func (s *Service) CapLifetimeWith(ctx context.Context, actor Actor, limit time.Duration, opts CapOptions) (CapResult, error) {
	if err := s.authorize(actor, "cap token lifetimes"); err != nil {
		return CapResult{}, err
	}
	if limit <= 0 || limit > MaxCapLifetime {
		return CapResult{}, inputErr(ErrInvalidInput, fmt.Sprintf("lifetime must be positive and at most %s, got %s",
			FormatLifetime(MaxCapLifetime), limit))
	}
	batch, err := sizeOption("batch", opts.Batch, DefaultCapBatch, MaxCapBatch)
	if err != nil {
		return CapResult{}, err
	}
	now := s.Now().Truncate(time.Microsecond)
	p := CapProgress{ExpiresBy: now.Add(limit)}
	fail := func(err error) (CapResult, error) {
		return CapResult{Changed: p.Changed, ExpiresBy: p.ExpiresBy},
			fmt.Errorf("capping token lifetime to %s (%d tokens capped before): %w", FormatLifetime(limit), p.Changed, err)
	}
	if opts.Progress != nil {
		total, err := s.store.CountTokens(ctx, "")
		if err != nil {
			return fail(err)
		}
		p.Total = total
	}
	for after := ""; ; {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		changed, next, err := s.store.CapExpiry(ctx, p.ExpiresBy, actor.Name(), now, after, batch)
		if err != nil {
			return fail(err)
		}
		if s.inv != nil {
			for _, d := range changed {
				s.inv.Changed(d)
			}
		}
		p.Changed += len(changed)
		p.Batches++
		if opts.Progress != nil {
			opts.Progress(p)
		}
		if next == "" {
			return CapResult{Changed: p.Changed, ExpiresBy: p.ExpiresBy}, nil
		}
		after = next
	}
}

// AdminCountTokens returns how many unrevoked tokens owner has (everybody
// together when owner is ""), from a count in the store: no token is loaded.
func (s *Service) AdminCountTokens(ctx context.Context, actor Actor, owner string) (int, error) {
	if err := s.authorize(actor, "count other people's tokens"); err != nil {
		return 0, err
	}
	if owner != "" {
		if err := ValidateOwner(owner); err != nil {
			return 0, err
		}
	}
	n, err := s.store.CountTokens(ctx, owner)
	if err != nil {
		return 0, fmt.Errorf("counting tokens: %w", err)
	}
	return n, nil
}
