package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token/notify"
)

// Defaults of the notify block (the rest are token/notify's).
const (
	// DefaultRejectionCount is how many rejections of one token within
	// DefaultRejectionWindow make an alert, when rejection_alert is not set.
	DefaultRejectionCount = 3
	// DefaultRejectionWindow is the rejection alert's default window.
	DefaultRejectionWindow = time.Hour
	// MinNotifyInterval is the shortest scan_interval, lead time or
	// rejection window accepted: a JSON number is nanoseconds, and a scan
	// every few nanoseconds would hammer the store.
	MinNotifyInterval = time.Second
)

// NotifyConfig is the app's optional "notify" block: expiry warnings and
// rejection alerts by mail and signed webhook (see token/notify). Secrets
// (SMTP password, webhook secret) should be placeholders such as
// {env.SMTP_PASSWORD}: they are resolved when the config loads, never
// logged, and the config (caddy adapt, the admin API) keeps the placeholder.
type NotifyConfig struct {
	// SMTP sends mail; nil means no mail.
	SMTP *NotifySMTP `json:"smtp,omitempty"`
	// EmailFor makes a user id an address: "{user}@example.com".
	// Required with SMTP.
	EmailFor string `json:"email_for,omitempty"`
	// Webhook receives every event as signed JSON; nil means none.
	Webhook *NotifyWebhook `json:"webhook,omitempty"`
	// ExpiryWarnings are the lead times before expiry at which owners are
	// warned (default 7d and 1d).
	ExpiryWarnings []caddy.Duration `json:"expiry_warnings,omitempty"`
	// RejectionAlert sets when an owner is alerted that a token keeps
	// being rejected (default 3 rejections within 1h).
	RejectionAlert *NotifyRejectionAlert `json:"rejection_alert,omitempty"`
	// ScanInterval is how often tokens are scanned for expiry warnings,
	// besides once at start (default 10m).
	ScanInterval caddy.Duration `json:"scan_interval,omitempty"`
	// PageURL is the token page's absolute URL, linked from the messages
	// (with ?replace=<token id>); empty means no link.
	PageURL string `json:"page_url,omitempty"`
}

// NotifySMTP is the mail server notifications go through.
type NotifySMTP struct {
	// Address is the server's host:port.
	Address string `json:"address,omitempty"`
	// From is the sender, e.g. "tokengate <tokengate@example.com>".
	From string `json:"from,omitempty"`
	// Username and Password authenticate (optional; both or neither).
	// Use placeholders; the password is never logged.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Security is starttls (default), tls or none.
	Security string `json:"security,omitempty"`
}

// NotifyWebhook is the URL every event is POSTed to as JSON.
type NotifyWebhook struct {
	// URL is the receiver (http or https).
	URL string `json:"url,omitempty"`
	// Secret is the HMAC-SHA256 key of the X-Tokengate-Signature header.
	// Required: an unsigned webhook could be forged by anyone who finds
	// the receiver. Use a placeholder; it is never logged.
	Secret string `json:"secret,omitempty"`
}

// NotifyRejectionAlert is "Count rejections of one token within Window",
// or Off.
type NotifyRejectionAlert struct {
	Count  int            `json:"count,omitempty"`
	Window caddy.Duration `json:"window,omitempty"`
	Off    bool           `json:"off,omitempty"`
}

// notifySettings is a notify block resolved for token/notify: the config
// (without Observer and OnError) and a digest naming it in notifyPool
// (never the secrets themselves).
type notifySettings struct {
	cfg    notify.Config
	digest string
	// literal names the secrets written into the config instead of a
	// placeholder (caddy adapt and the admin API show those).
	literal []string
}

// warn logs the secrets written literally into the config (by field name,
// never the value); nothing for nil settings.
func (s *notifySettings) warn(logger *zap.Logger) {
	if s == nil {
		return
	}
	for _, field := range s.literal {
		logger.Warn("tokengate: notify: "+field+" is written into the config; caddy adapt and the admin API's /config/ show it: use a placeholder such as {env.NAME}",
			zap.String("field", field))
	}
}

