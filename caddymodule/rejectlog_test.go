package caddymodule

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// rejectLogClock is a fake clock for rejection log tests.
type rejectLogClock struct {
	mu sync.Mutex
	t  time.Time
}

// newRejectLogClock returns a fake clock at a fixed instant.
func newRejectLogClock() *rejectLogClock {
	return &rejectLogClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// now returns the fake time.
func (c *rejectLogClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advance moves the fake time forward.
func (c *rejectLogClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newObservedRejectionLog returns a rejection log writing to an observer
// at level, with a fake clock.
func newObservedRejectionLog(level zapcore.Level, interval time.Duration, maxLines, maxKeys int) (*rejectionLog, *observer.ObservedLogs, *rejectLogClock) {
	core, logs := observer.New(level)
	clock := newRejectLogClock()
	return newRejectionLog(zap.New(core), interval, maxLines, maxKeys, clock.now), logs, clock
}

// rejectLogTally sums what the observed lines account for.
type rejectLogTally struct {
	immediate        int    // individual lines (any message but summaries/totals)
	summaries        int    // summary lines
	summarized       uint64 // sum of the summaries' counts
	totalsLines      int    // totals lines
	totalRejections  uint64 // sum of the totals lines' rejections
	totalClients     uint64 // sum of the totals lines' clients
	approximateLines int    // totals lines with clients_approximate
}

// tallyRejectLog classifies entries by message.
func tallyRejectLog(t *testing.T, entries []observer.LoggedEntry) rejectLogTally {
	t.Helper()
	var s rejectLogTally
	for _, e := range entries {
		m := e.ContextMap()
		switch e.Message {
		case rejectionSummaryMsg:
			s.summaries++
			s.summarized += m["count"].(uint64)
		case rejectionTotalsMsg:
			s.totalsLines++
			s.totalRejections += m["rejections"].(uint64)
			s.totalClients += m["clients"].(uint64)
			if m["clients_approximate"].(bool) {
				s.approximateLines++
			}
		default:
			s.immediate++
		}
	}
	return s
}

// TestRejectionLogOneLinePerKeyPerInterval checks that the first rejection
// per (outcome, client) is logged with the caller's fields, the rest are
// counted into one summary per key, and a new interval starts afresh.
func TestRejectionLogOneLinePerKeyPerInterval(t *testing.T) {
	l, logs, clock := newObservedRejectionLog(zapcore.DebugLevel, 10*time.Second, 100, 1000)

	for i := range 5 {
		l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", "203.0.113.7", "", fmt.Sprintf("u%d", i), "/odata/Issues")
	}
	for range 3 {
		l.record(zapcore.WarnLevel, "too many failed attempts", "rate_limited", "203.0.113.7", "", "u", "/odata/")
	}
	l.record(zapcore.InfoLevel, "authentication failed", "expired", "198.51.100.1", "tok1", "alice", "/odata/$metadata")

	immediate := logs.TakeAll()
	if len(immediate) != 3 {
		t.Fatalf("immediate lines = %d, want 3: %v", len(immediate), immediate)
	}
	first := immediate[0]
	if first.Message != "authentication failed" || first.Level != zapcore.InfoLevel {
		t.Errorf("first line = %q at %v", first.Message, first.Level)
	}
	want := map[string]any{"outcome": "unknown_token", "token_id": "", "user": "u0", "client_ip": "203.0.113.7", "uri": "/odata/Issues"}
	if got := first.ContextMap(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first line fields = %v, want %v", got, want)
	}
	if immediate[1].Level != zapcore.WarnLevel || immediate[1].ContextMap()["outcome"] != "rate_limited" {
		t.Errorf("second line = %v %v", immediate[1].Level, immediate[1].ContextMap())
	}
	if immediate[2].ContextMap()["token_id"] != "tok1" || immediate[2].ContextMap()["user"] != "alice" {
		t.Errorf("third line = %v", immediate[2].ContextMap())
	}

	clock.advance(10 * time.Second)
	l.flush()
	summaries := logs.TakeAll()
	if len(summaries) != 2 {
		t.Fatalf("summary lines = %d, want 2: %v", len(summaries), summaries)
	}
	// Largest count first.
	type sum struct {
		outcome, client string
		count           uint64
		level           zapcore.Level
	}
	wantSums := []sum{
		{"unknown_token", "203.0.113.7", 4, zapcore.InfoLevel},
		{"rate_limited", "203.0.113.7", 2, zapcore.WarnLevel},
	}
	for i, e := range summaries {
		m := e.ContextMap()
		got := sum{m["outcome"].(string), m["client"].(string), m["count"].(uint64), e.Level}
		if e.Message != rejectionSummaryMsg || got != wantSums[i] {
			t.Errorf("summary %d = %q %+v, want %+v", i, e.Message, got, wantSums[i])
		}
		if m["interval"].(time.Duration) != 10*time.Second {
			t.Errorf("summary %d interval = %v", i, m["interval"])
		}
	}

	// A new interval: the first rejection per key is logged again; nothing
	// left over, so an empty flush writes nothing.
	l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", "203.0.113.7", "", "u", "/odata/Issues")
	if n := logs.Len(); n != 1 {
		t.Fatalf("lines in new interval = %d, want 1", n)
	}
	logs.TakeAll()
	l.flush()
	l.flush()
	if n := logs.Len(); n != 0 {
		t.Fatalf("lines after flushes with nothing suppressed = %d, want 0: %v", n, logs.All())
	}
}

// TestRejectionLogIPv6SharesSlash64 checks that addresses of one /64 share a
// key and different /64s do not.
func TestRejectionLogIPv6SharesSlash64(t *testing.T) {
	l, logs, _ := newObservedRejectionLog(zapcore.DebugLevel, 10*time.Second, 100, 1000)
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:abcd::9", "2001:db8:1:3::1", "2001:db8:1:3::2"} {
		l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", ip, "", "", "/")
	}
	imm := logs.TakeAll()
	if len(imm) != 2 {
		t.Fatalf("immediate lines = %d, want 2 (one per /64): %v", len(imm), imm)
	}
	if imm[0].ContextMap()["client_ip"] != "2001:db8:1:2::1" || imm[1].ContextMap()["client_ip"] != "2001:db8:1:3::1" {
		t.Errorf("immediate lines log the client IP as given: %v, %v", imm[0].ContextMap(), imm[1].ContextMap())
	}
	l.flush()
	got := map[string]uint64{}
	for _, e := range logs.TakeAll() {
		m := e.ContextMap()
		got[m["client"].(string)] = m["count"].(uint64)
	}
	want := map[string]uint64{"2001:db8:1:2::/64": 2, "2001:db8:1:3::/64": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("summaries = %v, want %v", got, want)
	}
}

// TestClientKey checks the aggregation key of client IPs.
func TestClientKey(t *testing.T) {
	long := strings.Repeat("x", 200)
	multi := strings.Repeat("a", 62) + "é€" // é at 62..63, € at 64..66
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"0.0.0.0", "0.0.0.0"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", ""},
		{"not an ip", "not an ip"},
		{"203.0.113.7:443", "203.0.113.7:443"},
		{"010.0.0.1", "010.0.0.1"},
		{long, long[:64]},
		{multi, strings.Repeat("a", 62) + "é"},
	} {
		if got := clientKey(tc.in); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Keys of unparseable strings are the same whatever follows the first 64 bytes.
	if clientKey(long+"a") != clientKey(long+"b") {
		t.Error("truncated keys differ")
	}
}

// TestRejectionLogFlood sends 200,000 rejections from 200,000 distinct
// clients over 20 simulated seconds (two intervals) and checks that only a
// few hundred lines are written and that they account for every rejection.
func TestRejectionLogFlood(t *testing.T) {
	const (
		total    = 200_000
		maxLines = 100
		maxKeys  = 10_000
	)
	l, logs, clock := newObservedRejectionLog(zapcore.InfoLevel, 10*time.Second, maxLines, maxKeys)
	perInterval := total / 2
	step := 20 * time.Second / total
	for i := range total {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff)
		if i%2 == 1 {
			ip = fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff) // a distinct /64 each
		}
		l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", ip, "", "", "/odata/")
		if (i+1)%perInterval == 0 {
			if got := len(l.cur.keys); got > maxKeys {
				t.Fatalf("tracked keys = %d > maxKeys", got)
			}
			l.flush() // the interval's end, as run would at this point
		}
		clock.advance(step)
	}
	entries := logs.AllUntimed()
	s := tallyRejectLog(t, entries)
	t.Logf("flood: %d lines: %d immediate, %d summaries (%d rejections), %d totals lines (%d rejections, ~%d clients)",
		len(entries), s.immediate, s.summaries, s.summarized, s.totalsLines, s.totalRejections, s.totalClients)

	if limit := 2 * (2*maxLines + 1); len(entries) > limit {
		t.Errorf("lines = %d, want at most %d", len(entries), limit)
	}
	if s.immediate != 2*maxLines || s.summaries != 2*maxLines || s.totalsLines != 2 {
		t.Errorf("immediate/summaries/totals lines = %d/%d/%d, want %d/%d/2", s.immediate, s.summaries, s.totalsLines, 2*maxLines, 2*maxLines)
	}
	if got := uint64(s.immediate) + s.summarized + s.totalRejections; got != total {
		t.Errorf("itemized %d + summarized %d + totals %d = %d, want %d", s.immediate, s.summarized, s.totalRejections, got, total)
	}
	// Every client is distinct: the clients not itemized are all but the
	// itemized ones; beyond maxKeys they are estimated (HyperLogLog, ~1.6 %).
	wantClients := float64(total - s.immediate - s.summaries)
	if diff := float64(s.totalClients) - wantClients; diff < -0.05*wantClients || diff > 0.05*wantClients {
		t.Errorf("clients not itemized ≈ %d, want %v ± 5 %%", s.totalClients, wantClients)
	}
	if s.approximateLines != 2 {
		t.Errorf("totals lines marked approximate = %d, want 2", s.approximateLines)
	}
}

