package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/storetest"
)

// TestRevocationAcrossInstances: two instances share one Postgres; a token
// revoked through instance A's token page is refused by A at once and by B
// as soon as the notification arrives (BenchmarkRevocationAcrossInstances
// measures how soon).
func TestRevocationAcrossInstances(t *testing.T) {
	pair := newInstancePair(t)
	for i := 0; i < 20; i++ {
		pair.revokeRound(t, i)
	}
}

// BenchmarkRevocationAcrossInstances reports how long after a revocation
// through instance A's token page instance B refuses the token, as p50-ms /
// p99-ms; the design's target is p99 < 200 ms. For a p99 over 100:
//
//	go test -run '^$' -bench RevocationAcrossInstances -benchtime 100x ./caddymodule
func BenchmarkRevocationAcrossInstances(b *testing.B) {
	pair := newInstancePair(b)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat = append(lat, pair.revokeRound(b, i))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[max(0, (len(lat)*99+99)/100-1)].Microseconds())/1000, "p99-ms")
}

// instancePair is two tokengate instances on one Postgres database.
type instancePair struct {
	svc          *token.Service
	baseA, baseB string
}

func newInstancePair(t testing.TB) instancePair {
	kind := postgresKind(t)
	up := newEchoUpstream(t)
	instA, baseA := startGate(t, kind, t.TempDir(), up.URL, "")
	instB, baseB := startGate(t, kind, t.TempDir(), up.URL, "")
	waitListeners(t, instA, 1)
	waitListeners(t, instB, 1)
	st := kind.open(t)
	t.Cleanup(func() { st.Close() })
	return instancePair{svc: token.NewService(st, token.Policy{MaxTokensPerUser: -1}, nil, nil), baseA: baseA, baseB: baseB}
}

// revokeRound creates a token, has both instances cache it, revokes it
// through A's token page, checks that A refuses it at once, and returns how
// long until B refuses it (at most 5 s).
func (p instancePair) revokeRound(t testing.TB, i int) time.Duration {
	t.Helper()
	c, err := p.svc.Create(context.Background(), "alice", fmt.Sprintf("t%d", i), "")
	if err != nil {
		t.Fatal(err)
	}
	authz := basic("alice", c.Secret)
	for _, b := range []string{p.baseA, p.baseB} {
		if s := status(t, b+"/odata/x", authz); s != http.StatusOK {
			t.Fatalf("warm-up on %s: %d", b, s)
		}
	}
	start := time.Now()
	revokeVia(t, p.baseA, "alice", c.Token.ID)
	if s := status(t, p.baseA+"/odata/x", authz); s != http.StatusUnauthorized {
		t.Fatalf("instance A still accepts token %d right after revoking it: %d", i, s)
	}
	for status(t, p.baseB+"/odata/x", authz) != http.StatusUnauthorized {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("revocation %d not seen by instance B after 5s", i)
		}
	}
	return time.Since(start)
}

