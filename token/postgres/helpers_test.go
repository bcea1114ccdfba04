package postgres_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// open opens a store on dsn and closes it when the test ends.
func open(t testing.TB, dsn string, opts postgres.Options) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fresh opens a store on a brand-new database and returns it with its DSN.
func fresh(t testing.TB, opts postgres.Options) (*postgres.Store, string) {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	return open(t, dsn, opts), dsn
}

// connect opens a plain pgx connection for test setup, closed at the end.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting for setup: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// querier is what queryPlan runs on: a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryPlan runs stmt (an EXPLAIN …) with args on q and returns the plan,
// one line per row.
func queryPlan(t testing.TB, q querier, stmt string, args ...any) string {
	t.Helper()
	rows, err := q.Query(context.Background(), stmt, args...)
	if err != nil {
		t.Fatalf("%.40s…: %v", stmt, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%.40s…: %v", stmt, err)
	}
	return strings.Join(lines, "\n")
}

// newToken returns a fresh token of owner, created now, expiring in 30 days.
func newToken(t testing.TB, owner string, n int) token.Token {
	t.Helper()
	secret, err := token.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	return token.Token{ID: fmt.Sprintf("%s-%d-%s", owner, n, token.HintOf(secret)), Owner: owner,
		Label: fmt.Sprintf("token %d", n), Digest: token.DigestOf(secret), Hint: token.HintOf(secret),
		CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}
}

// mustCreate stores n new tokens of owner.
func mustCreate(t testing.TB, s *postgres.Store, owner string, n int) []token.Token {
	t.Helper()
	out := make([]token.Token, n)
	for i := range out {
		out[i] = newToken(t, owner, i)
		if err := s.Create(context.Background(), out[i], 0); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	return out
}

// invalidation is one call a recorder received.
type invalidation struct {
	kind  string // "revoked", "changed", "vault" or "flush"
	d     token.Digest
	at    time.Time
	owner string // of "vault"
}

// recorder is a token.Invalidator that records every call on a channel.
type recorder struct{ ch chan invalidation }

func newRecorder() *recorder { return &recorder{ch: make(chan invalidation, 100000)} }

func (r *recorder) Revoked(d token.Digest) { r.record(invalidation{kind: "revoked", d: d}) }
func (r *recorder) Changed(d token.Digest) { r.record(invalidation{kind: "changed", d: d}) }
func (r *recorder) VaultChanged(o string)  { r.record(invalidation{kind: "vault", owner: o}) }
func (r *recorder) FlushAll()              { r.record(invalidation{kind: "flush"}) }

func (r *recorder) record(inv invalidation) {
	inv.at = time.Now()
	r.ch <- inv
}

// next returns the next call or fails the test after timeout.
func (r *recorder) next(t testing.TB, timeout time.Duration, what string) invalidation {
	t.Helper()
	select {
	case inv := <-r.ch:
		return inv
	case <-time.After(timeout):
		t.Fatalf("waiting for %s: nothing within %v", what, timeout)
		return invalidation{}
	}
}

// expect fails unless the next call is kind (for digest d unless kind is flush).
func (r *recorder) expect(t testing.TB, kind string, d token.Digest) invalidation {
	t.Helper()
	inv := r.next(t, 5*time.Second, kind+" "+d.String())
	if inv.kind != kind || (kind != "flush" && inv.d != d) {
		t.Fatalf("got %s %s, want %s %s", inv.kind, inv.d, kind, d)
	}
	return inv
}

// expectVault fails unless the next call is VaultChanged(owner).
func (r *recorder) expectVault(t testing.TB, owner string) {
	t.Helper()
	inv := r.next(t, 5*time.Second, "vault "+owner)
	if inv.kind != "vault" || inv.owner != owner {
		t.Fatalf("got %s %s %q, want vault %q", inv.kind, inv.d, inv.owner, owner)
	}
}

// quiet fails if any call arrives within d.
func (r *recorder) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case inv := <-r.ch:
		t.Fatalf("unexpected %s %s %q", inv.kind, inv.d, inv.owner)
	case <-time.After(d):
	}
}

// watch runs s.Watch(inv) until the test ends and waits for the first FlushAll
// (the listener is in place).
func watch(t testing.TB, s *postgres.Store, inv *recorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, inv) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v after its context was canceled, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Watch did not return within 10s of its context being canceled")
		}
	})
	inv.expect(t, "flush", token.Digest{})
}

// errorLog collects the errors a store reports to OnWatchError.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// percentile returns the p-th percentile (0 < p ≤ 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p/100+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}
