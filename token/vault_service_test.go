package token_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// vaultCountStore wraps the real bbolt store to count vault reads and make
// them fail on demand.
type vaultCountStore struct {
	token.Store
	reads atomic.Int64
	down  atomic.Bool
	pause atomic.Pointer[gate] // pauses the next read after it has read the store
}

func (s *vaultCountStore) VaultSecret(ctx context.Context, owner, kind string) (token.VaultSecret, error) {
	s.reads.Add(1)
	if s.down.Load() {
		return token.VaultSecret{}, errDown
	}
	v, err := s.Store.VaultSecret(ctx, owner, kind)
	if g := s.pause.Swap(nil); g != nil {
		close(g.reached)
		<-g.release
	}
	return v, err
}

// vaultEnv is a Service with the vault on and a Validator as its
// Invalidator, over a fresh bbolt file, with a fake clock.
type vaultEnv struct {
	ctx    context.Context
	store  *vaultCountStore
	clock  *fakeclock.Clock
	sealer *token.Sealer
	v      *token.Validator
	svc    *token.Service
}

var testVaultKinds = []token.VaultKind{{ID: "jira", Label: "Jira API token"}, {ID: "tempo", Label: "Tempo token"}}

func newVaultEnv(t *testing.T, kinds []token.VaultKind) *vaultEnv {
	t.Helper()
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatalf("opening bolt store: %v", err)
	}
	e := &vaultEnv{ctx: context.Background(), store: &vaultCountStore{Store: bs}, clock: newFakeClock(),
		sealer: vaultSealer(t, vaultKey(t))}
	e.v, err = token.NewValidator(e.store, token.ValidatorConfig{Clock: e.clock.Now, CacheTTL: time.Minute, MaxEntries: 1000})
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	t.Cleanup(func() {
		_ = e.v.Close()
		_ = bs.Close()
	})
	e.svc = token.NewService(e.store, token.Policy{}, e.v, e.clock.Now)
	e.svc.EnableVault(e.sealer, kinds)
	return e
}

func (e *vaultEnv) set(t *testing.T, owner, kind, secret string) token.VaultEntry {
	t.Helper()
	ent, err := e.svc.SetVaultSecret(e.ctx, owner, kind, secret)
	if err != nil {
		t.Fatalf("SetVaultSecret(%s, %s): %v", owner, kind, err)
	}
	return ent
}

// credential calls VaultCredential and reports the store reads it made.
func (e *vaultEnv) credential(owner, kind string) (string, int64, error) {
	before := e.store.reads.Load()
	got, err := e.v.VaultCredential(e.ctx, e.sealer, owner, kind)
	return got, e.store.reads.Load() - before, err
}

