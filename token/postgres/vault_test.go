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

// TestVaultNotifiesFlush checks that every committed vault change, and only
// a committed one, sends "flush" to the other instances.
func TestVaultNotifiesFlush(t *testing.T) {
	a, dsn := fresh(t, postgres.Options{})
	b := open(t, dsn, postgres.Options{SkipMigrate: true})
	inv := newRecorder()
	watch(t, b, inv)
	ctx := context.Background()
	sl := testSealer(t)

	v := sealedSecret(t, sl, "alice", "jira", "jira-token-one-1111")
	if err := a.PutVaultSecret(ctx, v, "alice"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	inv.expect(t, "flush", token.Digest{})
	if err := a.PutVaultSecret(ctx, sealedSecret(t, sl, "alice", "jira", "jira-token-two-2222"), "alice"); err != nil {
		t.Fatalf("PutVaultSecret (replace): %v", err)
	}
	inv.expect(t, "flush", token.Digest{})

	// Reads and refused changes send nothing.
	if _, err := a.VaultSecret(ctx, "alice", "jira"); err != nil {
		t.Fatalf("VaultSecret: %v", err)
	}
	if _, err := a.VaultSecrets(ctx, "alice"); err != nil {
		t.Fatalf("VaultSecrets: %v", err)
	}
	if err := a.DeleteVaultSecret(ctx, "alice", "app", "alice", time.Now()); !errors.Is(err, token.ErrNotFound) {
		t.Fatalf("DeleteVaultSecret of nothing = %v, want ErrNotFound", err)
	}
	bad := v
	bad.Ciphertext = nil
	if err := a.PutVaultSecret(ctx, bad, "alice"); !errors.Is(err, token.ErrInvalidInput) {
		t.Fatalf("PutVaultSecret without ciphertext = %v, want ErrInvalidInput", err)
	}
	inv.quiet(t, 150*time.Millisecond)

	if err := a.DeleteVaultSecret(ctx, "alice", "jira", "carol", time.Now()); err != nil {
		t.Fatalf("DeleteVaultSecret: %v", err)
	}
	inv.expect(t, "flush", token.Digest{})
	inv.quiet(t, 100*time.Millisecond)
}

// flushSignal is the Validator as Invalidator, signalling each FlushAll.
type flushSignal struct {
	*token.Validator
	flushed chan struct{}
}

func (f flushSignal) FlushAll() {
	f.Validator.FlushAll()
	f.flushed <- struct{}{}
}

// TestVaultChangeReachesOtherInstance: instance B's Validator caches a vault
// secret (a change behind its back is not seen) until a change made through
// instance A arrives as a flush.
func TestVaultChangeReachesOtherInstance(t *testing.T) {
	a, dsn := fresh(t, postgres.Options{})
	b := open(t, dsn, postgres.Options{SkipMigrate: true})
	v, err := token.NewValidator(b, token.ValidatorConfig{CacheTTL: time.Hour})
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	sig := flushSignal{Validator: v, flushed: make(chan struct{}, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Watch(ctx, sig) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFlush := func(what string) {
		t.Helper()
		select {
		case <-sig.flushed:
		case <-time.After(5 * time.Second):
			t.Fatalf("no flush within 5s: %s", what)
		}
	}
	waitFlush("the watcher's first connect")

	sl := testSealer(t)
	if err := a.PutVaultSecret(ctx, sealedSecret(t, sl, "alice", "jira", "first-secret-1111"), "alice"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	waitFlush("after the first put")
	if got, err := v.VaultCredential(ctx, sl, "alice", "jira"); err != nil || got != "first-secret-1111" {
		t.Fatalf("VaultCredential = %v (first secret: %v), want the first secret", err, got == "first-secret-1111")
	}

	// Changed behind the stores' back (no notification): B keeps its cache.
	behind := sealedSecret(t, sl, "alice", "jira", "behind-secret-2222")
	if _, err := connect(t, dsn).Exec(ctx, `UPDATE vault_secrets SET ciphertext = $1 WHERE owner = 'alice'`, behind.Ciphertext); err != nil {
		t.Fatalf("updating behind the store's back: %v", err)
	}
	if got, err := v.VaultCredential(ctx, sl, "alice", "jira"); err != nil || got != "first-secret-1111" {
		t.Fatalf("VaultCredential after a silent change = %v (still cached: %v), want the cached first secret", err, got == "first-secret-1111")
	}

	if err := a.PutVaultSecret(ctx, sealedSecret(t, sl, "alice", "jira", "third-secret-3333"), "alice"); err != nil {
		t.Fatalf("PutVaultSecret: %v", err)
	}
	waitFlush("after the second put")
	if got, err := v.VaultCredential(ctx, sl, "alice", "jira"); err != nil || got != "third-secret-3333" {
		t.Fatalf("VaultCredential after A's change = %v (third secret: %v), want the third secret", err, got == "third-secret-3333")
	}
	if err := a.DeleteVaultSecret(ctx, "alice", "jira", "alice", time.Now()); err != nil {
		t.Fatalf("DeleteVaultSecret: %v", err)
	}
	waitFlush("after the delete")
	if _, err := v.VaultCredential(ctx, sl, "alice", "jira"); !errors.Is(err, token.ErrNotFound) {
		t.Fatalf("VaultCredential after A's delete = %v, want ErrNotFound", err)
	}
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
