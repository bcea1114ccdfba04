package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// testApp is the appSource of handlers set up without Caddy.
type testApp struct {
	v      *token.Validator
	sealer *token.Sealer
}

func (a testApp) Validator() *token.Validator { return a.v }
func (a testApp) Sealer() *token.Sealer       { return a.sealer }
func (a testApp) VaultKindIDs() []string {
	if a.sealer == nil {
		return nil
	}
	return []string{"jira"}
}

// failingStore is a real store whose token lookups (tokensDown) or vault
// reads (vaultDown) fail as those of an unreachable store do.
type failingStore struct {
	token.Store
	tokensDown, vaultDown atomic.Bool
}

func (s *failingStore) ByDigest(ctx context.Context, d token.Digest) (token.Token, error) {
	if s.tokensDown.Load() {
		return token.Token{}, fmt.Errorf("test: store cut off: %w", token.ErrUnavailable)
	}
	return s.Store.ByDigest(ctx, d)
}

func (s *failingStore) VaultSecret(ctx context.Context, owner, kind string) (token.VaultSecret, error) {
	if s.vaultDown.Load() {
		return token.VaultSecret{}, fmt.Errorf("test: store cut off: %w", token.ErrUnavailable)
	}
	return s.Store.VaultSecret(ctx, owner, kind)
}

// authFixture is a real bolt store (behind failingStore) with the vault on,
// a started token.Validator over it, and a tokengate_auth handler set up as
// Provision does (setup, realm "test", default methods). The store holds a
// token of alice's; everything is closed when the test ends.
type authFixture struct {
	h      *Auth
	alice  token.Created
	store  *failingStore
	svc    *token.Service
	v      *token.Validator
	sealer *token.Sealer
}

func newAuthFixture(tb testing.TB) *authFixture {
	tb.Helper()
	st, err := bolt.Open(filepath.Join(tb.TempDir(), "t.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	f := &authFixture{store: &failingStore{Store: st}}
	if f.sealer, err = token.NewSealer(bytes.Repeat([]byte{7}, token.VaultKeyLen)); err != nil {
		tb.Fatal(err)
	}
	if f.v, err = token.NewValidator(f.store, token.ValidatorConfig{MaxEntries: 1000}); err != nil {
		tb.Fatal(err)
	}
	f.v.Start()
	tb.Cleanup(func() { f.v.Close() })
	f.svc = token.NewService(f.store, token.Policy{}, f.v, nil)
	f.svc.EnableVault(f.sealer, nil)
	f.alice = f.create(tb, "alice", "")
	f.h = f.handler(tb, &Auth{Realm: "test"}, f.sealer)
	return f
}

// handler sets h up as Provision does, with the fixture's validator and
// sealer (nil: the vault is off).
func (f *authFixture) handler(tb testing.TB, h *Auth, sealer *token.Sealer) *Auth {
	tb.Helper()
	if err := h.setup(zap.NewNop(), testApp{v: f.v, sealer: sealer}); err != nil {
		tb.Fatal(err)
	}
	return h
}

// create makes a token of owner that expires on expiresOn ("" never).
func (f *authFixture) create(tb testing.TB, owner, expiresOn string) token.Created {
	tb.Helper()
	c, err := f.svc.Create(context.Background(), owner, "test", expiresOn)
	if err != nil {
		tb.Fatalf("create %s's token: %v", owner, err)
	}
	return c
}

// createExpired makes a token of owner that expired two days ago.
func (f *authFixture) createExpired(tb testing.TB, owner string) token.Created {
	tb.Helper()
	past := time.Now().UTC().AddDate(0, 0, -3)
	svc := token.NewService(f.store, token.Policy{}, f.v, func() time.Time { return past })
	c, err := svc.Create(context.Background(), owner, "expired", past.Format(time.DateOnly))
	if err != nil {
		tb.Fatalf("create %s's expired token: %v", owner, err)
	}
	return c
}

// fixtureScopes are the scope names restricted fixture tokens may carry;
// "elsewhere" is defined by no test handler.
var fixtureScopes = []string{"issues", "worklogs", "elsewhere"}

// createRestricted makes a token of owner with the restrictions of req
// (label "restricted" when empty), scopes among fixtureScopes.
func (f *authFixture) createRestricted(tb testing.TB, owner string, req token.CreateRequest) token.Created {
	tb.Helper()
	if req.Label == "" {
		req.Label = "restricted"
	}
	svc := token.NewService(f.store, token.Policy{KnownScopes: func() []string { return fixtureScopes }}, f.v, nil)
	c, err := svc.CreateWith(context.Background(), owner, req)
	if err != nil {
		tb.Fatalf("create %s's restricted token: %v", owner, err)
	}
	return c
}
