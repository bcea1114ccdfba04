package notify

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/token"
)

// Security is how the SMTP connection is protected.
type Security string

// SMTP security modes.
const (
	// SecurityStartTLS (the default) requires STARTTLS: a server that does
	// not offer it is an error, never a fallback to plain text.
	SecurityStartTLS Security = "starttls"
	// SecurityTLS connects with TLS from the start (implicit TLS, port 465).
	SecurityTLS Security = "tls"
	// SecurityNone sends in plain text (a local relay, tests); it refuses
	// a username and password.
	SecurityNone Security = "none"
)

// SMTPConfig is the mail server warnings are sent through.
type SMTPConfig struct {
	Addr     string // host:port
	From     string // "tokengate <tokengate@example.com>"
	Username string
	Password string // never logged
	Security Security
}

// WebhookConfig is the URL events are POSTed to.
type WebhookConfig struct {
	URL    string
	Secret string // HMAC-SHA256 key; never logged
}

// Defaults and bounds of Config.
const (
	DefaultRejectionCount  = 3 // what the Caddy module sets when rejection_alert is not given
	DefaultRejectionWindow = time.Hour
	DefaultScanInterval    = 10 * time.Minute
	// MinScanInterval and MaxLead bound ScanInterval and ExpiryWarnings.
	MinScanInterval = time.Second
	MaxLead         = 90 * 24 * time.Hour
	// MaxRejectionWindow bounds RejectionWindow.
	MaxRejectionWindow = 7 * 24 * time.Hour
	// MinSecretLen is the shortest webhook secret accepted.
	MinSecretLen = 16
)

// holderSeq numbers the Notifiers of this process for their default Holder.
var holderSeq atomic.Uint64

// DefaultExpiryWarnings are the leads warned at when ExpiryWarnings is empty.
var DefaultExpiryWarnings = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}

// Config configures New. Zero values take the defaults.
type Config struct {
	SMTP            *SMTPConfig     // nil: no mail
	EmailFor        string          // "{user}@example.com"; required with SMTP
	Webhook         *WebhookConfig  // nil: no webhook
	ExpiryWarnings  []time.Duration // default 7d, 1d
	RejectionCount  int             // 0: rejection alerts off (the Caddy module defaults to DefaultRejectionCount)
	RejectionWindow time.Duration   // default 1h
	ScanInterval    time.Duration   // default 10m
	PageURL         string          // link to the token page in messages ("" → none)
	Holder          string          // instance name for claims (default hostname:pid:n, n counting Notifiers)
	Clock           token.Clock     // default token.SystemClock
	Observer        Observer        // optional metrics
	OnError         func(error)     // optional: background errors, no secrets

	// tuning is what tests shorten (see export_test.go): retry backoff,
	// claim lease, timeouts and queue sizes.
	tuning *tuning
}

// fieldErr is a configuration error naming the field at fault.
func fieldErr(field, format string, args ...any) error {
	return &token.InputError{Kind: token.ErrInvalidInput,
		Msg: "notify: " + field + ": " + fmt.Sprintf(format, args...)}
}

// Validate checks cfg and names the field at fault ("notify: email_for: ...").
// Field names are those of the Caddyfile.
func (c Config) Validate() error {
	if c.SMTP == nil && c.Webhook == nil {
		return fieldErr("smtp", "configure smtp, webhook or both (nothing to send with)")
	}
	if c.SMTP != nil {
		if err := c.SMTP.validate(); err != nil {
			return err
		}
		if err := validateEmailFor(c.EmailFor); err != nil {
			return err
		}
	} else if c.EmailFor != "" {
		return fieldErr("email_for", "needs smtp")
	}
	if c.Webhook != nil {
		if err := c.Webhook.validate(); err != nil {
			return err
		}
	}
	if err := validateLeads(c.ExpiryWarnings); err != nil {
		return err
	}
	switch {
	case c.RejectionCount < 0 || c.RejectionCount > token.MaxRejectionsPerOwner:
		return fieldErr("rejection_alert", "count must be between 1 and %d (0: off), got %d", token.MaxRejectionsPerOwner, c.RejectionCount)
	case c.RejectionWindow < 0 || c.RejectionWindow > MaxRejectionWindow:
		return fieldErr("rejection_alert", "window must be positive and at most %s, got %v", token.FormatLifetime(MaxRejectionWindow), c.RejectionWindow)
	case c.ScanInterval != 0 && c.ScanInterval < MinScanInterval:
		return fieldErr("scan_interval", "must be at least %v, got %v", MinScanInterval, c.ScanInterval)
	case len(c.Holder) > 200:
		return fieldErr("holder", "at most 200 bytes")
	}
	return validatePageURL(c.PageURL)
}

