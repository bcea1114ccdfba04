//go:build scale

package scale

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// The generated tokens (both stores): token i belongs to ownerName(i %
// owners), its secret is secretOf(i) (a prefix-less legacy-style string, so
// its digest and hint are real), legacy ones never expire, dated ones expire
// at midnight UTC expiryDays(i) days from today — never in the window
// [80, 100] days, so that `cap-lifetime 90d` changes exactly the tokens
// living longer than 100 days plus the never-expiring ones.
const (
	capLifetime  = "90d"
	capCertainly = 100 // days: dated tokens expiring later than this are capped, earlier ones not
	scaleActor   = "scale-import"
)

func ownerName(i int) string { return fmt.Sprintf("user%06d", i) }

func secretOf(i int) string { return fmt.Sprintf("scale-secret-%d", i) }

// expiryDays is the expiry of dated token i in days from today (SQL twin in pgTokensSQL).
func expiryDays(i int) int {
	d := 1 + i%730
	if d >= 80 && d <= capCertainly {
		d += 30
	}
	return d
}

// dataset is one generated store, ready for an instance.
type dataset struct {
	store     string // "postgres" or "bolt"
	tokens    int
	owners    int
	dir       string   // the instance's working directory
	directive string   // the Caddyfile store line
	env       []string // for the instance and the CLI
	unrevoked int      // what `tokens list` must print
	capped    int      // what `tokens cap-lifetime 90d` must change
	genTime   time.Duration
	open      func(t testing.TB) token.Store // bolt: only while no instance runs
}

