package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

// notifyCaddyfile is a config with the notify block of issue 13 around the
// given lines.
func notifyCaddyfile(lines string) string {
	return `{
	admin off
	tokengate {
		store bolt ./data/tokengate.db
		notify {
` + lines + `
		}
	}
}
`
}

const issueNotifyLines = `			smtp smtp.example.com:587 {
				from "tokengate <tokengate@example.com>"
				username {env.SMTP_USER}
				password {env.SMTP_PASSWORD}
				security starttls
			}
			email_for "{user}@example.com"
			webhook https://hooks.example.com/tokengate {
				secret {env.TOKENGATE_WEBHOOK_SECRET}
			}
			expiry_warnings 7d 1d
			rejection_alert 3 1h
			scan_interval 10m
			page_url https://bi.example.com/tokens/`

// runBinary runs the tokengate binary with args in dir, with env added.
func runBinary(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(testcaddy.Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// TestNotifyAdaptAndValidate: `tokengate adapt` turns the issue's notify
// block into the JSON the README shows, keeping the placeholders (the
// secrets in the environment never appear); `tokengate validate` accepts it
// without opening the store; bad blocks fail naming the field.
func TestNotifyAdaptAndValidate(t *testing.T) {
	dir := t.TempDir()
	secrets := []string{"SMTP_USER=mailer", "SMTP_PASSWORD=smtp-pw-sekrit", "TOKENGATE_WEBHOOK_SECRET=hook-sekrit-0123456789"}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(notifyCaddyfile(issueNotifyLines)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runBinary(t, dir, secrets, "adapt", "--config", path, "--adapter", "caddyfile")
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, stderr)
	}
	var cfg struct {
		Apps struct {
			Tokengate struct {
				Notify json.RawMessage `json:"notify"`
			} `json:"tokengate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("adapt output: %v\n%s", err, out)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, cfg.Apps.Tokengate.Notify)
	want := `{"smtp":{"address":"smtp.example.com:587","from":"tokengate \u003ctokengate@example.com\u003e","username":"{env.SMTP_USER}","password":"{env.SMTP_PASSWORD}","security":"starttls"},` +
		`"email_for":"{user}@example.com","webhook":{"url":"https://hooks.example.com/tokengate","secret":"{env.TOKENGATE_WEBHOOK_SECRET}"},` +
		`"expiry_warnings":[604800000000000,86400000000000],"rejection_alert":{"count":3,"window":3600000000000},"scan_interval":600000000000,"page_url":"https://bi.example.com/tokens/"}`
	if compact.String() != want {
		t.Errorf("adapted notify block:\n%s\nwant\n%s", compact.String(), want)
	}
	for _, s := range []string{"smtp-pw-sekrit", "hook-sekrit"} {
		if strings.Contains(out+stderr, s) {
			t.Errorf("adapt shows the secret %s", s)
		}
	}

	out, stderr, err = runBinary(t, dir, secrets, "validate", "--config", path, "--adapter", "caddyfile")
	if err != nil || !strings.Contains(out+stderr, "Valid configuration") {
		t.Errorf("validate: %v\n%s%s", err, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("validate created the store's directory (%v)", err)
	}

	for _, tc := range []struct{ lines, want string }{
		{`			smtp 127.0.0.1:25 {
				from tokengate@example.com
			}`, "tokengate: notify: email_for: is required with smtp"},
		{`			smtp 127.0.0.1:25 {
				from tokengate@example.com
				password {env.TG_UNSET_PASSWORD}
			}
			email_for "{user}@example.com"`, "tokengate: notify: smtp.password: {env.TG_UNSET_PASSWORD} is empty (is the environment variable set?)"},
		{`			webhook https://hooks.example.com/tokengate`, "tokengate: notify: webhook.secret: required"},
		{`			webhook https://hooks.example.com/tokengate {
				secret {env.TOKENGATE_WEBHOOK_SECRET}
			}
			expiry_warnings 7d 7d`, "tokengate: notify: expiry_warnings: 7d is given twice"},
		{`			smtp 127.0.0.1:25 {
				from tokengate@example.com
				security tls1.3
			}`, "tokengate: notify: smtp.security:"},
		{`			rejection_alert 3`, "notify: rejection_alert: want"},
	} {
		if err := os.WriteFile(path, []byte(notifyCaddyfile(tc.lines)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := runBinary(t, dir, secrets, "validate", "--config", path, "--adapter", "caddyfile")
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("validate %s: %v, want an error containing %q:\n%s%s", tc.lines, err, tc.want, out, stderr)
		}
		if strings.Contains(out+stderr, "hook-sekrit") {
			t.Error("validate shows the webhook secret")
		}
	}
}
