package caddymodule_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

// TestValidateDoesNoIO: `tokengate validate` opens no store — it succeeds
// beside the running server (which holds the bolt file's lock) and with a
// Postgres that does not answer (nothing opened, nothing migrated) — while
// `run` fails the load on a store problem before serving anything.
func TestValidateDoesNoIO(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	_, base := startGate(t, kind, dir, up.URL, "")
	if s := status(t, base+"/odata/x", basicauth.Header("alice", c.Secret)); s != http.StatusOK {
		t.Fatalf("running instance: %d", s)
	}
	validate := func(caddyfile string) (string, error) {
		path := filepath.Join(dir, fmt.Sprintf("validate-%d.caddyfile", time.Now().UnixNano()))
		if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(testcaddy.Binary(t), "validate", "--config", path, "--adapter", "caddyfile")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	port := testcaddy.FreePort(t)
	if out, err := validate(gateCaddyfile(kind.directive, port, up.URL, "")); err != nil {
		t.Errorf("validate beside the running server (same bolt file): %v\n%s", err, out)
	}
	dead := fmt.Sprintf("postgres://tokengate:pw@127.0.0.1:%d/tokengate?sslmode=disable&connect_timeout=1", testcaddy.FreePort(t))
	pgConfig := gateCaddyfile("store postgres "+dead, port, up.URL, "")
	if out, err := validate(pgConfig); err != nil {
		t.Errorf("validate with an unreachable Postgres: %v\n%s", err, out)
	}

	// run: the store is opened at start, and a problem fails the load.
	path := filepath.Join(dir, "second.caddyfile")
	second := strings.ReplaceAll(gateCaddyfile(kind.directive, port, up.URL, ""), "{ADMIN_PORT}", fmt.Sprint(testcaddy.FreePort(t)))
	if err := os.WriteFile(path, []byte(second), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testcaddy.Binary(t), "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("a second server on the same bolt file did not fail within 30 s")
	}
	if err == nil || !strings.Contains(string(out), "is locked by another process") {
		t.Errorf("second server on the same bolt file: %v, want the lock error:\n%s", err, out)
	}
	if s := status(t, base+"/odata/x", basicauth.Header("alice", c.Secret)); s != http.StatusOK {
		t.Errorf("the first server after all this: %d, want 200", s)
	}
}

// TestFailedReloadKeepsServing: a reload whose store cannot be opened (a
// bolt file another process holds) is refused, and the running config
// answers every request meanwhile — none of them gets a 503 or waits.
func TestFailedReloadKeepsServing(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, gateCaddyfile(kind.directive, port, up.URL, ""), testcaddy.Options{Dir: dir, ReadyURL: base + "/plain/"})
	authz := basicauth.Header("alice", c.Secret)

	// Another process holds the second bolt file.
	otherDir := t.TempDir()
	other := boltKind(t, otherDir)
	otherPort := testcaddy.FreePort(t)
	testcaddy.Start(t, gateCaddyfile(other.directive, otherPort, up.URL, ""), testcaddy.Options{
		Dir: otherDir, ReadyURL: fmt.Sprintf("http://127.0.0.1:%d/plain/", otherPort)})

	stop := make(chan struct{})
	type result struct {
		status int
		took   time.Duration
	}
	results := make(chan result, 100000)
	go func() {
		defer close(results)
		// A new connection per request, as many clients make: a kept-alive
		// one would stay with the old server whatever the new config does.
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodGet, base+"/odata/x", nil)
			req.Header.Set("Authorization", authz)
			start := time.Now()
			code := 0
			if resp, err := client.Do(req); err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
			results <- result{code, time.Since(start)}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// Caddy starts a config's apps in random order, so try a few times: the
	// HTTP server of the doomed config must never get to answer.
	lockedFile := "store bolt " + filepath.Join(otherDir, "data", "tokengate.db")
	for attempt := 0; attempt < 4; attempt++ {
		out, err := inst.TryReload(gateCaddyfile(lockedFile, port, up.URL, ""))
		if err == nil || !strings.Contains(out, "is locked by another process") {
			t.Errorf("reload onto a locked bolt file: %v, want it refused with the lock error:\n%s", err, out)
		}
	}
	close(stop)
	n := 0
	for r := range results {
		n++
		if r.status != http.StatusOK || r.took > 2*time.Second {
			t.Errorf("request during the failed reload: %d after %s, want 200 at once", r.status, r.took)
		}
	}
	if n == 0 {
		t.Fatal("no request ran during the reload")
	}
	t.Logf("%d requests (one connection each) during 4 refused reloads", n)
	if s := status(t, base+"/odata/x", authz); s != http.StatusOK {
		t.Errorf("after the failed reload: %d, want 200", s)
	}
}