// TestRejectionLogSummaryCaps checks that summaries are capped at maxLines,
// largest counts first, and that the totals line counts the rest exactly.
func TestRejectionLogSummaryCaps(t *testing.T) {
	l, logs, _ := newObservedRejectionLog(zapcore.DebugLevel, 10*time.Second, 2, 1000)
	// Clients 1..5 send 1+k rejections each: 5 keys, 2 logged at once, the
	// other 3 suppressed from the start (line cap reached).
	for k := 1; k <= 5; k++ {
		for range 1 + k {
			l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", fmt.Sprintf("192.0.2.%d", k), "", "", "/")
		}
	}
	if n := logs.Len(); n != 2 {
		t.Fatalf("immediate lines = %d, want 2 (maxLines)", n)
	}
	logs.TakeAll()
	l.flush()
	entries := logs.TakeAll()
	if len(entries) != 3 {
		t.Fatalf("flush lines = %d, want 2 summaries + 1 totals: %v", len(entries), entries)
	}
	// Suppressed: client 1: 1, 2: 2, 3: 4, 4: 5, 5: 6 → top two are 5 and 4.
	for i, want := range []struct {
		client string
		count  uint64
	}{{"192.0.2.5", 6}, {"192.0.2.4", 5}} {
		m := entries[i].ContextMap()
		if entries[i].Message != rejectionSummaryMsg || m["client"] != want.client || m["count"] != want.count {
			t.Errorf("summary %d = %q %v, want %+v", i, entries[i].Message, m, want)
		}
	}
	m := entries[2].ContextMap()
	if entries[2].Message != rejectionTotalsMsg || m["rejections"] != uint64(1+2+4) || m["clients"] != uint64(3) || m["clients_approximate"] != false {
		t.Errorf("totals = %q %v, want 7 rejections from 3 clients, exact", entries[2].Message, m)
	}
}

