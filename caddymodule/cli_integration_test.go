package caddymodule_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule"
	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token"
)

// tokensCLI runs `tokengate tokens <args>` with the config in dir.
func tokensCLI(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testcaddy.Binary(t), append([]string{"tokens"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestTokensCommands drives the operator subcommands against both stores:
// legacy import, list, cap-lifetime, revoke-user, and (Postgres) migrate;
// then checks the imported legacy token works through the proxy.
func TestTokensCommands(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := boltKind(t, dir)
			if name == "postgres" {
				kind = postgresKind(t)
			}
			up := newEchoUpstream(t)
			port := testcaddy.FreePort(t)
			cfg := gateCaddyfile(kind.directive, port, up.URL, "")
			if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(strings.ReplaceAll(cfg, "{ADMIN_PORT}", "0")), 0o600); err != nil {
				t.Fatal(err)
			}

			out, err := tokensCLI(t, dir, kind.env, "migrate")
			if name == "postgres" {
				if err != nil || !strings.Contains(out, "migrations applied") {
					t.Fatalf("migrate: %v\n%s", err, out)
				}
			} else if err == nil || !strings.Contains(out, "not postgres") {
				t.Fatalf("migrate on bolt should refuse: %v\n%s", err, out)
			}

			legacySecret := "legacy-secret-of-dave-0123456789"
			carolSecret := "legacy-secret-of-carol-987654321"
			sum := sha256.Sum256([]byte(carolSecret))
			csv := fmt.Sprintf("owner,label,token\ndave,Old report,%s\ncarol,Old dashboard,sha256:%s\n", legacySecret, hex.EncodeToString(sum[:]))
			if err := os.WriteFile(filepath.Join(dir, "legacy.csv"), []byte(csv), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err = tokensCLI(t, dir, kind.env, "import", "legacy.csv")
			if err != nil || !strings.Contains(out, "imported 2 legacy tokens") {
				t.Fatalf("import: %v\n%s", err, out)
			}
			if strings.Contains(out, legacySecret) {
				t.Fatal("import printed a secret")
			}
			if !strings.Contains(out, "imported 2 of 2 legacy tokens so far (0 already there, chunk 1)") {
				t.Fatalf("import printed no progress line:\n%s", out)
			}
			// Run again (as after an interruption): nothing twice.
			out, err = tokensCLI(t, dir, kind.env, "import", "legacy.csv")
			if err != nil || !strings.Contains(out, "imported 0 legacy tokens, 2 already there") {
				t.Fatalf("import again: %v\n%s", err, out)
			}
			// A bad file names the line and changes nothing.
			_ = os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("erin,ok,legacy-secret-of-erin-000000\nfrank,,legacy-secret-of-frank-00000\n"), 0o600)
			out, err = tokensCLI(t, dir, kind.env, "import", "bad.csv")
			if err == nil || !strings.Contains(out, "import line 2") || !strings.Contains(out, "label") {
				t.Fatalf("bad import: %v\n%s", err, out)
			}

			out, err = tokensCLI(t, dir, kind.env, "list")
			if err != nil || !strings.Contains(out, "dave") || !strings.Contains(out, "carol") || !strings.Contains(out, "never") || strings.Contains(out, "erin") ||
				!strings.Contains(out, "\n2 tokens\n") {
				t.Fatalf("list: %v\n%s", err, out)
			}
			if strings.Contains(out, legacySecret) || strings.Contains(out, carolSecret) {
				t.Fatal("list printed a secret")
			}
			out, err = tokensCLI(t, dir, kind.env, "list", "--owner", "carol")
			if err != nil || strings.Contains(out, "dave") || !strings.Contains(out, "carol") || !strings.Contains(out, "\n1 token\n") {
				t.Fatalf("list --owner carol: %v\n%s", err, out)
			}

			// The legacy token works through the proxy (any format, by digest).
			inst := testcaddy.Start(t, cfg, testcaddy.Options{Dir: dir, Env: kind.env, ReadyURL: fmt.Sprintf("http://127.0.0.1:%d/plain/", port)})
			feed := fmt.Sprintf("http://127.0.0.1:%d/odata/x", port)
			if s := status(t, feed, basicauth.Header("dave", legacySecret)); s != http.StatusOK {
				t.Fatalf("legacy token through the proxy: %d", s)
			}
			if s := status(t, feed, basicauth.Header("carol", carolSecret)); s != http.StatusOK {
				t.Fatalf("legacy token imported by digest: %d", s)
			}
			inst.Stop() // bolt is locked while running

			out, err = tokensCLI(t, dir, kind.env, "cap-lifetime", "30d")
			if err != nil || !strings.Contains(out, "shortened 2 tokens") || !strings.Contains(out, "capped 2 of 2 unrevoked tokens so far (batch 1)") {
				t.Fatalf("cap-lifetime: %v\n%s", err, out)
			}
			out, err = tokensCLI(t, dir, kind.env, "cap-lifetime", "soon")
			if err == nil || !strings.Contains(out, "not a lifetime") {
				t.Fatalf("cap-lifetime soon: %v\n%s", err, out)
			}
			out, err = tokensCLI(t, dir, kind.env, "revoke-user", "dave", "--actor", "it-offboarding")
			if err != nil || !strings.Contains(out, "revoked 1 tokens of dave") {
				t.Fatalf("revoke-user: %v\n%s", err, out)
			}

			st := kind.open(t)
			defer st.Close()
			ctx := context.Background()
			tk, err := st.ByDigest(ctx, token.DigestOf(legacySecret))
			if err != nil || !tk.Revoked() || tk.RevokedBy != "it-offboarding" || !tk.Legacy() {
				t.Fatalf("dave's token after revoke-user: %+v %v", tk, err)
			}
			tk, err = st.ByDigest(ctx, sum)
			if err != nil || tk.ExpiresAt.IsZero() || tk.Revoked() {
				t.Fatalf("carol's token after cap: %+v %v", tk, err)
			}
			hist, err := st.History(ctx, "", 50)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[token.EventKind]int{}
			for _, e := range hist {
				kinds[e.Kind]++
			}
			if kinds[token.EventImport] != 2 || kinds[token.EventCap] != 2 || kinds[token.EventRevoke] != 1 {
				t.Errorf("history kinds = %v", kinds)
			}
		})
	}
}

