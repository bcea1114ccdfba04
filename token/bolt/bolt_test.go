package bolt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/storetest"
)

func open(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) token.Store {
		return open(t, filepath.Join(t.TempDir(), "tokengate.db"))
	})
}

func TestOpenTwiceIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokengate.db")
	open(t, path)
	start := time.Now()
	s, err := bolt.Open(path)
	elapsed := time.Since(start)
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, bolt.ErrLocked) {
		t.Errorf("error %v does not wrap ErrLocked", err)
	}
	want := "token file " + path + " is locked by another process (is another tokengate running?)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if elapsed > 3*bolt.LockTimeout {
		t.Errorf("second Open took %v, want about %v", elapsed, bolt.LockTimeout)
	}
	t.Logf("locked open failed after %v", elapsed)
}

func TestReopenKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "tokengate.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	secret, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tok := token.Token{ID: "id-1", Owner: "alice", Label: "laptop", Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.Create(ctx, tok, 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	legacy := token.Token{ID: "id-2", Owner: "bob", Label: "old", Digest: token.DigestOf("legacy secret"), Hint: "cret"}
	if err := s.Import(ctx, []token.Token{legacy}, "admin", now); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.ByDigest(ctx, tok.Digest); !errors.Is(err, token.ErrUnavailable) {
		t.Errorf("ByDigest on a closed store: %v, want ErrUnavailable", err)
	}

	s2 := open(t, path)
	got, err := s2.ByDigest(ctx, tok.Digest)
	if err != nil {
		t.Fatalf("ByDigest after reopen: %v", err)
	}
	if got.ID != tok.ID || got.Owner != "alice" || got.Label != "laptop" || !got.CreatedAt.Equal(now) ||
		!got.ExpiresAt.Equal(tok.ExpiresAt) || got.Hint != tok.Hint {
		t.Errorf("after reopen got %+v, want %+v", got, tok)
	}
	if has, err := s2.HasLegacy(ctx); err != nil || !has {
		t.Errorf("HasLegacy after reopen = %v, %v; want true", has, err)
	}
	if evs, err := s2.History(ctx, "", 10); err != nil || len(evs) != 2 {
		t.Errorf("History after reopen = %d events, %v; want 2", len(evs), err)
	}
	// Event ids keep counting after a reopen.
	if _, err := s2.Revoke(ctx, tok.ID, "", "admin", now.Add(time.Minute)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	evs, err := s2.History(ctx, "", 10)
	if err != nil || len(evs) != 3 || evs[0].ID <= evs[1].ID {
		t.Errorf("History after revoke = %+v, %v; want 3 events with a new, higher id first", evs, err)
	}
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "tokengate.db")
	open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %v, want 0600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("created directory mode %v, want 0700", perm)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := bolt.Open(""); !errors.Is(err, token.ErrInvalidInput) || !strings.Contains(err.Error(), "path") {
		t.Errorf("Open(\"\") = %v, want ErrInvalidInput naming the path", err)
	}
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "tokengate.db"))
	now := time.Now().UTC()
	d := token.DigestOf("x")
	cases := []struct {
		name, field string
		err         error
	}{
		{"Create without owner", "owner", s.Create(ctx, token.Token{ID: "i", Digest: d, CreatedAt: now}, 0)},
		{"Create without digest", "digest", s.Create(ctx, token.Token{ID: "i", Owner: "o", CreatedAt: now}, 0)},
		{"Create without created_at", "created_at", s.Create(ctx, token.Token{ID: "i", Owner: "o", Digest: d}, 0)},
		{"Import with a date", "expires_at", s.Import(ctx, []token.Token{{ID: "i", Owner: "o", Digest: d, ExpiresAt: now}}, "a", now)},
		{"Revoke without actor", "by", func() error { _, err := s.Revoke(ctx, "i", "", "", now); return err }()},
		{"Revoke without time", "at", func() error { _, err := s.Revoke(ctx, "i", "", "a", time.Time{}); return err }()},
		{"History with limit 0", "limit", func() error { _, err := s.History(ctx, "", 0); return err }()},
		{"Rejections with negative limit", "limit", func() error { _, err := s.Rejections(ctx, "o", -1); return err }()},
	}
	for _, c := range cases {
		if !errors.Is(c.err, token.ErrInvalidInput) || !strings.Contains(c.err.Error(), c.field) {
			t.Errorf("%s: %v, want ErrInvalidInput naming %s", c.name, c.err, c.field)
		}
	}
	if ts, err := s.List(ctx, ""); err != nil || len(ts) != 0 {
		t.Errorf("bad input wrote tokens: %d, %v", len(ts), err)
	}
}
