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

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

// TestValidateDoesNoIO: Provision is cheap — `tokengate validate` of the
// running config succeeds beside the running server (which holds the bolt
// file's lock) and with a Postgres that does not answer (nothing is opened,
// nothing migrated); `run` is where a store problem fails the load.
func TestValidateDoesNoIO(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	_, base := startGate(t, kind, dir, up.URL, "")
	if s := status(t, base+"/odata/x", basic("alice", c.Secret)); s != http.StatusOK {
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
	if s := status(t, base+"/odata/x", basic("alice", c.Secret)); s != http.StatusOK {
		t.Errorf("the first server after all this: %d, want 200", s)
	}
}