// TestRejectionLogTotalsCountDistinctClients checks that the totals line
// counts clients, not (outcome, client) keys, exactly while every key was tracked.
func TestRejectionLogTotalsCountDistinctClients(t *testing.T) {
	l, logs, _ := newObservedRejectionLog(zapcore.DebugLevel, 10*time.Second, 0, 1000)
	for _, outcome := range []string{"unknown_token", "expired", "revoked"} {
		for _, ip := range []string{"192.0.2.1", "2001:db8::1", "2001:db8::2", "garbage"} {
			l.record(zapcore.InfoLevel, "authentication failed", outcome, ip, "", "", "/")
		}
	}
	l.flush()
	entries := logs.AllUntimed()
	if len(entries) != 1 || entries[0].Message != rejectionTotalsMsg {
		t.Fatalf("lines = %v, want only the totals (maxLines 0)", entries)
	}
	m := entries[0].ContextMap()
	if m["rejections"] != uint64(12) || m["clients"] != uint64(3) || m["clients_approximate"] != false {
		t.Errorf("totals = %v, want 12 rejections from 3 clients, exact", m)
	}
}

// TestRejectionLogMaxKeys checks that no more than maxKeys keys are tracked
// and that the rejections of the others are counted in the totals.
func TestRejectionLogMaxKeys(t *testing.T) {
	l, logs, _ := newObservedRejectionLog(zapcore.DebugLevel, 10*time.Second, 100, 3)
	for i := range 10 {
		for range 2 {
			l.record(zapcore.WarnLevel, "too many failed attempts", "rate_limited", fmt.Sprintf("192.0.2.%d", i), "", "", "/")
		}
	}
	if got := len(l.cur.keys); got != 3 {
		t.Fatalf("tracked keys = %d, want 3", got)
	}
	if n := logs.Len(); n != 3 {
		t.Fatalf("immediate lines = %d, want 3", n)
	}
	l.flush()
	s := tallyRejectLog(t, logs.AllUntimed())
	// 7 distinct clients are estimated exactly unless two of them share a
	// sketch register (a few in a thousand): allow one less.
	if s.summaries != 3 || s.summarized != 3 || s.totalsLines != 1 || s.totalRejections != 14 ||
		s.totalClients < 6 || s.totalClients > 7 || s.approximateLines != 1 {
		t.Errorf("tally = %+v, want 3 summaries of 3, totals 14 rejections from ~7 clients (approximate)", s)
	}
	for _, e := range logs.FilterMessage(rejectionTotalsMsg).All() {
		if e.Level != zapcore.WarnLevel {
			t.Errorf("totals level = %v, want warn", e.Level)
		}
	}
	if got := len(l.cur.keys); got != 0 {
		t.Errorf("keys after flush = %d, want 0", got)
	}
}

