package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/internal/mailpit"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

const hookSecret = "0123456789abcdef-webhook-secret"

// receiver is a webhook endpoint that verifies the signature itself and
// answers the statuses of fail first.
type receiver struct {
	mu       sync.Mutex
	fail     []int // statuses for the first requests
	calls    int
	accepted []map[string]any
	bad      []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	ts := r.Header.Get("X-Tokengate-Timestamp")
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	switch {
	case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json":
		rc.bad = append(rc.bad, "method/content type: "+r.Method+" "+r.Header.Get("Content-Type"))
	case !hmac.Equal([]byte(r.Header.Get("X-Tokengate-Signature")), []byte(want)):
		rc.bad = append(rc.bad, "signature "+r.Header.Get("X-Tokengate-Signature"))
	case err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute:
		rc.bad = append(rc.bad, "timestamp "+ts)
	}
	if len(rc.fail) > 0 {
		status := rc.fail[0]
		rc.fail = rc.fail[1:]
		w.WriteHeader(status)
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		rc.bad = append(rc.bad, "body "+string(body))
	}
	if p["event"] != r.Header.Get("X-Tokengate-Event") {
		rc.bad = append(rc.bad, "event header "+r.Header.Get("X-Tokengate-Event"))
	}
	rc.accepted = append(rc.accepted, p)
	w.WriteHeader(http.StatusNoContent)
}

// newReceiver starts a receiver answering fail first; closed at cleanup.
func newReceiver(t *testing.T, fail ...int) (*receiver, *httptest.Server) {
	rc := &receiver{fail: fail}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) state() (calls int, accepted []map[string]any, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls, append([]map[string]any(nil), rc.accepted...), append([]string(nil), rc.bad...)
}

func webhookConfig(url string, clock *fakeclock.Clock, obs notify.Observer, errs *errorLog) notify.Config {
	return notify.Fast(notify.Config{
		Webhook: &notify.WebhookConfig{URL: url, Secret: hookSecret},
		Holder:  "w", Clock: clock.Now, Observer: obs, OnError: errs.add,
	}, nil, 10*time.Millisecond, 20*time.Millisecond, 40*time.Millisecond)
}

// TestWebhookRetried: a receiver failing twice with 500 gets the signed
// event once; two retries are counted.
func TestWebhookRetried(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func() token.Store) {
		rc, srv := newReceiver(t, 500, 502)
		clock := fakeclock.New(start)
		obs, errs := newCounter(), &errorLog{}
		s := open()
		tk := createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
		n := newNotifier(t, s, webhookConfig(srv.URL+"/hooks/tokengate", clock, obs, errs))
		scan(t, n)
		obs.waitCount(t, "delivered", "webhook", notify.EventExpiring, 1)
		scan(t, n)
		n.Stop()
		calls, accepted, bad := rc.state()
		if len(bad) > 0 {
			t.Fatalf("receiver refused requests: %q", bad)
		}
		if calls != 3 || len(accepted) != 1 {
			t.Fatalf("%d calls, %d accepted; want 3 calls (two 5xx, then success) and 1 accepted", calls, len(accepted))
		}
		if r := obs.get("retried", "webhook", notify.EventExpiring); r != 2 {
			t.Errorf("retried = %d, want 2", r)
		}
		p := accepted[0]
		want := map[string]any{"event": "token.expiring", "owner": "alice", "token_id": tk.ID, "label": "Sprint dashboard",
			"hint": tk.Hint, "expires_at": tk.ExpiresAt.Format(time.RFC3339), "lead": "7d"}
		for k, v := range want {
			if p[k] != v {
				t.Errorf("payload %s = %v, want %v", k, p[k], v)
			}
		}
		if strings.Contains(errs.text(), hookSecret) {
			t.Errorf("an error report holds the webhook secret: %s", errs.text())
		}
	})
}

// TestWebhook4xxNotRetried: a 4xx answer is final: counted failed, not
// retried, and the claim is released so the next scan tries again.
func TestWebhook4xxNotRetried(t *testing.T) {
	t.Parallel()
	rc, srv := newReceiver(t, 400)
	clock := fakeclock.New(start)
	obs, errs := newCounter(), &errorLog{}
	s := backends[0].open(t)()
	createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(-time.Hour+time.Minute))
	n := newNotifier(t, s, webhookConfig(srv.URL+"/secret-path-token", clock, obs, errs))
	obs.waitCount(t, "failed", "webhook", notify.EventExpired, 1)
	if r := obs.get("retried", "webhook", notify.EventExpired); r != 0 {
		t.Errorf("retried = %d after a 400, want 0", r)
	}
	scan(t, n)
	obs.waitCount(t, "delivered", "webhook", notify.EventExpired, 1)
	if calls, accepted, _ := rc.state(); calls != 2 || len(accepted) != 1 || accepted[0]["lead"] != nil {
		t.Errorf("%d calls, accepted %v; want 2 calls and one token.expired without lead", calls, accepted)
	}
	if text := errs.text(); !strings.Contains(text, "400") || strings.Contains(text, "secret-path-token") {
		t.Errorf("error reports %q: want the status, never the URL path", text)
	}
}

