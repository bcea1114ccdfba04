package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshalNotify parses the app's notify block (the dispenser is at the
// word "notify"):
//
//	notify {
//		smtp <host:port> {
//			from <address>
//			username <user>
//			password <password>               # use a placeholder: {env.SMTP_PASSWORD}
//			security starttls|tls|none        # default starttls
//		}
//		email_for <template>                  # "{user}@example.com"
//		webhook <url> {
//			secret <key>                      # required: HMAC-SHA256 signing key
//		}
//		expiry_warnings <lead>...             # default 7d 1d
//		rejection_alert <count> <window> | off   # default 3 1h
//		scan_interval <duration>              # default 10m
//		page_url <url>                        # the token page, linked from messages
//	}
func (n *NotifyConfig) unmarshalNotify(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.Errf("notify: takes no arguments on its line, got %q; use a block", d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "smtp":
			if err := n.unmarshalSMTP(d); err != nil {
				return err
			}
		case "email_for":
			if err := oneArg(d, "notify: email_for", "a template such as \"{user}@example.com\"", &n.EmailFor); err != nil {
				return err
			}
		case "webhook":
			if err := n.unmarshalWebhook(d); err != nil {
				return err
			}
		case "expiry_warnings":
			leads := d.RemainingArgs()
			if len(leads) == 0 {
				return d.Errf("notify: expiry_warnings: list the lead times, e.g. expiry_warnings 7d 1d")
			}
			n.ExpiryWarnings = n.ExpiryWarnings[:0]
			for _, s := range leads {
				dur, err := caddy.ParseDuration(s)
				if err != nil || dur <= 0 {
					return d.Errf("notify: expiry_warnings: %q is not a positive duration (examples: 7d, 1d, 12h)", s)
				}
				n.ExpiryWarnings = append(n.ExpiryWarnings, caddy.Duration(dur))
			}
		case "rejection_alert":
			if err := n.unmarshalRejectionAlert(d); err != nil {
				return err
			}
		case "scan_interval":
			var s string
			if err := oneArg(d, "notify: scan_interval", "a duration such as 10m", &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("notify: scan_interval: %q is not a positive duration (examples: 10m, 1h)", s)
			}
			n.ScanInterval = caddy.Duration(dur)
		case "page_url":
			if err := oneArg(d, "notify: page_url", "the token page's URL, e.g. https://tokens.example.com/tokens/", &n.PageURL); err != nil {
				return err
			}
		default:
			return d.Errf("notify: unknown option %q (want smtp, email_for, webhook, expiry_warnings, rejection_alert, scan_interval or page_url)", opt)
		}
	}
	return nil
}

// unmarshalSMTP parses 'smtp <host:port> { … }'.
func (n *NotifyConfig) unmarshalSMTP(d *caddyfile.Dispenser) error {
	if n.SMTP != nil {
		return d.Errf("notify: smtp: defined twice")
	}
	s := new(NotifySMTP)
	if !d.NextArg() {
		return d.Errf("notify: smtp: missing server, e.g. smtp smtp.example.com:587 { … }")
	}
	s.Address = d.Val()
	if d.NextArg() {
		return d.Errf("notify: smtp: too many arguments (the settings go in a block)")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "from":
			if err := oneArg(d, "notify: smtp.from", `an address such as "tokengate <tokengate@example.com>"`, &s.From); err != nil {
				return err
			}
		case "username":
			if err := oneArg(d, "notify: smtp.username", "a user name or {env.SMTP_USER}", &s.Username); err != nil {
				return err
			}
		case "password":
			if err := oneArg(d, "notify: smtp.password", "a placeholder such as {env.SMTP_PASSWORD}", &s.Password); err != nil {
				return err
			}
		case "security":
			if err := oneArg(d, "notify: smtp.security", "starttls, tls or none", &s.Security); err != nil {
				return err
			}
		default:
			return d.Errf("notify: smtp: unknown option %q (want from, username, password or security)", opt)
		}
	}
	n.SMTP = s
	return nil
}

// unmarshalWebhook parses 'webhook <url> { secret <key> }'.
func (n *NotifyConfig) unmarshalWebhook(d *caddyfile.Dispenser) error {
	if n.Webhook != nil {
		return d.Errf("notify: webhook: defined twice")
	}
	w := new(NotifyWebhook)
	if !d.NextArg() {
		return d.Errf("notify: webhook: missing URL, e.g. webhook https://hooks.example.com/tokengate { secret {env.WEBHOOK_SECRET} }")
	}
	w.URL = d.Val()
	if d.NextArg() {
		return d.Errf("notify: webhook: too many arguments (the secret goes in a block: webhook <url> { secret {env.WEBHOOK_SECRET} })")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "secret":
			if err := oneArg(d, "notify: webhook.secret", "a placeholder such as {env.WEBHOOK_SECRET}", &w.Secret); err != nil {
				return err
			}
		default:
			return d.Errf("notify: webhook: unknown option %q (want secret)", opt)
		}
	}
	n.Webhook = w
	return nil
}

// unmarshalRejectionAlert parses 'rejection_alert <count> <window>' or
// 'rejection_alert off'.
func (n *NotifyConfig) unmarshalRejectionAlert(d *caddyfile.Dispenser) error {
	const want = "want 'rejection_alert <count> <window>' (e.g. rejection_alert 3 1h) or 'rejection_alert off'"
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == "off":
		n.RejectionAlert = &NotifyRejectionAlert{Off: true}
		return nil
	case len(args) != 2:
		return d.Errf("notify: rejection_alert: %s", want)
	}
	count, err := strconv.Atoi(args[0])
	if err != nil || count <= 0 {
		return d.Errf("notify: rejection_alert: count must be a positive integer, got %q", args[0])
	}
	window, err := caddy.ParseDuration(args[1])
	if err != nil || window <= 0 {
		return d.Errf("notify: rejection_alert: window must be a positive duration such as 1h, got %q", args[1])
	}
	n.RejectionAlert = &NotifyRejectionAlert{Count: count, Window: caddy.Duration(window)}
	return nil
}

// oneArg reads exactly one argument into dst; errors start with field and
// say what is expected.
func oneArg(d *caddyfile.Dispenser, field, what string, dst *string) error {
	if !d.NextArg() {
		return d.Errf("%s: missing value: want %s", field, what)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: too many arguments (quote a value with spaces)", field)
	}
	return nil
}
