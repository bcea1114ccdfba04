package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/tern/v2/migrate"
)

// migrationFiles holds the schema migrations, applied in file-name order
// (NNN_name.sql, tern's format: text/template SQL, an optional
// "---- create above / drop below ----" section for the way down).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable is the table in which tern records the schema version. It is
// not schema-qualified, so it follows the search_path like the other tables.
const VersionTable = "tokengate_schema_version"

// Migrate applies pending schema migrations. It is safe to run from several
// instances at once: tern holds a session advisory lock (scoped to the
// database) while it reads the version and migrates, and every migration runs
// in its own transaction, so a latecomer waits and then finds nothing to do.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, "migrate") }

// migrate is Migrate with errors attributed to op.
func (s *Store) migrate(ctx context.Context, op string) error {
	if err := s.checkOpen(op); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.wrap(op, err)
	}
	defer conn.Release()

	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		return s.wrap(op+": preparing the version table", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres %s: %w", op, err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("postgres %s: loading embedded migrations: %w", op, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// SchemaVersion returns the applied schema version and the version this
// build's migrations lead to.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int32, err error) {
	if err := s.checkOpen("schema version"); err != nil {
		return 0, 0, err
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, 0, fmt.Errorf("postgres schema version: %w", err)
	}
	names, err := migrate.FindMigrations(sub)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres schema version: %w", err)
	}
	err = s.pool.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&current)
	if err != nil {
		return 0, 0, s.wrap("schema version", err)
	}
	return current, int32(len(names)), nil
}