// TestSMTPDown: with the mail server down, Scan and Rejected return at once
// (delivery is queued), attempts are retried and counted, the claim is
// released; once the server is back, the next scan delivers.
func TestSMTPDown(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func() token.Store) {
		mp := mailpit.Start(t)
		clock := fakeclock.New(start)
		obs, errs := newCounter(), &errorLog{}
		s := open()
		tk := createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
		mp.Stop()
		n := newNotifier(t, s, mailConfig(mp, clock, "a", obs, errs))
		scan(t, n)
		reject(t, s, n, clock, tk, token.RejectIPNotAllowed, "192.0.2.1", "192.0.2.2", "192.0.2.3")
		obs.waitCount(t, "failed", "email", notify.EventExpiring, 1)
		obs.waitCount(t, "failed", "email", notify.EventRejected, 1)
		// Each delivery is tried three times (two retries); the scan at
		// Start may claim the released notice again and already be retrying,
		// so only the lower bound is exact. "failed after 3 attempt(s)" below
		// pins the attempts of one delivery.
		if r := obs.get("retried", "email", notify.EventExpiring); r < 2 {
			t.Errorf("retried = %d, want at least 2 (three attempts)", r)
		}
		mp.Restart()
		scan(t, n)
		obs.waitCount(t, "delivered", "email", notify.EventExpiring, 1)
		n.Stop()
		checkMails(t, mp, "alice@example.com", "expires in 6 days")
		if !strings.Contains(errs.text(), "failed after 3 attempt(s)") {
			t.Errorf("error reports: %s; want the failure reported", errs.text())
		}
	})
}

// TestStopReleasesClaims: a notifier stopped while it waits to retry
// releases its claim, so a new one (the restart) sends at once.
func TestStopReleasesClaims(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	clock := fakeclock.New(start)
	obs, errs := newCounter(), &errorLog{}
	s := backends[0].open(t)()
	createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
	mp.Stop()
	cfg := notify.Fast(mailConfig(mp, clock, "a", obs, errs), nil, time.Hour) // stuck waiting
	n := newNotifier(t, s, cfg)
	obs.waitCount(t, "retried", "email", notify.EventExpiring, 1)
	scan(t, n) // returns although the worker is stuck
	n.Stop()
	mp.Restart()
	n2 := newNotifier(t, s, mailConfig(mp, clock, "b", obs, errs))
	obs.waitCount(t, "delivered", "email", notify.EventExpiring, 1)
	n2.Stop()
	checkMails(t, mp, "alice@example.com", "expires in 6 days")
}

// TestClaimTakenOver: a claim whose holder died before sending is taken
// over after the lease.
func TestClaimTakenOver(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	clock := fakeclock.New(start)
	obs, errs := newCounter(), &errorLog{}
	s := backends[0].open(t)()
	tk := createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
	if ok, err := s.ClaimNotice(context.Background(), tk.ID, token.NoticeExpiring(7*24*time.Hour), "dead", start, notify.Lease(), 0); !ok || err != nil {
		t.Fatalf("claiming as the dead holder: %v, %v", ok, err)
	}
	n := newNotifier(t, s, mailConfig(mp, clock, "a", obs, errs))
	scan(t, n)
	clock.Advance(notify.Lease() + time.Second)
	scan(t, n)
	obs.waitCount(t, "delivered", "email", notify.EventExpiring, 1)
	n.Stop()
	checkMails(t, mp, "alice@example.com", "expires in 6 days")
}

