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

// TestDigestsOfOlderFile: a token file written before the "added" bucket
// existed gains it on open, filled with every token it holds, so the
// prefilter of an upgraded instance knows every old token.
func TestDigestsOfOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokengate.db")
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[token.Digest]bool{}
	for i := 0; i < 3; i++ {
		secret, _ := token.Generate()
		id, _ := token.NewID()
		tok := token.Token{ID: id, Owner: "alice", Label: "old", Digest: token.DigestOf(secret),
			Hint: token.HintOf(secret), CreatedAt: time.Now().UTC()}
		if err := s.Create(ctx, tok, 0); err != nil {
			t.Fatal(err)
		}
		want[tok.Digest] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it an older file: drop the bucket an older build did not write.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("added")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	got := map[token.Digest]bool{}
	cursor, err := s.Digests(ctx, "", func(d token.Digest) { got[d] = true })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Digests of the upgraded file: %d digests, want %d", len(got), len(want))
	}
	for d := range want {
		if !got[d] {
			t.Errorf("Digests of the upgraded file misses %s", d)
		}
	}
	// New tokens continue the sequence.
	secret, _ := token.Generate()
	id, _ := token.NewID()
	tok := token.Token{ID: id, Owner: "bob", Label: "new", Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret), CreatedAt: time.Now().UTC()}
	if err := s.Create(ctx, tok, 0); err != nil {
		t.Fatal(err)
	}
	got = map[token.Digest]bool{}
	if _, err := s.Digests(ctx, cursor, func(d token.Digest) { got[d] = true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[tok.Digest] {
		t.Errorf("Digests(%q) after one new token = %d digests, want just the new one", cursor, len(got))
	}
}
