package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
)

// TestRejectionCountMigration migrates a database to version 6 (before
// rejections carried a count) with a rejection in it; Open then adds the
// count: the old row reads as one attempt, a counted one as many, the
// column refuses a count below 1, and the way down drops it again.
func TestRejectionCountMigration(t *testing.T) {
	_, dsn := fresh(t, postgres.Options{SkipMigrate: true})
	ctx := context.Background()
	conn := connect(t, dsn)
	m := migratedTo(t, conn, 6, "007_rejection_count.sql")
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(ctx, `INSERT INTO rejections (owner, token_id, label, at, ip, agent, reason)
		VALUES ('alice', 't1', 'laptop', $1, '192.0.2.1', 'PowerBI', 'revoked')`, at); err != nil {
		t.Fatalf("inserting a version-6 rejection: %v", err)
	}

	s := open(t, dsn, postgres.Options{})
	counted := token.Rejection{TokenID: "t1", Owner: "alice", Label: "laptop", At: at.Add(time.Minute),
		IP: "192.0.2.1", Agent: "PowerBI", Reason: token.RejectRevoked, Count: 5}
	if err := s.AddRejections(ctx, []token.Rejection{counted}); err != nil {
		t.Fatalf("AddRejections: %v", err)
	}
	got, err := s.Rejections(ctx, "alice", 10)
	if err != nil || len(got) != 2 || got[0].Count != 5 || got[1].Count != 1 || !got[1].At.Equal(at) {
		t.Fatalf("Rejections after the upgrade = %+v, %v; want the new one (5), then the old row (1)", got, err)
	}
	if _, err := conn.Exec(ctx, `UPDATE rejections SET count = 0`); err == nil {
		t.Error("the count column took 0")
	}

	if err := m.MigrateTo(ctx, 6); err != nil {
		t.Fatalf("MigrateTo(6) from 7: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'rejections' AND column_name = 'count'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("count columns after migrating down: %d, %v; want 0", n, err)
	}
}

// migratedTo migrates the database of conn to version with this build's
// migrations, checking that the one after it is named next, and returns
// the migrator.
func migratedTo(t *testing.T, conn *pgx.Conn, version int32, next string) *migrate.Migrator {
	t.Helper()
	ctx := context.Background()
	m, err := migrate.NewMigrator(ctx, conn, postgres.VersionTable)
	if err != nil {
		t.Fatalf("NewMigrator: %v", err)
	}
	if err := m.LoadMigrations(os.DirFS("migrations")); err != nil {
		t.Fatalf("LoadMigrations: %v", err)
	}
	if len(m.Migrations) <= int(version) || m.Migrations[version].Name != next {
		t.Fatalf("found %d migrations; want %s as number %d", len(m.Migrations), next, version+1)
	}
	if err := m.MigrateTo(ctx, version); err != nil {
		t.Fatalf("MigrateTo(%d): %v", version, err)
	}
	return m
}
