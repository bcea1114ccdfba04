package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

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
