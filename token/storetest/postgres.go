package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresEnv names the environment variable holding the DSN of the Postgres
// server that tests create their databases on. The user must be allowed to
// CREATE and DROP databases.
const PostgresEnv = "TOKENGATE_TEST_POSTGRES_DSN"

// defaultPostgresDSN is tried when PostgresEnv is not set.
const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// probeTimeout bounds how long finding the test server may take.
const probeTimeout = 2 * time.Second

// admin is the per-process connection to the base server; it is probed once.
var admin struct {
	once sync.Once
	dsn  string
	pool *pgxpool.Pool
	err  error
}

// PostgresAdminDSN returns the DSN of the base test server (see PostgresEnv).
// When no server answers, the test is skipped, or fails when the environment
// variable CI is "true": Postgres tests never skip in CI.
func PostgresAdminDSN(t testing.TB) string {
	t.Helper()
	adminPool(t)
	return admin.dsn
}

// PostgresDSN creates a brand-new, empty database tg_<random> on the base test
// server and returns its DSN; the database is dropped (WITH (FORCE), so open
// connections do not block it) when the test and its other cleanups are done.
// It skips or fails like PostgresAdminDSN when no server answers.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	pool := adminPool(t)

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("storetest: random database name: %v", err)
	}
	name := "tg_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("storetest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: dropping database %s: %v", name, err)
		}
	})

	dsn, err := withDatabase(admin.dsn, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return dsn
}

// adminPool returns the process-wide pool on the base server, skipping or
// failing t when there is none.
func adminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	admin.once.Do(func() {
		admin.dsn = os.Getenv(PostgresEnv)
		source := "$" + PostgresEnv
		if admin.dsn == "" {
			admin.dsn = defaultPostgresDSN
			source = "the default " + defaultPostgresDSN
		}
		admin.pool, admin.err = connectAdmin(admin.dsn)
		if admin.err != nil {
			admin.err = fmt.Errorf("no Postgres test server at %s (set %s to a server where the user may create databases): %w",
				source, PostgresEnv, admin.err)
		}
	})
	if admin.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("storetest: %v; Postgres tests never skip in CI", admin.err)
		}
		t.Skipf("storetest: %v", admin.err)
	}
	return admin.pool
}

// connectAdmin opens a small pool on dsn and checks that it answers within
// probeTimeout. Errors never contain the DSN's password: pgx does not echo it.
func connectAdmin(dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing the DSN failed (check its syntax)")
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = probeTimeout
	cfg.ConnConfig.RuntimeParams["application_name"] = "tokengate-storetest"
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// withDatabase returns dsn (URL or keyword=value form) pointing at database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("base DSN is not a valid URL")
		}
		u.Path = "/" + name
		q := u.Query()
		if q.Has("dbname") {
			q.Set("dbname", name)
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	// In keyword=value form the last setting of a keyword wins.
	return dsn + " dbname=" + name, nil
}
