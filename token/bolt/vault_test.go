package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// TestVaultSurvivesReopen stores a secret, closes the file and reads the
// secret back from a new handle.
func TestVaultSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokengate.db")
	ctx := context.Background()
	at := time.Date(2031, 2, 3, 4, 5, 6, 789000, time.UTC)
	want := token.VaultSecret{Owner: "alice", Kind: "jira", Ciphertext: []byte{0, 1, 2, 0xff, 'x'}, Hint: "abcd", UpdatedAt: at}
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.PutVaultSecret(ctx, want, "alice"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := open(t, path).VaultSecret(ctx, "alice", "jira")
	if err != nil {
		t.Fatalf("VaultSecret after reopening: %v", err)
	}
	if got.Owner != want.Owner || got.Kind != want.Kind || got.Hint != want.Hint ||
		!bytes.Equal(got.Ciphertext, want.Ciphertext) || !got.UpdatedAt.Equal(at) {
		t.Errorf("VaultSecret after reopening = %+v, want %+v", got, want)
	}
}

// TestVaultOnOlderFile opens a file written before the vault existed (no
// vault bucket): Open adds the bucket and keeps the tokens.
func TestVaultOnOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range []string{"tokens", "digests", "owners", "legacy", "events", "rejections"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("writing an old-style file: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("closing the old-style file: %v", err)
	}

	s := open(t, path)
	ctx := context.Background()
	secret, err := token.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	now := time.Now().UTC()
	tok := token.Token{ID: "t1", Owner: "alice", Label: "old", Digest: token.DigestOf(secret), Hint: token.HintOf(secret), CreatedAt: now}
	if err := s.Create(ctx, tok, 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.VaultSecret(ctx, "alice", "jira"); !errors.Is(err, token.ErrNotFound) {
		t.Fatalf("VaultSecret on an upgraded file = %v, want ErrNotFound", err)
	}
	v := token.VaultSecret{Owner: "alice", Kind: "jira", Ciphertext: []byte("ct"), UpdatedAt: now}
	if err := s.PutVaultSecret(ctx, v, "alice"); err != nil {
		t.Fatalf("PutVaultSecret on an upgraded file: %v", err)
	}
	if got, err := s.VaultSecrets(ctx, "alice"); err != nil || len(got) != 1 {
		t.Fatalf("VaultSecrets = %d, %v; want 1", len(got), err)
	}
}

// TestVaultClosedStore: every vault call on a closed file wraps ErrUnavailable.
func TestVaultClosedStore(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "tokengate.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	now := time.Now()
	_, errGet := s.VaultSecret(ctx, "alice", "jira")
	_, errList := s.VaultSecrets(ctx, "alice")
	for what, err := range map[string]error{
		"PutVaultSecret":    s.PutVaultSecret(ctx, token.VaultSecret{Owner: "alice", Kind: "jira", Ciphertext: []byte("x"), UpdatedAt: now}, "alice"),
		"VaultSecret":       errGet,
		"VaultSecrets":      errList,
		"DeleteVaultSecret": s.DeleteVaultSecret(ctx, "alice", "jira", "alice", now),
	} {
		if !errors.Is(err, token.ErrUnavailable) {
			t.Errorf("%s on a closed store = %v, want ErrUnavailable", what, err)
		}
	}
}
