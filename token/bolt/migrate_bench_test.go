package bolt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// BenchmarkMigrate200k imports 200,000 legacy tokens of 10,000 owners,
// rewrites the file in the first format (JSON), and times the Open that
// migrates it; it reports the file's size before and after (bbolt does not
// give pages back to the file system: the space freed is reused by later
// writes; `bbolt compact` or a fresh import reclaims it) and the bytes in
// use after.
func BenchmarkMigrate200k(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "tokengate.db")
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		s.db.NoSync = true
		ts := make([]token.Token, n)
		for i := range ts {
			id, err := token.NewID()
			if err != nil {
				b.Fatal(err)
			}
			ts[i] = token.Token{ID: id, Owner: fmt.Sprintf("user%05d@example.com", i%10_000), Label: "imported",
				Digest: token.DigestOf("legacy-" + id), Hint: id[len(id)-4:]}
		}
		if err := s.Import(context.Background(), ts, "ops", time.Now().UTC()); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		downgrade(b, path)
		before := sizeOf(b, path)
		b.StartTimer()
		start := time.Now()
		if s, err = Open(path); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		st := s.db.Stats()
		inUse := int(sizeOf(b, path)) - (st.FreePageN+st.PendingPageN)*s.db.Info().PageSize
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		after := sizeOf(b, path)
		b.ReportMetric(took.Seconds(), "s/migration")
		b.ReportMetric(float64(before)/n, "bytes/token-before")
		b.ReportMetric(float64(after)/n, "bytes/token-after")
		b.ReportMetric(float64(inUse)/n, "bytes/token-in-use")
		b.StartTimer()
	}
}

func sizeOf(tb testing.TB, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}
