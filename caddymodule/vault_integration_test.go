package caddymodule_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"github.com/tokengate/tokengate/token"
)

func newVaultKey(t *testing.T) (string, *token.Sealer) {
	t.Helper()
	key := make([]byte, token.VaultKeyLen)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	sealer, err := token.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key), sealer
}

// vaultRequest sends a request with alice's or bob's token and a forged
// vault header, and returns what the upstream received in that header.
func vaultHeaderUpstream(t *testing.T, up *echoUpstream, feed, user, secret string) []string {
	t.Helper()
	resp, body := get(t, feed, basicauth.Header(user, secret), map[string]string{"X-Jira-Api-Token": "forged-by-client"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d %s", user, resp.StatusCode, body)
	}
	return up.lastHeaders().Values("X-Jira-Api-Token")
}

// TestVaultInjection: a person's stored Jira API token reaches the upstream
// in their requests only, client-sent copies never do, a removal takes
// effect at once, and neither the credential nor the key is ever logged.
func TestVaultInjection(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := boltKind(t, dir)
			if name == "postgres" {
				kind = postgresKind(t)
			}
			keyB64, sealer := newVaultKey(t)
			const jiraSecret = "ATATT3xFfGF0-alice-jira-api-token-0123456789"
			st := kind.open(t)
			svc := token.NewService(st, token.Policy{}, nil, nil)
			svc.EnableVault(sealer, nil)
			alice := seed(t, st, "alice", "Power BI")
			bob := seed(t, st, "bob", "Power BI")
			ctx := context.Background()
			if _, err := svc.SetVaultSecret(ctx, "alice", "jira", jiraSecret); err != nil {
				t.Fatal(err)
			}
			st.Close()

			kind.directive += "\n\t\tvault_key {env.TG_VAULT_KEY}"
			kind.env = append(kind.env, "TG_VAULT_KEY="+keyB64)
			up := newEchoUpstream(t)
			inst, base := startGate(t, kind, dir, up.URL, "inject_vault jira X-Jira-Api-Token")
			feed := base + "/odata/x"

			if got := vaultHeaderUpstream(t, up, feed, "alice", alice.Secret); len(got) != 1 || got[0] != jiraSecret {
				t.Errorf("alice's upstream X-Jira-Api-Token = %q, want exactly her stored token", got)
			}
			if got := vaultHeaderUpstream(t, up, feed, "bob", bob.Secret); len(got) != 0 {
				t.Errorf("bob's upstream X-Jira-Api-Token = %q, want none (he stored none; the client's copy is removed)", got)
			}

			// Alice removes it through the token page: it stops at once.
			req, _ := http.NewRequest(http.MethodDelete, base+"/tokens/api/vault/jira", nil)
			req.Header.Set("X-Test-User", "alice")
			req.Header.Set("Origin", base)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("delete through the token page: %d", resp.StatusCode)
			}
			if got := vaultHeaderUpstream(t, up, feed, "alice", alice.Secret); len(got) != 0 {
				t.Errorf("after removal, alice's upstream X-Jira-Api-Token = %q, want none", got)
			}

			time.Sleep(300 * time.Millisecond)
			inst.Stop()
			logs := inst.Logs.String()
			if strings.Contains(logs, jiraSecret) || strings.Contains(logs, keyB64) {
				t.Fatal("the vault credential or the vault key appears in the logs")
			}
		})
	}
}

// TestVaultConfigErrors: misconfigurations fail at load with the field named.
func TestVaultConfigErrors(t *testing.T) {
	keyB64, _ := newVaultKey(t)
	const pgNoKey = "store postgres postgres://tokengate@127.0.0.1:1/none" // validate opens nothing
	for _, c := range []struct {
		app, auth, want string
	}{
		// The embedded store generates a key file; Postgres needs vault_key.
		{pgNoKey, "inject_vault jira X-Jira-Api-Token", "inject_vault: the tokengate app has no vault_key"},
		{"vault_key " + keyB64, "inject_vault tempo X-Tempo-Token", "unknown vault kind"},
		{"vault_key " + keyB64, "inject_vault jira Authorization", "header Authorization is reserved"},
		{"vault_key " + keyB64, "inject_vault jira X-Authenticated-User", "reserved"},
		{"vault_key c2hvcnQ=", "", "vault_key decodes to 5 bytes"},
		{pgNoKey + "\n\t\tvault_kind jira Jira", "", "vault_kind: needs vault_key"},
		{"vault_key " + keyB64 + "\n\t\tvault_kind Jira! Jira", "", "vault_kind"},
	} {
		dir := t.TempDir()
		cfg := fmt.Sprintf("{\n\tadmin off\n\ttokengate {\n\t\t%s\n\t}\n}\n:0 {\n\troute {\n\t\ttokengate_auth {\n\t\t\t%s\n\t\t}\n\t\trespond ok\n\t}\n}\n", c.app, c.auth)
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(testcaddy.Binary(t), "validate", "--config", path, "--adapter", "caddyfile")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%q / %q: err %v, want output containing %q:\n%s", c.app, c.auth, err, c.want, out)
		}
		if strings.Contains(string(out), keyB64) {
			t.Errorf("validate printed the vault key")
		}
	}
}

// TestVaultKeyFileValidate: with the embedded store and no vault_key,
// inject_vault is valid (the key file turns the vault on), and `validate`
// creates neither the key file nor the store's directory.
func TestVaultKeyFileValidate(t *testing.T) {
	dir := t.TempDir()
	cfg := "{\n\tadmin off\n\ttokengate {\n\t\tstore bolt ./data/tokengate.db\n\t}\n}\n:0 {\n\troute {\n\t\ttokengate_auth {\n\t\t\tinject_vault jira X-Jira-Api-Token\n\t\t}\n\t\trespond ok\n\t}\n}\n"
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testcaddy.Binary(t), "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("validate created ./data (the key file or the store): %v", err)
	}
}
