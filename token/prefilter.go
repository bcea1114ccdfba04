package token

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"golang.org/x/sync/singleflight"
)

// Prefilter tuning. A Bloom filter of every digest in the store lets the
// Validator refuse unknown tokens without a store lookup and without any
// per-client state: a flood of made-up tokens costs a hash and a filter test
// each, plus at most one incremental sync query per PrefilterSyncInterval
// for the whole instance.
const (
	// PrefilterFalsePositiveRate is the filter's target false-positive
	// rate: the share of unknown tokens that still cost a store lookup (and
	// then a negative cache entry).
	PrefilterFalsePositiveRate = 1e-4
	// PrefilterMinCapacity is the smallest number of digests a filter is
	// sized for (≈ 240 KB at the rate above).
	PrefilterMinCapacity = 100_000
	// PrefilterSyncInterval is the least time between two incremental
	// syncs: a filter miss waits for the next sync (so a token created a
	// moment ago on another instance, or imported from the command line,
	// is found), and a flood of misses shares them.
	PrefilterSyncInterval = 100 * time.Millisecond
)

// prefilter holds a Bloom filter of every token digest the store held when
// it last synced, and a store cursor to pick up the ones added since. It
// never forgets a digest (tokens are never deleted; revoked ones stay known
// so their owners see the rejections), so it only ever errs towards a
// lookup.
type prefilter struct {
	store   Store
	timeout time.Duration // bounds one sync (the validator's LookupTimeout)

	mu       sync.RWMutex
	bypass   bool               // tests only: behave as if not loaded
	bf       *bloom.BloomFilter // nil until the first successful load
	capacity uint               // digests bf is sized for
	count    uint               // digests added (repeats included)
	cursor   string             // store cursor after the last sync

	syncs     singleflight.Group
	syncCount atomic.Int64 // syncs run, for tests
	loading   atomic.Bool  // a kick is running
	syncMu    sync.Mutex
	lastStart time.Time // monotonic start of the last completed sync
	lastErr   error     // its error
}

// test reports whether d may be in the store, and whether the filter is
// loaded at all (if not, may is true).
func (p *prefilter) test(d *Digest) (may, loaded bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.bf == nil {
		return true, false
	}
	return p.bypass || p.bf.Test(d[:]), true
}

// mayHold reports whether d may be in the store (true when not loaded).
func (p *prefilter) mayHold(d *Digest) bool {
	may, _ := p.test(d)
	return may
}

// kick starts a load in the background unless one is running (used while
// the filter is not loaded, so that it is as soon as the store answers).
func (p *prefilter) kick() {
	if !p.loading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.loading.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		defer cancel()
		_ = p.load(ctx) // a failure is reported by the periodic refresh
	}()
}

// syncedSince waits for a sync that started after t (starting one if none
// is running, at most one per PrefilterSyncInterval) and returns its error.
// Every token committed before t is in the filter afterwards.
func (p *prefilter) syncedSince(ctx context.Context, t time.Time) error {
	for {
		p.syncMu.Lock()
		last, err := p.lastStart, p.lastErr
		p.syncMu.Unlock()
		if last.After(t) {
			return err
		}
		ch := p.syncs.DoChan("sync", func() (any, error) {
			p.syncMu.Lock()
			wait := PrefilterSyncInterval - time.Since(p.lastStart)
			p.syncMu.Unlock()
			if wait > 0 {
				time.Sleep(wait)
			}
			start := time.Now()
			p.syncCount.Add(1)
			sctx, cancel := context.WithTimeout(context.Background(), p.timeout)
			err := p.sync(sctx)
			cancel()
			p.syncMu.Lock()
			p.lastStart, p.lastErr = start, err
			p.syncMu.Unlock()
			return nil, err
		})
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the token prefilter: %w", ctx.Err())
		}
	}
}

// sync brings the filter up to date: a full load when there is none yet or
// the filter holds more digests than it was sized for, else the digests
// added since the cursor. Call it only through syncedSince or load (one at
// a time).
func (p *prefilter) sync(ctx context.Context) error {
	p.mu.RLock()
	full := p.bf == nil || p.count > p.capacity
	cursor := p.cursor
	p.mu.RUnlock()
	if full {
		return p.rebuild(ctx)
	}
	var added []Digest
	next, err := p.store.Digests(ctx, cursor, func(d Digest) { added = append(added, d) })
	if err != nil {
		return fmt.Errorf("prefilter: syncing token digests: %w", err)
	}
	p.mu.Lock()
	for i := range added {
		p.bf.Add(added[i][:])
	}
	p.count += uint(len(added))
	p.cursor = next
	p.mu.Unlock()
	return nil
}

// rebuild loads every digest into a new filter sized for twice as many and
// swaps it in.
func (p *prefilter) rebuild(ctx context.Context) error {
	var all []Digest
	next, err := p.store.Digests(ctx, "", func(d Digest) { all = append(all, d) })
	if err != nil {
		return fmt.Errorf("prefilter: loading token digests: %w", err)
	}
	capacity := max(uint(2*len(all)), PrefilterMinCapacity)
	bf := bloom.NewWithEstimates(capacity, PrefilterFalsePositiveRate)
	for i := range all {
		bf.Add(all[i][:])
	}
	p.mu.Lock()
	p.bf, p.capacity, p.count, p.cursor = bf, capacity, uint(len(all)), next
	p.mu.Unlock()
	return nil
}

// load performs a sync now (used at start and by the background loop) and
// records it like syncedSince does.
func (p *prefilter) load(ctx context.Context) error {
	return p.syncedSince(ctx, time.Now())
}