func (s *SMTPConfig) validate() error {
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil || host == "" {
		return fieldErr("smtp", "address %q must be host:port, e.g. smtp.example.com:587", s.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fieldErr("smtp", "port %q must be a number from 1 to 65535", port)
	}
	if s.From == "" {
		return fieldErr("smtp.from", `is required, e.g. "tokengate <tokengate@example.com>"`)
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fieldErr("smtp.from", "%q is not a mail address: %v", s.From, err)
	}
	switch s.Security {
	case "", SecurityStartTLS, SecurityTLS:
	case SecurityNone:
		if s.Username != "" || s.Password != "" {
			return fieldErr("smtp.security", "none would send the password in plain text; use starttls or tls")
		}
	default:
		return fieldErr("smtp.security", "%q is not one of starttls, tls, none", s.Security)
	}
	if (s.Username == "") != (s.Password == "") {
		return fieldErr("smtp.password", "username and password go together")
	}
	return nil
}

// validateEmailFor checks the address template with a sample user.
func validateEmailFor(tmpl string) error {
	if tmpl == "" {
		return fieldErr("email_for", `is required with smtp, e.g. "{user}@example.com"`)
	}
	if !strings.Contains(tmpl, userPlaceholder) {
		return fieldErr("email_for", "%q must contain %s", tmpl, userPlaceholder)
	}
	// User ids are names ("jdoe") or, with the template "{user}", addresses.
	sample := "jdoe"
	if tmpl == userPlaceholder {
		sample = "jdoe@example.com"
	}
	if _, err := addressFor(tmpl, sample); err != nil {
		return fieldErr("email_for", "%q does not make a mail address: %v", tmpl, err)
	}
	return nil
}

func (w *WebhookConfig) validate() error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr("webhook", "must be an absolute http(s) URL")
	}
	if u.User != nil {
		return fieldErr("webhook", "must not carry credentials in the URL; use the secret")
	}
	if len(w.Secret) < MinSecretLen {
		return fieldErr("webhook.secret", "is required, at least %d characters", MinSecretLen)
	}
	return nil
}

func validateLeads(leads []time.Duration) error {
	seen := map[string]bool{}
	for _, d := range leads {
		if d <= 0 || d > MaxLead {
			return fieldErr("expiry_warnings", "%v must be positive and at most %s", d, token.FormatLifetime(MaxLead))
		}
		k := token.FormatLifetime(d)
		if seen[k] {
			return fieldErr("expiry_warnings", "%s is given twice", k)
		}
		seen[k] = true
	}
	return nil
}

func validatePageURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr("page_url", "must be an absolute http(s) URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fieldErr("page_url", "must not have a query, fragment or credentials")
	}
	return nil
}

// withDefaults fills in the defaults of a valid cfg; the leads come back in
// ascending order.
func (c Config) withDefaults() Config {
	if len(c.ExpiryWarnings) == 0 {
		c.ExpiryWarnings = DefaultExpiryWarnings
	}
	c.ExpiryWarnings = slices.Clone(c.ExpiryWarnings)
	slices.Sort(c.ExpiryWarnings)
	if c.RejectionWindow == 0 {
		c.RejectionWindow = DefaultRejectionWindow
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = DefaultScanInterval
	}
	if c.Holder == "" {
		// Unique per Notifier: after a reload, the old notifier of the same
		// process must not release the new one's claims.
		h, _ := os.Hostname()
		c.Holder = h + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatUint(holderSeq.Add(1), 10)
	}
	if c.Clock == nil {
		c.Clock = token.SystemClock
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.OnError == nil {
		c.OnError = func(error) {}
	}
	if c.SMTP != nil && c.SMTP.Security == "" {
		s := *c.SMTP
		s.Security = SecurityStartTLS
		c.SMTP = &s
	}
	if c.tuning == nil {
		c.tuning = defaultTuning()
	}
	return c
}