// TestStoreOutage: with Postgres unreachable, cached tokens keep working,
// uncached ones get 503 + Retry-After (never 401), and all recovers within
// 2 s after it returns.
func TestStoreOutage(t *testing.T) {
	admin, err := url.Parse(storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, admin.Host)
	viaProxy := *admin
	viaProxy.Host = proxy.Addr()
	q := viaProxy.Query()
	q.Set("connect_timeout", "1")
	viaProxy.RawQuery = q.Encode()
	kind := storeKind{
		name: "postgres", directive: "store postgres {env.TG_TEST_DSN}",
		env: []string{"TG_TEST_DSN=" + viaProxy.String()},
	}
	direct := postgresKindFromDSN(admin.String())
	st := direct.open(t)
	defer st.Close()
	cached := seed(t, st, "alice", "cached")
	uncached := seed(t, st, "alice", "uncached")

	up := newEchoUpstream(t)
	inst, base := startGate(t, kind, t.TempDir(), up.URL, "")
	waitListeners(t, inst, 1)
	feed := base + "/odata/x"
	if s := status(t, feed, basic("alice", cached.Secret)); s != http.StatusOK {
		t.Fatalf("warm-up: %d", s)
	}

	proxy.setDown(true)
	// The lost listener shows in the metrics (at its next reconnect attempt).
	waitListeners(t, inst, 0)
	for i := 0; i < 3; i++ {
		if s := status(t, feed, basic("alice", cached.Secret)); s != http.StatusOK {
			t.Errorf("cached token during outage: %d, want 200", s)
		}
	}
	resp, _ := get(t, feed, basic("alice", uncached.Secret), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("uncached token during outage: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	proxy.setDown(false)
	back := time.Now()
	for {
		s := status(t, feed, basic("alice", uncached.Secret))
		if s == http.StatusOK {
			break
		}
		if s != http.StatusServiceUnavailable {
			t.Fatalf("during recovery: %d, want 503 or 200", s)
		}
		if time.Since(back) > 2*time.Second {
			t.Fatalf("not recovered 2 s after Postgres returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("recovered %s after Postgres returned", time.Since(back))
	t.Logf("listener reconnected %s later", waitListeners(t, inst, 1))
}

// TestReloadUnderLoad: a config reload while requests flow drops none of
// them and keeps the warm cache (no new store lookups afterwards).
func TestReloadUnderLoad(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, gateCaddyfile(kind.directive, port, up.URL, ""), testcaddy.Options{Dir: dir, ReadyURL: base + "/plain/"})
	authz := basic("alice", c.Secret)
	if s := status(t, base+"/odata/x", authz); s != http.StatusOK {
		t.Fatalf("warm-up: %d", s)
	}
	missesBefore := cacheMisses(t, inst)

	var ok, bad atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, base+"/odata/x", nil)
				req.Header.Set("Authorization", authz)
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	inst.Reload(strings.Replace(gateCaddyfile(kind.directive, port, up.URL, ""), `realm "Jira export"`, `realm "Jira export (reloaded)"`, 1))
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if bad.Load() != 0 || ok.Load() == 0 {
		t.Errorf("during reload: %d ok, %d failed requests", ok.Load(), bad.Load())
	}
	resp, _ := get(t, base+"/odata/x", "", nil)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, "reloaded") {
		t.Errorf("new config not active after reload: %q", got)
	}
	if after := cacheMisses(t, inst); after != missesBefore {
		t.Errorf("cache misses went from %v to %v across the reload: the cache was dropped", missesBefore, after)
	}
	t.Logf("%d requests during the reload, none failed", ok.Load())
	// The per-outcome counter lives in Caddy's registry and survives the reload.
	if valid := metricValue(t, inst, `caddy_tokengate_auth_requests_total{outcome="valid"}`); valid < float64(ok.Load()) {
		t.Errorf("auth_requests_total{outcome=valid} = %v, want at least the %d successful requests", valid, ok.Load())
	}
	if missing := metricValue(t, inst, `caddy_tokengate_auth_requests_total{outcome="missing"}`); missing < 1 {
		t.Errorf("auth_requests_total{outcome=missing} = %v, want ≥ 1", missing)
	}
}

// metricValue reads one sample (name with labels, exactly as exposed) from
// the admin endpoint's /metrics.
func metricValue(t testing.TB, inst *testcaddy.Instance, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + inst.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not exposed", sample)
	return 0
}

// listenersUp reads how many revocation listeners an instance has connected.
func listenersUp(t testing.TB, inst *testcaddy.Instance) float64 {
	t.Helper()
	return metricValue(t, inst, "caddy_tokengate_revocation_listeners_connected")
}

// waitListeners waits until the instance reports want connected revocation
// listeners. An instance flushes its cache when its listener connects, so a
// test that relies on a warm cache waits for the listener first.
func waitListeners(t testing.TB, inst *testcaddy.Instance, want float64) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := listenersUp(t, inst)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("caddy_tokengate_revocation_listeners_connected = %v after 10 s, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cacheMisses reads the cache-miss counter from the admin endpoint's metrics.
func cacheMisses(t *testing.T, inst *testcaddy.Instance) float64 {
	t.Helper()
	return metricValue(t, inst, `caddy_tokengate_cache_lookups_total{result="miss"}`)
}

// TestLostListenerFlushesCache: instance B's LISTEN connection is killed
// (pg_terminate_backend) and a token B has cached is revoked through A while
// B cannot hear it. After reconnecting, B flushes its cache and refuses the
// token — long before cache_ttl (1m) — and later revocations flow again.
func TestLostListenerFlushesCache(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	kind := postgresKindFromDSN(dsn)
	dbName := strings.TrimPrefix(mustParseURL(t, dsn).Path, "/")
	up := newEchoUpstream(t)
	instA, baseA := startGate(t, kind, t.TempDir(), up.URL, "")
	instB, baseB := startGate(t, kind, t.TempDir(), up.URL, "")
	waitListeners(t, instA, 1)
	waitListeners(t, instB, 1)
	st := kind.open(t)
	defer st.Close()
	missed := seed(t, st, "alice", "missed")
	later := seed(t, st, "alice", "later")
	for _, c := range []token.Created{missed, later} {
		if s := status(t, baseB+"/odata/x", basic("alice", c.Secret)); s != http.StatusOK {
			t.Fatalf("warm-up on B: %d", s)
		}
	}

	admin, err := pgx.Connect(context.Background(), storetest.PostgresAdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// Kill every tokengate listener on this database (A's and B's), then
	// revoke at once, while they reconnect.
	var killed int
	if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND application_name LIKE '%-listener'`, dbName).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listener connections, want 2 (one per instance)", killed)
	}
	start := time.Now()
	revokeVia(t, baseA, "alice", missed.Token.ID)
	for status(t, baseB+"/odata/x", basic("alice", missed.Secret)) != http.StatusUnauthorized {
		if time.Since(start) > 5*time.Second {
			t.Fatal("B still accepts a token revoked while its listener was down, 5 s later")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("B refused the token revoked during its listener outage after %s", time.Since(start))

	// Notifications flow again.
	start = time.Now()
	revokeVia(t, baseA, "alice", later.Token.ID)
	for status(t, baseB+"/odata/x", basic("alice", later.Secret)) != http.StatusUnauthorized {
		if time.Since(start) > 5*time.Second {
			t.Fatal("revocations do not reach B after its listener reconnected (5 s)")
		}
	}
	t.Logf("next revocation reached B after %s", time.Since(start))
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestReloadLeaksNothing: repeated reloads (alternating cache settings, so
// validators and listeners are replaced, and identical ones, so they are
// shared) leave exactly one listener connection and no extra goroutines.
func TestReloadLeaksNothing(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	kind := postgresKindFromDSN(dsn)
	dbName := strings.TrimPrefix(mustParseURL(t, dsn).Path, "/")
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := func(ttl string) string {
		return strings.Replace(gateCaddyfile(kind.directive, port, up.URL, ""), "cache_ttl 1m", "cache_ttl "+ttl, 1)
	}
	inst := testcaddy.Start(t, cfg("1m"), testcaddy.Options{Env: kind.env, ReadyURL: base + "/plain/"})
	st := kind.open(t)
	defer st.Close()
	c := seed(t, st, "alice", "reload")
	admin, err := pgx.Connect(context.Background(), storetest.PostgresAdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	listeners := func() int {
		var n int
		if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND application_name LIKE '%-listener'`, dbName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// settle waits until the process reports exactly one connected listener
	// and Postgres has seen any replaced listener's backend exit (give it
	// up to 5 s), then reports the listener backends and goroutines.
	settle := func() (int, int) {
		waitListeners(t, inst, 1)
		if s := status(t, base+"/odata/x", basic("alice", c.Secret)); s != http.StatusOK {
			t.Fatalf("token after reload: %d", s)
		}
		n := listeners()
		for deadline := time.Now().Add(5 * time.Second); n != 1 && time.Now().Before(deadline); n = listeners() {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // let stopped goroutines finish exiting
		return n, goroutines(t, inst)
	}
	l0, g0 := settle()
	if l0 != 1 {
		t.Fatalf("listener connections at start: %d, want 1", l0)
	}
	for i, ttl := range []string{"2m", "2m", "1m", "3m", "1m", "1m"} {
		inst.Reload(cfg(ttl))
		if l, _ := settle(); l != 1 {
			t.Fatalf("after reload %d (cache_ttl %s): %d listener connections, want 1", i+1, ttl, l)
		}
	}
	_, g1 := settle()
	t.Logf("tokengate's goroutines: %d at start, %d after 6 reloads", g0, g1)
	if g1 != g0 {
		t.Errorf("tokengate's goroutines went from %d to %d over 6 reloads", g0, g1)
	}
}

var goroutineBlockRe = regexp.MustCompile(`(?m)^(\d+) @`)

// goroutines counts the process's goroutines that run tokengate's code or
// the libraries it owns (ristretto, pgx, bbolt), from the admin endpoint's
// goroutine profile. Caddy's own (HTTP connections, metrics) are left out.
func goroutines(t *testing.T, inst *testcaddy.Instance) int {
	t.Helper()
	resp, err := http.Get("http://" + inst.AdminAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0
	for _, block := range strings.Split(string(b), "\n\n") {
		m := goroutineBlockRe.FindStringSubmatch(block)
		if m == nil {
			continue
		}
		if strings.Contains(block, "tokengate/tokengate/") || strings.Contains(block, "ristretto") ||
			strings.Contains(block, "jackc/") || strings.Contains(block, "bbolt") {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	if total == 0 {
		t.Fatalf("no tokengate goroutines found in the profile")
	}
	return total
}
