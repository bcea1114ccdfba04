package caddymodule_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

// TestPortalRefusesTokenIdentity: mounting the token page behind
// tokengate_auth must not let an access token create more tokens, even
// when the operator lets POST through.
func TestPortalRefusesTokenIdentity(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, fmt.Sprintf(`{
	admin 127.0.0.1:{ADMIN_PORT}
	tokengate {
		%s
	}
}
http://127.0.0.1:%d {
	handle_path /tokens/* {
		tokengate_auth {
			methods GET HEAD POST # let the POST reach the portal's own guard
		}
		tokengate_portal
	}
	respond /ready 200
}
`, kind.directive, port), testcaddy.Options{Dir: dir, ReadyURL: base + "/ready"})

	req, _ := http.NewRequest(http.MethodPost, base+"/tokens/api/tokens", strings.NewReader(`{"label":"minted","expires_on":null}`))
	req.SetBasicAuth("alice", c.Secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("create with a token as identity: %d, want 403", resp.StatusCode)
	}
	if r, body := get(t, base+"/tokens/api/tokens", basicauth.Header("alice", c.Secret), nil); r.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign-in") {
		t.Fatalf("list with a token as identity: %d %s", r.StatusCode, body)
	}
}
