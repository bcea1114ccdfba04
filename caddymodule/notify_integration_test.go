package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/internal/mailpit"
)

// TestNotifyExpiryMail (issue 13): in the real binary, on both stores, with
// a real SMTP server (Mailpit): a token expiring in 5–6 days gets exactly
// one mail, the 7-day warning, to alice@example.com with its label, hint and
// the link that opens its Replace action; a restart sends nothing again;
// the token page says where the warnings go; the delivery is counted.
func TestNotifyExpiryMail(t *testing.T) {
	onBothStores(t, func(t *testing.T, kind storeKind, dir string) {
		st := kind.open(t)
		c := seedDated(t, st, "alice", "Sprint dashboard", 5)
		seed(t, st, "bob", "never expires")
		st.Close() // the bolt file is locked while the gate runs

		mp := mailpit.Start(t)
		up := newEchoUpstream(t)
		port := testcaddy.FreePort(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		page := base + "/tokens/"
		cfg := gateCaddyfile(withNotify(kind, mailNotify(mp, page, "")).directive, port, up.URL, "")
		start := func() *testcaddy.Instance {
			return testcaddy.Start(t, cfg, testcaddy.Options{Dir: dir, Env: kind.env, ReadyURL: base + "/plain/"})
		}
		inst := start()

		got := mp.WaitFor(1, mailWait)
		if len(got) != 1 {
			t.Fatalf("%d mails, want 1: %+v", len(got), got)
		}
		m := mp.MustMessage(got[0].ID)
		if len(m.To) != 1 || m.To[0].Address != "alice@example.com" {
			t.Errorf("mail to %+v, want alice@example.com", m.To)
		}
		if !strings.Contains(m.Subject, "'Sprint dashboard' expires in ") {
			t.Errorf("subject %q", m.Subject)
		}
		for _, want := range []string{"Sprint dashboard (…" + c.Token.Hint + ")", page + "?replace=" + c.Token.ID} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("mail text lacks %q:\n%s", want, m.Text)
			}
		}
		waitUntil(t, "the delivery to be counted", func() bool {
			return notices(t, inst.AdminAddr, "email", "token.expiring", "delivered") == 1
		})
		if txt := pageText(t, base, "alice"); !strings.Contains(txt, `Expiry warnings and alerts go to <strong id="notice-address">alice@example.com</strong>.`) {
			t.Errorf("the token page does not say where alice's warnings go")
		}

		// A restart (and several scans of both lives) sends nothing twice.
		inst.Stop()
		inst = start()
		time.Sleep(3 * time.Second) // scan_interval 1s: the new life scanned at start and at least twice more
		if n := len(mailsTo(mp, "alice@example.com")); n != 1 || len(mp.MustMessages()) != 1 {
			t.Errorf("after a restart: %d mails to alice, %d in all; want 1", n, len(mp.MustMessages()))
		}
	})
}

