package notify_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/internal/mailpit"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

// scanAll runs Scan on every notifier at once.
func scanAll(t *testing.T, ns ...*notify.Notifier) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Add(1)
		go func() { defer wg.Done(); scan(t, n) }()
	}
	wg.Wait()
}

// settle stops the notifiers (Stop waits for the attempts in progress), so
// that every message they were going to send has arrived.
func settle(ns ...*notify.Notifier) {
	for _, n := range ns {
		n.Stop()
	}
}

// TestExpiryWarningsOnce: a token expiring in 6 days gets exactly one 7-day
// warning from two instances scanning at once (two store handles on one
// Postgres database) and across a restart; when the clock passes the 1-day
// lead exactly one 1-day warning follows, and at expiry one "has expired"
// message. A token 12 hours from expiry gets the 1-day warning only — never
// a 7-day one afterwards.
func TestExpiryWarningsOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func() token.Store) {
		mp := mailpit.Start(t)
		clock := fakeclock.New(start)
		obs, errs := newCounter(), &errorLog{}
		sa, sb := open(), open()
		alice := createToken(t, sa, "alice", "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
		bob := createToken(t, sa, "bob", "Velocity report", start.Add(-time.Hour), start.Add(12*time.Hour))
		createToken(t, sa, "carol", "Far away", start.Add(-time.Hour), start.Add(30*24*time.Hour))
		createToken(t, sa, "dave", "Never", start.Add(-time.Hour), time.Time{})

		// Two instances; Start scans at once, then both scan again together.
		na := newNotifier(t, sa, mailConfig(mp, clock, "a", obs, errs))
		nb := newNotifier(t, sb, mailConfig(mp, clock, "b", obs, errs))
		scanAll(t, na, nb)
		obs.waitCount(t, "delivered", "email", notify.EventExpiring, 2)
		settle(na, nb)

		// A restart of one instance scans again: nothing new.
		na2 := newNotifier(t, sa, mailConfig(mp, clock, "a2", obs, errs))
		scan(t, na2)
		settle(na2)
		checkMails(t, mp, "alice@example.com", "expires in 6 days")
		checkMails(t, mp, "bob@example.com", "expires in 12 hours")
		checkMails(t, mp, "carol@example.com")
		checkMails(t, mp, "dave@example.com")
		checkBody(t, mp, "alice@example.com", alice, "expires on 2030-03-16 09:30 UTC")

		// Past the 1-day lead: one 1-day warning for alice, none for bob.
		clock.Set(alice.ExpiresAt.Add(-23 * time.Hour))
		na3 := newNotifier(t, sa, mailConfig(mp, clock, "a3", obs, errs))
		nb3 := newNotifier(t, sb, mailConfig(mp, clock, "b3", obs, errs))
		scanAll(t, na3, nb3)
		obs.waitCount(t, "delivered", "email", notify.EventExpired, 1) // bob's token has expired meanwhile
		obs.waitCount(t, "delivered", "email", notify.EventExpiring, 3)
		scanAll(t, na3, nb3)
		settle(na3, nb3)
		checkMails(t, mp, "alice@example.com", "expires in 6 days", "expires in 23 hours")
		checkMails(t, mp, "bob@example.com", "expires in 12 hours", "has expired")

		// Past expiry: one "has expired" message.
		clock.Set(alice.ExpiresAt.Add(time.Minute))
		na4 := newNotifier(t, sa, mailConfig(mp, clock, "a4", obs, errs))
		nb4 := newNotifier(t, sb, mailConfig(mp, clock, "b4", obs, errs))
		scanAll(t, na4, nb4)
		obs.waitCount(t, "delivered", "email", notify.EventExpired, 2)
		scanAll(t, na4, nb4)
		settle(na4, nb4)
		checkMails(t, mp, "alice@example.com", "expires in 6 days", "expires in 23 hours", "has expired")
		checkMails(t, mp, "bob@example.com", "expires in 12 hours", "has expired")
		if n := obs.get("failed", "email", notify.EventExpiring) + obs.get("failed", "email", notify.EventExpired); n != 0 {
			t.Errorf("%d failed deliveries: %s", n, errs.text())
		}
		_ = bob
	})
}

// checkMails fails unless the messages to addr are exactly one per wanted
// subject fragment (a fragment wanted twice: two), in any order.
func checkMails(t *testing.T, mp *mailpit.Server, addr string, want ...string) {
	t.Helper()
	got := mailsTo(mp, addr)
	if len(got) != len(want) {
		t.Fatalf("mails to %s: %q, want %d: %q", addr, got, len(want), want)
	}
	for _, w := range want {
		n, m := 0, 0
		for _, g := range got {
			if strings.Contains(g, w) {
				n++
			}
		}
		for _, w2 := range want {
			if w2 == w {
				m++
			}
		}
		if n != m {
			t.Errorf("mails to %s: %q; want %d with %q", addr, got, m, w)
		}
	}
}

// checkBody checks the first message to addr: label, hint, expiry and the
// link that opens the Replace action for tk.
func checkBody(t *testing.T, mp *mailpit.Server, addr string, tk token.Token, expiry string) {
	t.Helper()
	for _, m := range mp.MustMessages() {
		if len(m.To) != 1 || m.To[0].Address != addr {
			continue
		}
		full := mp.MustMessage(m.ID)
		link := "https://tokens.example.com/tokens/?replace=" + url.QueryEscape(tk.ID)
		for _, want := range []string{"'" + tk.Label + "'", "…" + tk.Hint, expiry, link} {
			if !strings.Contains(full.Text, want) {
				t.Errorf("mail to %s lacks %q:\n%s", addr, want, full.Text)
			}
		}
		if full.From.Address != "tokengate@example.com" {
			t.Errorf("mail from %q, want tokengate@example.com", full.From.Address)
		}
		return
	}
	t.Fatalf("no mail to %s", addr)
}
