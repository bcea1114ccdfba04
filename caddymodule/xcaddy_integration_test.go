package caddymodule_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token/storetest"
)

// TestXcaddyBuild builds what `xcaddy build --with
// github.com/tokengate/tokengate` builds — caddycmd.Main, Caddy's standard
// modules and tokengate's root package, no main of ours
// (testdata/xcaddymain) — and checks that it serves and that checking a
// config opens no store: `validate` and `adapt --validate` succeed beside
// the running server on its bolt file (no lock error), against a Postgres
// that does not answer, and against an empty Postgres database, which they
// leave empty (nothing migrated); a bad setting still fails validation.
func TestXcaddyBuild(t *testing.T) {
	bin := testcaddy.BuildPackage(t, "./caddymodule/testdata/xcaddymain")
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, gateCaddyfile(kind.directive, port, up.URL, ""), testcaddy.Options{
		Dir: dir, ReadyURL: base + "/plain/", Binary: bin,
	})
	if s := status(t, base+"/odata/x", basicauth.Header("alice", c.Secret)); s != http.StatusOK {
		t.Fatalf("the xcaddy build serving a valid token: %d, want 200", s)
	}

	check := func(args []string, caddyfile string) (string, error) {
		t.Helper()
		path := filepath.Join(dir, fmt.Sprintf("check-%d.caddyfile", time.Now().UnixNano()))
		if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, "--config", path, "--adapter", "caddyfile")...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	other := testcaddy.FreePort(t)
	dead := fmt.Sprintf("postgres://tokengate:pw@127.0.0.1:%d/tokengate?sslmode=disable&connect_timeout=1", testcaddy.FreePort(t))
	configs := map[string]string{
		"the running server's bolt file":  gateCaddyfile(kind.directive, other, up.URL, ""),
		"a Postgres that does not answer": gateCaddyfile("store postgres "+dead, other, up.URL, ""),
	}
	for _, args := range [][]string{{"validate"}, {"adapt", "--validate"}} {
		for what, cfg := range configs {
			if out, err := check(args, cfg); err != nil {
				t.Errorf("%s with %s: %v\n%s", strings.Join(args, " "), what, err, out)
			}
		}
	}

	bad := strings.Replace(gateCaddyfile(kind.directive, other, up.URL, ""), "last_used_flush 200ms", "last_used_flush 200ms\n\t\tmax_lifetime 1h", 1)
	if out, err := check([]string{"validate"}, bad); err == nil || !strings.Contains(out, "max_lifetime: must be at least 1d") {
		t.Errorf("validate with max_lifetime 1h: %v, want it refused naming max_lifetime:\n%s", err, out)
	}

	dsn := storetest.PostgresDSN(t)
	if out, err := check([]string{"validate"}, gateCaddyfile("store postgres "+dsn, other, up.URL, "")); err != nil {
		t.Errorf("validate with an empty Postgres database: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("validate created %d tables in the database: it migrated", tables)
	}
}
