package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/tern/v2/migrate"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
)

func testSealer(t *testing.T) *token.Sealer {
	t.Helper()
	key := make([]byte, token.VaultKeyLen)
	if _, err := rand.Read(key); err != nil {
		t.Fatalf("reading a key: %v", err)
	}
	s, err := token.NewSealer(key)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func sealedSecret(t *testing.T, s *token.Sealer, owner, kind, plain string) token.VaultSecret {
	t.Helper()
	ct, err := s.Seal(owner, kind, plain)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return token.VaultSecret{Owner: owner, Kind: kind, Ciphertext: ct, Hint: token.HintOf(plain),
		UpdatedAt: time.Now().UTC().Truncate(time.Microsecond)}
}

// signalling is the Validator as Invalidator, signalling each FlushAll as
// "flush" and each VaultChanged as "vault <owner>".
type signalling struct {
	*token.Validator
	calls chan string
}

func (s signalling) FlushAll() {
	s.Validator.FlushAll()
	s.calls <- "flush"
}

func (s signalling) VaultChanged(owner string) {
	s.Validator.VaultChanged(owner)
	s.calls <- "vault " + owner
}

// TestVaultChangeReachesOtherInstance: instance B's Validator caches vault
// secrets (a change behind its back is not seen) until a change made through
// instance A arrives as VaultChanged of that owner — never as a flush, so
// another person's cached secret stays cached.
func TestVaultChangeReachesOtherInstance(t *testing.T) {
	a, dsn := fresh(t, postgres.Options{})
	b := open(t, dsn, postgres.Options{SkipMigrate: true})
	v, err := token.NewValidator(b, token.ValidatorConfig{CacheTTL: time.Hour})
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	sig := signalling{Validator: v, calls: make(chan string, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Watch(ctx, sig) }()
	t.Cleanup(func() { cancel(); <-done })
	wait := func(want, what string) {
		t.Helper()
		select {
		case got := <-sig.calls:
			if got != want {
				t.Fatalf("%s: got %s, want %s", what, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s within 5s: %s", want, what)
		}
	}
	wait("flush", "the watcher's first connect")

	sl := testSealer(t)
	if err := a.PutVaultSecret(ctx, sealedSecret(t, sl, "alice", "jira", "first-secret-1111"), "alice"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	wait("vault alice", "after the first put")
	if err := a.PutVaultSecret(ctx, sealedSecret(t, sl, "bob", "jira", "bob-secret-1111"), "bob"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	wait("vault bob", "after bob's put")
	credential := func(owner, want, what string) {
		t.Helper()
		if got, err := v.VaultCredential(ctx, sl, owner, "jira"); err != nil || got != want {
			t.Fatalf("VaultCredential(%s) %s = %v (the expected secret: %v), want %s", owner, what, err, got == want, want)
		}
	}
	credential("alice", "first-secret-1111", "after the first put")
	credential("bob", "bob-secret-1111", "after bob's put")

	// Changed behind the stores' back (no notification): B keeps its cache.
	for owner, plain := range map[string]string{"alice": "behind-secret-2222", "bob": "bob-behind-2222"} {
		behind := sealedSecret(t, sl, owner, "jira", plain)
		if _, err := connect(t, dsn).Exec(ctx, `UPDATE vault_secrets SET ciphertext = $1 WHERE owner = $2`, behind.Ciphertext, owner); err != nil {
			t.Fatalf("updating behind the store's back: %v", err)
		}
	}
	credential("alice", "first-secret-1111", "after a silent change (still cached)")

	if err := a.PutVaultSecret(ctx, sealedSecret(t, sl, "alice", "jira", "third-secret-3333"), "alice"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	wait("vault alice", "after the second put")
	credential("alice", "third-secret-3333", "after A's change")
	credential("bob", "bob-secret-1111", "after alice's change (bob's entry stays cached)")
	if err := a.DeleteVaultSecret(ctx, "alice", "jira", "alice", time.Now()); err != nil {
		t.Fatalf("DeleteVaultSecret: %v", err)
	}
	wait("vault alice", "after the delete")
	if _, err := v.VaultCredential(ctx, sl, "alice", "jira"); !errors.Is(err, token.ErrNotFound) {
		t.Fatalf("VaultCredential after A's delete = %v, want ErrNotFound", err)
	}
	credential("bob", "bob-secret-1111", "after alice's delete")
}

// TestVaultMigrationUpgradesVersion1 migrates a database to version 1 (the
// schema before the vault) with a token in it; Open then adds the vault
// table, and the token survives.
func TestVaultMigrationUpgradesVersion1(t *testing.T) {
	_, dsn := fresh(t, postgres.Options{SkipMigrate: true})
	ctx := context.Background()
	conn := connect(t, dsn)
	m, err := migrate.NewMigrator(ctx, conn, postgres.VersionTable)
	if err != nil {
		t.Fatalf("NewMigrator: %v", err)
	}
	if err := m.LoadMigrations(os.DirFS("migrations")); err != nil {
		t.Fatalf("LoadMigrations: %v", err)
	}
	if len(m.Migrations) < 2 || m.Migrations[1].Name != "002_vault.sql" {
		t.Fatalf("found %d migrations; want 002_vault.sql second", len(m.Migrations))
	}
	if err := m.MigrateTo(ctx, 1); err != nil {
		t.Fatalf("MigrateTo(1): %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'vault_secrets'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("vault_secrets at version 1: %d tables, %v; want 0", n, err)
	}
	tok := newToken(t, "alice", 1)
	if _, err := conn.Exec(ctx, `INSERT INTO tokens (id, owner, label, digest, hint, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		tok.ID, tok.Owner, tok.Label, tok.Digest[:], tok.Hint, tok.CreatedAt); err != nil {
		t.Fatalf("inserting a version-1 token: %v", err)
	}

	s := open(t, dsn, postgres.Options{})
	cur, latest, err := s.SchemaVersion(ctx)
	if err != nil || cur != latest || latest < 2 {
		t.Fatalf("SchemaVersion = %d, %d, %v; want equal and ≥ 2", cur, latest, err)
	}
	if got, err := s.ByDigest(ctx, tok.Digest); err != nil || got.ID != tok.ID {
		t.Fatalf("ByDigest after the upgrade = %q, %v; want %q", got.ID, err, tok.ID)
	}
	sv := sealedSecret(t, testSealer(t), "alice", "jira", "upgrade-secret-4444")
	if err := s.PutVaultSecret(ctx, sv, "alice"); err != nil {
		t.Fatalf("PutVaultSecret after the upgrade: %v", err)
	}
	if got, err := s.VaultSecrets(ctx, "alice"); err != nil || len(got) != 1 {
		t.Fatalf("VaultSecrets after the upgrade = %d, %v; want 1", len(got), err)
	}
	// The way down drops the vault table again.
	if err := m.MigrateTo(ctx, 1); err != nil {
		t.Fatalf("MigrateTo(1) from 2: %v", err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'vault_secrets'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("vault_secrets after migrating down: %d tables, %v; want 0", n, err)
	}
}
