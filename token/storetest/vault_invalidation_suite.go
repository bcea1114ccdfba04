package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/token"
)

// vaultReads counts the vault reads a Validator makes through the store.
type vaultReads struct {
	token.Store
	n atomic.Int64
}

func (s *vaultReads) VaultSecret(ctx context.Context, owner, kind string) (token.VaultSecret, error) {
	s.n.Add(1)
	return s.Store.VaultSecret(ctx, owner, kind)
}

// invCalls is the Validator as Invalidator, recording each call as "flush",
// "vault <owner>", "revoked" or "changed".
type invCalls struct {
	*token.Validator
	calls chan string
}

func (c invCalls) Revoked(d token.Digest) { c.Validator.Revoked(d); c.calls <- "revoked" }
func (c invCalls) Changed(d token.Digest) { c.Validator.Changed(d); c.calls <- "changed" }
func (c invCalls) FlushAll()              { c.Validator.FlushAll(); c.calls <- "flush" }
func (c invCalls) VaultChanged(owner string) {
	c.Validator.VaultChanged(owner)
	c.calls <- "vault " + owner
}

// expect fails unless the next n calls are all want.
func (c invCalls) expect(e *env, want string, n int) {
	e.t.Helper()
	for i := range n {
		select {
		case got := <-c.calls:
			if got != want {
				e.t.Fatalf("invalidation %d of %d: got %s, want %s", i+1, n, got, want)
			}
		case <-time.After(10 * time.Second):
			e.t.Fatalf("no %s (%d of %d) within 10s", want, i+1, n)
		}
	}
}

// quiet fails if a call arrives within d.
func (c invCalls) quiet(e *env, d time.Duration) {
	e.t.Helper()
	select {
	case got := <-c.calls:
		e.t.Fatalf("unexpected invalidation %s", got)
	case <-time.After(d):
	}
}

// testVaultInvalidation: a vault change made through a Service over the
// store invalidates the changed person's cached vault secrets, of every
// kind, and nothing else — not another person's, not a token's. A store that
// is a token.Watcher also delivers it to its watchers, as VaultChanged of
// that owner (never FlushAll).
func testVaultInvalidation(e *env) {
	t := e.t
	sl := e.sealer()
	reads := &vaultReads{Store: e.s}
	v, err := token.NewValidator(reads, token.ValidatorConfig{CacheTTL: time.Hour, MaxEntries: 1000})
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	inv := invCalls{Validator: v, calls: make(chan string, 100)}
	perChange := 1 // the Service's own call
	if w, ok := e.s.(token.Watcher); ok {
		perChange++ // and the notification
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- w.Watch(ctx, inv) }()
		t.Cleanup(func() { cancel(); <-done })
		inv.expect(e, "flush", 1) // listening
	}
	svc := token.NewService(e.s, token.Policy{}, inv, nil)
	svc.EnableVault(sl, []token.VaultKind{{ID: "jira", Label: "Jira"}, {ID: "tempo", Label: "Tempo"}})
	set := func(owner, kind, secret string) {
		t.Helper()
		if _, err := svc.SetVaultSecret(e.ctx, owner, kind, secret); err != nil {
			t.Fatalf("SetVaultSecret(%s, %s): %v", owner, kind, err)
		}
		inv.expect(e, "vault "+owner, perChange)
	}
	// credential reads (owner, kind) through the Validator: want is the
	// plaintext ("" for none stored), wantReads the store reads it takes.
	credential := func(owner, kind, want string, wantReads int64, what string) {
		t.Helper()
		before := reads.n.Load()
		got, err := v.VaultCredential(e.ctx, sl, owner, kind)
		if want == "" && !errors.Is(err, token.ErrNotFound) || want != "" && (err != nil || got != want) {
			t.Errorf("VaultCredential(%s, %s) %s = %v (the expected secret: %v), want %q", owner, kind, what, err, got == want, want)
		}
		if n := reads.n.Load() - before; n != wantReads {
			t.Errorf("VaultCredential(%s, %s) %s took %d store reads, want %d", owner, kind, what, n, wantReads)
		}
	}

	set("alice", "jira", "alice-jira-1111")
	set("alice", "tempo", "alice-tempo-1111")
	set("bob", "jira", "bob-jira-1111")
	secret, err := token.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	tok := token.Token{ID: newID(t), Owner: "carol", Label: "dataset", Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret), CreatedAt: e.at(0), ExpiresAt: e.at(30 * 24 * time.Hour)}
	e.mustCreate(tok, 0)
	if r := v.Validate(e.ctx, secret); r.Outcome != token.OutcomeValid {
		t.Fatalf("Validate = %v, want valid", r.Outcome)
	}
	for _, c := range [][2]string{{"alice", "jira"}, {"alice", "tempo"}, {"bob", "jira"}} {
		credential(c[0], c[1], c[0]+"-"+c[1]+"-1111", 1, "first")
		credential(c[0], c[1], c[0]+"-"+c[1]+"-1111", 0, "cached")
	}
	credential("bob", "tempo", "", 1, "none stored")

	set("alice", "jira", "alice-jira-2222")
	credential("alice", "jira", "alice-jira-2222", 1, "after alice's change")
	credential("alice", "tempo", "alice-tempo-1111", 1, "after alice's change of another kind")
	credential("bob", "jira", "bob-jira-1111", 0, "after alice's change")
	credential("bob", "tempo", "", 0, "after alice's change")
	if r := v.Validate(e.ctx, secret); r.Outcome != token.OutcomeValid || !r.CacheHit {
		t.Errorf("Validate after a vault change = %v (cache hit %v), want a valid cache hit", r.Outcome, r.CacheHit)
	}

	if err := svc.DeleteVaultSecret(e.ctx, "bob", "jira"); err != nil {
		t.Fatalf("DeleteVaultSecret(bob, jira): %v", err)
	}
	inv.expect(e, "vault bob", perChange)
	credential("bob", "jira", "", 1, "after bob's delete")
	credential("bob", "tempo", "", 1, "after bob's delete of another kind")
	credential("alice", "jira", "alice-jira-2222", 0, "after bob's delete")
	// A refused change tells nobody.
	if err := svc.DeleteVaultSecret(e.ctx, "bob", "jira"); !errors.Is(err, token.ErrNotFound) {
		t.Errorf("second DeleteVaultSecret(bob, jira) = %v, want ErrNotFound", err)
	}
	inv.quiet(e, 100*time.Millisecond)
}
