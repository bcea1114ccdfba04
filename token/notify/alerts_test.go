package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/internal/mailpit"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

const mashup = "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)"

// reject stores rejections of tk (as the write-behind does) at the clock's
// time and hands them to n, as OnRejectionsStored does.
func reject(t *testing.T, s token.Store, n *notify.Notifier, clock *fakeclock.Clock, tk token.Token, reason token.RejectReason, ips ...string) {
	t.Helper()
	var rs []token.Rejection
	for _, ip := range ips {
		clock.Advance(time.Second)
		rs = append(rs, token.Rejection{TokenID: tk.ID, Owner: tk.Owner, Label: tk.Label, At: clock.Now(),
			IP: ip, Agent: mashup, Reason: reason})
	}
	if err := s.AddRejections(context.Background(), rs); err != nil {
		t.Fatalf("AddRejections: %v", err)
	}
	n.Rejected(rs)
}

// TestRejectionAlert: three rejections of a revoked token within the window
// make one alert; a fourth within the window none; two of another token
// none; after the window, three more make a second alert.
func TestRejectionAlert(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func() token.Store) {
		mp := mailpit.Start(t)
		clock := fakeclock.New(start)
		obs, errs := newCounter(), &errorLog{}
		s := open()
		tk := createToken(t, s, "alice", "Sprint dashboard", start.Add(-time.Hour), time.Time{})
		if _, err := s.Revoke(context.Background(), tk.ID, "", "alice", start); err != nil {
			t.Fatal(err)
		}
		few := createToken(t, s, "bob", "Few", start.Add(-time.Hour), time.Time{})
		marker := createToken(t, s, "carol", "Marker", start.Add(-time.Hour), time.Time{})
		n := newNotifier(t, s, mailConfig(mp, clock, "a", obs, errs))

		reject(t, s, n, clock, tk, token.RejectRevoked, "203.0.113.7", "203.0.113.7")
		reject(t, s, n, clock, few, token.RejectRevoked, "198.51.100.1", "198.51.100.1")
		reject(t, s, n, clock, tk, token.RejectRevoked, "203.0.113.9")
		obs.waitCount(t, "delivered", "email", notify.EventRejected, 1)

		// A fourth within the window: no alert. The marker's alert, queued
		// after it, shows that the fourth was looked at.
		reject(t, s, n, clock, tk, token.RejectRevoked, "203.0.113.7")
		reject(t, s, n, clock, marker, token.RejectExpired, "192.0.2.1", "192.0.2.2", "192.0.2.3")
		obs.waitCount(t, "delivered", "email", notify.EventRejected, 2)
		checkMails(t, mp, "alice@example.com", "'Sprint dashboard' was refused 3 times")
		checkMails(t, mp, "bob@example.com")
		checkMails(t, mp, "carol@example.com", "'Marker' was refused 3 times")
		body := mp.MustMessage(mp.MustMessages()[1].ID).Text // oldest last: alice's
		want := "Power BI (agent " + mashup + ", IP 203.0.113.9) is still using your revoked token 'Sprint dashboard'"
		if !strings.Contains(body, want) {
			t.Errorf("alert body lacks %q:\n%s", want, body)
		}

		// After the window: a new alert for three new rejections.
		clock.Advance(time.Hour + time.Minute)
		reject(t, s, n, clock, tk, token.RejectRevoked, "203.0.113.7", "203.0.113.8", "203.0.113.9")
		obs.waitCount(t, "delivered", "email", notify.EventRejected, 3)
		n.Stop()
		checkMails(t, mp, "alice@example.com", "'Sprint dashboard' was refused 3 times", "'Sprint dashboard' was refused 3 times")
	})
}

// TestRejectionSentence: the wording per reason.
func TestRejectionSentence(t *testing.T) {
	t.Parallel()
	r := token.Rejection{Label: "Sprint dashboard", IP: "203.0.113.7", Agent: "PowerBI/2.0"}
	for reason, want := range map[token.RejectReason]string{
		token.RejectRevoked:      "Power BI (agent PowerBI/2.0, IP 203.0.113.7) is still using your revoked token 'Sprint dashboard'",
		token.RejectExpired:      "Power BI (agent PowerBI/2.0, IP 203.0.113.7) is still using your expired token 'Sprint dashboard'",
		token.RejectIPNotAllowed: "Power BI (agent PowerBI/2.0, IP 203.0.113.7) is using your token 'Sprint dashboard' from an address it is not allowed from",
	} {
		r.Reason = reason
		if got := notify.RejectionSentence(r); got != want {
			t.Errorf("%s: %q, want %q", reason, got, want)
		}
	}
	r.Agent, r.IP, r.Reason = "curl/8.0", "", token.RejectRevoked
	if got, want := notify.RejectionSentence(r), "A client (agent curl/8.0, IP unknown) is still using your revoked token 'Sprint dashboard'"; got != want {
		t.Errorf("other client: %q, want %q", got, want)
	}
}
