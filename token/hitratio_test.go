package token_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// hitCounter is an Observer that counts cache hits and misses.
type hitCounter struct{ hits, misses atomic.Int64 }

func (c *hitCounter) CacheHit()                        { c.hits.Add(1) }
func (c *hitCounter) CacheMiss()                       { c.misses.Add(1) }
func (c *hitCounter) StoreLookup(time.Duration, error) {}

// hitRatioTokens is how many tokens TestCacheHitRatio rotates through:
// $TOKENGATE_HITRATIO_TOKENS (the scale script, .ci/scale.sh, sets
// 200,000: issue 14), else 20,000, which keeps the test at a few seconds
// under the race detector.
func hitRatioTokens(t *testing.T) int {
	if s := os.Getenv("TOKENGATE_HITRATIO_TOKENS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			t.Fatalf("TOKENGATE_HITRATIO_TOKENS=%q: want a whole number ≥ 1000", s)
		}
		return n
	}
	return 20_000
}

// heapInUse is the live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestCacheHitRatio: a Validator over a real bolt store with n tokens in
// rotation and MaxEntries configured for them (n plus a tenth) answers
// ≥ 95 % of a second pass over all of them (in another order, from four
// goroutines) from the cache. It also measures the cache's memory: what
// a Validator allocates up front per configured entry, and what each
// cached token adds (live heap after GC).
func TestCacheHitRatio(t *testing.T) {
	n := hitRatioTokens(t)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secrets := make([]string, n)
	ts := make([]token.Token, n)
	for i := range ts {
		secrets[i] = fmt.Sprintf("hit-ratio-secret-%07d", i)
		ts[i] = token.Token{ID: fmt.Sprintf("%020x", i), Owner: fmt.Sprintf("user%05d", i%(n/4)),
			Label: fmt.Sprintf("Report %d", i), Digest: token.DigestOf(secrets[i]), Hint: token.HintOf(secrets[i])}
	}
	if err := st.Import(context.Background(), ts, "test", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	ts = nil

	obs := new(hitCounter)
	before := heapInUse()
	v, err := token.NewValidator(st, token.ValidatorConfig{MaxEntries: int64(n + n/10), CacheTTL: 10 * time.Minute, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	defer v.Close()
	empty := heapInUse()

	pass := func(order []int) {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for k := g; k < len(order); k += 4 {
					if r := v.Validate(context.Background(), secrets[order[k]]); r.Outcome != token.OutcomeValid {
						t.Errorf("token %d: %v", order[k], r.Outcome)
						return
					}
				}
			})
		}
		wg.Wait()
		v.WaitCache()
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	pass(order) // warm-up: every token once
	full := heapInUse()
	obs.hits.Store(0)
	obs.misses.Store(0)
	rand.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	pass(order)
	hits, misses := obs.hits.Load(), obs.misses.Load()
	ratio := float64(hits) / float64(hits+misses)
	perEntry := float64(full-empty) / float64(n)
	upFront := float64(empty-before) / float64(n+n/10)
	upFrontDefault := defaultUpFront(t)
	t.Logf("%d tokens, MaxEntries %d: hit ratio %.2f %% (%d hits, %d misses); %.0f bytes per cached token, %.0f bytes per configured entry up front (with the prefilter of %d digests); default cache (%d entries, empty store) %.0f bytes per entry up front",
		n, n+n/10, 100*ratio, hits, misses, perEntry, upFront, n, token.DefaultMaxEntries, upFrontDefault)
	if hits+misses != int64(n) {
		t.Fatalf("observer saw %d lookups, want %d", hits+misses, n)
	}
	if ratio < 0.95 {
		t.Errorf("hit ratio %.2f %% with %d tokens in rotation and MaxEntries %d, want ≥ 95 %%", 100*ratio, n, n+n/10)
	}
	if path := os.Getenv("TOKENGATE_SCALE_CACHE_ROWS"); path != "" {
		rows := fmt.Sprintf("| hit ratio, %d tokens in rotation, `cache_max_entries` %d, second pass | %.2f %% | ≥ 95 %% |\n"+
			"| memory per cached token (live heap after GC) | %.0f B | |\n"+
			"| allocated up front per configured entry (cache counters and the digest prefilter) | %.0f B | |\n"+
			"| allocated up front per entry by the default cache (%d entries, empty store) | %.0f B | |\n",
			n, n+n/10, 100*ratio, perEntry, upFront, token.DefaultMaxEntries, upFrontDefault)
		if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// defaultUpFront is what a Validator with the default MaxEntries allocates
// over an empty store (no prefilter to speak of), per entry.
func defaultUpFront(t *testing.T) float64 {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before := heapInUse()
	v, err := token.NewValidator(st, token.ValidatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	after := heapInUse()
	runtime.KeepAlive(v)
	if err := v.Close(); err != nil {
		t.Error(err)
	}
	return float64(after-before) / token.DefaultMaxEntries
}