// TestNotifyRejectionAlert (issue 13): on both stores, a revoked token that
// Power BI keeps using is refused three times in quick succession through
// tokengate_auth, the rejections are stored (last_used_flush 200ms; identical
// ones coalesced with their count) and its owner gets one alert mail naming
// the client, the IP and the label; a fourth refusal within the window sends
// no second one.
func TestNotifyRejectionAlert(t *testing.T) {
	onBothStores(t, func(t *testing.T, kind storeKind, dir string) {
		st := kind.open(t)
		c := seed(t, st, "alice", "Sprint dashboard")
		st.Close()

		mp := mailpit.Start(t)
		up := newEchoUpstream(t)
		inst, base := startGate(t, withNotify(kind, mailNotify(mp, "https://bi.example.com/tokens/", "rejection_alert 3 1h")), dir, up.URL, "")
		revokeVia(t, base, "alice", c.Token.ID)

		const agent = "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)"
		refuse := func(i int) {
			resp, _ := get(t, base+"/odata/", basicauth.Header("alice", c.Secret), map[string]string{"User-Agent": agent})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("revoked token, attempt %d: %d, want 401", i, resp.StatusCode)
			}
		}
		// Three refusals back to back, as Power BI retries: identical
		// rejections within one flush are stored as one record with their
		// count, and the alert counts attempts, not records.
		for i := 1; i <= 3; i++ {
			refuse(i)
		}
		if got := mp.WaitFor(1, mailWait); len(got) != 1 {
			t.Fatalf("%d mails after 3 rejections, want 1", len(got))
		}
		waitUntil(t, "3 attempts to be stored", func() bool { return attemptsOf(t, base, "alice") == 3 })
		refuse(4)
		waitUntil(t, "the 4th attempt to be stored", func() bool { return attemptsOf(t, base, "alice") == 4 })
		got := mailsTo(mp, "alice@example.com")
		if len(got) != 1 {
			t.Fatalf("%d alert mails to alice, want 1", len(got))
		}
		m := mp.MustMessage(got[0].ID)
		if want := "Power BI (agent " + agent + ", IP 127.0.0.1) is still using your revoked token 'Sprint dashboard'"; !strings.Contains(m.Text, want) {
			t.Errorf("alert lacks %q:\n%s", want, m.Text)
		}
		if !strings.Contains(m.Subject, "'Sprint dashboard' was refused 3 times") {
			t.Errorf("subject %q", m.Subject)
		}
		// The fourth rejection was handed to the notifier too: by the time it
		// is stored and checked, still one alert within the window.
		time.Sleep(time.Second)
		if n := len(mp.MustMessages()); n != 1 {
			t.Errorf("%d mails after a fourth rejection within the window, want 1", n)
		}
		if n := notices(t, inst.AdminAddr, "email", "token.rejected", "delivered"); n != 1 {
			t.Errorf("delivered alerts counted %v, want 1", n)
		}
	})
}

// attemptsOf sums the counts of who's rejected attempts in the token page
// API (identical attempts within a flush are one entry with their count).
func attemptsOf(t testing.TB, base, who string) int {
	t.Helper()
	n := 0
	for _, r := range rejectionsOf(t, base, who) {
		c, ok := r["count"].(float64)
		if !ok || c < 1 {
			t.Fatalf("rejection without a count: %v", r)
		}
		n += int(c)
	}
	return n
}

// rejectionsOf returns who's rejected attempts from the token page API.
func rejectionsOf(t testing.TB, base, who string) []map[string]any {
	t.Helper()
	resp, body := get(t, base+"/tokens/api/rejections", "", map[string]string{"X-Test-User": who})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rejections of %s: %d %s", who, resp.StatusCode, body)
	}
	var out struct {
		Rejections []map[string]any `json:"rejections"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("rejections: %v", err)
	}
	return out.Rejections
}

// TestNotifyTwoInstancesOneMail (issue 13): two instances on one Postgres,
// both scanning every second, send the 7-day warning of a token once between
// them; restarting one of them sends nothing again.
func TestNotifyTwoInstancesOneMail(t *testing.T) {
	kind := postgresKind(t)
	st := kind.open(t)
	seedDated(t, st, "alice", "Sprint dashboard", 5)
	st.Close()
	mp := mailpit.Start(t)
	up := newEchoUpstream(t)
	notifying := withNotify(kind, mailNotify(mp, "https://bi.example.com/tokens/", ""))
	first, _ := startGate(t, notifying, t.TempDir(), up.URL, "")
	second, _ := startGate(t, notifying, t.TempDir(), up.URL, "")

	if got := mp.WaitFor(1, mailWait); len(got) != 1 {
		t.Fatalf("%d mails, want 1", len(got))
	}
	second.Stop()
	second, _ = startGate(t, notifying, t.TempDir(), up.URL, "")
	time.Sleep(3 * time.Second) // both scanned several times since
	if n := len(mp.MustMessages()); n != 1 {
		t.Errorf("%d mails from two instances and a restart, want 1", n)
	}
	sum := 0.0
	for _, inst := range []*testcaddy.Instance{first, second} {
		sum += notices(t, inst.AdminAddr, "email", "token.expiring", "delivered")
	}
	// The restarted instance has fresh counters: 0 or 1 in all.
	if sum > 1 {
		t.Errorf("deliveries counted %v", sum)
	}
}