// TestBadOwnerAddress: an owner that does not make a mail address is a
// failed delivery reported to OnError, not a panic; the webhook still gets
// the event.
func TestBadOwnerAddress(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	_, srv := newReceiver(t)
	clock := fakeclock.New(start)
	obs, errs := newCounter(), &errorLog{}
	s := backends[0].open(t)()
	createToken(t, s, "bad owner<x>", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
	cfg := mailConfig(mp, clock, "a", obs, errs)
	cfg.Webhook = &notify.WebhookConfig{URL: srv.URL, Secret: hookSecret}
	n := newNotifier(t, s, cfg)
	obs.waitCount(t, "failed", "email", notify.EventExpiring, 1)
	obs.waitCount(t, "delivered", "webhook", notify.EventExpiring, 1)
	if a := n.AddressFor("bad owner<x>"); a != "" {
		t.Errorf("AddressFor(bad owner) = %q, want \"\"", a)
	}
	if a := n.AddressFor("alice"); a != "alice@example.com" {
		t.Errorf("AddressFor(alice) = %q", a)
	}
	if got := n.Channels(); strings.Join(got, ",") != "email,webhook" {
		t.Errorf("Channels = %v", got)
	}
	n.Stop()
	if r := obs.get("retried", "email", notify.EventExpiring); r != 0 {
		t.Errorf("a bad address was retried %d times", r)
	}
	if !strings.Contains(errs.text(), "cannot be part of a mail address") {
		t.Errorf("error reports %q: want the bad address", errs.text())
	}
	if len(mp.MustMessages()) != 0 {
		t.Error("a mail was sent")
	}
}

// TestTLSWithLogin: security starttls (tls) with a login delivers through a
// server that requires STARTTLS (implicit TLS) and checks the password; a
// server without STARTTLS is refused (never plain text), and no report shows
// the password.
func TestTLSWithLogin(t *testing.T) {
	t.Parallel()
	const password = "s3cret-smtp-pass"
	mp := mailpit.Start(t, mailpit.WithSTARTTLS(), mailpit.WithAuth("tg", password))
	implicit := mailpit.Start(t, mailpit.WithImplicitTLS(), mailpit.WithAuth("tg", password))
	plain := mailpit.Start(t)
	clock := fakeclock.New(start)
	for _, tc := range []struct {
		name     string
		mp       *mailpit.Server
		security notify.Security
		pass     string
		ok       bool
	}{
		{"starttls", mp, notify.SecurityStartTLS, password, true},
		{"tls", implicit, notify.SecurityTLS, password, true},
		{"wrong password", mp, notify.SecurityStartTLS, "wrong-" + password, false},
		{"no starttls offered", plain, notify.SecurityStartTLS, password, false},
	} {
		s := backends[0].open(t)()
		createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
		obs, errs := newCounter(), &errorLog{}
		cfg := mailConfig(tc.mp, clock, tc.name, obs, errs)
		cfg.SMTP.Security, cfg.SMTP.Username, cfg.SMTP.Password = tc.security, "tg", tc.pass
		cfg = notify.Fast(cfg, tc.mp.TLSConfig, 10*time.Millisecond)
		before := len(tc.mp.MustMessages())
		n := newNotifier(t, s, cfg)
		if tc.ok {
			obs.waitCount(t, "delivered", "email", notify.EventExpiring, 1)
			n.Stop()
			checkMails(t, tc.mp, "alice@example.com", "expires in 6 days")
			continue
		}
		obs.waitCount(t, "failed", "email", notify.EventExpiring, 1)
		n.Stop()
		if r := obs.get("retried", "email", notify.EventExpiring); tc.pass != password && r != 0 {
			t.Errorf("%s: retried %d times; a refused login is final", tc.name, r)
		}
		if got := len(tc.mp.MustMessages()); got != before {
			t.Errorf("%s: %d mails, want the %d from before", tc.name, got, before)
		}
		if text := errs.text(); text == "" || strings.Contains(text, password) {
			t.Errorf("%s: error reports %q: want a failure without the password", tc.name, text)
		}
	}
}

// TestWebhookRejected: the rejection alert as a webhook event.
func TestWebhookRejected(t *testing.T) {
	t.Parallel()
	rc, srv := newReceiver(t)
	clock := fakeclock.New(start)
	obs, errs := newCounter(), &errorLog{}
	s := backends[0].open(t)()
	tk := createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(-time.Minute))
	cfg := webhookConfig(srv.URL, clock, obs, errs)
	cfg.RejectionCount, cfg.RejectionWindow = 3, 90*time.Minute
	n := newNotifier(t, s, cfg)
	obs.waitCount(t, "delivered", "webhook", notify.EventExpired, 1)
	reject(t, s, n, clock, tk, token.RejectExpired, "203.0.113.7", "203.0.113.8", "203.0.113.9")
	obs.waitCount(t, "delivered", "webhook", notify.EventRejected, 1)
	n.Stop()
	_, accepted, bad := rc.state()
	if len(bad) > 0 || len(accepted) != 2 {
		t.Fatalf("accepted %v, refused %q; want the expired and the rejected event", accepted, bad)
	}
	want := map[string]any{"event": "token.rejected", "owner": "alice", "token_id": tk.ID, "label": "Sprint dashboard",
		"reason": "expired", "ip": "203.0.113.9", "agent": mashup, "count": float64(3), "window": "90m",
		"expires_at": nil, "hint": nil, "lead": nil}
	for k, v := range want {
		if accepted[1][k] != v {
			t.Errorf("payload %s = %v, want %v", k, accepted[1][k], v)
		}
	}
}

// TestGivesUpBeforeLeaseRunsOut: a delivery still failing when its claim's
// lease is about to run out (another instance may take the claim over and
// send) stops trying, so nothing goes out twice.
func TestGivesUpBeforeLeaseRunsOut(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	mp.Stop()
	clock := fakeclock.New(start)
	obs, errs := newCounter(), &errorLog{}
	s := backends[0].open(t)()
	createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
	backoff := make([]time.Duration, 1000)
	for i := range backoff {
		backoff[i] = 20 * time.Millisecond
	}
	// Fast's attempts take at most 5 s, the margin is 10 s: 300 ms to go.
	cfg := notify.WithLease(notify.Fast(mailConfig(mp, clock, "a", obs, errs), nil, backoff...), 15*time.Second+300*time.Millisecond)
	newNotifier(t, s, cfg)
	obs.waitCount(t, "failed", "email", notify.EventExpiring, 1)
	if !strings.Contains(errs.text(), "the claim's lease runs out") {
		t.Errorf("error reports %q: want the give-up for the lease", errs.text())
	}
}
