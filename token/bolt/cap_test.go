package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/storetest"
)

// filledStore returns a file holding n never-expiring legacy tokens, all
// due for a cap, imported in chunks so the import's own memory is gone
// before the cap is measured.
func filledStore(tb testing.TB, n int) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(filepath.Join(tb.TempDir(), "tokengate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	for done := 0; done < n; done += 50_000 {
		ts := legacyTokens(tb, min(50_000, n-done))
		for i := range ts {
			ts[i].Owner = fmt.Sprintf("user%d", (done+i)%5000)
		}
		if err := s.Import(context.Background(), ts, "ops", time.Now().UTC()); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// TestCapMemoryFlat caps 2,000 and then 20,000 tokens: the peak heap of
// the larger run stays within a small multiple of the smaller one's plus
// 4 MiB. A cap that held every changed token or event (as one transaction
// did: 1.7 GB at 1M tokens) needs ~10 MiB more at 20,000.
func TestCapMemoryFlat(t *testing.T) {
	small := storetest.MeasureCap(t, filledStore(t, 2_000))
	large := storetest.MeasureCap(t, filledStore(t, 20_000))
	if small.Changed != 2_000 || large.Changed != 20_000 {
		t.Fatalf("changed %d and %d tokens, want 2,000 and 20,000", small.Changed, large.Changed)
	}
	t.Logf("peak heap: %d KiB at 2,000 tokens, %d KiB at 20,000", small.PeakHeap>>10, large.PeakHeap>>10)
	if large.PeakHeap > 3*small.PeakHeap+4<<20 {
		t.Errorf("peak heap grows with the token count: %d KiB at 2,000 tokens, %d KiB at 20,000",
			small.PeakHeap>>10, large.PeakHeap>>10)
	}
}

// BenchmarkCapLifetime caps 10,000 and 100,000 never-expiring tokens
// through the Service (batches of token.DefaultCapBatch) and reports the
// time per token and the peak heap above the start.
func BenchmarkCapLifetime(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			var peak uint64
			var took time.Duration
			for range b.N {
				b.StopTimer()
				s := filledStore(b, n)
				b.StartTimer()
				r := storetest.MeasureCap(b, s)
				if r.Changed != n {
					b.Fatalf("changed %d tokens, want %d", r.Changed, n)
				}
				peak, took = max(peak, r.PeakHeap), took+r.Took
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N*n), "ns/token")
		})
	}
}

// TestCapBatchBounded: whatever batch asks, one transaction caps at most
// bolt.MaxCapBatch tokens and hands back the cursor of the rest.
func TestCapBatchBounded(t *testing.T) {
	s := filledStore(t, bolt.MaxCapBatch+500)
	ctx, now := context.Background(), time.Now().UTC()
	first, next, err := s.CapExpiry(ctx, now.Add(time.Hour), "ops", now, "", 10*bolt.MaxCapBatch)
	if err != nil || len(first) != bolt.MaxCapBatch || next == "" {
		t.Fatalf("first batch: %d changed, next %q, %v; want %d and a cursor", len(first), next, err, bolt.MaxCapBatch)
	}
	rest, next, err := s.CapExpiry(ctx, now.Add(time.Hour), "ops", now, next, 10*bolt.MaxCapBatch)
	if err != nil || len(rest) != 500 || next != "" {
		t.Fatalf("second batch: %d changed, next %q, %v; want 500 and no cursor", len(rest), next, err)
	}
}
