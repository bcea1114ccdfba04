package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/jiraexport"
)

const (
	// streamTarget is the least body size of the big export.
	streamTarget = 200 << 20
	// maxRSSGrowth bounds the Caddy process's resident memory growth while
	// the big export streams through it.
	maxRSSGrowth = 64 << 20
	// rssEvery is the RSS sampling period.
	rssEvery = 50 * time.Millisecond
	// streamUser sees every project, so every generated issue is in the feed.
	streamUser = "carol"
)

// rowMarker starts exactly one property per Issues row ("ProjectKey" and
// escaped quotes inside values cannot produce it).
var rowMarker = []byte(`"Key":`)

// bytesPerIssue measures the average size of an Issues row as streamUser
// reads it (no compression), from a small service with the same seed.
func bytesPerIssue(t *testing.T, seed int64) float64 {
	t.Helper()
	const n = 5000
	svc, err := jiraexport.New(jiraexport.Config{Issues: n, PageSize: n, Seed: seed, BasePath: "/odata"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://proxy.example/odata/Issues", nil)
	req.Header.Set(jiraexport.UserHeader, streamUser)
	rec := httptest.NewRecorder()
	svc.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("measuring row size: status %d", rec.Code)
	}
	rows := bytes.Count(rec.Body.Bytes(), rowMarker)
	if rows != svc.VisibleIssueCount(streamUser) || rows != n {
		t.Fatalf("measuring row size: %d rows, want %d", rows, n)
	}
	return float64(rec.Body.Len()) / float64(rows)
}

// countingWriter counts bytes and occurrences of marker across writes
// without keeping the data.
type countingWriter struct {
	marker []byte
	n      int64
	hits   int
	tail   []byte // the last len(marker)-1 bytes, for matches across writes
	joined []byte
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	// Matches that straddle the previous write: look in tail + head of p.
	k := len(c.marker) - 1
	head := p
	if len(head) > k {
		head = head[:k]
	}
	c.joined = append(append(c.joined[:0], c.tail...), head...)
	c.hits += bytes.Count(c.joined, c.marker)
	c.hits += bytes.Count(p, c.marker)
	if len(p) >= k {
		c.tail = append(c.tail[:0], p[len(p)-k:]...)
	} else {
		c.tail = append(c.tail, p...)
		if len(c.tail) > k {
			c.tail = c.tail[len(c.tail)-k:]
		}
	}
	return len(p), nil
}

// rssSampler records the maximum RSS of a process every rssEvery.
type rssSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	max  int64
	n    int
	err  error
}

