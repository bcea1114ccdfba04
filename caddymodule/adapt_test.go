package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

var update = flag.Bool("update", false, "rewrite golden files")

// adaptRoot runs `tokengate adapt` on the root Caddyfile and returns indented JSON.
func adaptRoot(t *testing.T) []byte {
	t.Helper()
	root := testcaddy.ModuleRoot(t)
	cmd := exec.Command(testcaddy.Binary(t), "adapt", "--config", filepath.Join(root, "Caddyfile"), "--adapter", "caddyfile")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "WARN") {
		t.Errorf("adapt warned:\n%s", stderr.String())
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("adapt output is not JSON: %v", err)
	}
	pretty, _ := json.MarshalIndent(v, "", "\t")
	return append(pretty, '\n')
}

// TestAdaptQuickstart: `caddy adapt` of the sample Caddyfile matches the
// golden JSON (go test -run TestAdaptQuickstart -update to rewrite it).
func TestAdaptQuickstart(t *testing.T) {
	got := adaptRoot(t)
	golden := filepath.Join("testdata", "Caddyfile.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("adapted Caddyfile differs from %s; run `go test ./caddymodule -run TestAdaptQuickstart -update` and review the diff.\ngot:\n%s", golden, got)
	}
	for _, want := range []string{`"tokengate": {`, `"handler": "tokengate_auth"`, `"handler": "tokengate_portal"`, `"handler": "jira_export_demo"`, `"response_header_timeout": 600000000000`, `"scopes": {`, `"scope_always": [`} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("adapted config lacks %s", want)
		}
	}
}

// TestQuickstartAsJSON runs the adapted quickstart as a JSON config: the
// modules work from JSON as well as from the Caddyfile.
func TestQuickstartAsJSON(t *testing.T) {
	cfg := string(adaptRoot(t))
	port, backend, admin := testcaddy.FreePort(t), testcaddy.FreePort(t), testcaddy.FreePort(t)
	cfg = strings.ReplaceAll(cfg, `":8080"`, fmt.Sprintf(`":%d"`, port))
	cfg = strings.ReplaceAll(cfg, `":9090"`, fmt.Sprintf(`":%d"`, backend))
	cfg = strings.ReplaceAll(cfg, `127.0.0.1:9090`, fmt.Sprintf(`127.0.0.1:%d`, backend))
	cfg = strings.ReplaceAll(cfg, `"localhost:2019"`, fmt.Sprintf(`"127.0.0.1:%d"`, admin))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, cfg, testcaddy.Options{Adapter: "json", AdminPort: admin, ReadyURL: base + "/tokens/"})

	resp, _ := get(t, base+"/odata/", "", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="Jira export"`) {
		t.Fatalf("feed without credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/tokens/api/tokens", strings.NewReader(`{"label":"from json config","expires_on":null}`))
	req.SetBasicAuth("alice", "alice-demo")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Token string }
	_ = json.NewDecoder(r2.Body).Decode(&created)
	r2.Body.Close()
	if r2.StatusCode != http.StatusCreated || created.Token == "" {
		t.Fatalf("create through the portal: %d", r2.StatusCode)
	}
	resp, body := get(t, base+"/odata/Projects", basicauth.Header("alice", created.Token), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"@odata.context"`) {
		t.Fatalf("feed with the token: %d %s", resp.StatusCode, body)
	}
}