// TestRejectionLogDisabledLevel checks that a level the logger does not
// enable is neither logged nor counted, and costs no allocation.
func TestRejectionLogDisabledLevel(t *testing.T) {
	l, logs, _ := newObservedRejectionLog(zapcore.WarnLevel, 10*time.Second, 100, 1000)
	allocs := testing.AllocsPerRun(1000, func() {
		l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", "2001:db8::1", "", "", "/")
	})
	if allocs != 0 {
		t.Errorf("allocs per disabled record = %v, want 0", allocs)
	}
	l.flush()
	if n := logs.Len(); n != 0 || len(l.cur.keys) != 0 {
		t.Errorf("lines = %d, keys = %d; want none", n, len(l.cur.keys))
	}
}

// TestRejectionLogNoAllocs checks that recording for a tracked key, and for
// a key beyond maxKeys, does not allocate.
func TestRejectionLogNoAllocs(t *testing.T) {
	l, _, _ := newObservedRejectionLog(zapcore.DebugLevel, 10*time.Second, 1, 2)
	l.record(zapcore.InfoLevel, "m", "unknown_token", "203.0.113.7", "", "", "/")
	l.record(zapcore.InfoLevel, "m", "unknown_token", "2001:db8:1:2::1", "", "", "/")
	for _, ip := range []string{"203.0.113.7", "2001:db8:1:2::77", "198.51.100.1", "2001:db8:9::1", "garbage"} {
		if allocs := testing.AllocsPerRun(1000, func() {
			l.record(zapcore.InfoLevel, "m", "unknown_token", ip, "", "", "/")
		}); allocs != 0 {
			t.Errorf("allocs per record from %q = %v, want 0", ip, allocs)
		}
	}
}

