package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token/storetest"
)

// TestReloadUnderLoad: a config reload while requests flow drops none of
// them and keeps the warm cache (no new store lookups afterwards).
func TestReloadUnderLoad(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, gateCaddyfile(kind.directive, port, up.URL, ""), testcaddy.Options{Dir: dir, ReadyURL: base + "/plain/"})
	authz := basicauth.Header("alice", c.Secret)
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
		if s := status(t, base+"/odata/x", basicauth.Header("alice", c.Secret)); s != http.StatusOK {
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
