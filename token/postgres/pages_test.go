package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token/postgres"
)

// TestPageQueriesUseIndexes: with 100,000 tokens and as many events (made
// with SQL; half of each of one owner, the rest of 5,000 others), every
// ListPage and HistoryPage query, of everybody or of the big owner, is a
// keyset scan of an index: no sequential scan and no sort, so a page costs
// the same on the first page and the last. (For an owner with a handful of
// tokens the planner rightly sorts the few rows it fetches by owner.)
func TestPageQueriesUseIndexes(t *testing.T) {
	_, dsn := fresh(t, postgres.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, dsn)
	for _, q := range []string{
		`INSERT INTO tokens (id, owner, label, digest, created_at, revoked_at)
		 SELECT md5(i::text), CASE WHEN i % 2 = 0 THEN 'big' ELSE 'user' || (i % 10000) END, 'l', sha256(i::text::bytea), now(),
		        CASE WHEN i % 10 = 0 THEN now() END
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO events (at, kind, actor, owner, token_id, label)
		 SELECT now() - i * interval '1 second', 'create', 'a', CASE WHEN i % 2 = 0 THEN 'big' ELSE 'user' || (i % 10000) END, md5(i::text), 'l'
		 FROM generate_series(1, 100000) i`,
		`ANALYZE tokens`, `ANALYZE events`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	type query struct {
		name, index string
		q           string
		args        []any
	}
	var qs []query
	for _, c := range []struct{ owner, after string }{{"", ""}, {"", "8"}, {"big", ""}, {"big", "8"}} {
		q, args := postgres.ListPageQuery(c.owner, 101, c.after)
		idx := "tokens_unrevoked_id_idx"
		if c.owner != "" {
			idx = "tokens_owner_id_idx"
		}
		qs = append(qs, query{"ListPage(" + c.owner + ", " + c.after + ")", idx, q, args})
	}
	mid := time.Now().Add(-50000 * time.Second)
	for _, owner := range []string{"", "big"} {
		for _, cursor := range []bool{false, true} {
			q, args := postgres.HistoryPageQuery(owner, 101, cursor, mid, 50000)
			idx := "events_at_idx"
			if owner != "" { // half the events are big's: filtering the newest is as good
				idx = "events_owner_idx|events_at_idx"
			}
			qs = append(qs, query{"HistoryPage(" + owner + ")", idx, q, args})
		}
	}
	for _, q := range qs {
		text := queryPlan(t, conn, "EXPLAIN "+q.q, q.args...)
		uses := false
		for _, idx := range strings.Split(q.index, "|") {
			uses = uses || strings.Contains(text, idx)
		}
		if !uses || strings.Contains(text, "Seq Scan") || strings.Contains(text, "Sort") {
			t.Errorf("%s: plan does not seek %s:\n%s", q.name, q.index, text)
		}
	}
}
