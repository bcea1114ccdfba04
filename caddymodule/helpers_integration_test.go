package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// echoUpstream is a real HTTP upstream that answers with the headers it got.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	last http.Header
}

func newEchoUpstream(t testing.TB) *echoUpstream {
	t.Helper()
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) lastHeaders() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// storeKind is one of the two store back ends the integration tests run on.
type storeKind struct {
	name string
	// directive is the Caddyfile "store" line.
	directive string
	// env for the Caddy process.
	env []string
	// open opens the same store from the test process (for Postgres while
	// Caddy runs; for bolt only while Caddy is not running).
	open func(t testing.TB) token.Store
}

func boltKind(t testing.TB, dir string) storeKind {
	path := filepath.Join(dir, "data", "tokengate.db")
	return storeKind{
		name:      "bolt",
		directive: "store bolt ./data/tokengate.db",
		open: func(t testing.TB) token.Store {
			st, err := bolt.Open(path)
			if err != nil {
				t.Fatalf("open bolt: %v", err)
			}
			return st
		},
	}
}

func postgresKind(t testing.TB) storeKind {
	return postgresKindFromDSN(storetest.PostgresDSN(t))
}

func postgresKindFromDSN(dsn string) storeKind {
	return storeKind{
		name:      "postgres",
		directive: "store postgres {env.TG_TEST_DSN}",
		env:       []string{"TG_TEST_DSN=" + dsn},
		open: func(t testing.TB) token.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, err := postgres.Open(ctx, dsn, postgres.Options{})
			if err != nil {
				t.Fatalf("open postgres: %v", err)
			}
			return st
		},
	}
}

// gateCaddyfile is a config with tokengate_auth in front of upstream and a
// test-only token page whose identity comes from a header (so tests can
// drive the real portal API without a login).
func gateCaddyfile(storeLine string, port int, upstream string, authOpts string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:{ADMIN_PORT}
	tokengate {
		%s
		cache_ttl 1m
		negative_ttl 10s
		last_used_flush 200ms
	}
}
http://127.0.0.1:%d {
	log {
		output stderr
		format json
	}
	route /odata/* {
		tokengate_auth {
			realm "Jira export"
			%s
		}
		reverse_proxy %s
	}
	handle /plain/* {
		reverse_proxy %s
	}
	# Test only: the token page with the identity taken from a header.
	handle_path /tokens/* {
		tokengate_portal {
			identity {http.request.header.X-Test-User}
		}
	}
}
`, storeLine, port, authOpts, strings.TrimPrefix(upstream, "http://"), strings.TrimPrefix(upstream, "http://"))
}

// revokeVia revokes owner's token id through the token page API of the
// instance at base, as the owner would.
func revokeVia(t testing.TB, base, owner, id string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, base+"/tokens/api/tokens/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-User", owner)
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke %s via %s: %d", id, base, resp.StatusCode)
	}
}

// seededBolt makes a bolt store in a new directory holding one token of
// owner (created before any instance runs: the file is locked while one does).
func seededBolt(t testing.TB, owner string) (storeKind, string, token.Created) {
	t.Helper()
	dir := t.TempDir()
	kind := boltKind(t, dir)
	st := kind.open(t)
	defer st.Close()
	return kind, dir, seed(t, st, owner, "seeded")
}

// seed creates tokens through the real Service on st.
func seed(t testing.TB, st token.Store, owner, label string) token.Created {
	t.Helper()
	svc := token.NewService(st, token.Policy{}, nil, nil)
	c, err := svc.Create(context.Background(), owner, label, "")
	if err != nil {
		t.Fatalf("seed %s/%s: %v", owner, label, err)
	}
	return c
}

// get sends GET url with the given Authorization (none when "") and extra headers.
func get(t testing.TB, url, authz string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func status(t testing.TB, url, authz string) int {
	t.Helper()
	resp, _ := get(t, url, authz, nil)
	return resp.StatusCode
}

// cutProxy is a TCP proxy to a real server that a test can cut and restore,
// to make the server unreachable without stopping it.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// setDown cuts every connection and refuses new ones (true) or lets them through again.
func (p *cutProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
	}
}

func startGate(t testing.TB, kind storeKind, dir string, upstream string, authOpts string) (*testcaddy.Instance, string) {
	t.Helper()
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	inst := testcaddy.Start(t, gateCaddyfile(kind.directive, port, upstream, authOpts), testcaddy.Options{
		Dir: dir, Env: kind.env, ReadyURL: base + "/plain/",
	})
	return inst, base
}