// fileSize is the size of the bolt file (0 for Postgres).
func (d *dataset) fileSize() int64 {
	if d.store != "bolt" {
		return 0
	}
	fi, err := os.Stat(filepath.Join(d.dir, "data", "tokengate.db"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// sampleOwners returns n owners spread over the dataset.
func (d *dataset) sampleOwners(n int) []string {
	n = min(n, d.owners)
	out := make([]string, n)
	for k := range out {
		out[k] = ownerName(k * d.owners / n)
	}
	return out
}

// pgTokensSQL inserts tokens 0 … $1-1 over $2 owners at $3 (now): odd ones
// legacy (i % 1000 = 7 revoked), even ones dated; the events each change
// would have written follow in pgEventsSQL.
const pgTokensSQL = `
INSERT INTO tokens (id, owner, label, digest, hint, created_at, expires_at, revoked_at, revoked_by)
SELECT substr(md5('scale-id-' || i), 1, 20),
       'user' || lpad((i % $2)::text, 6, '0'),
       'Report ' || i,
       sha256(convert_to('scale-secret-' || i, 'UTF8')),
       right('scale-secret-' || i, 4),
       CASE WHEN i % 2 = 0 THEN $3::timestamptz - (i % 700) * interval '1 hour' END,
       CASE WHEN i % 2 = 0 THEN date_trunc('day', $3::timestamptz) + (d + CASE WHEN d BETWEEN 80 AND 100 THEN 30 ELSE 0 END) * interval '1 day' END,
       CASE WHEN i % 1000 = 7 THEN $3::timestamptz END,
       CASE WHEN i % 1000 = 7 THEN 'scale-admin' ELSE '' END
FROM generate_series(0, $1 - 1) AS i, LATERAL (SELECT 1 + i % 730 AS d) AS e`

const pgEventsSQL = `
INSERT INTO events (at, kind, actor, owner, token_id, label)
SELECT coalesce(created_at, $1), CASE WHEN created_at IS NULL THEN 'import' ELSE 'create' END,
       CASE WHEN created_at IS NULL THEN '` + scaleActor + `' ELSE owner END, owner, id, label
FROM tokens;
`

const pgRevokeEventsSQL = `
INSERT INTO events (at, kind, actor, owner, token_id, label)
SELECT revoked_at, 'revoke', revoked_by, owner, id, label FROM tokens WHERE revoked_at IS NOT NULL`

// genPostgres makes a fresh database (dropped when the test ends), lets the
// store's Open migrate it, and fills it with SQL.
func genPostgres(t *testing.T, n, owners int, now time.Time) *dataset {
	t.Helper()
	start := time.Now()
	dsn := storetest.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	st.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	rebuild := dropIndexes(ctx, t, conn)
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{"SET synchronous_commit = off", nil},
		{"SET maintenance_work_mem = '256MB'", nil},
		{pgTokensSQL, []any{n, owners, now}},
		{pgEventsSQL, []any{now}},
		{pgRevokeEventsSQL, nil},
	} {
		if _, err := conn.Exec(ctx, step.sql, step.args...); err != nil {
			t.Fatalf("generating %d tokens: %v\n%s", n, err, step.sql)
		}
	}
	inserted := time.Since(start)
	for _, def := range append(rebuild, "ANALYZE") {
		if _, err := conn.Exec(ctx, def); err != nil {
			t.Fatalf("after generating %d tokens: %v\n%s", n, err, def)
		}
	}
	t.Logf("postgres: %d tokens and their events inserted in %s, %d indexes built and analyzed in %s",
		n, inserted.Round(time.Millisecond), len(rebuild), (time.Since(start) - inserted).Round(time.Millisecond))
	d := &dataset{store: "postgres", tokens: n, owners: owners, dir: t.TempDir(),
		directive: "store postgres {env.TG_SCALE_DSN}", env: []string{"TG_SCALE_DSN=" + dsn}}
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE revoked_at IS NULL),
		count(*) FILTER (WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1))
		FROM tokens`, now.AddDate(0, 0, capCertainly-5)).Scan(&d.unrevoked, &d.capped)
	if err != nil {
		t.Fatalf("counting generated tokens: %v", err)
	}
	d.open = func(t testing.TB) token.Store {
		st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		return st
	}
	d.genTime = time.Since(start)
	return d
}

// dropIndexes drops the indexes of tokens and events — plain ones and the
// primary key and unique constraints no foreign key depends on, whatever
// the migrations made — and returns the statements that create them
// again: built once over a million rows they cost a sort each, where a
// million inserts would each walk every index at a random place.
func dropIndexes(ctx context.Context, t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(ctx, `
		SELECT 'DROP INDEX ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i
		WHERE i.indrelid IN ('tokens'::regclass, 'events'::regclass)
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
		UNION ALL
		SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
		       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
		FROM pg_constraint c
		WHERE c.conrelid IN ('tokens'::regclass, 'events'::regclass) AND c.contype IN ('p', 'u')
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)`)
	if err != nil {
		t.Fatalf("reading the indexes: %v", err)
	}
	type index struct{ Drop, Create string }
	idx, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		t.Fatalf("reading the indexes: %v", err)
	}
	creates := make([]string, 0, len(idx))
	for _, ix := range idx {
		if _, err := conn.Exec(ctx, ix.Drop); err != nil {
			t.Fatalf("%s: %v", ix.Drop, err)
		}
		creates = append(creates, ix.Create)
	}
	return creates
}

// Bolt: every token but a few is a legacy one, brought in by the store's
// own Import in chunks (linear); boltDated tokens are created one by one
// and boltRevoked legacy ones revoked, for the mix.
// Their ids ascend in generation order, so each chunk appends to the
// tokens bucket instead of rewriting its pages.
const boltImportChunk = 250_000

func boltDated(n int) int   { return min(n/2, 300) }
func boltRevoked(n int) int { return max(1, min(n/1000, 50)) }

// genBolt fills a new bolt file in the instance directory.
func genBolt(t *testing.T, n, owners int, now time.Time) *dataset {
	t.Helper()
	start := time.Now()
	d := &dataset{store: "bolt", tokens: n, owners: owners, dir: t.TempDir(),
		directive: "store bolt ./data/tokengate.db"}
	path := filepath.Join(d.dir, "data", "tokengate.db")
	d.open = func(t testing.TB) token.Store {
		st, err := bolt.Open(path)
		if err != nil {
			t.Fatalf("open bolt: %v", err)
		}
		return st
	}
	st := d.open(t)
	defer st.Close()
	ctx := context.Background()
	dated, revoked := boltDated(n), boltRevoked(n)
	legacy := n - dated
	var revokeIDs []string
	for from := 0; from < legacy; from += boltImportChunk {
		ts := make([]token.Token, 0, min(boltImportChunk, legacy-from))
		for i := from; i < from+cap(ts); i++ {
			ts = append(ts, genToken(i, owners))
		}
		for _, tk := range ts {
			if len(revokeIDs) < revoked {
				revokeIDs = append(revokeIDs, tk.ID)
			}
		}
		if err := st.Import(ctx, ts, scaleActor, now); err != nil {
			t.Fatalf("bolt import of tokens %d…%d: %v", from, from+len(ts)-1, err)
		}
	}
	d.capped = legacy - revoked
	imported := time.Since(start)
	today := now.Truncate(24 * time.Hour)
	for i := legacy; i < n; i++ {
		tk := genToken(i, owners)
		tk.CreatedAt = now.Add(-time.Duration(i%700) * time.Hour)
		tk.ExpiresAt = today.AddDate(0, 0, expiryDays(i))
		if expiryDays(i) > capCertainly {
			d.capped++
		}
		if err := st.Create(ctx, tk, 0); err != nil {
			t.Fatalf("bolt create of token %d: %v", i, err)
		}
	}
	for _, id := range revokeIDs {
		if _, err := st.Revoke(ctx, id, "", "scale-admin", now); err != nil {
			t.Fatalf("bolt revoke %s: %v", id, err)
		}
	}
	d.unrevoked = n - revoked
	d.genTime = time.Since(start)
	t.Logf("bolt: %d legacy tokens imported in %s, %d created and %d revoked in %s", legacy, imported.Round(time.Millisecond),
		dated, revoked, (d.genTime - imported).Round(time.Millisecond))
	return d
}

// genToken is generated token i (legacy: no dates), with an id shaped as
// token.NewID makes them (20 hex digits) that ascends with i.
func genToken(i, owners int) token.Token {
	s := secretOf(i)
	return token.Token{ID: fmt.Sprintf("%020x", i+1), Owner: ownerName(i % owners), Label: fmt.Sprintf("Report %d", i),
		Digest: token.DigestOf(s), Hint: token.HintOf(s)}
}
