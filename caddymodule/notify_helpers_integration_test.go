package caddymodule_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/mailpit"
	"github.com/tokengate/tokengate/token"
)

// mailWait bounds how long a test waits for a mail or a metric: generous,
// the machine may be busy; what arrives arrives within a second or two.
const mailWait = 30 * time.Second

// mailNotify is a notify block sending through mp (plain SMTP), scanning
// every second and linking to page; extra lines go into the block.
func mailNotify(mp *mailpit.Server, page, extra string) string {
	return fmt.Sprintf(`notify {
			smtp %s {
				from "tokengate <tokengate@example.com>"
				security none
			}
			email_for "{user}@example.com"
			expiry_warnings 7d 1d
			scan_interval 1s
			page_url %s
			%s
		}`, mp.SMTPAddr, page, extra)
}

// withNotify returns kind with block added to the tokengate app.
func withNotify(kind storeKind, block string) storeKind {
	kind.directive += "\n\t\t" + block
	return kind
}

// seedDated creates owner's token that expires at the end of the UTC day
// days from today: between days and days+1 days from now.
func seedDated(t testing.TB, st token.Store, owner, label string, days int) token.Created {
	t.Helper()
	svc := token.NewService(st, token.Policy{}, nil, nil)
	on := time.Now().UTC().AddDate(0, 0, days).Format(token.DateLayout)
	c, err := svc.Create(context.Background(), owner, label, on)
	if err != nil {
		t.Fatalf("seed %s/%s expiring %s: %v", owner, label, on, err)
	}
	return c
}

// mailsTo returns the stored messages addressed to addr.
func mailsTo(mp *mailpit.Server, addr string) []mailpit.Summary {
	var out []mailpit.Summary
	for _, m := range mp.MustMessages() {
		for _, to := range m.To {
			if to.Address == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

// metric returns the value of the sample name{labels} (labels as Prometheus
// prints them, e.g. `channel="email",event="token.expiring",result="retried"`)
// on the instance's admin endpoint; 0 when absent.
func metric(t testing.TB, adminAddr, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	prefix := name + "{" + labels + "} "
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s%s: %v", name, labels, err)
			}
			return f
		}
	}
	return 0
}

// notices is caddy_tokengate_notifications_total of channel, event and result.
func notices(t testing.TB, adminAddr, channel, event, result string) float64 {
	t.Helper()
	return metric(t, adminAddr, "caddy_tokengate_notifications_total",
		fmt.Sprintf(`channel=%q,event=%q,result=%q`, channel, event, result))
}

// waitUntil polls cond until it holds or mailWait passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %v", what, mailWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pageText returns the token page as who sees it.
func pageText(t testing.TB, base, who string) string {
	t.Helper()
	resp, body := get(t, base+"/tokens/", "", map[string]string{"X-Test-User": who})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token page of %s: %d", who, resp.StatusCode)
	}
	return body
}

// onBothStores runs f in a subtest per store (bolt, postgres) with the
// store's kind and the instance directory.
func onBothStores(t *testing.T, f func(t *testing.T, kind storeKind, dir string)) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := postgresKind(t)
			if name == "bolt" {
				kind = boltKind(t, dir)
			}
			f(t, kind, dir)
		})
	}
}
