package bolt_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// TestHistoryOwnerIndexOfOlderFile: a token file written before the owner
// index of the history existed gains it on open, filled from every event,
// so History(owner) and HistoryPage(owner) still see the old events.
func TestHistoryOwnerIndexOfOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokengate.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Microsecond)
	for i, owner := range []string{"alice", "bob", "alice", "carol", "alice"} {
		secret, _ := token.Generate()
		id, _ := token.NewID()
		tok := token.Token{ID: id, Owner: owner, Label: "old", Digest: token.DigestOf(secret),
			Hint: token.HintOf(secret), CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := s.Create(ctx, tok, 0); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.History(ctx, "alice", 100)
	if err != nil || len(want) != 3 {
		t.Fatalf("History(alice) = %d events, %v; want 3", len(want), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("event_owners")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	got, next, err := s.HistoryPage(ctx, "alice", 2, "")
	if err != nil || len(got) != 2 || next == "" {
		t.Fatalf("HistoryPage(alice, 2) of the upgraded file = %d events, %q, %v; want 2 and a cursor", len(got), next, err)
	}
	more, next, err := s.HistoryPage(ctx, "alice", 2, next)
	if err != nil || len(more) != 1 || next != "" {
		t.Fatalf("second HistoryPage(alice) = %d events, %q, %v; want the last one", len(more), next, err)
	}
	got = append(got, more...)
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Owner != "alice" {
			t.Errorf("upgraded History(alice)[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if es, err := s.History(ctx, "bob", 10); err != nil || len(es) != 1 {
		t.Errorf("upgraded History(bob) = %d events, %v; want 1", len(es), err)
	}
}
