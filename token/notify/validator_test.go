package notify_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/internal/mailpit"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

// TestValidatorToAlert: the whole token-side path — a revoked token
// presented three times from three addresses is refused by the Validator,
// its write-behind stores the rejections and hands them to the notifier
// (OnRejectionsStored), which mails one alert.
func TestValidatorToAlert(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func() token.Store) {
		e := newAlertEnv(t, open)
		secret := revokedToken(t, e.s, "alice", "Sprint dashboard")
		e.refuse(secret, "203.0.113.7", "203.0.113.8", "203.0.113.9")
		e.flush()
		e.obs.waitCount(t, "delivered", "email", notify.EventRejected, 1)
		e.n.Stop()
		checkMails(t, e.mp, "alice@example.com", "'Sprint dashboard' was refused 3 times")
	})
}

// TestCoalescedRejectionsAlert: Power BI retrying a revoked token within
// seconds — identical refusals (token, IP, agent, reason) — is stored by
// the write-behind as one rejection with its count, and the alert counts
// the attempts: three in one flush make exactly one alert saying 3, two
// make none until a third follows in a later flush.
func TestCoalescedRejectionsAlert(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func() token.Store) {
		e := newAlertEnv(t, open)
		retried := revokedToken(t, e.s, "carol", "Velocity")
		twice := revokedToken(t, e.s, "alice", "Sprint dashboard")

		// One flush: alice's token twice, carol's three times.
		e.refuse(twice, "203.0.113.7", "203.0.113.7")
		e.refuse(retried, "198.51.100.4", "198.51.100.4", "198.51.100.4")
		e.flush()
		rs, err := e.s.Rejections(context.Background(), "carol", 10)
		if err != nil || len(rs) != 1 || rs[0].Count != 3 {
			t.Fatalf("carol's stored rejections = %+v, %v; want one with Count 3", rs, err)
		}
		e.obs.waitCount(t, "delivered", "email", notify.EventRejected, 1)

		// The next flush: carol's three more (within the window: no second
		// alert), then alice's third, whose alert shows carol's were checked.
		e.refuse(retried, "198.51.100.4", "198.51.100.4", "198.51.100.4")
		e.refuse(twice, "203.0.113.7")
		e.flush()
		e.obs.waitCount(t, "delivered", "email", notify.EventRejected, 2)
		e.obs.waitCount(t, "delivered", "webhook", notify.EventRejected, 2)
		e.n.Stop()
		checkMails(t, e.mp, "carol@example.com", "'Velocity' was refused 3 times")
		checkMails(t, e.mp, "alice@example.com", "'Sprint dashboard' was refused 3 times")
		for _, m := range e.mp.MustMessages() {
			if body := e.mp.MustMessage(m.ID).Text; !strings.Contains(body, "It was refused 3 times within 1h") {
				t.Errorf("alert body does not count 3 attempts:\n%s", body)
			}
		}
		_, accepted, bad := e.rc.state()
		if len(bad) > 0 || len(accepted) != 2 {
			t.Fatalf("webhook accepted %v, refused %q; want the two alerts", accepted, bad)
		}
		for _, a := range accepted {
			if a["event"] != "token.rejected" || a["count"] != float64(3) {
				t.Errorf("webhook event %v, want token.rejected with count 3", a)
			}
		}
	})
}

// revokedToken stores a revoked token of owner and returns its secret.
func revokedToken(t *testing.T, s token.Store, owner, label string) string {
	t.Helper()
	secret, tk := newTokenRecord(t, owner, label, start.Add(-time.Hour), time.Time{})
	ctx := context.Background()
	if err := s.Create(ctx, tk, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, tk.ID, "", owner, start); err != nil {
		t.Fatal(err)
	}
	return secret
}

// alertEnv is a store, a notifier mailing to Mailpit and posting to a
// webhook receiver, and a Validator over
// the store that hands the rejections it stores to the notifier and
// flushes only when told to; all on one fake clock.
type alertEnv struct {
	t     *testing.T
	mp    *mailpit.Server
	rc    *receiver
	clock *fakeclock.Clock
	obs   *counter
	s     token.Store
	n     *notify.Notifier
	v     *token.Validator
}

func newAlertEnv(t *testing.T, open func() token.Store) *alertEnv {
	t.Helper()
	e := &alertEnv{t: t, mp: mailpit.Start(t), clock: fakeclock.New(start), obs: newCounter(), s: open()}
	errs := &errorLog{}
	cfg := mailConfig(e.mp, e.clock, "a", e.obs, errs)
	var srv *httptest.Server
	e.rc, srv = newReceiver(t)
	cfg.Webhook = &notify.WebhookConfig{URL: srv.URL, Secret: hookSecret}
	e.n = newNotifier(t, e.s, cfg)
	v, err := token.NewValidator(e.s, token.ValidatorConfig{Clock: e.clock.Now, LastUsedFlush: time.Hour,
		OnRejectionsStored: e.n.Rejected, OnError: errs.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	e.v = v
	return e
}

// refuse presents the revoked secret once from each ip (one second apart),
// as Power BI does, and records each refusal as tokengate_auth does.
func (e *alertEnv) refuse(secret string, ips ...string) {
	e.t.Helper()
	for _, ip := range ips {
		e.clock.Advance(time.Second)
		r := e.v.Validate(context.Background(), secret)
		if r.Outcome != token.OutcomeRevoked {
			e.t.Fatalf("Validate = %v, want revoked", r.Outcome)
		}
		e.v.RecordRejection(r, token.RejectRevoked, ip, mashup)
	}
}

func (e *alertEnv) flush() {
	e.t.Helper()
	if err := e.v.Flush(context.Background()); err != nil {
		e.t.Fatalf("Flush: %v", err)
	}
}