func TestServiceVaultEntries(t *testing.T) {
	e := newVaultEnv(t, testVaultKinds)
	ents, err := e.svc.VaultEntries(e.ctx, "alice")
	if err != nil || len(ents) != 2 || ents[0].Kind != testVaultKinds[0] || ents[1].Kind != testVaultKinds[1] ||
		ents[0].Stored || ents[1].Stored {
		t.Fatalf("VaultEntries before any store = %+v, %v; want both kinds, not stored", ents, err)
	}
	const secret = "ATATT3xFfGF0-jira-token-WXYZ"
	got := e.set(t, "alice", "jira", "  "+secret+"\n")
	now := e.clock.Now().Truncate(time.Microsecond)
	if !got.Stored || got.Hint != "WXYZ" || !got.UpdatedAt.Equal(now) || got.Kind != testVaultKinds[0] {
		t.Errorf("SetVaultSecret = %+v, want stored jira with hint WXYZ at %v", got, now)
	}
	ents, err = e.svc.VaultEntries(e.ctx, "alice")
	if err != nil || len(ents) != 2 {
		t.Fatalf("VaultEntries = %+v, %v", ents, err)
	}
	if ents[0].Kind.ID != "jira" || !ents[0].Stored || ents[0].Hint != "WXYZ" || !ents[0].UpdatedAt.Equal(now) {
		t.Errorf("VaultEntries[0] = %+v, want jira stored with hint WXYZ at %v", ents[0], now)
	}
	if ents[1].Kind.ID != "tempo" || ents[1].Stored || ents[1].Hint != "" {
		t.Errorf("VaultEntries[1] = %+v, want tempo not stored", ents[1])
	}
	if ents, _ := e.svc.VaultEntries(e.ctx, "bob"); len(ents) != 2 || ents[0].Stored || ents[1].Stored {
		t.Errorf("VaultEntries(bob) = %+v, want nothing stored", ents)
	}
	// At rest: sealed for alice/jira, the plaintext nowhere in it.
	stored, err := e.store.Store.VaultSecret(e.ctx, "alice", "jira")
	if err != nil {
		t.Fatalf("reading the stored secret: %v", err)
	}
	if bytes.Contains(stored.Ciphertext, []byte(secret)) {
		t.Error("the stored ciphertext contains the plaintext")
	}
	if pt, err := e.sealer.Open("alice", "jira", stored.Ciphertext); err != nil || pt != secret {
		t.Errorf("opening the stored ciphertext: %v (trimmed secret: %v)", err, pt == secret)
	}
	evs, err := e.store.History(e.ctx, "alice", 10)
	if err != nil || len(evs) != 1 || evs[0].Kind != token.EventVault || evs[0].Actor != "alice" ||
		evs[0].Label != "jira" || evs[0].Detail != "set" {
		t.Errorf("History(alice) = %+v, %v; want one vault set by alice", evs, err)
	}

	if err := e.svc.DeleteVaultSecret(e.ctx, "alice", "jira"); err != nil {
		t.Fatalf("DeleteVaultSecret: %v", err)
	}
	if ents, _ := e.svc.VaultEntries(e.ctx, "alice"); len(ents) != 2 || ents[0].Stored {
		t.Errorf("VaultEntries after delete = %+v, want jira not stored", ents)
	}
	if err := e.svc.DeleteVaultSecret(e.ctx, "alice", "jira"); !errors.Is(err, token.ErrNotFound) {
		t.Errorf("second DeleteVaultSecret = %v, want ErrNotFound", err)
	}
}

func TestServiceVaultRefusals(t *testing.T) {
	e := newVaultEnv(t, testVaultKinds)
	if _, err := e.svc.SetVaultSecret(e.ctx, "alice", "gitlab", "some-secret-value"); !errors.Is(err, token.ErrNotFound) {
		t.Errorf("SetVaultSecret(unknown kind) = %v, want ErrNotFound", err)
	}
	if err := e.svc.DeleteVaultSecret(e.ctx, "alice", "gitlab"); !errors.Is(err, token.ErrNotFound) {
		t.Errorf("DeleteVaultSecret(unknown kind) = %v, want ErrNotFound", err)
	}
	for _, secret := range []string{"", "line\nbreak-secret", strings.Repeat("x", token.MaxVaultSecretLen+1)} {
		if _, err := e.svc.SetVaultSecret(e.ctx, "alice", "jira", secret); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("SetVaultSecret(bad secret) = %v, want ErrInvalidInput", err)
		}
	}
	if _, err := e.svc.SetVaultSecret(e.ctx, "", "jira", "some-secret-value"); !errors.Is(err, token.ErrInvalidInput) {
		t.Errorf("SetVaultSecret(no owner) = %v, want ErrInvalidInput", err)
	}
	if vs, err := e.store.VaultSecrets(e.ctx, "alice"); err != nil || len(vs) != 0 {
		t.Errorf("after refused calls the store holds %d secrets, %v; want none", len(vs), err)
	}

	// Short secrets get no hint; a hint never splits a character.
	if ent := e.set(t, "alice", "jira", "short-pw"); ent.Hint != "" {
		t.Errorf("hint of an 8-character secret = %q, want none", ent.Hint)
	}
	if ent := e.set(t, "alice", "tempo", "ünïcödé-sécret-ärgü"); ent.Hint != "ärgü" || !utf8.ValidString(ent.Hint) {
		t.Errorf("hint = %q, want the last 4 characters \"ärgü\"", ent.Hint)
	}
}

