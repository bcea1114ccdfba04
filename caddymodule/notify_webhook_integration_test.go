package caddymodule_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

// hookDelivery is one POST the webhook receiver accepted.
type hookDelivery struct {
	event   string
	payload map[string]any
}

// TestNotifyWebhookJSONConfig (issue 13): a JSON config (durations with
// days, the secret from a placeholder) runs the notifier; the receiver
// gets signed JSON — it answers the first POST 500, which is retried — and
// accepts each warning once: the 7-day one for a token expiring in 5–6 days
// and the 1-day one for a token expiring tonight, with label, hint, owner
// and expiry. The admin API shows the placeholder, never the secret.
func TestNotifyWebhookJSONConfig(t *testing.T) {
	const secret = "whsec-0123456789abcdef-test"
	kind, dir, _ := seededBolt(t, "bob") // bob's token never expires: no message
	st := kind.open(t)
	week := seedDated(t, st, "alice", "Sprint dashboard", 5)
	tonight := seedDated(t, st, "alice", "Velocity", 0)
	st.Close()

	var mu sync.Mutex
	var posts int
	var got []hookDelivery
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		posts++
		if posts == 1 {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		if err := verifyHook([]byte(secret), r, body); err != nil {
			t.Errorf("webhook POST: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		got = append(got, hookDelivery{event: r.Header.Get("X-Tokengate-Event"), payload: p})
	}))
	t.Cleanup(hook.Close)

	cfg := fmt.Sprintf(`{"admin": {"listen": "127.0.0.1:{ADMIN_PORT}"},
	"apps": {"tokengate": {
		"store": {"type": "bolt", "path": "./data/tokengate.db"},
		"notify": {
			"webhook": {"url": %q, "secret": "{env.TG_HOOK_SECRET}"},
			"expiry_warnings": ["7d", "1d"],
			"rejection_alert": {"off": true},
			"scan_interval": "1s",
			"page_url": "https://bi.example.com/tokens/"
		}}}}`, hook.URL+"/tokengate")
	inst := testcaddy.Start(t, cfg, testcaddy.Options{Adapter: "json", Dir: dir, Env: []string{"TG_HOOK_SECRET=" + secret}})

	waitUntil(t, "two accepted webhook deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	})
	time.Sleep(2 * time.Second) // later scans send nothing again
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || posts != 3 {
		t.Fatalf("%d accepted of %d POSTs, want 2 of 3 (one retried): %+v", len(got), posts, got)
	}
	leads := map[string]string{}
	for _, d := range got {
		p := d.payload
		if d.event != "token.expiring" || p["event"] != "token.expiring" || p["owner"] != "alice" {
			t.Errorf("delivery %+v", d)
		}
		leads[fmt.Sprint(p["token_id"])] = fmt.Sprint(p["lead"])
		for _, c := range []struct{ id, label, hint string }{{week.Token.ID, "Sprint dashboard", week.Token.Hint}, {tonight.Token.ID, "Velocity", tonight.Token.Hint}} {
			if p["token_id"] == c.id && (p["label"] != c.label || p["hint"] != c.hint || p["expires_at"] == nil) {
				t.Errorf("payload of %s: %+v", c.label, p)
			}
		}
	}
	if leads[week.Token.ID] != "7d" || leads[tonight.Token.ID] != "1d" {
		t.Errorf("leads by token %v, want 7d for %s and 1d for %s", leads, week.Token.ID, tonight.Token.ID)
	}
	if n := notices(t, inst.AdminAddr, "webhook", "token.expiring", "retried"); n != 1 {
		t.Errorf("retried %v, want 1", n)
	}
	if n := notices(t, inst.AdminAddr, "webhook", "token.expiring", "delivered"); n != 2 {
		t.Errorf("delivered %v, want 2", n)
	}
	_, running := get(t, "http://"+inst.AdminAddr+"/config/", "", nil)
	if strings.Contains(running, secret) || !strings.Contains(running, "{env.TG_HOOK_SECRET}") {
		t.Errorf("the admin API's config shows the secret or lost the placeholder: %s", running)
	}
	if strings.Contains(inst.Logs.String(), secret) {
		t.Error("the log shows the webhook secret")
	}
}

// verifyHook checks a delivery as the README tells receivers to.
func verifyHook(secret []byte, r *http.Request, body []byte) error {
	ts := r.Header.Get("X-Tokengate-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp %q", ts)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Tokengate-Signature"))) {
		return fmt.Errorf("signature %q does not match", r.Header.Get("X-Tokengate-Signature"))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q", ct)
	}
	return nil
}