// tokensRun runs `tokengate tokens <args>` in dir and returns stdout,
// stderr and the exit status.
func tokensRun(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testcaddy.Binary(t), append([]string{"tokens"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("tokens %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// TestTokensCLIRunningInstance: the tokens commands act on a running
// instance through its admin API (with the embedded store too, without
// stopping it): revoke-user is refused on the very next request, list
// --json and history show it with the operator actor, an import works
// without a restart; exit status 2 when nothing matched; with the server
// stopped the same commands work directly on the store.
func TestTokensCLIRunningInstance(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := boltKind(t, dir)
			if name == "postgres" {
				kind = postgresKind(t)
			}
			up := newEchoUpstream(t)
			inst, base := startGate(t, kind, dir, up.URL, "")
			feed := base + "/odata/x"
			bob := createVia(t, base, "bob", "Power BI")
			alice := createVia(t, base, "alice", "Excel")
			if s := status(t, feed, basicauth.Header("bob", bob)); s != http.StatusOK {
				t.Fatalf("bob's token before: %d", s)
			}
			run := func(want int, args ...string) (string, string) {
				t.Helper()
				out, errOut, code := tokensRun(t, dir, kind.env, args...)
				if code != want {
					t.Fatalf("tokens %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
				}
				return out, errOut
			}

			out, errOut := run(0, "revoke-user", "bob")
			if !strings.Contains(out, "revoked 1 tokens of bob") || !strings.Contains(errOut, "admin API at "+inst.AdminAddr) {
				t.Fatalf("revoke-user bob:\n%s\n%s", out, errOut)
			}
			if s := status(t, feed, basicauth.Header("bob", bob)); s != http.StatusUnauthorized {
				t.Fatalf("bob's token on the next request: %d", s)
			}
			out, _ = run(0, "list", "--json")
			var list caddymodule.AdminTokenList
			if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Tokens) != 1 || list.Tokens[0].Owner != "alice" {
				t.Fatalf("list --json after revoke-user: %v\n%s", err, out)
			}
			if strings.Contains(out, alice) {
				t.Fatal("list --json printed a secret")
			}
			out, _ = run(0, "history", "--owner", "bob")
			if !strings.Contains(out, "TIME") || !strings.Contains(out, "ACTOR") || !regexp.MustCompile(`cli:\S+\s+revoke\s+bob`).MatchString(out) {
				t.Fatalf("history table:\n%s", out)
			}
			out, _ = run(0, "history", "--json", "--limit", "1")
			var h caddymodule.AdminHistory
			if err := json.Unmarshal([]byte(out), &h); err != nil || len(h.Events) != 1 || !strings.HasPrefix(h.Events[0].Actor, "cli:") ||
				h.Events[0].Kind != "revoke" || h.Events[0].Owner != "bob" || h.NextCursor == "" {
				t.Fatalf("history --json: %v\n%s", err, out)
			}

			// Nothing matched: exit status 2.
			run(2, "revoke-user", "bob")
			_, errOut = run(2, "revoke", "no-such-token-id")
			if !strings.Contains(errOut, "no such token") {
				t.Fatalf("revoke of an unknown id: %s", errOut)
			}
			run(2, "list", "--owner", "bob")
			_, errOut = run(1, "cap-lifetime", "50000d")
			if !strings.Contains(errOut, "too long") {
				t.Fatalf("cap-lifetime 50000d: %s", errOut)
			}

			legacy := "legacy-secret-of-dave-0123456789"
			if err := os.WriteFile(filepath.Join(dir, "legacy.csv"), []byte("dave,Old report,"+legacy+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, _ = run(0, "import", "legacy.csv", "--actor", "migration")
			if !strings.Contains(out, "imported 1 legacy tokens") {
				t.Fatalf("import: %s", out)
			}
			if out, _ = run(0, "import", "legacy.csv"); !strings.Contains(out, "imported 0 legacy tokens, 1 already there") {
				t.Fatalf("import again through the admin API: %s", out)
			}
			if s := status(t, feed, basicauth.Header("dave", legacy)); s != http.StatusOK {
				t.Fatalf("imported token without a restart: %d", s)
			}

			// Stopped: the same commands open the store directly.
			inst.Stop()
			out, _ = run(0, "list", "--owner", "alice", "--json")
			if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Tokens) != 1 {
				t.Fatalf("list when stopped: %v\n%s", err, out)
			}
			out, errOut = run(0, "revoke", list.Tokens[0].ID, "--actor", "it-offboarding")
			if !strings.Contains(out, "revoked token "+list.Tokens[0].ID) || !strings.Contains(errOut, "directly on the") {
				t.Fatalf("revoke when stopped:\n%s\n%s", out, errOut)
			}
			out, _ = run(0, "history", "--json", "--limit", "2")
			if err := json.Unmarshal([]byte(out), &h); err != nil || h.Events[0].Actor != "it-offboarding" || h.Events[1].Actor != "migration" {
				t.Fatalf("history when stopped: %v\n%s", err, out)
			}
			run(2, "revoke-user", "alice")
		})
	}
}
