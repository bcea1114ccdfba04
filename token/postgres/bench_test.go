package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
)

// seed stores n tokens spread over n/5 owners, so that the index is not trivial.
func seed(t testing.TB, s *postgres.Store, n int) []token.Token {
	t.Helper()
	toks := make([]token.Token, n)
	for i := range toks {
		toks[i] = newToken(t, fmt.Sprintf("owner%d", i%(n/5+1)), i)
		if err := s.Create(context.Background(), toks[i], 0); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	return toks
}

// BenchmarkByDigest measures the cache-miss path of the Validator: one
// indexed lookup of a digest that is not stored.
func BenchmarkByDigest(b *testing.B) {
	s, _ := fresh(b, postgres.Options{})
	seed(b, s, 200)
	ctx := context.Background()
	digests := make([]token.Digest, 1024)
	for i := range digests {
		digests[i] = token.DigestOf(fmt.Sprint("unknown ", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.ByDigest(ctx, digests[i%len(digests)]); !errors.Is(err, token.ErrNotFound) {
			b.Fatalf("ByDigest of an unknown digest: %v, want ErrNotFound", err)
		}
		i++
	}
}

// BenchmarkByDigestLatency reports the latency distribution of ByDigest
// (half hits, half misses) against the local server as p50-µs / p99-µs;
// the design's target is p99 < 2 ms. Run it with enough lookups for a p99:
//
//	go test -run '^$' -bench ByDigestLatency -benchtime 2000x ./token/postgres
func BenchmarkByDigestLatency(b *testing.B) {
	s, _ := fresh(b, postgres.Options{})
	toks := seed(b, s, 200)
	ctx := context.Background()
	for _, tok := range toks[:20] { // warm the pool's prepared statements
		if _, err := s.ByDigest(ctx, tok.Digest); err != nil {
			b.Fatalf("ByDigest: %v", err)
		}
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		d := toks[i%len(toks)].Digest
		if i%2 == 1 {
			d = token.DigestOf(fmt.Sprint("missing ", i))
		}
		start := time.Now()
		got, err := s.ByDigest(ctx, d)
		lat = append(lat, time.Since(start))
		if i%2 == 0 && (err != nil || got.Digest != d) {
			b.Fatalf("ByDigest hit: %v", err)
		}
		if i%2 == 1 && !errors.Is(err, token.ErrNotFound) {
			b.Fatalf("ByDigest miss: %v, want ErrNotFound", err)
		}
		i++
	}
	reportLatency(b, lat)
}

// reportLatency adds p50 and p99 (in µs) of the samples to the benchmark's output.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.ReportMetric(float64(percentile(lat, 50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds()), "p99-µs")
}