// TestRejectionLogConcurrent records and flushes concurrently (run with
// -race) and checks that every rejection is accounted for exactly once.
func TestRejectionLogConcurrent(t *testing.T) {
	const workers, per = 8, 5000
	l, logs, clock := newObservedRejectionLog(zapcore.InfoLevel, 10*time.Second, 20, 500)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		for {
			select {
			case <-stop:
				return
			default:
				clock.advance(time.Second)
				l.flush()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", fmt.Sprintf("198.51.%d.%d", w, i%1000), "", "", "/")
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-flusherDone
	l.flush()
	s := tallyRejectLog(t, logs.AllUntimed())
	if got := uint64(s.immediate) + s.summarized + s.totalRejections; got != workers*per {
		t.Errorf("accounted rejections = %d, want %d (%+v)", got, workers*per, s)
	}
}

// TestRejectionLogRunStopsOnDone checks that run flushes every interval,
// returns when done is closed, and flushes on the way out.
func TestRejectionLogRunStopsOnDone(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := newRejectionLog(zap.New(core), 20*time.Millisecond, 100, 1000, nil)
	done := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		l.run(done)
		close(returned)
	}()

	// Periodic flush.
	for range 3 {
		l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", "203.0.113.7", "", "", "/")
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage(rejectionSummaryMsg).Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("run did not flush within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Flush on exit: a slow ticker cannot fire before done is closed.
	l2 := newRejectionLog(zap.New(core), time.Hour, 100, 1000, nil)
	done2 := make(chan struct{})
	returned2 := make(chan struct{})
	go func() {
		l2.run(done2)
		close(returned2)
	}()
	for range 4 {
		l2.record(zapcore.InfoLevel, "authentication failed", "expired", "192.0.2.99", "", "", "/")
	}
	close(done2)
	close(done)
	for _, ch := range []chan struct{}{returned, returned2} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return after done was closed")
		}
	}
	var exitSummary bool
	for _, e := range logs.FilterMessage(rejectionSummaryMsg).All() {
		m := e.ContextMap()
		if m["client"] == "192.0.2.99" && m["count"] == uint64(3) {
			exitSummary = true
		}
	}
	if !exitSummary {
		t.Errorf("no summary from the flush on exit: %v", logs.All())
	}
}

// rejectLogBenchLogger returns a logger that encodes JSON to io.Discard at
// Info, so the benchmarks include the cost of the lines actually written.
func rejectLogBenchLogger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
}

// benchRejectionLog records from ips in parallel, each goroutine starting at
// its own offset, with run flushing every 100 ms (so interval ends, with
// their inserts of fresh keys, are included).
func benchRejectionLog(b *testing.B, ips []string) {
	l := newRejectionLog(rejectLogBenchLogger(), 100*time.Millisecond, 100, 10_000, nil)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		l.run(done)
		close(stopped)
	}()
	defer func() {
		close(done)
		<-stopped
	}()
	var offset atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := offset.Add(1) * 1_000_003
		n := uint64(len(ips))
		for pb.Next() {
			l.record(zapcore.InfoLevel, "authentication failed", "unknown_token", ips[i%n], "", "", "/odata/Issues")
			i++
		}
	})
}

var (
	rejectLogBenchOnce sync.Once
	rejectLogBenchIPs  []string
)

// rejectLogUniqueIPs returns 2^20 distinct client keys, half IPv4, half
// IPv6 (each in its own /64).
func rejectLogUniqueIPs() []string {
	rejectLogBenchOnce.Do(func() {
		const n = 1 << 20
		rejectLogBenchIPs = make([]string, n)
		for i := range n {
			if i%2 == 0 {
				rejectLogBenchIPs[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff)
			} else {
				rejectLogBenchIPs[i] = fmt.Sprintf("2001:db8:%x:%x::%x", i>>16, i&0xffff, i&0xfff)
			}
		}
	})
	return rejectLogBenchIPs
}

// BenchmarkRejectionLogUniqueKeys records rejections from ever new clients
// (a flood of distinct addresses).
func BenchmarkRejectionLogUniqueKeys(b *testing.B) {
	benchRejectionLog(b, rejectLogUniqueIPs())
}

// BenchmarkRejectionLogRepeatedKeys records rejections from 50 clients.
func BenchmarkRejectionLogRepeatedKeys(b *testing.B) {
	ips := rejectLogUniqueIPs()[:50]
	benchRejectionLog(b, ips)
}
