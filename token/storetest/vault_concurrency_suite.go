package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/tokengate/tokengate/token"
)

// vaultPut is one successful PutVaultSecret of the concurrency subtest.
type vaultPut struct {
	plain, hint string
}

// vaultTally is what the workers did to one (owner, kind).
type vaultTally struct {
	puts    map[string]vaultPut // by ciphertext
	deletes int                 // successful ones
}

// testVaultConcurrency has workers store, replace and delete secrets of two
// owners, mostly on the same few kinds, and then checks that the stored state,
// the history and the calls' results tell one consistent story: every change
// is one event, the events of a (owner, kind) alternate as a serial order
// would allow, the last one says whether a secret is stored, and a stored
// secret is exactly one of the values put (no torn writes).
func testVaultConcurrency(e *env) {
	t := e.t
	const workers, rounds = 6, 15
	owners := []string{"alice", "bob"}
	kindsUsed := []string{"app", "jira", "zz"}
	s := e.sealer()
	at := e.at(0) // one time for all: History then orders by event id alone

	var (
		mu    sync.Mutex
		tally = map[[2]string]*vaultTally{}
	)
	for _, o := range owners {
		for _, k := range kindsUsed {
			tally[[2]string{o, k}] = &vaultTally{puts: map[string]vaultPut{}}
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for r := range rounds {
				owner, kind := owners[rng.IntN(len(owners))], kindsUsed[rng.IntN(len(kindsUsed))]
				key := [2]string{owner, kind}
				if rng.IntN(3) == 0 {
					err := e.s.DeleteVaultSecret(e.ctx, owner, kind, owner, at)
					switch {
					case err == nil:
						mu.Lock()
						tally[key].deletes++
						mu.Unlock()
					case !errors.Is(err, token.ErrNotFound):
						t.Errorf("worker %d: DeleteVaultSecret(%s, %s): %v", w, owner, kind, err)
						return
					}
					continue
				}
				plain := fmt.Sprintf("secret-w%d-r%d-%s-%s", w, r, owner, kind)
				v, err := sealed(s, owner, kind, plain, at)
				if err == nil {
					v.Hint = fmt.Sprintf("w%dr%d", w, r) // unique: ties the row to this put
					err = e.s.PutVaultSecret(e.ctx, v, owner)
				}
				if err != nil {
					t.Errorf("worker %d: PutVaultSecret(%s, %s): %v", w, owner, kind, err)
					return
				}
				mu.Lock()
				tally[key].puts[string(v.Ciphertext)] = vaultPut{plain: plain, hint: v.Hint}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Events per (owner, kind), oldest first.
	events := map[[2]string][]string{}
	hist := e.history("", 10*workers*rounds)
	for i := len(hist) - 1; i >= 0; i-- {
		ev := hist[i]
		if ev.Kind != token.EventVault || ev.Actor != ev.Owner || ev.TokenID != "" || !ev.At.Equal(at) {
			t.Errorf("unexpected event %+v", ev)
			continue
		}
		key := [2]string{ev.Owner, ev.Label}
		events[key] = append(events[key], ev.Detail)
	}
	checkOrder(e, "History", hist)

	for _, owner := range owners {
		var stored []string
		for _, kind := range kindsUsed {
			key := [2]string{owner, kind}
			checkVaultKeyStory(e, s, owner, kind, tally[key], events[key], &stored)
		}
		if got := kinds(e.vaultSecrets(owner)); !slices.Equal(got, stored) {
			t.Errorf("VaultSecrets(%s) kinds = %v, want %v", owner, got, stored)
		}
	}
}

// checkVaultKeyStory checks one (owner, kind) of testVaultConcurrency and
// appends kind to stored when a secret is stored.
func checkVaultKeyStory(e *env, s *token.Sealer, owner, kind string, tl *vaultTally, evs []string, stored *[]string) {
	t := e.t
	t.Helper()
	sets := 0
	for i, d := range evs {
		switch {
		case d == "set":
			sets++
		case d != "deleted":
			t.Errorf("%s/%s: event %d has detail %q", owner, kind, i, d)
		case i == 0 || evs[i-1] == "deleted":
			t.Errorf("%s/%s: events %v: a delete without a secret to delete", owner, kind, evs)
		}
	}
	if sets != len(tl.puts) || len(evs)-sets != tl.deletes {
		t.Errorf("%s/%s: %d set and %d deleted events, want %d and %d (the successful calls)",
			owner, kind, sets, len(evs)-sets, len(tl.puts), tl.deletes)
	}
	got, err := e.s.VaultSecret(e.ctx, owner, kind)
	wantStored := len(evs) > 0 && evs[len(evs)-1] == "set"
	switch {
	case errors.Is(err, token.ErrNotFound):
		if wantStored {
			t.Errorf("%s/%s: nothing stored, but the last event is a set", owner, kind)
		}
	case err != nil:
		t.Errorf("VaultSecret(%s, %s): %v", owner, kind, err)
	default:
		*stored = append(*stored, kind)
		if !wantStored {
			t.Errorf("%s/%s: a secret is stored, but the events are %v", owner, kind, evs)
		}
		p, ok := tl.puts[string(got.Ciphertext)]
		if !ok {
			t.Errorf("%s/%s: the stored ciphertext is none of the ones put", owner, kind)
			return
		}
		if got.Hint != p.hint {
			t.Errorf("%s/%s: stored hint %q belongs to another put than the ciphertext (%q)", owner, kind, got.Hint, p.hint)
		}
		if pt, err := s.Open(owner, kind, got.Ciphertext); err != nil || pt != p.plain {
			t.Errorf("%s/%s: the stored ciphertext does not open to its plaintext (%v)", owner, kind, err)
		}
	}
}
