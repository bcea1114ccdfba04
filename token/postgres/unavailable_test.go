package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// wantUnavailable fails unless err wraps token.ErrUnavailable and took at
// most limit.
func wantUnavailable(t *testing.T, what string, err error, took, limit time.Duration) {
	t.Helper()
	if !errors.Is(err, token.ErrUnavailable) {
		t.Errorf("%s: %v, want an error wrapping ErrUnavailable", what, err)
	}
	if took > limit {
		t.Errorf("%s took %v, want at most %v", what, took, limit)
	}
	t.Logf("%s after %v: %v", what, took.Round(time.Millisecond), err)
}

// TestOpenUnavailable opens a closed port and a port that accepts but never
// answers (a hung server): both fail with ErrUnavailable within the connect
// timeout.
func TestOpenUnavailable(t *testing.T) {
	port := closedPort(t)
	start := time.Now()
	_, err := postgres.Open(context.Background(), "postgres://u@127.0.0.1:"+port+"/db?sslmode=disable&connect_timeout=1", postgres.Options{})
	wantUnavailable(t, "Open of a closed port", err, time.Since(start), 2*time.Second)

	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	start = time.Now()
	_, err = postgres.Open(context.Background(), "postgres://u@"+hung.Addr().String()+"/db?sslmode=disable&connect_timeout=1", postgres.Options{})
	wantUnavailable(t, "Open of a hung server", err, time.Since(start), 3*time.Second)
}

// proxy forwards TCP connections to target until stopped.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, network, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &proxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial(network, target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop closes the listener and cuts every forwarded connection.
func (p *proxy) stop() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// viaProxy returns dsn with its host and port replaced by addr.
func viaProxy(t *testing.T, dsn, addr string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = addr
		q := u.Query()
		q.Del("host")
		q.Del("port")
		q.Set("connect_timeout", "1")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " host=" + host + " port=" + port + " connect_timeout=1"
}

// TestByDigestUnavailable opens a store through a TCP proxy, then stops the
// proxy: lookups on the broken and on new connections fail with
// ErrUnavailable, quickly; a canceled request is not ErrUnavailable.
func TestByDigestUnavailable(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parsing the test DSN: %v", err)
	}
	network, target := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", cfg.Host+"/.s.PGSQL."+strconv.Itoa(int(cfg.Port))
	}
	p := startProxy(t, network, target)
	s := open(t, viaProxy(t, dsn, p.l.Addr().String()), postgres.Options{MaxConns: 2})
	ctx := context.Background()
	tok := mustCreate(t, s, "alice", 1)[0]
	if _, err := s.ByDigest(ctx, tok.Digest); err != nil {
		t.Fatalf("ByDigest through the proxy: %v", err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ByDigest(canceled, tok.Digest); !errors.Is(err, context.Canceled) || errors.Is(err, token.ErrUnavailable) {
		t.Errorf("ByDigest with a canceled context: %v, want context.Canceled and not ErrUnavailable", err)
	}

	p.stop()
	for i := range 3 {
		start := time.Now()
		_, err := s.ByDigest(ctx, tok.Digest)
		wantUnavailable(t, "ByDigest "+strconv.Itoa(i+1)+" after the server went away", err, time.Since(start), 2*time.Second)
	}
	start := time.Now()
	err = s.Create(ctx, newToken(t, "alice", 2), 25)
	wantUnavailable(t, "Create after the server went away", err, time.Since(start), 2*time.Second)
}
