package token_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// dropObserver counts drops (token.DropObserver) besides the Observer hooks.
type dropObserver struct {
	countingObserver
	mu         sync.Mutex
	uses, rejs int
	calls      int
}

func (o *dropObserver) UsesDropped(n int) {
	o.mu.Lock()
	o.uses += n
	o.calls++
	o.mu.Unlock()
}

func (o *dropObserver) RejectionsDropped(n int) {
	o.mu.Lock()
	o.rejs += n
	o.calls++
	o.mu.Unlock()
}

func (o *dropObserver) counts() (uses, rejs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.uses, o.rejs
}

var _ token.DropObserver = (*dropObserver)(nil)

// TestNoUseLostInRotation: 200,000 distinct tokens in rotation through a
// use buffer of 10,000 (flushed every hour, so only the early flushes of a
// half-full buffer write anything before Close): while the store answers,
// every token's last use reaches it and nothing is dropped.
func TestNoUseLostInRotation(t *testing.T) {
	const tokens, bound = 200_000, 10_000
	obs := &dropObserver{}
	cfg := token.ValidatorConfig{LastUsedFlush: time.Hour, Observer: obs}
	token.SetPendingBounds(&cfg, bound, 64)
	e := newEnv(t, cfg)
	e.v.Start()
	ids := make([]string, tokens)
	for i := range ids {
		ids[i] = "tok-" + strconv.Itoa(i)
	}
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < tokens; i += workers {
				e.v.RecordUse(token.Result{Outcome: token.OutcomeValid, TokenID: ids[i]}, "192.0.2.1", "PowerBI")
				if i%(5*workers) < workers {
					// A request takes far longer than RecordUse: pace the
					// producers to at most ~20,000 uses a second (a busy
					// instance), so that a loaded CI machine's store keeps
					// up as a real one does; faster than the store can
					// write, drops are counted (TestDropsCountedWhenStoreDown).
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if err := e.v.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	seen := make(map[string]bool, tokens)
	e.store.mu.Lock()
	batches := len(e.store.touched)
	for _, b := range e.store.touched {
		if len(b) > bound {
			t.Errorf("a flush of %d records, more than the bound %d", len(b), bound)
		}
		for _, u := range b {
			seen[u.TokenID] = true
		}
	}
	e.store.mu.Unlock()
	if len(seen) != tokens {
		t.Errorf("the store received the last use of %d of %d tokens", len(seen), tokens)
	}
	if u, r := obs.counts(); u != 0 || r != 0 {
		t.Errorf("dropped %d uses, %d rejections; want none", u, r)
	}
	t.Logf("%d tokens recorded in %d flushes", len(seen), batches)
}

// TestDropsCountedWhenStoreDown: with the store down, uses and rejections
// beyond the bounds are dropped, counted once through the DropObserver and
// reported once through OnError — not once per drop.
func TestDropsCountedWhenStoreDown(t *testing.T) {
	const bound, rejBound = 100, 10
	obs := &dropObserver{}
	cfg := token.ValidatorConfig{LastUsedFlush: time.Hour, Observer: obs}
	token.SetPendingBounds(&cfg, bound, rejBound)
	e := newEnv(t, cfg)
	e.v.Start()
	e.store.down.Store(true)
	for i := range 250 {
		r := token.Result{Outcome: token.OutcomeValid, TokenID: "tok-" + strconv.Itoa(i), Owner: "o"}
		e.v.RecordUse(r, "192.0.2.1", "PowerBI")
		e.v.RecordRejection(r, token.RejectIPNotAllowed, "192.0.2.1", "PowerBI")
	}
	_ = e.v.Close() // the final flush fails: the store is down
	u, r := obs.counts()
	if u < 250-bound || u > 250 || r < 250-rejBound || r > 250 {
		t.Errorf("dropped %d uses, %d rejections; want %d..250 and %d..250", u, r, 250-bound, 250-rejBound)
	}
	obs.mu.Lock()
	calls := obs.calls
	obs.mu.Unlock()
	if calls != 2 {
		t.Errorf("%d DropObserver calls, want 2 (one per kind)", calls)
	}
	reports := 0
	for {
		select {
		case err := <-e.errs:
			if strings.Contains(err.Error(), "dropped") {
				reports++
			}
			continue
		default:
		}
		break
	}
	if reports != 1 {
		t.Errorf("%d drop reports to OnError, want 1", reports)
	}
}
