package notify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

func validConfig() notify.Config {
	return notify.Config{
		SMTP:     &notify.SMTPConfig{Addr: "smtp.example.com:587", From: "tokengate <tokengate@example.com>", Username: "u", Password: "pw-s3cret"},
		EmailFor: "{user}@example.com",
		Webhook:  &notify.WebhookConfig{URL: "https://hooks.example.com/tokengate", Secret: "0123456789abcdef"},
	}
}

// TestConfigValidate: each bad field is refused with an error naming it.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	ids := validConfig()
	ids.EmailFor = "{user}" // user ids that are addresses
	if err := ids.Validate(); err != nil {
		t.Fatalf("email_for {user}: %v", err)
	}
	webhookOnly := notify.Config{Webhook: validConfig().Webhook}
	if err := webhookOnly.Validate(); err != nil {
		t.Fatalf("webhook only: %v", err)
	}
	cases := []struct {
		field  string
		change func(c *notify.Config)
	}{
		{"smtp", func(c *notify.Config) { c.SMTP, c.Webhook, c.EmailFor = nil, nil, "" }},
		{"smtp", func(c *notify.Config) { c.SMTP.Addr = "smtp.example.com" }},
		{"smtp", func(c *notify.Config) { c.SMTP.Addr = "smtp.example.com:0" }},
		{"smtp", func(c *notify.Config) { c.SMTP.Addr = ":587" }},
		{"smtp.from", func(c *notify.Config) { c.SMTP.From = "" }},
		{"smtp.from", func(c *notify.Config) { c.SMTP.From = "not an address" }},
		{"smtp.security", func(c *notify.Config) { c.SMTP.Security = "ssl" }},
		{"smtp.security", func(c *notify.Config) { c.SMTP.Security = notify.SecurityNone }},
		{"smtp.password", func(c *notify.Config) { c.SMTP.Password = "" }},
		{"email_for", func(c *notify.Config) { c.EmailFor = "" }},
		{"email_for", func(c *notify.Config) { c.EmailFor = "admin@example.com" }},
		{"email_for", func(c *notify.Config) { c.EmailFor = "{user}@" }},
		{"email_for", func(c *notify.Config) { c.EmailFor = "x{user}y" }},
		{"email_for", func(c *notify.Config) { c.SMTP, c.EmailFor = nil, "{user}@example.com" }},
		{"webhook", func(c *notify.Config) { c.Webhook.URL = "hooks.example.com/x" }},
		{"webhook", func(c *notify.Config) { c.Webhook.URL = "ftp://hooks.example.com/x" }},
		{"webhook", func(c *notify.Config) { c.Webhook.URL = "https://user:pw@hooks.example.com/x" }},
		{"webhook.secret", func(c *notify.Config) { c.Webhook.Secret = "short" }},
		{"expiry_warnings", func(c *notify.Config) { c.ExpiryWarnings = []time.Duration{0} }},
		{"expiry_warnings", func(c *notify.Config) { c.ExpiryWarnings = []time.Duration{-time.Hour} }},
		{"expiry_warnings", func(c *notify.Config) { c.ExpiryWarnings = []time.Duration{notify.MaxLead + time.Hour} }},
		{"expiry_warnings", func(c *notify.Config) { c.ExpiryWarnings = []time.Duration{24 * time.Hour, 24 * time.Hour} }},
		{"rejection_alert", func(c *notify.Config) { c.RejectionCount = -1 }},
		{"rejection_alert", func(c *notify.Config) { c.RejectionCount = token.MaxRejectionsPerOwner + 1 }},
		{"rejection_alert", func(c *notify.Config) { c.RejectionWindow = -time.Minute }},
		{"rejection_alert", func(c *notify.Config) { c.RejectionWindow = notify.MaxRejectionWindow + time.Hour }},
		{"scan_interval", func(c *notify.Config) { c.ScanInterval = time.Millisecond }},
		{"page_url", func(c *notify.Config) { c.PageURL = "/tokens" }},
		{"page_url", func(c *notify.Config) { c.PageURL = "https://example.com/tokens?x=1" }},
		{"holder", func(c *notify.Config) { c.Holder = strings.Repeat("h", 201) }},
	}
	for i, tc := range cases {
		c := validConfig()
		s, w := *c.SMTP, *c.Webhook
		c.SMTP, c.Webhook = &s, &w
		tc.change(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("case %d (%s): accepted", i, tc.field)
			continue
		}
		if !strings.HasPrefix(err.Error(), "notify: "+tc.field+": ") || !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("case %d: error %q (%v), want one naming %q and wrapping ErrInvalidInput", i, err, err, tc.field)
		}
		if strings.Contains(err.Error(), "0123456789abcdef") || strings.Contains(err.Error(), "pw-s3cret") {
			t.Errorf("case %d: error %q holds a secret", i, err)
		}
		if _, err := notify.New(nil, nil, c); err == nil {
			t.Errorf("case %d: New accepted the config", i)
		}
	}
}

// TestNewDefaults: defaults apply and New needs a rejection source only
// with alerts on.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c := notify.Config{Webhook: validConfig().Webhook}
	s := backends[0].open(t)()
	n, err := notify.New(s, nil, c)
	if err != nil {
		t.Fatalf("New without alerts or rejection source: %v", err)
	}
	if n.AddressFor("alice") != "" {
		t.Error("AddressFor without SMTP is not empty")
	}
	c.RejectionCount = 3
	if _, err := notify.New(s, nil, c); err == nil {
		t.Error("New with alerts and no rejection source succeeded")
	}
}
