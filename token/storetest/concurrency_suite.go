package storetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tokengate/tokengate/token"
)

// ownerRun is what the workers of one owner did.
type ownerRun struct {
	name string

	mu        sync.Mutex
	created   []token.Token
	revokes   int
	limitHits int
}

// testConcurrency has several workers per owner create tokens against a
// limit and revoke them (their own, each other's and all at once) while a
// monitor keeps checking that no owner ever exceeds the limit.
func testConcurrency(e *env) {
	t := e.t
	const owners, workers, rounds, limit = 4, 3, 12, 5
	runs := make([]*ownerRun, owners)
	toks := make([][][]token.Token, owners) // generated here: workers must not call t.Fatal
	for o := range owners {
		runs[o] = &ownerRun{name: fmt.Sprintf("owner%d", o)}
		toks[o] = make([][]token.Token, workers)
		for w := range workers {
			for r := range rounds {
				created := e.at(time.Duration(w*rounds+r) * time.Millisecond)
				toks[o][w] = append(toks[o][w], e.newToken(runs[o].name, fmt.Sprintf("w%d r%d", w, r), created, time.Time{}))
			}
		}
	}

	done := make(chan struct{})
	var monitor sync.WaitGroup
	monitor.Go(func() {
		for {
			for _, run := range runs {
				ts, err := e.s.List(e.ctx, run.name)
				if err != nil {
					t.Errorf("monitor: List(%s): %v", run.name, err)
					return
				}
				if len(ts) > limit {
					t.Errorf("monitor: %s has %d unrevoked tokens, limit %d", run.name, len(ts), limit)
					return
				}
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})

	var wg sync.WaitGroup
	for o, run := range runs {
		for w := range workers {
			wg.Go(func() { concurrencyWorker(e, run, w, toks[o][w], limit) })
		}
	}
	wg.Wait()
	close(done)
	monitor.Wait()
	if t.Failed() {
		return
	}
	checkConcurrencyResult(e, runs, limit)
}

func concurrencyWorker(e *env, run *ownerRun, w int, toks []token.Token, limit int) {
	t := e.t
	at := e.at(time.Minute)
	for r, tok := range toks {
		switch err := e.s.Create(e.ctx, tok, limit); {
		case err == nil:
			run.mu.Lock()
			run.created = append(run.created, tok)
			run.mu.Unlock()
		case errors.Is(err, token.ErrLimitReached):
			run.mu.Lock()
			run.limitHits++
			run.mu.Unlock()
		default:
			t.Errorf("worker %s/%d: Create: %v", run.name, w, err)
			return
		}
		run.mu.Lock()
		var target token.Token
		if n := len(run.created); n > 0 {
			target = run.created[n-1]
		}
		run.mu.Unlock()
		if r%2 == 1 && target.ID != "" { // the newest token of any worker: others may race for it
			_, err := e.s.Revoke(e.ctx, target.ID, run.name, run.name, at)
			switch {
			case err == nil:
				run.mu.Lock()
				run.revokes++
				run.mu.Unlock()
			case !errors.Is(err, token.ErrNotFound):
				t.Errorf("worker %s/%d: Revoke: %v", run.name, w, err)
				return
			}
		}
		if w == 0 && r == len(toks)/2 {
			got, err := e.s.RevokeOwner(e.ctx, run.name, "admin", at)
			if err != nil {
				t.Errorf("worker %s/%d: RevokeOwner: %v", run.name, w, err)
				return
			}
			run.mu.Lock()
			run.revokes += len(got)
			run.mu.Unlock()
		}
	}
}

func checkConcurrencyResult(e *env, runs []*ownerRun, limit int) {
	t := e.t
	var creates, revokes, limitHits int
	for _, run := range runs {
		creates += len(run.created)
		revokes += run.revokes
		limitHits += run.limitHits
		listed := e.list(run.name)
		if len(listed) > limit {
			t.Errorf("%s ends with %d unrevoked tokens, limit %d", run.name, len(listed), limit)
		}
		if want := len(run.created) - run.revokes; len(listed) != want {
			t.Errorf("%s ends with %d unrevoked tokens, want %d created - %d revoked = %d",
				run.name, len(listed), len(run.created), run.revokes, want)
		}
		revoked := 0
		for _, tok := range run.created {
			got := e.byDigest(tok.Digest)
			if got.Owner != run.name {
				t.Errorf("token %s: owner %q, want %q", tok.ID, got.Owner, run.name)
			}
			if got.Revoked() {
				revoked++
				if got.RevokedBy != run.name && got.RevokedBy != "admin" {
					t.Errorf("token %s: RevokedBy %q, want %q or admin", tok.ID, got.RevokedBy, run.name)
				}
			} else if got.RevokedBy != "" {
				t.Errorf("unrevoked token %s has RevokedBy %q", tok.ID, got.RevokedBy)
			}
		}
		if revoked != run.revokes {
			t.Errorf("%s: %d tokens revoked in the store, %d revocations succeeded", run.name, revoked, run.revokes)
		}
	}
	if limitHits == 0 {
		t.Errorf("no Create reported ErrLimitReached: %d creates cannot all fit under limit %d", creates, limit)
	}

	evs := e.history("", 100000)
	checkOrder(e, "History after the concurrent run", evs)
	kinds := map[token.EventKind]int{}
	perToken := map[string]map[token.EventKind]int{}
	for _, ev := range evs {
		kinds[ev.Kind]++
		if perToken[ev.TokenID] == nil {
			perToken[ev.TokenID] = map[token.EventKind]int{}
		}
		perToken[ev.TokenID][ev.Kind]++
	}
	if kinds[token.EventCreate] != creates || kinds[token.EventRevoke] != revokes || len(evs) != creates+revokes {
		t.Errorf("history: %d events (%v), want %d creates and %d revokes", len(evs), kinds, creates, revokes)
	}
	for id, k := range perToken {
		if k[token.EventCreate] != 1 || k[token.EventRevoke] > 1 {
			t.Errorf("token %s has %v events, want one create and at most one revoke", id, k)
		}
	}
	t.Logf("%d creates, %d revokes, %d refused by the limit", creates, revokes, limitHits)
}
