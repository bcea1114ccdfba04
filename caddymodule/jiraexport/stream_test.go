package jiraexport

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// recordingWriter records how a response is written: every Write and Flush.
type recordingWriter struct {
	header       http.Header
	status       int
	body         bytes.Buffer
	writes       int
	flushes      int
	maxWrite     int
	firstFlushAt int // body bytes written when the first Flush came
	keep         bool
	total        int
}

func (w *recordingWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.writes++
	w.total += len(p)
	w.maxWrite = max(w.maxWrite, len(p))
	if w.keep {
		w.body.Write(p)
	}
	return len(p), nil
}

func (w *recordingWriter) Flush() {
	if w.flushes == 0 {
		w.firstFlushAt = w.total
	}
	w.flushes++
}

func serveTo(svc *Service, w http.ResponseWriter, target, user string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set(UserHeader, user)
	svc.ServeHTTP(w, req)
}

func TestLargePageStreams(t *testing.T) {
	svc, err := New(Config{Issues: 20000, PageSize: 20000})
	if err != nil {
		t.Fatal(err)
	}
	w := &recordingWriter{keep: true}
	serveTo(svc, w, "/Issues", "carol")
	if w.status != http.StatusOK {
		t.Fatalf("status %d: %s", w.status, truncate(w.body.Bytes()))
	}
	var p page[keyOnly]
	if err := json.Unmarshal(w.body.Bytes(), &p); err != nil {
		t.Fatalf("streamed body is not valid JSON: %v", err)
	}
	if len(p.Value) != 20000 || p.NextLink != "" {
		t.Fatalf("%d rows, nextLink %q", len(p.Value), p.NextLink)
	}
	t.Logf("%d bytes in %d writes (largest %d), %d flushes, first flush after %d bytes",
		w.total, w.writes, w.maxWrite, w.flushes, w.firstFlushAt)
	if w.total < 4<<20 {
		t.Fatalf("body only %d bytes; the test needs a large page", w.total)
	}
	if w.maxWrite > 64<<10 {
		t.Fatalf("largest single write is %d bytes: the body is buffered, not streamed", w.maxWrite)
	}
	if w.writes < w.total/(64<<10) {
		t.Fatalf("%d writes for %d bytes", w.writes, w.total)
	}
	if w.flushes < w.total/(512<<10) || w.firstFlushAt > 64<<10 {
		t.Fatalf("%d flushes, first after %d bytes: the response is not flushed while streaming", w.flushes, w.firstFlushAt)
	}
}

// allocatedBytes is the heap allocation of serving target into a writer
// that discards the body, and the body size.
func allocatedBytes(svc *Service, target string) (alloc uint64, body int) {
	w := &recordingWriter{}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	serveTo(svc, w, target, "carol")
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, w.total
}

func TestStreamingMemoryIsNotProportionalToBody(t *testing.T) {
	svc, err := New(Config{Issues: 30000, PageSize: 30000})
	if err != nil {
		t.Fatal(err)
	}
	allocatedBytes(svc, "/Issues?$top=10") // warm up
	small, smallBody := allocatedBytes(svc, "/Issues?$top=1000")
	big, bigBody := allocatedBytes(svc, "/Issues")
	t.Logf("1000 rows: %d body bytes, %d allocated; 30000 rows: %d body bytes, %d allocated", smallBody, small, bigBody, big)
	// Buffering the body would allocate at least its size (in fact about
	// twice, with slice growth); streaming allocates only the per-row
	// strings, a fraction of the encoded size.
	if big > uint64(bigBody)/2 {
		t.Fatalf("serving a %d byte page allocated %d bytes: looks like whole-body buffering", bigBody, big)
	}
}

func TestClientGoneStopsStreaming(t *testing.T) {
	svc, err := New(Config{Issues: 20000, PageSize: 20000})
	if err != nil {
		t.Fatal(err)
	}
	w := &failingWriter{failAfter: 3}
	req := httptest.NewRequest(http.MethodGet, "/Issues", nil)
	req.Header.Set(UserHeader, "carol")
	if err := svc.Serve(w, req); err == nil {
		t.Fatal("Serve returned nil although writes failed")
	}
	if w.writes != 4 {
		t.Fatalf("%d writes; streaming should stop at the first failed write (4)", w.writes)
	}
}

type failingWriter struct {
	recordingWriter
	failAfter int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.writes > w.failAfter {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

func BenchmarkEncodePage1000(b *testing.B) {
	svc, err := New(Config{Issues: 50000, PageSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	w := &recordingWriter{}
	serveTo(svc, w, "/Issues", "carol")
	b.SetBytes(int64(w.total))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serveTo(svc, &recordingWriter{}, "/Issues", "carol")
	}
}

func BenchmarkNew50000(b *testing.B) {
	for b.Loop() {
		if _, err := New(Config{Issues: 50000}); err != nil {
			b.Fatal(err)
		}
	}
}
