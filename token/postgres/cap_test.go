package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// fillSQL inserts $1 tokens of 5,000 owners with SQL (not through the
// store): two in three never expire or expire in ~3 years (due for a 90-day
// cap), one in three expires in 10 days (left alone).
const fillSQL = `INSERT INTO tokens (id, owner, label, digest, hint, created_at, expires_at)
	SELECT format('tok-%s', lpad(i::text, 8, '0')), 'user' || (i % 5000), 'label ' || i,
		sha256(('secret ' || i)::bytea), 'abcd', CASE WHEN i % 3 = 0 THEN NULL ELSE now() - interval '1 day' END,
		CASE WHEN i % 3 = 1 THEN now() + interval '10 days' WHEN i % 3 = 2 THEN now() + interval '1000 days' END
	FROM generate_series(1, $1) i`

// filledStore returns a store on a new database holding n tokens made by
// fillSQL, analyzed, and how many of them a 90-day cap changes.
func filledStore(tb testing.TB, n int) (*postgres.Store, string, int) {
	tb.Helper()
	s, dsn := fresh(tb, postgres.Options{})
	conn := connect(tb, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, fillSQL, n); err != nil {
		tb.Fatalf("filling %d tokens: %v", n, err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE tokens`); err != nil {
		tb.Fatalf("ANALYZE: %v", err)
	}
	return s, dsn, n - (n+2)/3 // i % 3 == 1 for (n+2)/3 of 1..n
}

// TestCapMemoryFlat caps 2,000 and then 20,000 tokens: the peak heap of
// the larger run stays within a small multiple of the smaller one's plus
// 4 MiB. A cap that held every changed token or event (as one transaction
// did: 1.7 GB at 1M tokens) needs ~10 MiB more at 20,000.
func TestCapMemoryFlat(t *testing.T) {
	s1, _, want1 := filledStore(t, 3_000)
	s2, _, want2 := filledStore(t, 30_000)
	small, large := storetest.MeasureCap(t, s1), storetest.MeasureCap(t, s2)
	if small.Changed != want1 || large.Changed != want2 {
		t.Fatalf("changed %d and %d tokens, want %d and %d", small.Changed, large.Changed, want1, want2)
	}
	t.Logf("peak heap: %d KiB at %d changed, %d KiB at %d", small.PeakHeap>>10, want1, large.PeakHeap>>10, want2)
	if large.PeakHeap > 3*small.PeakHeap+4<<20 {
		t.Errorf("peak heap grows with the token count: %d KiB at %d tokens, %d KiB at %d",
			small.PeakHeap>>10, want1, large.PeakHeap>>10, want2)
	}
}

// TestCapBatchUsesIndex: at 100,000 tokens the batch's plan reads the
// next ids from the partial index of unrevoked tokens by id and updates
// rows by primary key; it never scans the table.
func TestCapBatchUsesIndex(t *testing.T) {
	_, dsn, _ := filledStore(t, 100_000)
	conn := connect(t, dsn)
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	text := queryPlan(t, tx, `EXPLAIN (ANALYZE, COSTS OFF) `+postgres.CapSQL,
		time.Now().Add(90*24*time.Hour), time.Now(), "ops", "tok-00050000", 5000, "cap", "expires_at x, was ",
		postgres.Channel, 100)
	if strings.Contains(text, "Seq Scan on tokens") || !strings.Contains(text, "tokens_unrevoked_id_idx") ||
		!strings.Contains(text, "tokens_pkey") {
		t.Errorf("the cap batch does not use the indexes:\n%s", text)
	}
}

// BenchmarkCapLifetime caps 10,000 and 100,000 SQL-generated tokens (two
// in three due) through the Service and reports the time per token and
// the peak heap above the start.
func BenchmarkCapLifetime(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			var peak uint64
			var took time.Duration
			for range b.N {
				b.StopTimer()
				s, _, want := filledStore(b, n)
				b.StartTimer()
				r := storetest.MeasureCap(b, s)
				if r.Changed != want {
					b.Fatalf("changed %d tokens, want %d", r.Changed, want)
				}
				peak, took = max(peak, r.PeakHeap), took+r.Took
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N*n), "ns/token")
		})
	}
}
