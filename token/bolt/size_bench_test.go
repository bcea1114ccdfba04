package bolt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// createdTokens returns n new tokens of n/20 owners (20 each, as in issue
// 14's 1M tokens of 50,000 owners), with realistic owners and labels.
func createdTokens(tb testing.TB, n int, at time.Time) []token.Token {
	ts := make([]token.Token, n)
	for i := range ts {
		id, err := token.NewID()
		if err != nil {
			tb.Fatal(err)
		}
		secret, err := token.Generate()
		if err != nil {
			tb.Fatal(err)
		}
		ts[i] = token.Token{ID: id, Owner: fmt.Sprintf("user%06d@example.com", i%(n/20+1)), Label: "Power BI refresh",
			Digest: token.DigestOf(secret), Hint: token.HintOf(secret), CreatedAt: at.Add(time.Duration(i) * time.Millisecond),
			ExpiresAt: time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)}
	}
	return ts
}

// fileSize reports the size of the file at path and what each bucket takes.
func fileSize(tb testing.TB, s *bolt.Store, path string, n int) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	_, buckets, err := bolt.Stats(s)
	if err != nil {
		tb.Fatal(err)
	}
	names := make([]string, 0, len(buckets))
	total := 0
	for name, b := range buckets {
		names = append(names, name)
		total += b
	}
	sort.Strings(names)
	for _, name := range names {
		tb.Logf("%-14s %6.1f bytes/token", name, float64(buckets[name])/float64(n))
	}
	tb.Logf("pages of buckets %.1f bytes/token; file %d bytes = %.1f bytes/token", float64(total)/float64(n), fi.Size(), float64(fi.Size())/float64(n))
	return fi.Size()
}

// emptyStore opens a new file without fsync (the layout is the same).
func emptyStore(tb testing.TB) (*bolt.Store, string) {
	path := filepath.Join(tb.TempDir(), "tokengate.db")
	s, err := bolt.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	bolt.SetNoSync(s, true)
	return s, path
}

// BenchmarkFileSizeCreate creates 200,000 tokens one transaction each, as
// the token page does, and reports the file's bytes per token: 1,343 in the
// JSON format, 574 in the binary one (random keys leave the pages of
// tokens, digests and the owner indexes about two thirds full).
func BenchmarkFileSizeCreate(b *testing.B) {
	for b.Loop() {
		n := 200_000
		s, path := emptyStore(b)
		ctx := context.Background()
		for _, t := range createdTokens(b, n, time.Now().UTC()) {
			if err := s.Create(ctx, t, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(fileSize(b, s, path, n))/float64(n), "bytes/token")
		_ = s.Close()
	}
}

// BenchmarkFileSizeImport imports 200,000 legacy tokens at once and reports
// the file's bytes per token: 1,402 in the JSON format, 365 in the binary
// one (keys in order: full pages).
func BenchmarkFileSizeImport(b *testing.B) {
	for b.Loop() {
		n := 200_000
		s, path := emptyStore(b)
		if err := s.Import(context.Background(), legacyTokens(b, n), "ops", time.Now().UTC()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fileSize(b, s, path, n))/float64(n), "bytes/token")
		_ = s.Close()
	}
}