func sampleRSS(rss func() (int64, error)) *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		tick := time.NewTicker(rssEvery)
		defer tick.Stop()
		for {
			v, err := rss()
			if err != nil {
				s.err = err
				return
			}
			s.n++
			s.max = max(s.max, v)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the maximum seen.
func (s *rssSampler) finish(t *testing.T) int64 {
	t.Helper()
	close(s.stop)
	s.done.Wait()
	if s.err != nil {
		t.Fatalf("sampling RSS: %v", s.err)
	}
	return s.max
}

// TestBigExportStreams sends a single page of at least 200 MiB through the
// proxy (bolt store; backend and proxy in one process, as in the quickstart,
// so the RSS covers both) and asserts that the process's memory stays flat.
func TestBigExportStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MiB; skipped with -short")
	}
	const seed = 11
	perRow := bytesPerIssue(t, seed)
	issues := int(float64(streamTarget)*1.03/perRow) + 1
	if issues > jiraexport.MaxIssues {
		t.Fatalf("%d issues of %.0f bytes needed for %d bytes; more than MaxIssues", issues, perRow, streamTarget)
	}
	cfg := jiraexport.Config{Issues: issues, PageSize: issues, Seed: seed, BasePath: "/odata"}
	svc, err := jiraexport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := storeFor(t, "bolt")
	// Growth is measured against the heap the garbage collector lets
	// accumulate: with GOGC=100 that is as much garbage as the live heap
	// (the demo's generated data set included), so the threshold would
	// follow the data set's size rather than the export's. GOGC=25 keeps
	// the collector's headroom small, so what grows is what the stream
	// holds on to.
	st.env = append(st.env, "GOGC=25")
	s := startStack(t, st, cfg)
	tok := s.createToken(t, streamUser, "big export")

	get := func(t *testing.T, url, encoding string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range powerBIHeaders {
			req.Header.Set(k, v)
		}
		req.Header.Set("Accept-Encoding", encoding)
		req.Header.Set("Authorization", basicauth.Header(streamUser, tok.Token))
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		return resp
	}
	// Warm up the whole path (auth cache, connection pools, the encoder)
	// with small pages.
	for range 5 {
		resp := get(t, s.base+"/odata/Issues?$top=200", "gzip, deflate")
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("warm-up: status %d", resp.StatusCode)
		}
	}

	time.Sleep(300 * time.Millisecond)
	baseline, err := s.inst.RSS()
	if err != nil {
		t.Fatal(err)
	}

	// Both subtests measure growth against this one baseline, so the
	// second cannot hide behind the first one's peak.
	// identity: the proxy's own streaming, without the encoder's cost.
	// gzip: what Power BI asks for; the backend site compresses on the fly
	// and the proxy passes the compressed stream through.
	for _, encoding := range []string{"identity", "gzip"} {
		t.Run(encoding, func(t *testing.T) {
			sampler := sampleRSS(s.inst.RSS)
			start := time.Now()
			resp := get(t, s.base+"/odata/Issues", encoding)
			ttfb := time.Since(start)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("big export: status %d", resp.StatusCode)
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" {
				t.Errorf("big export: Content-Length %s; a streamed page has none", cl)
			}
			wire := new(byteCounter)
			var body io.Reader = io.TeeReader(resp.Body, wire)
			switch enc := resp.Header.Get("Content-Encoding"); {
			case encoding == "identity" && enc != "":
				t.Fatalf("Content-Encoding %q although identity was asked for", enc)
			case encoding == "gzip" && enc != "gzip":
				t.Fatalf("Content-Encoding %q, want gzip", enc)
			case enc == "gzip":
				zr, err := gzip.NewReader(body)
				if err != nil {
					t.Fatalf("gzip header: %v", err)
				}
				body = zr
			}
			rows := &countingWriter{marker: rowMarker}
			next := &countingWriter{marker: []byte(`"@odata.nextLink"`)}
			_, err := io.Copy(io.MultiWriter(rows, next), body)
			elapsed := time.Since(start)
			maxRSS := sampler.finish(t)
			if err != nil {
				t.Fatalf("big export: reading after %d bytes: %v", rows.n, err)
			}

			growth := maxRSS - baseline
			t.Logf("%s: body %d bytes (%.1f MiB, %d rows of ~%.0f bytes; %.1f MiB on the wire) in %s (first byte after %s): %.1f MiB/s",
				encoding, rows.n, mib(rows.n), rows.hits, perRow, mib(wire.n), elapsed.Round(time.Millisecond),
				ttfb.Round(time.Millisecond), mib(rows.n)/elapsed.Seconds())
			t.Logf("%s: Caddy RSS baseline %.1f MiB, max %.1f MiB, growth %.1f MiB (%d samples every %s)",
				encoding, mib(baseline), mib(maxRSS), mib(growth), sampler.n, rssEvery)

			if rows.n < streamTarget {
				t.Errorf("body %d bytes, want at least %d", rows.n, streamTarget)
			}
			if want := svc.VisibleIssueCount(streamUser); rows.hits != want || want != issues {
				t.Errorf("body holds %d rows, want %d (VisibleIssueCount %d)", rows.hits, issues, want)
			}
			if next.hits != 0 {
				t.Errorf("the single page carries %d nextLinks, want none", next.hits)
			}
			if ttfb > elapsed/2 {
				t.Errorf("first byte after %s of %s: the body was not streamed", ttfb, elapsed)
			}
			if sampler.n < 10 {
				t.Errorf("only %d RSS samples; the measurement says little", sampler.n)
			}
			if growth >= maxRSSGrowth {
				t.Errorf("Caddy's RSS grew by %.1f MiB while streaming (baseline %.1f, max %.1f); want < %.0f MiB",
					mib(growth), mib(baseline), mib(maxRSS), mib(maxRSSGrowth))
			}
		})
	}
}

// byteCounter counts the bytes written to it.
type byteCounter struct{ n int64 }

func (c *byteCounter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func mib(n int64) float64 { return float64(n) / (1 << 20) }
