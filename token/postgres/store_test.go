package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) token.Store {
		s, _ := fresh(t, postgres.Options{})
		return s
	})
}

// TestZeroTimesAreNull checks that zero times are stored as NULL (what other
// tools reading the table expect) and come back as zero times in UTC.
func TestZeroTimesAreNull(t *testing.T) {
	s, dsn := fresh(t, postgres.Options{})
	ctx := context.Background()
	tok := newToken(t, "alice", 1)
	tok.ExpiresAt = time.Time{}
	if err := s.Create(ctx, tok, 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	var nulls int
	err := connect(t, dsn).QueryRow(ctx, `SELECT num_nulls(expires_at, revoked_at, last_used_at) FROM tokens WHERE id = $1`, tok.ID).Scan(&nulls)
	if err != nil || nulls != 3 {
		t.Fatalf("NULL columns = %d, %v; want 3 (expires_at, revoked_at, last_used_at)", nulls, err)
	}
	got, err := s.ByDigest(ctx, tok.Digest)
	if err != nil {
		t.Fatalf("ByDigest: %v", err)
	}
	if !got.ExpiresAt.IsZero() || !got.RevokedAt.IsZero() || !got.LastUsedAt.IsZero() || got.CreatedAt.Location() != time.UTC {
		t.Errorf("ByDigest = %+v, want zero expiry/revocation/last use and a UTC creation time", got)
	}
}

// TestInputErrors checks that malformed arguments are rejected with an error
// naming the field, before anything is written.
func TestInputErrors(t *testing.T) {
	s, _ := fresh(t, postgres.Options{})
	ctx := context.Background()
	good := newToken(t, "alice", 1)
	noOwner := good
	noOwner.Owner = " "
	dated := good
	now := time.Now()
	cases := []struct {
		name, field string
		err         error
	}{
		{"Create without owner", "owner", s.Create(ctx, noOwner, 0)},
		{"Revoke without by", "by", func() error { _, err := s.Revoke(ctx, good.ID, "", "", now); return err }()},
		{"Revoke without time", "time", func() error { _, err := s.Revoke(ctx, good.ID, "", "bob", time.Time{}); return err }()},
		{"RevokeOwner without owner", "owner", func() error { _, err := s.RevokeOwner(ctx, "", "bob", now); return err }()},
		{"CapExpiry without limit", "limit", func() error { _, _, err := s.CapExpiry(ctx, time.Time{}, "bob", now, "", 1); return err }()},
		{"Import of a dated token", "row 1", s.Import(ctx, []token.Token{dated}, "bob", now)},
		{"History with limit 0", "limit", func() error { _, err := s.History(ctx, "", 0); return err }()},
		{"AddRejections without reason", "reason", s.AddRejections(ctx, []token.Rejection{{Owner: "a", TokenID: "x", At: now}})},
		{"TouchLastUsed without time", "time", s.TouchLastUsed(ctx, []token.LastUse{{TokenID: good.ID}})},
	}
	for _, c := range cases {
		var ie *token.InputError
		if !errors.Is(c.err, token.ErrInvalidInput) || !errors.As(c.err, &ie) || !strings.Contains(c.err.Error(), c.field) {
			t.Errorf("%s: error = %v, want an InputError of kind ErrInvalidInput naming %q", c.name, c.err, c.field)
		}
	}
	if evs, err := s.History(ctx, "", 10); err != nil || len(evs) != 0 {
		t.Errorf("History after rejected calls = %d events, %v; want none", len(evs), err)
	}
}

// TestDuplicateID checks that a second token with an existing id (but a new
// digest) is ErrDuplicate too, and that the message says which.
func TestDuplicateID(t *testing.T) {
	s, _ := fresh(t, postgres.Options{})
	ctx := context.Background()
	a := newToken(t, "alice", 1)
	b := newToken(t, "alice", 2)
	b.ID = a.ID
	if err := s.Create(ctx, a, 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	err := s.Create(ctx, b, 0)
	if !errors.Is(err, token.ErrDuplicate) || !strings.Contains(err.Error(), "same id") || errors.Is(err, token.ErrUnavailable) {
		t.Errorf("Create with a used id: %v, want ErrDuplicate mentioning the id", err)
	}
}

// TestClosed checks that a closed store answers ErrUnavailable and that Close
// is idempotent.
func TestClosed(t *testing.T) {
	s, _ := fresh(t, postgres.Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.ByDigest(context.Background(), token.Digest{1})
	if !errors.Is(err, token.ErrUnavailable) {
		t.Errorf("ByDigest on a closed store: %v, want ErrUnavailable", err)
	}
	if err := s.Watch(context.Background(), newRecorder()); !errors.Is(err, token.ErrUnavailable) {
		t.Errorf("Watch on a closed store: %v, want ErrUnavailable", err)
	}
}

// TestLimitUnderRepeatableReadDefault: the per-owner limit holds even when
// the database's default isolation is REPEATABLE READ (the store pins its
// transactions to READ COMMITTED, which the limit's lock-then-count needs).
func TestLimitUnderRepeatableReadDefault(t *testing.T) {
	_, dsn := fresh(t, postgres.Options{})
	ctx := context.Background()
	conn := connect(t, dsn)
	var db string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` SET default_transaction_isolation = 'repeatable read'`); err != nil {
		t.Fatal(err)
	}
	s := open(t, dsn, postgres.Options{SkipMigrate: true}) // new sessions: the new default
	var iso string
	if err := connect(t, dsn).QueryRow(ctx, `SHOW default_transaction_isolation`).Scan(&iso); err != nil || iso != "repeatable read" {
		t.Fatalf("default isolation = %q, %v; the test needs repeatable read", iso, err)
	}

	const limit, n = 2, 20
	var wg sync.WaitGroup
	var created atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Create(ctx, newToken(t, "alice", i), limit)
			switch {
			case err == nil:
				created.Add(1)
			case !errors.Is(err, token.ErrLimitReached):
				t.Errorf("Create: %v, want success or ErrLimitReached", err)
			}
		}()
	}
	wg.Wait()
	toks, err := s.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if created.Load() != limit || len(toks) != limit {
		t.Errorf("%d concurrent creations at limit %d: %d succeeded, %d tokens stored; want %d", n, limit, created.Load(), len(toks), limit)
	}
}
