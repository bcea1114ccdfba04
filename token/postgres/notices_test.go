package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokengate/tokengate/token/postgres"
)

// TestExpiringPageUsesIndex: with 100,000 tokens whose expiry dates spread
// over two years (made with SQL), the expiry scan's page query seeks
// tokens_expiring_idx for its 14-day window instead of reading the table:
// a scan every ten minutes costs what the window holds, not the store.
func TestExpiringPageUsesIndex(t *testing.T) {
	_, dsn := fresh(t, postgres.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, dsn)
	for _, q := range []string{
		`INSERT INTO tokens (id, owner, label, digest, created_at, expires_at, revoked_at)
		 SELECT md5(i::text), 'user' || (i % 5000), 'l', sha256(i::text::bytea), now() - interval '1 day',
		        CASE WHEN i % 7 = 0 THEN NULL ELSE now() + (i % 730) * interval '1 day' END,
		        CASE WHEN i % 10 = 0 THEN now() END
		 FROM generate_series(1, 100000) i`,
		`ANALYZE tokens`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	now := time.Now()
	ts := func(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: true} }
	for _, after := range []string{"", "8"} {
		text := queryPlan(t, conn, "EXPLAIN "+postgres.ExpiringPageSQL,
			ts(now.Add(-7*24*time.Hour)), ts(now.Add(7*24*time.Hour)), after, 501)
		if !strings.Contains(text, "tokens_expiring_idx") || strings.Contains(text, "Seq Scan") {
			t.Errorf("after %q: plan does not seek tokens_expiring_idx:\n%s", after, text)
		}
	}
}
