package caddymodule_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

// TestDirectiveOrder: used outside route, tokengate_auth runs before
// handle, respond and reverse_proxy, so nothing reveals whether a path
// exists, or what it holds, without a valid token.
func TestDirectiveOrder(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testcaddy.Start(t, fmt.Sprintf(`{
	admin 127.0.0.1:{ADMIN_PORT}
	tokengate {
		%s
	}
}
http://127.0.0.1:%d {
	reverse_proxy %s
	respond /static "static content" 200
	handle /handled/* {
		respond "handled content" 200
	}
	tokengate_auth
}
`, kind.directive, port, up.URL[len("http://"):]), testcaddy.Options{Dir: dir, ReadyURL: base + "/"})
	for _, path := range []string{"/static", "/handled/x", "/proxied", "/nonexistent"} {
		resp, body := get(t, base+path, "", nil)
		if resp.StatusCode != http.StatusUnauthorized || body != "" {
			t.Errorf("%s without a token: %d %q, want 401 with an empty body", path, resp.StatusCode, body)
		}
		if resp, _ := get(t, base+path, basicauth.Header("alice", c.Secret), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with a token: %d, want 200", path, resp.StatusCode)
		}
	}
}
