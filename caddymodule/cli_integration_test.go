package caddymodule_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
			// A bad file names the line and changes nothing.
			_ = os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("erin,ok,legacy-secret-of-erin-000000\nfrank,,legacy-secret-of-frank-00000\n"), 0o600)
			out, err = tokensCLI(t, dir, kind.env, "import", "bad.csv")
			if err == nil || !strings.Contains(out, "import line 2") || !strings.Contains(out, "label") {
				t.Fatalf("bad import: %v\n%s", err, out)
			}

			out, err = tokensCLI(t, dir, kind.env, "list")
			if err != nil || !strings.Contains(out, "dave") || !strings.Contains(out, "carol") || !strings.Contains(out, "never") || strings.Contains(out, "erin") {
				t.Fatalf("list: %v\n%s", err, out)
			}
			if strings.Contains(out, legacySecret) || strings.Contains(out, carolSecret) {
				t.Fatal("list printed a secret")
			}
			out, err = tokensCLI(t, dir, kind.env, "list", "--owner", "carol")
			if err != nil || strings.Contains(out, "dave") || !strings.Contains(out, "carol") {
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
			if err != nil || !strings.Contains(out, "shortened 2 tokens") {
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