func TestServiceVaultDisabled(t *testing.T) {
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatalf("opening bolt store: %v", err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	svc := token.NewService(bs, token.Policy{}, nil, nil)
	ctx := context.Background()
	_, errList := svc.VaultEntries(ctx, "alice")
	_, errSet := svc.SetVaultSecret(ctx, "alice", "jira", "some-secret-value")
	errDel := svc.DeleteVaultSecret(ctx, "alice", "jira")
	for what, err := range map[string]error{"VaultEntries": errList, "SetVaultSecret": errSet, "DeleteVaultSecret": errDel} {
		if !errors.Is(err, token.ErrVaultDisabled) || !token.IsVaultDisabled(err) {
			t.Errorf("%s with the vault off = %v, want ErrVaultDisabled", what, err)
		}
	}
	if svc.VaultKinds() != nil || svc.Sealer() != nil {
		t.Errorf("vault off: VaultKinds = %v, Sealer set = %v; want nil, false", svc.VaultKinds(), svc.Sealer() != nil)
	}
	e := newVaultEnv(t, nil)
	if ks := e.svc.VaultKinds(); len(ks) != len(token.DefaultVaultKinds) || ks[0] != token.DefaultVaultKinds[0] {
		t.Errorf("VaultKinds with none configured = %v, want %v", ks, token.DefaultVaultKinds)
	}
	if _, err := e.v.VaultCredential(ctx, nil, "alice", "jira"); !errors.Is(err, token.ErrVaultDisabled) {
		t.Errorf("VaultCredential without a sealer = %v, want ErrVaultDisabled", err)
	}
}

func TestVaultCredentialCache(t *testing.T) {
	e := newVaultEnv(t, testVaultKinds)
	// None stored: ErrNotFound, and that answer is cached too.
	if _, n, err := e.credential("alice", "jira"); !errors.Is(err, token.ErrNotFound) || n != 1 {
		t.Fatalf("VaultCredential with none stored = %v after %d reads, want ErrNotFound after 1", err, n)
	}
	if _, n, err := e.credential("alice", "jira"); !errors.Is(err, token.ErrNotFound) || n != 0 {
		t.Fatalf("VaultCredential again = %v after %d reads, want cached ErrNotFound", err, n)
	}
	// The Service's change reaches the Validator (VaultChanged).
	e.set(t, "alice", "jira", "first-jira-secret-1111")
	if got, n, err := e.credential("alice", "jira"); err != nil || got != "first-jira-secret-1111" || n != 1 {
		t.Fatalf("VaultCredential after Set = %v after %d reads (right secret: %v)", err, n, got == "first-jira-secret-1111")
	}
	if got, n, err := e.credential("alice", "jira"); err != nil || got != "first-jira-secret-1111" || n != 0 {
		t.Fatalf("VaultCredential again = %v after %d reads, want a cache hit", err, n)
	}
	// Changed behind the Validator's back: the cache still answers.
	v, err := token.NewSealer(vaultKey(t)) // any ciphertext will do; it must not be read
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := v.Seal("alice", "jira", "behind")
	if err := e.store.PutVaultSecret(e.ctx, token.VaultSecret{Owner: "alice", Kind: "jira", Ciphertext: ct,
		UpdatedAt: e.clock.Now()}, "alice"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	if got, n, err := e.credential("alice", "jira"); err != nil || got != "first-jira-secret-1111" || n != 0 {
		t.Fatalf("VaultCredential after a silent change = %v after %d reads, want the cached secret", err, n)
	}
	// Another owner or kind is another entry.
	if _, n, err := e.credential("bob", "jira"); !errors.Is(err, token.ErrNotFound) || n != 1 {
		t.Errorf("VaultCredential(bob) = %v after %d reads, want ErrNotFound after 1", err, n)
	}
	e.set(t, "alice", "jira", "second-jira-secret-2222")
	if got, n, err := e.credential("alice", "jira"); err != nil || got != "second-jira-secret-2222" || n != 1 {
		t.Fatalf("VaultCredential after the second Set = %v after %d reads (new secret: %v)", err, n, got == "second-jira-secret-2222")
	}
	// The cache expires after CacheTTL.
	e.clock.Advance(time.Minute)
	if _, n, err := e.credential("alice", "jira"); err != nil || n != 1 {
		t.Errorf("VaultCredential after CacheTTL = %v after %d reads, want 1 read", err, n)
	}
	// FlushAll (a lost listener, another instance's vault change) drops it.
	e.v.FlushAll()
	if _, n, err := e.credential("alice", "jira"); err != nil || n != 1 {
		t.Errorf("VaultCredential after FlushAll = %v after %d reads, want 1 read", err, n)
	}
	// Deleted through the Service: gone at once.
	if err := e.svc.DeleteVaultSecret(e.ctx, "alice", "jira"); err != nil {
		t.Fatalf("DeleteVaultSecret: %v", err)
	}
	if _, n, err := e.credential("alice", "jira"); !errors.Is(err, token.ErrNotFound) || n != 1 {
		t.Errorf("VaultCredential after delete = %v after %d reads, want ErrNotFound after 1", err, n)
	}
}

func TestVaultCredentialStoreDown(t *testing.T) {
	e := newVaultEnv(t, testVaultKinds)
	e.set(t, "alice", "jira", "cached-jira-secret-1111")
	e.set(t, "bob", "jira", "uncached-jira-secret-2222")
	if _, _, err := e.credential("alice", "jira"); err != nil {
		t.Fatalf("VaultCredential(alice): %v", err)
	}
	e.store.down.Store(true)
	if got, n, err := e.credential("bob", "jira"); !errors.Is(err, token.ErrUnavailable) || errors.Is(err, token.ErrNotFound) || got != "" || n != 1 {
		t.Errorf("VaultCredential(bob) with the store down = %q, %v after %d reads; want ErrUnavailable", got, err, n)
	}
	if got, _, err := e.credential("alice", "jira"); err != nil || got != "cached-jira-secret-1111" {
		t.Errorf("VaultCredential(alice) with the store down = %v, want the cached secret", err)
	}
	// Nothing about bob was cached by the failure.
	e.store.down.Store(false)
	if got, n, err := e.credential("bob", "jira"); err != nil || got != "uncached-jira-secret-2222" || n != 1 {
		t.Errorf("VaultCredential(bob) after recovery = %v after %d reads", err, n)
	}
	// A ciphertext that does not open (the key changed) is an error, not a secret.
	other := vaultSealer(t, vaultKey(t))
	if got, err := e.v.VaultCredential(e.ctx, other, "bob", "jira"); err == nil || got != "" {
		t.Errorf("VaultCredential with another key = %q, %v; want an error", got, err)
	}
}

// TestVaultFillRacingChange: a fill that read the store before a change
// returns what it read, but does not cache it over the change.
func TestVaultFillRacingChange(t *testing.T) {
	e := newVaultEnv(t, testVaultKinds)
	e.set(t, "alice", "jira", "old-jira-secret-1111")
	g := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	e.store.pause.Store(g)
	type res struct {
		got string
		err error
	}
	done := make(chan res, 1)
	go func() {
		got, err := e.v.VaultCredential(e.ctx, e.sealer, "alice", "jira")
		done <- res{got, err}
	}()
	<-g.reached
	e.set(t, "alice", "jira", "new-jira-secret-2222")
	close(g.release)
	if r := <-done; r.err != nil || r.got != "old-jira-secret-1111" {
		t.Fatalf("the paused fill returned %v (old secret: %v), want the old secret it read", r.err, r.got == "old-jira-secret-1111")
	}
	if got, n, err := e.credential("alice", "jira"); err != nil || got != "new-jira-secret-2222" || n != 1 {
		t.Errorf("VaultCredential after the change = %v after %d reads (new secret: %v); want the new one, read afresh",
			err, n, got == "new-jira-secret-2222")
	}
}

// TestVaultCredentialRace runs reads and Service changes at once; after the
// last change every read sees the last secret (a fill that raced a change
// never outlives it).
func TestVaultCredentialRace(t *testing.T) {
	e := newVaultEnv(t, testVaultKinds)
	const rounds = 40
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := e.v.VaultCredential(e.ctx, e.sealer, "alice", "jira")
				if err != nil && !errors.Is(err, token.ErrNotFound) {
					t.Errorf("VaultCredential: %v", err)
					return
				}
				if err == nil && !strings.HasPrefix(got, "racing-secret-") {
					t.Errorf("VaultCredential returned a secret that was never set")
					return
				}
			}
		})
	}
	last := ""
	for i := range rounds {
		if i%5 == 3 { // the last round (39) sets
			if err := e.svc.DeleteVaultSecret(e.ctx, "alice", "jira"); err != nil {
				t.Fatalf("DeleteVaultSecret: %v", err)
			}
			continue
		}
		last = fmt.Sprintf("racing-secret-%04d", i)
		e.set(t, "alice", "jira", last)
	}
	close(stop)
	wg.Wait()
	if got, err := e.v.VaultCredential(e.ctx, e.sealer, "alice", "jira"); err != nil || got != last {
		t.Errorf("VaultCredential after the last change = %v (last secret: %v)", err, got == last)
	}
}
