package token

import (
	"context"
	"fmt"
	"time"
)

// The Validator's life: Start runs the background loop (write-behind
// flushes, legacy checks, prefilter syncs), Close stops it and flushes.

// Start starts the background loop: a flush every LastUsedFlush (and an
// early one when a write-behind buffer is half full), and every
// CacheTTL (recheckEvery) a legacy check and a prefilter sync. It checks for
// legacy tokens first. Calling it again, or after Close, does nothing.
func (v *Validator) Start() {
	v.lifeMu.Lock()
	defer v.lifeMu.Unlock()
	if v.started || v.stopped {
		return
	}
	v.started = true
	v.refreshLegacy(context.Background(), false)
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	v.loopDone = make(chan struct{})
	go v.loop(ctx)
}

// loop runs until ctx is done (Close cancels it).
func (v *Validator) loop(ctx context.Context) {
	defer close(v.loopDone)
	flush := time.NewTicker(v.cfg.LastUsedFlush)
	defer flush.Stop()
	recheck := time.NewTicker(recheckEvery(v.cfg))
	defer recheck.Stop()
	// early is whether a half-full buffer may flush before the tick: not
	// after a failed flush, so that a store that is down is not hammered;
	// the next flush on the tick that succeeds allows it again.
	early := true
	flushNow := func() {
		fctx, cancel := context.WithTimeout(ctx, v.cfg.LastUsedFlush)
		defer cancel()
		err := v.Flush(fctx)
		if err != nil {
			v.report(err)
		}
		early = err == nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			flushNow()
			v.reportDrops()
		case <-v.wb.kick:
			if early {
				flushNow()
			}
		case <-recheck.C:
			v.refreshLegacy(ctx, false)
			v.refreshFilter(ctx)
		}
	}
}

// Close stops the background loop, flushes what is pending (within
// LookupTimeout) and closes the cache; Validate then answers Unavailable. It
// waits for Validate calls in progress. It does not close the store. Calling
// it again returns the first result.
func (v *Validator) Close() error {
	v.lifeMu.Lock()
	defer v.lifeMu.Unlock()
	if v.stopped {
		return v.closeErr
	}
	v.stopped = true
	if v.cancel != nil {
		v.cancel()
		<-v.loopDone
	}
	// From here on, uses and rejections are written through: whatever a
	// request records after the final flush took its batch is not lost.
	v.wb.mu.Lock()
	v.wb.closing = true
	v.wb.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.LookupTimeout)
	v.closeErr = v.Flush(ctx)
	cancel()
	v.reportDrops()
	v.closeMu.Lock()
	v.closed = true
	v.closeMu.Unlock()
	v.mu.Lock()
	v.cache.Close()
	v.mu.Unlock()
	return v.closeErr
}

// refreshFilter syncs the prefilter (loading it when it could not be loaded
// before) and reports a failure; until the first load succeeds, every miss
// is looked up in the store.
func (v *Validator) refreshFilter(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.LookupTimeout)
	defer cancel()
	if err := v.filter.load(ctx); err != nil {
		v.report(fmt.Errorf("validator: %w", err))
	}
}

// refreshLegacy asks the store whether it holds legacy tokens. On failure it
// reports the error and, if assumeOnError, assumes it does; otherwise it
// keeps the previous answer.
func (v *Validator) refreshLegacy(ctx context.Context, assumeOnError bool) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.LookupTimeout)
	defer cancel()
	has, err := v.store.HasLegacy(ctx)
	if err != nil {
		if assumeOnError {
			v.legacy.Store(true)
		}
		v.report(fmt.Errorf("validator: checking for legacy tokens: %w", err))
		return
	}
	v.legacy.Store(has)
}
