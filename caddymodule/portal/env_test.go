package portal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// testUserHeader carries the signed-in identity in tests (in production the
// Identity function reads Caddy's {http.auth.user.id}).
const testUserHeader = "X-Test-User"

func headerIdentity(r *http.Request) string { return r.Header.Get(testUserHeader) }

// env is one portal over one real store, served by an httptest.Server.
type env struct {
	t     *testing.T
	kind  string // "bolt" or "postgres"
	store token.Store
	svc   *token.Service
	h     *Handler
	srv   *httptest.Server
	clock *fakeclock.Clock // shared by the Service and the Handler
	logs  *observer.ObservedLogs
	// sealer is the vault's, nil when envOptions.vault is false.
	sealer *token.Sealer
	// cut makes the store unreachable (bolt: closed file; Postgres: the TCP
	// proxy in front of it refuses and drops connections).
	cut func()
}

type envOptions struct {
	policy    token.Policy
	admins    []string
	realClock bool // use the system clock instead of the fake one
	// vault turns the vault on with a random key and vaultKinds
	// (token.DefaultVaultKinds when empty).
	vault      bool
	vaultKinds []token.VaultKind
}

// startTime is the fake "now" of API tests: mid-day, so that date
// arithmetic around midnight UTC is visible.
var startTime = time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)

// forEachStore runs f once with a bbolt store and once with a Postgres store.
func forEachStore(t *testing.T, opts envOptions, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, kind := range []string{"bolt", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f(t, newEnv(t, kind, opts))
		})
	}
}

func newEnv(t *testing.T, kind string, opts envOptions) *env {
	t.Helper()
	e := &env{t: t, kind: kind, clock: fakeclock.New(startTime)}
	switch kind {
	case "bolt":
		s, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
		if err != nil {
			t.Fatalf("bolt.Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		e.store = s
		e.cut = func() { _ = s.Close() }
	case "postgres":
		dsn := storetest.PostgresDSN(t)
		p := newTCPProxy(t, dsn)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, p.dsn, postgres.Options{})
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		e.store = s
		e.cut = p.cut
	default:
		t.Fatalf("unknown store %q", kind)
	}
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	clock := e.clock.Now
	if opts.realClock {
		clock = token.SystemClock
	}
	e.svc = token.NewService(e.store, opts.policy, nil, clock)
	if opts.vault {
		key := make([]byte, token.VaultKeyLen)
		if _, err := rand.Read(key); err != nil {
			t.Fatalf("vault key: %v", err)
		}
		sealer, err := token.NewSealer(key)
		if err != nil {
			t.Fatalf("NewSealer: %v", err)
		}
		e.sealer = sealer
		e.svc.EnableVault(sealer, opts.vaultKinds)
	}
	h, err := NewHandler(Config{
		Service:  e.svc,
		Admins:   opts.admins,
		Identity: headerIdentity,
		Logger:   zap.New(core),
	})
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// resp is a finished HTTP exchange.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json (body %s)", ct, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// errMsg returns the "error" field of a JSON error body.
func (r resp) errMsg(t *testing.T) string {
	t.Helper()
	var b struct {
		Error string `json:"error"`
	}
	r.json(t, &b)
	if b.Error == "" {
		t.Fatalf("error body without message: %s", r.body)
	}
	return b.Error
}

// do sends a request as who ("" = nobody). JSON bodies get the JSON content
// type unless hdr overrides it; hdr is "Name: value" pairs.
func (e *env) do(method, path, who, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("NewRequest: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set(testUserHeader, who)
	}
	for _, h := range hdr {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("reading body: %v", err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// createdToken is the answer to POST /api/tokens.
type createdToken struct {
	apiToken
	Token string `json:"token"`
}

func (e *env) create(who, label, date string) createdToken {
	e.t.Helper()
	body := map[string]any{"label": label, "expires_on": nil}
	if date != "" {
		body["expires_on"] = date
	}
	b, _ := json.Marshal(body)
	r := e.do("POST", "/api/tokens", who, string(b))
	if r.status != http.StatusCreated {
		e.t.Fatalf("create %q for %s: status %d, body %s", label, who, r.status, r.body)
	}
	var c createdToken
	r.json(e.t, &c)
	return c
}

func (e *env) list(who string) []apiToken {
	e.t.Helper()
	r := e.do("GET", "/api/tokens", who, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("list for %s: status %d, body %s", who, r.status, r.body)
	}
	var b struct {
		Tokens []apiToken `json:"tokens"`
	}
	r.json(e.t, &b)
	return b.Tokens
}

// tcpProxy forwards connections to the Postgres server of a DSN until cut.
type tcpProxy struct {
	dsn  string
	ln   net.Listener
	mu   sync.Mutex
	cuts bool
	open []net.Conn
}

func newTCPProxy(t *testing.T, dsn string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parsing test DSN: %v", err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u.Host = ln.Addr().String()
	p := &tcpProxy{dsn: u.String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(c net.Conn, target string) {
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cuts {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.open = append(p.open, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// cut closes the listener and every forwarded connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cuts = true
	p.ln.Close()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}
