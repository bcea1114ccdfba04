package notify_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/internal/mailpit"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/notify"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// waitTimeout bounds every wait for a delivery; generous for a loaded CI
// machine, never reached when things work.
const waitTimeout = 30 * time.Second

// backend opens the stores a test runs on: open returns a handle on one
// shared back end each time it is called (Postgres: one database, a new
// pool each call; bolt: the one handle, since the embedded store serves one
// instance).
type backend struct {
	name string
	open func(t *testing.T) func() token.Store
}

var backends = []backend{
	{"bolt", func(t *testing.T) func() token.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
		if err != nil {
			t.Fatalf("opening bolt store: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return func() token.Store { return s }
	}},
	{"postgres", func(t *testing.T) func() token.Store {
		dsn := storetest.PostgresDSN(t)
		return func() token.Store {
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatalf("opening postgres store: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	}},
}

// forEachStore runs fn as a subtest on every back end.
func forEachStore(t *testing.T, fn func(t *testing.T, open func() token.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

// start is the fake clock's first instant.
var start = time.Date(2030, 3, 10, 9, 30, 0, 0, time.UTC)

// counter is an Observer that counts by kind, channel and event.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func newCounter() *counter { return &counter{n: map[string]int{}} }

func (c *counter) add(kind, channel, event string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[kind+" "+channel+" "+event]++
}

func (c *counter) Delivered(ch, ev string) { c.add("delivered", ch, ev) }
func (c *counter) Retried(ch, ev string)   { c.add("retried", ch, ev) }
func (c *counter) Failed(ch, ev string)    { c.add("failed", ch, ev) }
func (c *counter) Dropped(ch, ev string)   { c.add("dropped", ch, ev) }

// get returns the count of kind ("delivered", …) for channel and event.
func (c *counter) get(kind, channel, event string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[kind+" "+channel+" "+event]
}

// waitCount waits until get(kind, channel, event) >= n and returns it.
func (c *counter) waitCount(t *testing.T, kind, channel, event string, n int) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := c.get(kind, channel, event)
		if got >= n || time.Now().After(deadline) {
			if got < n {
				t.Fatalf("%s %s %s = %d after %v, want ≥ %d (counts %v)", kind, channel, event, got, waitTimeout, n, c.snapshot())
			}
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// errorLog collects OnError reports.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.errs {
		fmt.Fprintln(&b, e)
	}
	return b.String()
}

// mailConfig is a Config sending plain SMTP to mp, alerts at 3 in 1h.
func mailConfig(mp *mailpit.Server, clock *fakeclock.Clock, holder string, obs notify.Observer, errs *errorLog) notify.Config {
	cfg := notify.Config{
		SMTP:            &notify.SMTPConfig{Addr: mp.SMTPAddr, From: "tokengate <tokengate@example.com>", Security: notify.SecurityNone},
		EmailFor:        "{user}@example.com",
		RejectionCount:  3,
		RejectionWindow: time.Hour,
		PageURL:         "https://tokens.example.com/tokens/",
		Holder:          holder,
		Clock:           clock.Now,
		Observer:        obs,
		OnError:         errs.add,
	}
	return notify.Fast(cfg, nil, 10*time.Millisecond, 20*time.Millisecond)
}

// newNotifier creates and starts a Notifier, stopped at cleanup.
func newNotifier(t *testing.T, s token.Store, cfg notify.Config) *notify.Notifier {
	t.Helper()
	n, err := notify.New(s, s, cfg)
	if err != nil {
		t.Fatalf("notify.New: %v", err)
	}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// newTokenRecord returns a fresh secret and the token of owner that stores
// it, expiring at expires (zero: never).
func newTokenRecord(t *testing.T, owner, label string, created, expires time.Time) (string, token.Token) {
	t.Helper()
	secret, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	id, err := token.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return secret, token.Token{ID: id, Owner: owner, Label: label, Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret), CreatedAt: created, ExpiresAt: expires}
}

// createToken stores a token of owner expiring at expires (zero: never).
func createToken(t *testing.T, s token.Store, owner, label string, created, expires time.Time) token.Token {
	t.Helper()
	_, tk := newTokenRecord(t, owner, label, created, expires)
	if err := s.Create(context.Background(), tk, 0); err != nil {
		t.Fatalf("creating token: %v", err)
	}
	return tk
}

// scan runs one Scan and fails the test on error.
func scan(t *testing.T, n *notify.Notifier) {
	t.Helper()
	if err := n.Scan(context.Background()); err != nil {
		t.Fatalf("Scan: %v", err)
	}
}

// mailsTo returns the subjects of the messages to addr.
func mailsTo(mp *mailpit.Server, addr string) []string {
	var out []string
	for _, m := range mp.MustMessages() {
		for _, to := range m.To {
			if to.Address == addr {
				out = append(out, m.Subject)
			}
		}
	}
	return out
}
