package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule"
)

// challenge is the quickstart's Basic challenge.
const challenge = `Basic realm="Jira export", charset="UTF-8"`

// checkFeedURL: the feed answers at /odata as at /odata/ (people type it
// without the slash): a challenge without credentials, the service document
// with them, its links pointing at /odata/; a path the config does not
// serve is a 404, never an empty 200.
func (s *stack) checkFeedURL(t *testing.T, user, secret string) {
	t.Helper()
	for _, u := range []string{s.base + "/odata", s.base + "/odata?$format=json"} {
		resp, body := s.odataGet(t, u, "", "")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != challenge {
			t.Errorf("GET %s without credentials: %d, WWW-Authenticate %q; want 401 with the challenge (%.200s)",
				u, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		resp, body = s.odataGet(t, u, user, secret)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s as %s: status %d, body %.300s", u, user, resp.StatusCode, body)
		}
		checkPassThrough(t, u, resp, body)
		var doc struct {
			Context string `json:"@odata.context"`
			Value   []struct{ Name, URL string }
		}
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.Value) == 0 {
			t.Fatalf("GET %s: not a service document (%v): %.300s", u, err, body)
		}
		// Relative entity set URLs resolve against the context URL, so
		// Power BI reads /odata/Issues whichever URL it was given.
		if doc.Context != s.base+"/odata/$metadata" {
			t.Errorf("GET %s: @odata.context %q, want %q", u, doc.Context, s.base+"/odata/$metadata")
		}
	}
	for _, p := range []string{"/", "/nope", "/odataX", "/odata.svc", "/favicon.ico", "/tokensX"} {
		resp, body := s.odataGet(t, s.base+p, "", "")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s (not served): status %d, body %.100q; want 404", p, resp.StatusCode, body)
		}
		if resp, _ := s.odataGet(t, s.base+p, user, secret); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s (not served) with a token: status %d, want 404", p, resp.StatusCode)
		}
	}
}

// checkVaultKeyFile: the store in dir got its generated vault key file
// beside it, readable by the owner only; the log says so with the advice
// to set vault_key, and never shows the key.
func checkVaultKeyFile(t *testing.T, dir string, logs string) {
	t.Helper()
	path := caddymodule.VaultKeyFile(filepath.Join(dir, "data", "tokengate.db"))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no vault key file beside the store: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("vault key file %s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k := strings.TrimSpace(string(key)); k == "" || strings.Contains(logs, k) {
		t.Error("the vault key appears in the logs (or the key file is empty)")
	}
	if !strings.Contains(logs, "generated a vault key file") || !strings.Contains(logs, "set vault_key from a secret") {
		t.Error("the log does not say that a vault key file was generated, with the advice to set vault_key")
	}
}
