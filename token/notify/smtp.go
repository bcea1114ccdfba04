package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"

	mail "github.com/wneessen/go-mail"
)

// tlsConfigFunc returns the TLS configuration for a server name (tests trust
// their own certificate authority through it).
type tlsConfigFunc func(serverName string) *tls.Config

// emailChannel sends plain-text mail through one SMTP server (go-mail), a
// new connection per message.
type emailChannel struct {
	cfg      SMTPConfig
	host     string
	port     int
	emailFor string
	tls      tlsConfigFunc
}

func newEmail(cfg Config) *emailChannel {
	host, p, _ := net.SplitHostPort(cfg.SMTP.Addr) // checked by Validate
	port, _ := strconv.Atoi(p)
	return &emailChannel{cfg: *cfg.SMTP, host: host, port: port, emailFor: cfg.EmailFor, tls: cfg.tuning.tlsConfig}
}

func (e *emailChannel) name() string { return ChannelEmail }

// send mails m to its owner's address. An owner that does not make an
// address and a 5xx answer of the server are permanent failures.
func (e *emailChannel) send(ctx context.Context, m *message) error {
	to, err := addressFor(e.emailFor, m.tok.Owner)
	if err != nil {
		return permanent(fmt.Errorf("mail for %q: %w", m.tok.Owner, err))
	}
	msg := mail.NewMsg()
	if err := msg.From(e.cfg.From); err != nil {
		return permanent(fmt.Errorf("mail sender: %w", err))
	}
	if err := msg.To(to); err != nil {
		return permanent(fmt.Errorf("mail to %s: %w", to, err))
	}
	msg.Subject(m.subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetGenHeader(mail.Header("X-Tokengate-Event"), m.event)
	msg.SetBodyString(mail.TypeTextPlain, m.body)
	c, err := mail.NewClient(e.host, e.options()...)
	if err != nil {
		return permanent(fmt.Errorf("mail client for %s: %w", e.cfg.Addr, err))
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		err = fmt.Errorf("mail to %s via %s: %w", to, e.cfg.Addr, err)
		if smtpCode(err) >= 500 {
			return permanent(err) // refused login, sender or recipient: retrying cannot help
		}
		return err
	}
	return nil
}

// options are the client options: port, security, credentials. The
// password goes to go-mail only, which neither logs nor returns it.
func (e *emailChannel) options() []mail.Option {
	tc := &tls.Config{ServerName: e.host, MinVersion: tls.VersionTLS12}
	if e.tls != nil {
		tc = e.tls(e.host)
	}
	opts := []mail.Option{mail.WithPort(e.port), mail.WithTLSConfig(tc), mail.WithoutNoop()}
	switch e.cfg.Security {
	case SecurityTLS:
		opts = append(opts, mail.WithSSL())
	case SecurityNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if e.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(e.cfg.Username), mail.WithPassword(e.cfg.Password))
	}
	return opts
}

// smtpCode is the SMTP reply code behind err (0 when there is none): a
// refused message (go-mail's SendError) or a refused command (a login).
func smtpCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
