package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
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
	authz := basicauth.Header("alice", c.Secret)
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
	if s := status(t, feed, basicauth.Header("alice", cached.Secret)); s != http.StatusOK {
		t.Fatalf("warm-up: %d", s)
	}

	proxy.setDown(true)
	// The lost listener shows in the metrics (at its next reconnect attempt).
	waitListeners(t, inst, 0)
	for i := 0; i < 3; i++ {
		if s := status(t, feed, basicauth.Header("alice", cached.Secret)); s != http.StatusOK {
			t.Errorf("cached token during outage: %d, want 200", s)
		}
	}
	resp, _ := get(t, feed, basicauth.Header("alice", uncached.Secret), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("uncached token during outage: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	proxy.setDown(false)
	back := time.Now()
	for {
		s := status(t, feed, basicauth.Header("alice", uncached.Secret))
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
		if s := status(t, baseB+"/odata/x", basicauth.Header("alice", c.Secret)); s != http.StatusOK {
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
	for status(t, baseB+"/odata/x", basicauth.Header("alice", missed.Secret)) != http.StatusUnauthorized {
		if time.Since(start) > 5*time.Second {
			t.Fatal("B still accepts a token revoked while its listener was down, 5 s later")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("B refused the token revoked during its listener outage after %s", time.Since(start))

	// Notifications flow again.
	start = time.Now()
	revokeVia(t, baseA, "alice", later.Token.ID)
	for status(t, baseB+"/odata/x", basicauth.Header("alice", later.Secret)) != http.StatusUnauthorized {
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
