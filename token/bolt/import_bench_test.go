package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// legacyTokens returns n importable legacy tokens of n/10 owners.
func legacyTokens(tb testing.TB, n int) []token.Token {
	ts := make([]token.Token, n)
	for i := range ts {
		id, err := token.NewID()
		if err != nil {
			tb.Fatal(err)
		}
		secret := fmt.Sprintf("legacy-secret-%d-%s", i, id)
		ts[i] = token.Token{ID: id, Owner: fmt.Sprintf("user%d", i%(n/10+1)), Label: "imported",
			Digest: token.DigestOf(secret), Hint: token.HintOf(secret)}
	}
	return ts
}

// importTime imports n legacy tokens into an empty file and returns how long it took.
func importTime(tb testing.TB, n int) time.Duration {
	s, err := bolt.Open(filepath.Join(tb.TempDir(), "tokengate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	ts := legacyTokens(tb, n)
	start := time.Now()
	if err := s.Import(context.Background(), ts, "ops", time.Now().UTC()); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkImport imports 50,000, 100,000 and 200,000 legacy tokens into an
// empty file (before issue 14's fix: 8.0 s and 33.9 s, quadratic; after:
// 0.5 s, 1.1 s, 2.1 s — linear but for the sorts' log n; with the binary
// format, on a machine at load 8 on 2 CPUs: 0.8–1.0 s and 4.9–6.4 s, CPU
// 0.38 s and 1.76 s). A benchmark, not a timed test: a loaded CI machine
// must not turn a slow run into a red one.
func BenchmarkImport(b *testing.B) {
	for _, n := range []int{50_000, 100_000, 200_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				b.ReportMetric(importTime(b, n).Seconds(), "s/import")
			}
		})
	}
}
