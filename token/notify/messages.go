package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/tokengate/tokengate/token"
)

// userPlaceholder is replaced by the owner in Config.EmailFor.
const userPlaceholder = "{user}"

// addressFor makes owner's mail address from the EmailFor template and
// checks that it is one (a bare address: no display name, no list). An
// owner may itself be an address, with the template "{user}".
func addressFor(tmpl, owner string) (string, error) {
	if owner == "" || strings.ContainsAny(owner, " <>,;:\"\\()[]\r\n\t") {
		return "", fmt.Errorf("user id %q cannot be part of a mail address", owner)
	}
	s := strings.ReplaceAll(tmpl, userPlaceholder, owner)
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a mail address: %w", s, err)
	}
	if a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q is not a bare mail address", s)
	}
	return a.Address, nil
}

// rejectionInfo is what a rejection alert adds to a message.
type rejectionInfo struct {
	reason token.RejectReason
	ip     string
	agent  string
	count  int
	window time.Duration
}

// message is one notification, rendered for every channel.
type message struct {
	event   string
	tok     token.Token // ID, Owner, Label, Hint, ExpiresAt
	lead    time.Duration
	rej     *rejectionInfo
	subject string
	body    string
}

// dateLayout formats instants in messages.
const dateLayout = "2006-01-02 15:04 MST"

// newExpiringMessage warns that t expires within lead (t.ExpiresAt after now).
func (n *Notifier) newExpiringMessage(t token.Token, lead time.Duration, now time.Time) *message {
	left := t.ExpiresAt.Sub(now)
	m := &message{event: EventExpiring, tok: t, lead: lead}
	m.subject = fmt.Sprintf("Your tokengate token '%s' expires in %s", t.Label, humanDuration(left))
	m.body = fmt.Sprintf("Your access token '%s' expires on %s (in %s).\n\n"+
		"When it expires, Power BI refreshes that use it will fail with \"credentials are invalid\".\n"+
		"Create a new token and paste it into the data source settings before then.\n",
		t.Label, t.ExpiresAt.UTC().Format(dateLayout), humanDuration(left))
	m.body += n.details(t)
	return m
}

// newExpiredMessage says that t expired.
func (n *Notifier) newExpiredMessage(t token.Token) *message {
	m := &message{event: EventExpired, tok: t}
	m.subject = fmt.Sprintf("Your tokengate token '%s' has expired", t.Label)
	m.body = fmt.Sprintf("Your access token '%s' has expired on %s.\n\n"+
		"Power BI refreshes that use it now fail with \"credentials are invalid\".\n"+
		"Create a new token and paste it into the data source settings.\n",
		t.Label, t.ExpiresAt.UTC().Format(dateLayout))
	m.body += n.details(t)
	return m
}

// newRejectedMessage says that t (as of the latest rejection r) was refused
// count times within window.
func (n *Notifier) newRejectedMessage(t token.Token, r token.Rejection, count int, window time.Duration) *message {
	m := &message{event: EventRejected, tok: t,
		rej: &rejectionInfo{reason: r.Reason, ip: r.IP, agent: r.Agent, count: count, window: window}}
	m.subject = fmt.Sprintf("Your tokengate token '%s' was refused %d times", t.Label, count)
	m.body = RejectionSentence(r) + ".\n\n" +
		fmt.Sprintf("It was refused %d times within %s, the last time at %s.\n", count, shortDuration(window), r.At.UTC().Format(dateLayout))
	switch r.Reason {
	case token.RejectIPNotAllowed:
		m.body += "Use the token from an allowed address, or create a token for this one.\n"
	default:
		m.body += "Power BI disables a scheduled refresh after four failures: give it a valid token.\n"
	}
	m.body += n.details(t)
	return m
}

// RejectionSentence is the first line of a rejection alert, e.g. "Power BI
// (agent Microsoft.Data.Mashup, IP 203.0.113.7) is still using your revoked
// token 'Sprint dashboard'".
func RejectionSentence(r token.Rejection) string {
	who := fmt.Sprintf("%s (agent %s, IP %s)", clientName(r.Agent), orUnknown(r.Agent), orUnknown(r.IP))
	switch r.Reason {
	case token.RejectRevoked:
		return fmt.Sprintf("%s is still using your revoked token '%s'", who, r.Label)
	case token.RejectExpired:
		return fmt.Sprintf("%s is still using your expired token '%s'", who, r.Label)
	case token.RejectIPNotAllowed:
		return fmt.Sprintf("%s is using your token '%s' from an address it is not allowed from", who, r.Label)
	default:
		return fmt.Sprintf("%s was refused with your token '%s' (%s)", who, r.Label, r.Reason)
	}
}

// clientName guesses the program behind a user agent.
func clientName(agent string) string {
	a := strings.ToLower(agent)
	if strings.Contains(a, "mashup") || strings.Contains(a, "powerbi") || strings.Contains(a, "power bi") {
		return "Power BI"
	}
	return "A client"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// details is the common end of every message body: label, hint and expiry
// (warnings; an alert knows the label only) and the link to the token page.
func (n *Notifier) details(t token.Token) string {
	var b strings.Builder
	if t.Hint == "" { // a rejection alert: the rejection names the token, not its hint or expiry
		fmt.Fprintf(&b, "\nToken:   %s\n", t.Label)
	} else {
		fmt.Fprintf(&b, "\nToken:   %s (…%s)\n", t.Label, t.Hint)
		if t.ExpiresAt.IsZero() {
			b.WriteString("Expires: never\n")
		} else {
			fmt.Fprintf(&b, "Expires: %s\n", t.ExpiresAt.UTC().Format(dateLayout))
		}
	}
	if link := n.replaceLink(t.ID); link != "" {
		fmt.Fprintf(&b, "\nReplace it on the token page:\n%s\n", link)
	}
	b.WriteString("\n-- \ntokengate\n")
	return b.String()
}

// replaceLink is the token page opening its Replace action for tokenID, or
// "" without PageURL.
func (n *Notifier) replaceLink(tokenID string) string {
	if n.cfg.PageURL == "" {
		return ""
	}
	return n.cfg.PageURL + "?replace=" + url.QueryEscape(tokenID)
}

// humanDuration renders d (positive) rounded to days, or to hours below
// two days, or to minutes below two hours.
func humanDuration(d time.Duration) string {
	round := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", round(24*time.Hour))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", round(time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", round(time.Minute))
	default:
		return "a minute"
	}
}

// shortDuration renders d as days ("7d"), hours ("36h") or minutes ("90m")
// when it is a whole number of them, else as time.Duration does.
func shortDuration(d time.Duration) string {
	switch {
	case d > 0 && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d > 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
