package caddymodule_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/internal/mailpit"
)

// TestNotifyMailServerDown (issue 13): with the mail server down (Mailpit
// stopped), a valid token still gets 200 and a bad one 401, each promptly (under 2 s, the first retry backoff),
// while the 7-day warning is retried (counted as retried); a reload that
// changes the notify settings stops the old notifier mid-retry (counted as
// failed; its claim is released) and the new one delivers the warning once
// the mail server is back — nothing lost, nothing twice.
func TestNotifyMailServerDown(t *testing.T) {
	kind, dir, valid := seededBolt(t, "bob")
	st := kind.open(t)
	c := seedDated(t, st, "alice", "Sprint dashboard", 5)
	st.Close()

	mp := mailpit.Start(t)
	mp.Stop() // down: connections to its SMTP port are refused
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := func(extra string) string {
		return gateCaddyfile(withNotify(kind, mailNotify(mp, base+"/tokens/", extra)).directive, port, up.URL, "")
	}
	inst := testcaddy.Start(t, cfg(""), testcaddy.Options{Dir: dir, ReadyURL: base + "/plain/"})

	waitUntil(t, "a retried delivery", func() bool {
		return notices(t, inst.AdminAddr, "email", "token.expiring", "retried") >= 1
	})
	for i := 0; i < 5; i++ {
		for _, tc := range []struct {
			secret string
			want   int
		}{{valid.Secret, http.StatusOK}, {"tgp_not-a-real-token", http.StatusUnauthorized}} {
			begin := time.Now()
			if got := status(t, base+"/odata/", basicauth.Header("bob", tc.secret)); got != tc.want {
				t.Errorf("with the mail server down: %d, want %d", got, tc.want)
			}
			// Generous for a loaded machine; a request waiting on SMTP would
			// take the connection timeout or the retry backoff (2 s and more).
			if d := time.Since(begin); d > 2*time.Second {
				t.Errorf("a request took %v with the mail server down", d)
			}
		}
	}
	if n := notices(t, inst.AdminAddr, "email", "token.expiring", "delivered"); n != 0 {
		t.Fatalf("delivered %v with the mail server down", n)
	}

	// New settings: a new notifier; the old one stops between retries.
	inst.Reload(cfg("rejection_alert 5 1h"))
	waitUntil(t, "the stopped delivery to be counted as failed", func() bool {
		return notices(t, inst.AdminAddr, "email", "token.expiring", "failed") >= 1
	})
	mp.Restart()
	got := mp.WaitFor(1, mailWait)
	if len(got) != 1 || !strings.Contains(got[0].Subject, "'Sprint dashboard' expires in ") {
		t.Fatalf("after the mail server came back: %+v, want the 7-day warning", got)
	}
	m := mp.MustMessage(got[0].ID)
	if !strings.Contains(m.Text, "?replace="+c.Token.ID) {
		t.Errorf("mail text lacks the replace link:\n%s", m.Text)
	}
	time.Sleep(2 * time.Second) // scan_interval 1s: scans after the delivery send nothing more
	if n := len(mp.MustMessages()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
	if strings.Contains(inst.Logs.String(), "panic") {
		t.Errorf("the log shows a panic:\n%s", inst.Logs.String())
	}
}

// TestNotifyReloadSwapsNotifier: a reload that changes the notify settings
// routes the stored rejections to the new settings' notifier: with
// rejection alerts off two refusals of a revoked token send nothing; after
// a reload to "rejection_alert 3 1h" the third sends the alert; after a
// reload without a notify block the token page says nothing is configured.
func TestNotifyReloadSwapsNotifier(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	mp := mailpit.Start(t)
	up := newEchoUpstream(t)
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := func(extra string) string {
		return gateCaddyfile(withNotify(kind, mailNotify(mp, base+"/tokens/", extra)).directive, port, up.URL, "")
	}
	inst := testcaddy.Start(t, cfg("rejection_alert off"), testcaddy.Options{Dir: dir, ReadyURL: base + "/plain/"})
	revokeVia(t, base, "alice", c.Token.ID)
	refuse := func(i int) {
		t.Helper()
		if got := status(t, base+"/odata/", basicauth.Header("alice", c.Secret)); got != http.StatusUnauthorized {
			t.Fatalf("revoked token: %d", got)
		}
		waitUntil(t, fmt.Sprintf("rejection %d to be stored", i), func() bool { return len(rejectionsOf(t, base, "alice")) >= i })
	}
	refuse(1)
	refuse(2)
	inst.Reload(cfg("rejection_alert 3 1h"))
	if n := len(mp.MustMessages()); n != 0 {
		t.Fatalf("%d mails with rejection alerts off", n)
	}
	refuse(3)
	if got := mp.WaitFor(1, mailWait); len(got) != 1 || !strings.Contains(got[0].Subject, "was refused 3 times") {
		t.Fatalf("after the reload: %+v, want one alert", got)
	}

	inst.Reload(gateCaddyfile(kind.directive, port, up.URL, ""))
	if txt := pageText(t, base, "alice"); !strings.Contains(txt, "No notifications configured") {
		t.Error("without a notify block the token page still names a channel")
	}
}
