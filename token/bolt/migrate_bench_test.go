package bolt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// BenchmarkMigrate200k imports 200,000 legacy tokens of 10,000 owners,
// rewrites the file in the first format (JSON), and times the Open that
// migrates it; it reports the file's size before and after (bbolt does not
// give pages back to the file system: the space freed is reused by later
// writes; `bbolt compact` — measured here too — or a fresh import reclaims
// it) and the bytes in
// use (the pages of the buckets) before and after: values shrink in place,
// and bbolt merges a page only when it is less than a quarter full, so the
// pages stay about as many), and the peak heap during the migration (flat:
// 10,000 values per transaction; 29 MiB for a 233 MB file).
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
		before, usedBefore := sizeOf(b, path), bucketBytes(b, path)
		runtime.GC()
		stop := samplePeakHeap()
		b.StartTimer()
		start := time.Now()
		if s, err = Open(path); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		peak := stop()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		after, usedAfter := sizeOf(b, path), bucketBytes(b, path)
		compacted := compactedSize(b, path)
		b.ReportMetric(took.Seconds(), "s/migration")
		b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
		b.ReportMetric(float64(before)/n, "bytes/token-before")
		b.ReportMetric(float64(after)/n, "bytes/token-after")
		b.ReportMetric(float64(compacted)/n, "bytes/token-compacted")
		b.ReportMetric(float64(usedBefore)/n, "page-bytes/token-before")
		b.ReportMetric(float64(usedAfter)/n, "page-bytes/token-after")
		b.StartTimer()
	}
}

// compactedSize copies the file at path as `bbolt compact` does (every
// bucket in key order, pages filled) and returns the copy's size.
func compactedSize(tb testing.TB, path string) int64 {
	src, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	dst, err := bbolt.Open(path+".compact", 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer dst.Close()
	if err := bbolt.Compact(dst, src, 64<<20); err != nil {
		tb.Fatal(err)
	}
	return sizeOf(tb, path+".compact")
}

// bucketBytes is what the pages of every bucket of the file at path take
// (read as it is: no migration).
func bucketBytes(tb testing.TB, path string) int {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	total := 0
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			st := b.Stats()
			total += st.BranchAlloc + st.LeafAlloc
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return total
}

// samplePeakHeap samples the heap in use every 5 ms until the returned
// function is called, which returns the largest sample.
func samplePeakHeap() func() uint64 {
	done, result := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-result }
}

func sizeOf(tb testing.TB, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}
