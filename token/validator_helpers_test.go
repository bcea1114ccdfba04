package token_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// newFakeClock returns the tests' settable clock, at a fixed instant.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// gate pauses one ByDigest call after it has read the real store.
type gate struct {
	reached chan struct{} // closed once the paused lookup has read the store
	release chan struct{} // close to let it return
}

// testStore wraps the real bbolt store to count calls and inject faults:
// the only double in these tests. Everything else is the real store.
type testStore struct {
	token.Store
	lookups      atomic.Int64
	legacyChecks atomic.Int64
	touches      atomic.Int64
	rejectWrites atomic.Int64
	digestCalls  atomic.Int64
	down         atomic.Bool // every call fails with ErrUnavailable
	jitter       atomic.Bool // ByDigest sleeps a random few microseconds
	pause        atomic.Pointer[gate]
	mu           sync.Mutex
	touched      [][]token.LastUse // every TouchLastUsed batch, in order
}

var errDown = fmt.Errorf("test store is down: %w", token.ErrUnavailable)

func (s *testStore) ByDigest(ctx context.Context, d token.Digest) (token.Token, error) {
	s.lookups.Add(1)
	if s.down.Load() {
		return token.Token{}, errDown
	}
	if s.jitter.Load() {
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	}
	t, err := s.Store.ByDigest(ctx, d)
	if s.jitter.Load() { // widen the window between reading and caching
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
	}
	if g := s.pause.Swap(nil); g != nil {
		close(g.reached)
		<-g.release
	}
	return t, err
}

// pauseNextLookup makes the next ByDigest block after reading the store.
func (s *testStore) pauseNextLookup() *gate {
	g := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	s.pause.Store(g)
	return g
}

func (s *testStore) Digests(ctx context.Context, cursor string, fn func(token.Digest)) (string, error) {
	s.digestCalls.Add(1)
	if s.down.Load() {
		return "", errDown
	}
	return s.Store.Digests(ctx, cursor, fn)
}

func (s *testStore) HasLegacy(ctx context.Context) (bool, error) {
	s.legacyChecks.Add(1)
	if s.down.Load() {
		return false, errDown
	}
	return s.Store.HasLegacy(ctx)
}

func (s *testStore) TouchLastUsed(ctx context.Context, uses []token.LastUse) error {
	s.touches.Add(1)
	if s.down.Load() {
		return errDown
	}
	s.mu.Lock()
	s.touched = append(s.touched, append([]token.LastUse(nil), uses...))
	s.mu.Unlock()
	return s.Store.TouchLastUsed(ctx, uses)
}

func (s *testStore) AddRejections(ctx context.Context, rs []token.Rejection) error {
	s.rejectWrites.Add(1)
	if s.down.Load() {
		return errDown
	}
	return s.Store.AddRejections(ctx, rs)
}

// env is a Validator over a fresh bbolt file.
type env struct {
	t     testing.TB
	ctx   context.Context
	store *testStore
	clock *fakeclock.Clock
	v     *token.Validator
	errs  chan error
}

// newEnv opens a bbolt file in a temporary directory and a Validator over it
// with the fake clock, CacheTTL 1m and NegativeTTL 10s unless cfg says otherwise.
func newEnv(t testing.TB, cfg token.ValidatorConfig) *env {
	t.Helper()
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatalf("opening bolt store: %v", err)
	}
	e := &env{t: t, ctx: context.Background(), store: &testStore{Store: bs}, clock: newFakeClock(),
		errs: make(chan error, 100)}
	if cfg.Clock == nil {
		cfg.Clock = e.clock.Now
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 10_000
	}
	if cfg.OnError == nil {
		cfg.OnError = func(err error) {
			select {
			case e.errs <- err:
			default:
			}
		}
	}
	e.v, err = token.NewValidator(e.store, cfg)
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	t.Cleanup(func() {
		if err := e.v.Close(); err != nil && !errors.Is(err, token.ErrUnavailable) {
			t.Errorf("closing validator: %v", err)
		}
		if err := bs.Close(); err != nil {
			t.Errorf("closing bolt store: %v", err)
		}
	})
	return e
}

// create stores a new token for owner (expiring at expires unless zero) and
// returns its secret and record.
func (e *env) create(owner string, expires time.Time) (string, token.Token) {
	e.t.Helper()
	secret, err := token.Generate()
	if err != nil {
		e.t.Fatalf("Generate: %v", err)
	}
	id, err := token.NewID()
	if err != nil {
		e.t.Fatalf("NewID: %v", err)
	}
	tok := token.Token{ID: id, Owner: owner, Label: "label of " + id, Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret), CreatedAt: e.clock.Now(), ExpiresAt: expires}
	if err := e.store.Create(e.ctx, tok, 0); err != nil {
		e.t.Fatalf("creating token: %v", err)
	}
	return secret, tok
}

// revoke revokes tok in the store, then tells the validator, as the Service does.
func (e *env) revoke(tok token.Token) {
	e.t.Helper()
	if _, err := e.store.Revoke(e.ctx, tok.ID, "", "admin", e.clock.Now()); err != nil {
		e.t.Fatalf("revoking token %s: %v", tok.ID, err)
	}
	e.v.Revoked(tok.Digest)
	e.v.WaitCache()
}

// validate runs Validate and waits for the cache writes it queued.
func (e *env) validate(secret string) token.Result {
	r := e.v.Validate(e.ctx, secret)
	e.v.WaitCache()
	return r
}

// expect checks a result's outcome, token id and cache flag.
func (e *env) expect(r token.Result, outcome token.Outcome, id string, hit bool) {
	e.t.Helper()
	if r.Outcome != outcome || r.TokenID != id || r.CacheHit != hit {
		e.t.Fatalf("got outcome %v, token id %q, hit %v; want %v, %q, %v",
			r.Outcome, r.TokenID, r.CacheHit, outcome, id, hit)
	}
}

// lookups returns how many ByDigest calls reached the store.
func (e *env) lookups() int64 { return e.store.lookups.Load() }

// countingObserver counts the Observer events.
type countingObserver struct {
	hits, misses, lookups, lookupErrs atomic.Int64
}

func (o *countingObserver) CacheHit()  { o.hits.Add(1) }
func (o *countingObserver) CacheMiss() { o.misses.Add(1) }
func (o *countingObserver) StoreLookup(d time.Duration, err error) {
	o.lookups.Add(1)
	if err != nil {
		o.lookupErrs.Add(1)
	}
}
