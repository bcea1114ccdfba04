package postgres_test

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
)

// TestDigestsCursorSurvivesLateCommit: a token whose transaction began
// before a read but committed after it is delivered by the next read from
// that read's cursor — the case a serial number or a timestamp would skip
// (both are assigned before commit, out of commit order).
func TestDigestsCursorSurvivesLateCommit(t *testing.T) {
	s, dsn := fresh(t, postgres.Options{})
	ctx := context.Background()
	early := newToken(t, "alice", 1)
	late := newToken(t, "bob", 2)

	conn := connect(t, dsn)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The slow transaction inserts first (smaller xid, earlier timestamps) ...
	if _, err := tx.Exec(ctx, `INSERT INTO tokens (id, owner, label, digest, hint, created_at) VALUES ($1, $2, $3, $4, $5, now())`,
		late.ID, late.Owner, late.Label, late.Digest[:], late.Hint); err != nil {
		t.Fatal(err)
	}
	// ... another one commits meanwhile, and a reader reads.
	if err := s.Create(ctx, early, 0); err != nil {
		t.Fatal(err)
	}
	seen := map[token.Digest]bool{}
	cursor, err := s.Digests(ctx, "", func(d token.Digest) { seen[d] = true })
	if err != nil {
		t.Fatal(err)
	}
	if !seen[early.Digest] || seen[late.Digest] {
		t.Fatalf("first read: early %v, late %v; want only the committed one", seen[early.Digest], seen[late.Digest])
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	seen = map[token.Digest]bool{}
	if _, err := s.Digests(ctx, cursor, func(d token.Digest) { seen[d] = true }); err != nil {
		t.Fatal(err)
	}
	if !seen[late.Digest] {
		t.Errorf("Digests(%q) after the slow transaction committed misses its token", cursor)
	}
}
