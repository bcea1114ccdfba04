package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/token"
)

// webhookChannel POSTs events as signed JSON.
type webhookChannel struct {
	url    string
	host   string // for errors: the URL itself may hold a secret
	secret []byte
	client *http.Client
	now    token.Clock
}

func newWebhook(cfg Config) *webhookChannel {
	u, _ := url.Parse(cfg.Webhook.URL) // checked by Validate
	return &webhookChannel{url: cfg.Webhook.URL, host: u.Host, secret: []byte(cfg.Webhook.Secret), now: time.Now,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webhookChannel) name() string { return ChannelWebhook }

// Payload is the JSON body of a webhook POST. Lead is set for
// token.expiring; Hint and ExpiresAt for token.expiring and token.expired;
// Reason, IP, Agent, Count and Window for token.rejected.
type Payload struct {
	Event     string `json:"event"`
	Owner     string `json:"owner"`
	TokenID   string `json:"token_id"`
	Label     string `json:"label"`
	Hint      string `json:"hint,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
	Lead      string `json:"lead,omitempty"`
	Reason    string `json:"reason,omitempty"`
	IP        string `json:"ip,omitempty"`
	Agent     string `json:"agent,omitempty"`
	Count     int    `json:"count,omitempty"`
	Window    string `json:"window,omitempty"`
}

func payloadOf(m *message) Payload {
	p := Payload{Event: m.event, Owner: m.tok.Owner, TokenID: m.tok.ID, Label: m.tok.Label, Hint: m.tok.Hint}
	if !m.tok.ExpiresAt.IsZero() {
		p.ExpiresAt = m.tok.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if m.event == EventExpiring {
		p.Lead = shortDuration(m.lead)
	}
	if r := m.rej; r != nil {
		p.Reason, p.IP, p.Agent, p.Count, p.Window = string(r.reason), r.ip, r.agent, r.count, shortDuration(r.window)
	}
	return p
}

// Sign returns the X-Tokengate-Signature value of body sent at timestamp
// (unix seconds, as in X-Tokengate-Timestamp): "sha256=" and the hex
// HMAC-SHA256 of timestamp + "." + body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// send POSTs m once. 2xx is success; 5xx, 429, timeouts and connection
// errors are worth a retry; any other answer is permanent.
func (w *webhookChannel) send(ctx context.Context, m *message) error {
	body, err := json.Marshal(payloadOf(m))
	if err != nil {
		return permanent(fmt.Errorf("webhook body: %w", err))
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("webhook request to %s: %w", w.host, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokengate-notify")
	req.Header.Set("X-Tokengate-Event", m.event)
	req.Header.Set("X-Tokengate-Timestamp", ts)
	req.Header.Set("X-Tokengate-Signature", Sign(w.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message holds the URL
		}
		return fmt.Errorf("webhook POST to %s: %w", w.host, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("webhook POST to %s: %s", w.host, resp.Status)
	default:
		return permanent(fmt.Errorf("webhook POST to %s: %s", w.host, resp.Status))
	}
}
