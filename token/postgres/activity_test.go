package postgres_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
)

// TestTouchChunkUsesIndex: with 100,000 tokens (made with SQL), one chunk of
// TouchLastUsed (TouchChunk ids) finds its rows through the primary key — an
// index scan, not a sequential scan of every token — and a flush of 2.5
// chunks records every use.
func TestTouchChunkUsesIndex(t *testing.T) {
	s, dsn := fresh(t, postgres.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, dsn)
	for _, q := range []string{
		`INSERT INTO tokens (id, owner, label, digest, created_at)
		 SELECT md5(i::text), 'user' || (i % 10000), 'l', sha256(i::text::bytea), now()
		 FROM generate_series(1, 100000) i`,
		`ANALYZE tokens`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	n := postgres.TouchChunk
	ids, ips, agents, at := make([]string, n), make([]string, n), make([]string, n), make([]pgtype.Timestamptz, n)
	now := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("%x", md5sum(fmt.Sprint(i*97+1)))
		ips[i], agents[i] = "192.0.2.1", "Microsoft.Data.Mashup"
		at[i] = pgtype.Timestamptz{Time: now, Valid: true}
	}
	text := queryPlan(t, conn, "EXPLAIN "+postgres.TouchSQL, ids, at, ips, agents)
	if !strings.Contains(text, "Index Scan") || strings.Contains(text, "Seq Scan on tokens") {
		t.Errorf("one chunk of %d ids does not use the primary key:\n%s", n, text)
	}
	t.Logf("plan of one chunk:\n%s", text)

	// A flush larger than a chunk writes every record.
	var uses []token.LastUse
	for i := 1; i <= n*5/2; i++ {
		uses = append(uses, token.LastUse{TokenID: fmt.Sprintf("%x", md5sum(fmt.Sprint(i))), At: now, IP: "192.0.2.9", Agent: "a"})
	}
	if err := s.TouchLastUsed(ctx, uses); err != nil {
		t.Fatal(err)
	}
	var got int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE last_used_ip = '192.0.2.9'`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != len(uses) {
		t.Errorf("%d of %d uses recorded", got, len(uses))
	}
}

// md5sum is Postgres's md5(text), the ids the setup generates.
func md5sum(s string) [16]byte { return md5.Sum([]byte(s)) }
