package postgres_test

import (
	"context"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/tern/v2/migrate"

	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// TestConcurrentMigrations starts several instances at once on one fresh
// database: all must open, and the schema must be applied exactly once.
func TestConcurrentMigrations(t *testing.T) {
	const rounds, instances = 3, 4
	for round := range rounds {
		dsn := storetest.PostgresDSN(t)
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			errs   = make([]error, instances)
			stores = make([]*postgres.Store, instances)
		)
		for i := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				stores[i], errs[i] = postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: concurrent Open %d: %v", round, i, err)
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		ctx := context.Background()
		cur, latest, err := stores[0].SchemaVersion(ctx)
		if err != nil || cur != latest || latest < 1 {
			t.Fatalf("round %d: SchemaVersion = %d, %d, %v; want equal and ≥ 1", round, cur, latest, err)
		}
		var versionRows, tables int
		conn := connect(t, dsn)
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+postgres.VersionTable).Scan(&versionRows); err != nil || versionRows != 1 {
			t.Fatalf("round %d: %s has %d rows, %v; want 1", round, postgres.VersionTable, versionRows, err)
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('tokens', 'events', 'rejections')`).Scan(&tables); err != nil || tables != 3 {
			t.Fatalf("round %d: %d of the 3 tables exist, %v", round, tables, err)
		}
		// Every instance works on the shared schema.
		for i, s := range stores {
			mustCreate(t, s, "owner", 1)
			if list, err := s.List(ctx, ""); err != nil || len(list) != i+1 {
				t.Fatalf("round %d: store %d lists %d tokens, %v; want %d", round, i, len(list), err, i+1)
			}
		}
	}
}

// TestMigrateIdempotent checks that Migrate on an up-to-date schema changes
// nothing, and that SkipMigrate leaves an empty database alone.
func TestMigrateIdempotent(t *testing.T) {
	s, _ := fresh(t, postgres.Options{})
	ctx := context.Background()
	tok := mustCreate(t, s, "alice", 1)[0]
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if _, err := s.ByDigest(ctx, tok.Digest); err != nil {
		t.Fatalf("token gone after a second Migrate: %v", err)
	}

	empty := storetest.PostgresDSN(t)
	skipped := open(t, empty, postgres.Options{SkipMigrate: true})
	var n int
	if err := connect(t, empty).QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'tokens'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("SkipMigrate: tokens table count = %d, %v; want 0", n, err)
	}
	if err := skipped.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after SkipMigrate: %v", err)
	}
	if cur, latest, err := skipped.SchemaVersion(ctx); err != nil || cur != latest {
		t.Fatalf("SchemaVersion after Migrate = %d, %d, %v", cur, latest, err)
	}
}

// TestRestrictionsMigrationUpgradesVersion3 migrates a database to version 3
// (the schema before restrictions) with a token in it; Open then adds the
// restriction columns, the token reads back unrestricted, restricted tokens
// are stored as cidr[] and text[], and the way down drops the columns again.
func TestRestrictionsMigrationUpgradesVersion3(t *testing.T) {
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
	if len(m.Migrations) < 4 || m.Migrations[3].Name != "004_restrictions.sql" {
		t.Fatalf("found %d migrations; want 004_restrictions.sql fourth", len(m.Migrations))
	}
	if err := m.MigrateTo(ctx, 3); err != nil {
		t.Fatalf("MigrateTo(3): %v", err)
	}
	columns := func() map[string]string {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT column_name, udt_name FROM information_schema.columns
			WHERE table_name = 'tokens' AND column_name IN ('allowed_ips', 'scopes')`)
		if err != nil {
			t.Fatalf("reading columns: %v", err)
		}
		out := map[string]string{}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatalf("reading columns: %v", err)
			}
			out[name] = typ
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("reading columns: %v", err)
		}
		return out
	}
	if got := columns(); len(got) != 0 {
		t.Fatalf("restriction columns at version 3: %v; want none", got)
	}
	old := newToken(t, "alice", 1)
	if _, err := conn.Exec(ctx, `INSERT INTO tokens (id, owner, label, digest, hint, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		old.ID, old.Owner, old.Label, old.Digest[:], old.Hint, old.CreatedAt); err != nil {
		t.Fatalf("inserting a version-3 token: %v", err)
	}

	s := open(t, dsn, postgres.Options{})
	if cur, latest, err := s.SchemaVersion(ctx); err != nil || cur != latest || latest < 4 {
		t.Fatalf("SchemaVersion = %d, %d, %v; want equal and ≥ 4", cur, latest, err)
	}
	if got := columns(); got["allowed_ips"] != "_cidr" || got["scopes"] != "_text" {
		t.Fatalf("restriction columns after the upgrade: %v; want allowed_ips _cidr, scopes _text", got)
	}
	got, err := s.ByDigest(ctx, old.Digest)
	if err != nil || got.ID != old.ID || got.AllowedIPs != nil || got.Scopes != nil || got.Restricted() {
		t.Fatalf("ByDigest of the old token after the upgrade = %+v, %v; want it unrestricted (nil slices)", got, err)
	}
	tok := newToken(t, "alice", 2)
	tok.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8::/48")}
	tok.Scopes = []string{"issues"}
	if err := s.Create(ctx, tok, 0); err != nil {
		t.Fatalf("Create of a restricted token: %v", err)
	}
	var ips, scopes string
	if err := conn.QueryRow(ctx, `SELECT allowed_ips::text, scopes::text FROM tokens WHERE id = $1`, tok.ID).Scan(&ips, &scopes); err != nil {
		t.Fatalf("reading the stored restrictions: %v", err)
	}
	if ips != "{198.51.100.7/32,2001:db8::/48}" || scopes != "{issues}" {
		t.Errorf("stored restrictions %s, %s; want {198.51.100.7/32,2001:db8::/48}, {issues}", ips, scopes)
	}
	// cidr itself refuses host bits (Create checks before it gets there).
	if _, err := conn.Exec(ctx, `SELECT '{10.1.2.3/8}'::cidr[]`); err == nil {
		t.Errorf("cidr[] took a range with host bits set")
	}

	if err := m.MigrateTo(ctx, 3); err != nil {
		t.Fatalf("MigrateTo(3) from 4: %v", err)
	}
	if got := columns(); len(got) != 0 {
		t.Fatalf("restriction columns after migrating down: %v; want none", got)
	}
}