// build resolves placeholders, applies the defaults and validates; nil
// settings when the block is absent. Errors name the field
// ("tokengate: notify: email_for: …") and never contain a secret.
func (n *NotifyConfig) build(repl *caddy.Replacer) (*notifySettings, error) {
	if n == nil {
		return nil, nil
	}
	r := resolved{repl: repl}
	var cfg notify.Config
	if s := n.SMTP; s != nil {
		cfg.SMTP = &notify.SMTPConfig{
			Addr:     r.get("smtp", s.Address, false),
			From:     r.get("smtp.from", s.From, false),
			Username: r.get("smtp.username", s.Username, false),
			Password: r.get("smtp.password", s.Password, true),
			Security: notify.Security(r.get("smtp.security", s.Security, false)),
		}
		if cfg.SMTP.Addr == "" && r.err == nil {
			r.err = fmt.Errorf("smtp: missing server address (host:port of the mail server)")
		}
	}
	cfg.EmailFor = r.get("email_for", n.EmailFor, false)
	if w := n.Webhook; w != nil {
		cfg.Webhook = &notify.WebhookConfig{URL: r.get("webhook", w.URL, false), Secret: r.get("webhook.secret", w.Secret, true)}
		if cfg.Webhook.Secret == "" && r.err == nil {
			r.err = fmt.Errorf("webhook.secret: required (receivers check the X-Tokengate-Signature with it); set it from a secret such as {env.TOKENGATE_WEBHOOK_SECRET}")
		}
	}
	cfg.PageURL = r.get("page_url", n.PageURL, false)
	if r.err != nil {
		return nil, fmt.Errorf("tokengate: notify: %w", r.err)
	}
	for i, lead := range n.ExpiryWarnings {
		if err := checkInterval(fmt.Sprintf("expiry_warnings[%d]", i), lead); err != nil {
			return nil, err
		}
		cfg.ExpiryWarnings = append(cfg.ExpiryWarnings, time.Duration(lead))
	}
	cfg.RejectionCount, cfg.RejectionWindow = DefaultRejectionCount, DefaultRejectionWindow
	if ra := n.RejectionAlert; ra != nil {
		switch {
		case ra.Off:
			if ra.Count != 0 || ra.Window != 0 {
				return nil, fmt.Errorf("tokengate: notify: rejection_alert: off with a count or window; choose one")
			}
			cfg.RejectionCount, cfg.RejectionWindow = 0, 0
		case ra.Count <= 0:
			return nil, fmt.Errorf("tokengate: notify: rejection_alert: count: must be positive, got %d (use off to turn alerts off)", ra.Count)
		default:
			if err := checkInterval("rejection_alert: window", ra.Window); err != nil {
				return nil, err
			}
			cfg.RejectionCount, cfg.RejectionWindow = ra.Count, time.Duration(ra.Window)
		}
	}
	if n.ScanInterval != 0 {
		if err := checkInterval("scan_interval", n.ScanInterval); err != nil {
			return nil, err
		}
		cfg.ScanInterval = time.Duration(n.ScanInterval)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tokengate: %w", err)
	}
	ns := &notifySettings{cfg: cfg, digest: settingsDigest(cfg)}
	if n.SMTP != nil && n.SMTP.Password != "" && !strings.Contains(n.SMTP.Password, "{") {
		ns.literal = append(ns.literal, "smtp.password")
	}
	if n.Webhook != nil && !strings.Contains(n.Webhook.Secret, "{") {
		ns.literal = append(ns.literal, "webhook.secret")
	}
	return ns, nil
}

// checkInterval refuses durations too short to be meant (JSON numbers are
// nanoseconds).
func checkInterval(field string, d caddy.Duration) error {
	if time.Duration(d) < MinNotifyInterval {
		return fmt.Errorf("tokengate: notify: %s: must be at least %s, got %s (JSON numbers are nanoseconds; write a string like \"7d\" or \"10m\")",
			field, MinNotifyInterval, time.Duration(d))
	}
	return nil
}

// resolved replaces placeholders field by field and keeps the first error.
type resolved struct {
	repl *caddy.Replacer
	err  error
}

// get resolves raw; a value that had placeholders and resolved to nothing
// is an error naming field (a secret's value is never put in the message).
func (r *resolved) get(field, raw string, secret bool) string {
	if raw == "" || r.err != nil {
		return ""
	}
	v := strings.TrimSpace(r.repl.ReplaceKnown(raw, ""))
	if v == "" {
		shown := " " + raw
		if secret && !strings.HasPrefix(raw, "{") {
			shown = ""
		}
		r.err = fmt.Errorf("%s:%s is empty (is the environment variable set?)", field, shown)
	}
	return v
}

// settingsDigest names resolved settings in notifyPool: equal settings share
// a Notifier across reloads, changed ones (a rotated password included) get
// a new one. A digest, so the pool key holds no secret.
func settingsDigest(cfg notify.Config) string {
	cfg.Clock, cfg.Observer, cfg.OnError = nil, nil, nil
	b, err := json.Marshal(struct {
		SMTP           *notify.SMTPConfig
		EmailFor       string
		Webhook        *notify.WebhookConfig
		ExpiryWarnings []time.Duration
		RejectionCount int
		RejectionWin   time.Duration
		ScanInterval   time.Duration
		PageURL        string
	}{cfg.SMTP, cfg.EmailFor, cfg.Webhook, cfg.ExpiryWarnings, cfg.RejectionCount, cfg.RejectionWindow, cfg.ScanInterval, cfg.PageURL})
	if err != nil { // plain data: cannot happen
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
