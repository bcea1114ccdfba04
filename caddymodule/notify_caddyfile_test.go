package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tokengate/tokengate/token/notify"
)

const day = 24 * time.Hour

// issue13Block is the notify block exactly as issue 13 shows it, plus the
// webhook secret, scan_interval and page_url.
const issue13Block = `tokengate {
	notify {
		smtp smtp.example.com:587 {
			from "tokengate <tokengate@example.com>"
			username {env.SMTP_USER}
			password {env.SMTP_PASSWORD}
			security starttls   # starttls (default) | tls | none
		}
		email_for "{user}@example.com"     # how a user id becomes an address
		webhook https://hooks.example.com/tokengate {   # JSON POST, optional
			secret {env.TG_WEBHOOK_SECRET}
		}
		expiry_warnings 7d 1d                          # when to warn
		rejection_alert 3 1h                           # N rejections of one token within a window
		scan_interval 10m
		page_url https://tokens.example.com/tokens/
	}
}`

func TestNotifyCaddyfile(t *testing.T) {
	var a App
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(issue13Block)); err != nil {
		t.Fatal(err)
	}
	want := &NotifyConfig{
		SMTP: &NotifySMTP{Address: "smtp.example.com:587", From: "tokengate <tokengate@example.com>",
			Username: "{env.SMTP_USER}", Password: "{env.SMTP_PASSWORD}", Security: "starttls"},
		EmailFor:       "{user}@example.com",
		Webhook:        &NotifyWebhook{URL: "https://hooks.example.com/tokengate", Secret: "{env.TG_WEBHOOK_SECRET}"},
		ExpiryWarnings: []caddy.Duration{caddy.Duration(7 * day), caddy.Duration(day)},
		RejectionAlert: &NotifyRejectionAlert{Count: 3, Window: caddy.Duration(time.Hour)},
		ScanInterval:   caddy.Duration(10 * time.Minute),
		PageURL:        "https://tokens.example.com/tokens/",
	}
	if !reflect.DeepEqual(a.Notify, want) {
		t.Errorf("got %+v\nwant %+v", a.Notify, want)
	}
	// The JSON (what caddy adapt shows) keeps the placeholders, not the secrets.
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"password":"{env.SMTP_PASSWORD}"`, `"secret":"{env.TG_WEBHOOK_SECRET}"`, `"expiry_warnings":[604800000000000,86400000000000]`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("JSON lacks %s: %s", s, b)
		}
	}
}

func TestNotifyCaddyfileOff(t *testing.T) {
	var a App
	in := "tokengate {\nnotify {\nwebhook http://127.0.0.1:9/h {\nsecret s\n}\nrejection_alert off\n}\n}"
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if ra := a.Notify.RejectionAlert; ra == nil || !ra.Off {
		t.Errorf("rejection_alert off parsed as %+v", ra)
	}
}

func TestNotifyCaddyfileErrorsNameTheField(t *testing.T) {
	for in, want := range map[string]string{
		"notify x {\n}":                              "notify: takes no arguments",
		"notify {\nsmtp\n}":                          "notify: smtp: missing server",
		"notify {\nsmtp a:1 b\n}":                    "notify: smtp: too many arguments",
		"notify {\nsmtp a:1 {\nfrom\n}\n}":           "notify: smtp.from: missing value",
		"notify {\nsmtp a:1 {\npassword a b\n}\n}":   "notify: smtp.password: too many arguments",
		"notify {\nsmtp a:1 {\nport 25\n}\n}":        `notify: smtp: unknown option "port"`,
		"notify {\nsmtp a:1\nsmtp b:1\n}":            "notify: smtp: defined twice",
		"notify {\nemail_for\n}":                     "notify: email_for: missing value",
		"notify {\nwebhook\n}":                       "notify: webhook: missing URL",
		"notify {\nwebhook http://x s\n}":            "notify: webhook: too many arguments",
		"notify {\nwebhook http://x {\nsecret\n}\n}": "notify: webhook.secret: missing value",
		"notify {\nwebhook http://x {\nkey k\n}\n}":  `notify: webhook: unknown option "key"`,
		"notify {\nexpiry_warnings\n}":               "notify: expiry_warnings: list the lead times",
		"notify {\nexpiry_warnings 7d soon\n}":       `notify: expiry_warnings: "soon" is not a positive duration`,
		"notify {\nexpiry_warnings -1d\n}":           `notify: expiry_warnings: "-1d" is not a positive duration`,
		"notify {\nrejection_alert 3\n}":             "notify: rejection_alert: want",
		"notify {\nrejection_alert many 1h\n}":       "notify: rejection_alert: count must be a positive integer",
		"notify {\nrejection_alert 0 1h\n}":          "notify: rejection_alert: count must be a positive integer",
		"notify {\nrejection_alert 3 later\n}":       "notify: rejection_alert: window must be a positive duration",
		"notify {\nscan_interval\n}":                 "notify: scan_interval: missing value",
		"notify {\nscan_interval 0s\n}":              `notify: scan_interval: "0s" is not a positive duration`,
		"notify {\npage_url a b\n}":                  "notify: page_url: too many arguments",
		"notify {\nsmtp_server x\n}":                 `notify: unknown option "smtp_server"`,
		"notify {\n}\nnotify {\n}":                   "notify: defined twice",
	} {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate {\n" + in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", in, err, want)
		}
	}
}

// TestNotifyBuild: the block resolves placeholders, takes the defaults and
// hands token/notify a valid Config.
func TestNotifyBuild(t *testing.T) {
	t.Setenv("SMTP_USER", "mailer")
	t.Setenv("SMTP_PASSWORD", "pw-from-env")
	t.Setenv("TG_WEBHOOK_SECRET", "0123456789abcdef0123")
	var a App
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(issue13Block)); err != nil {
		t.Fatal(err)
	}
	ns, err := a.Notify.build(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	c := ns.cfg
	if c.SMTP.Username != "mailer" || c.SMTP.Password != "pw-from-env" || c.Webhook.Secret != "0123456789abcdef0123" {
		t.Errorf("placeholders not resolved: %+v %+v", c.SMTP, c.Webhook)
	}
	if c.SMTP.Security != notify.SecurityStartTLS || c.EmailFor != "{user}@example.com" || c.RejectionCount != 3 ||
		c.RejectionWindow != time.Hour || c.ScanInterval != 10*time.Minute || !reflect.DeepEqual(c.ExpiryWarnings, []time.Duration{7 * day, day}) {
		t.Errorf("config %+v", c)
	}
	if strings.Contains(ns.digest, "pw-from-env") {
		t.Error("the pool key holds the password")
	}
	// A rotated password is a new Notifier; the same settings the same one.
	again, _ := a.Notify.build(caddy.NewReplacer())
	t.Setenv("SMTP_PASSWORD", "rotated")
	rotated, _ := a.Notify.build(caddy.NewReplacer())
	if again.digest != ns.digest || rotated.digest == ns.digest {
		t.Errorf("digests: same settings %v, rotated password %v", again.digest == ns.digest, rotated.digest == ns.digest)
	}

	// Defaults: no rejection_alert is 3 in 1h; absent block is no notifier.
	n := &NotifyConfig{Webhook: &NotifyWebhook{URL: "https://h.example.com/", Secret: "0123456789abcdef"}}
	if ns, err := n.build(caddy.NewReplacer()); err != nil || ns.cfg.RejectionCount != DefaultRejectionCount || ns.cfg.RejectionWindow != DefaultRejectionWindow {
		t.Errorf("defaults: %+v %v", ns, err)
	}
	if ns, err := (*NotifyConfig)(nil).build(caddy.NewReplacer()); ns != nil || err != nil {
		t.Errorf("no block: %+v %v", ns, err)
	}
}

// TestNotifyJSON: the JSON form (durations as strings with days, like
// max_lifetime) decodes to the same settings as the Caddyfile.
func TestNotifyJSON(t *testing.T) {
	t.Setenv("TG_WEBHOOK_SECRET", "0123456789abcdef0123")
	var a App
	err := json.Unmarshal([]byte(`{"notify":{
		"smtp":{"address":"127.0.0.1:1025","from":"tokengate <tg@example.com>","security":"none"},
		"email_for":"{user}@example.com",
		"webhook":{"url":"https://hooks.example.com/tg","secret":"{env.TG_WEBHOOK_SECRET}"},
		"expiry_warnings":["14d","36h"],
		"rejection_alert":{"count":5,"window":"2h"},
		"scan_interval":"5m",
		"page_url":"https://tokens.example.com/tokens/"}}`), &a)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := a.Notify.build(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	c := ns.cfg
	if !reflect.DeepEqual(c.ExpiryWarnings, []time.Duration{14 * day, 36 * time.Hour}) || c.RejectionCount != 5 || c.RejectionWindow != 2*time.Hour ||
		c.ScanInterval != 5*time.Minute || c.SMTP.Security != notify.SecurityNone || c.Webhook.Secret != "0123456789abcdef0123" {
		t.Errorf("config %+v", c)
	}
}

// TestNotifyBuildErrorsNameTheField: errors of the JSON form (and of
// unresolved placeholders) start "tokengate: notify: <field>:" and never
// show a secret.
func TestNotifyBuildErrorsNameTheField(t *testing.T) {
	os.Unsetenv("TG_UNSET_SECRET")
	for in, want := range map[string]string{
		`{}`: "tokengate: notify: smtp: configure smtp, webhook or both",
		`{"smtp":{"address":"127.0.0.1:25","from":"a@example.com","security":"none"}}`:                           "tokengate: notify: email_for: is required",
		`{"smtp":{"from":"a@example.com"},"email_for":"{user}@example.com"}`:                                     "tokengate: notify: smtp: missing server address",
		`{"smtp":{"address":"127.0.0.1:25","from":"a@example.com","password":"{env.TG_UNSET_SECRET}"}}`:          "tokengate: notify: smtp.password: {env.TG_UNSET_SECRET} is empty (is the environment variable set?)",
		`{"smtp":{"address":"127.0.0.1:25","from":"a@example.com","security":"ssl"},"email_for":"{user}@x.org"}`: "tokengate: notify: smtp.security:",
		`{"webhook":{"url":"https://h.example.com/"}}`:                                                           "tokengate: notify: webhook.secret: required",
		`{"webhook":{"url":"https://h.example.com/","secret":"short-secret"}}`:                                   "tokengate: notify: webhook.secret: is required, at least 16",
		`{"webhook":{"url":"ftp://h.example.com/","secret":"0123456789abcdef"}}`:                                 "tokengate: notify: webhook: must be an absolute http(s) URL",
		`{"webhook":{"url":"https://h/","secret":"0123456789abcdef"},"expiry_warnings":[604800]}`:                "tokengate: notify: expiry_warnings[0]: must be at least 1s",
		`{"webhook":{"url":"https://h/","secret":"0123456789abcdef"},"scan_interval":600}`:                       "tokengate: notify: scan_interval: must be at least 1s",
		`{"webhook":{"url":"https://h/","secret":"0123456789abcdef"},"rejection_alert":{"count":0}}`:             "tokengate: notify: rejection_alert: count: must be positive",
		`{"webhook":{"url":"https://h/","secret":"0123456789abcdef"},"rejection_alert":{"count":3}}`:             "tokengate: notify: rejection_alert: window: must be at least 1s",
		`{"webhook":{"url":"https://h/","secret":"0123456789abcdef"},"rejection_alert":{"off":true,"count":3}}`:  "tokengate: notify: rejection_alert: off with a count",
		`{"webhook":{"url":"https://h/","secret":"0123456789abcdef"},"page_url":"tokens/"}`:                      "tokengate: notify: page_url: must be an absolute http(s) URL",
	} {
		var n NotifyConfig
		if err := json.Unmarshal([]byte(in), &n); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		_, err := n.build(caddy.NewReplacer())
		if err == nil || !strings.HasPrefix(err.Error(), "tokengate: notify: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "short-secret") {
			t.Errorf("%s: the error shows the secret: %v", in, err)
		}
	}
}

// TestNotifyWarnsOfLiteralSecrets: a secret written into the config (not a
// placeholder) is warned about by field name, never by value.
func TestNotifyWarnsOfLiteralSecrets(t *testing.T) {
	n := &NotifyConfig{
		SMTP:     &NotifySMTP{Address: "127.0.0.1:25", From: "tg@example.com", Username: "u", Password: "literal-pw"},
		EmailFor: "{user}@example.com",
		Webhook:  &NotifyWebhook{URL: "https://h.example.com/", Secret: "literal-webhook-secret"},
	}
	ns, err := n.build(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	ns.warn(zap.New(core))
	if !reflect.DeepEqual(ns.literal, []string{"smtp.password", "webhook.secret"}) || logs.Len() != 2 {
		t.Errorf("literal %v, %d warnings", ns.literal, logs.Len())
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "literal-") || strings.Contains(fmt.Sprint(e.Context), "literal-") {
			t.Errorf("the warning shows the secret: %s %v", e.Message, e.Context)
		}
	}
	t.Setenv("TG_PW", "from-env")
	n.SMTP.Password, n.Webhook.Secret = "{env.TG_PW}", "{env.TG_PW}-0123456789abcdef"
	if ns, err := n.build(caddy.NewReplacer()); err != nil || len(ns.literal) != 0 {
		t.Errorf("placeholders: literal %v, %v", ns.literal, err)
	}
}
