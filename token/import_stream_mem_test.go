package token_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/storetest"
)

// writeImportFile writes importFile(n) to a temporary file, row by row.
func writeImportFile(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), fmt.Sprintf("import-%d.csv", n))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "owner,label,token")
	for i := range n {
		if _, err := w.WriteString(importLine(i)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// importRun is what measureImport saw of one import.
type importRun struct {
	result   token.ImportResult
	took     time.Duration
	peakHeap uint64 // most HeapInuse during the run above the start
}

// measureImport imports the file at path into st through a Service,
// sampling the heap in use (storetest.PeakHeap).
func measureImport(tb testing.TB, st token.Store, path string, chunk int) importRun {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	svc := token.NewService(st, token.Policy{}, nil, nil)
	var r importRun
	r.peakHeap, r.took = storetest.PeakHeap(func() {
		r.result, err = svc.ImportCSV(context.Background(), importer, f, token.ImportOptions{Chunk: chunk})
	})
	if err != nil {
		tb.Fatalf("ImportCSV: %v", err)
	}
	return r
}

// TestImportCSVMemoryFlat: importing 4× the rows (3,000 vs 12,000, in
// chunks of 100) raises the peak heap by no more than the digest set's
// growth (48 bytes a row, twice that while the slice grows) plus 4 MiB of
// slack, on both stores. Holding every row or the whole import in one
// transaction (as before) costs ~1 KB a row: 9 MB more. The chunks are
// small so that a chunk touches fewer pages than the bolt file's indexes
// hold, as 1,000-row chunks do from ~70k tokens on (below that a chunk
// rewrites every page of an index, and the heap grows with the file).
func TestImportCSVMemoryFlat(t *testing.T) {
	for name, open := range importStores {
		t.Run(name, func(t *testing.T) {
			small := measureImport(t, open(t), writeImportFile(t, 3000), 100)
			large := measureImport(t, open(t), writeImportFile(t, 12000), 100)
			if small.result.Imported != 3000 || large.result.Imported != 12000 {
				t.Fatalf("imported %d and %d, want 3000 and 12000", small.result.Imported, large.result.Imported)
			}
			t.Logf("peak heap: 3k rows %.1f MiB, 12k rows %.1f MiB", mib(small.peakHeap), mib(large.peakHeap))
			if allowed := small.peakHeap + 9000*96 + 4<<20; large.peakHeap > allowed {
				t.Errorf("peak heap %.1f MiB at 12k rows, want at most %.1f MiB (3k rows: %.1f MiB)",
					mib(large.peakHeap), mib(allowed), mib(small.peakHeap))
			}
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkImportCSV imports 50k and 200k rows (and 1M with
// TOKENGATE_BENCH_IMPORT_1M=1) from a file into an empty store of each kind
// in the default chunks, reporting the peak heap above the start and the
// time per row.
func BenchmarkImportCSV(b *testing.B) {
	sizes := []int{50000, 200000}
	if os.Getenv("TOKENGATE_BENCH_IMPORT_1M") == "1" {
		sizes = append(sizes, 1000000)
	}
	for _, name := range []string{"bolt", "postgres"} {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/%dk", name, n/1000), func(b *testing.B) {
				path := writeImportFile(b, n)
				var peak uint64
				var took time.Duration
				for range b.N {
					b.StopTimer()
					st := importStores[name](b)
					b.StartTimer()
					r := measureImport(b, st, path, 0)
					if r.result.Imported != n {
						b.Fatalf("imported %d, want %d", r.result.Imported, n)
					}
					peak, took = max(peak, r.peakHeap), took+r.took
				}
				b.ReportMetric(mib(peak), "peak-heap-MiB")
				b.ReportMetric(float64(took.Microseconds())/float64(n*b.N), "µs/row")
			})
		}
	}
}
