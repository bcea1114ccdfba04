package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokengate/tokengate/token"
)

// wrap adds the operation to err and, when err means that the database could
// not be reached (or did not answer in time), token.ErrUnavailable. Any
// occurrence of password in the resulting text is masked. It returns nil for
// a nil err.
func wrap(op string, err error, password string) error {
	if err == nil {
		return nil
	}
	var e error
	if unavailable(err) {
		e = fmt.Errorf("postgres %s: %w: %w", op, token.ErrUnavailable, err)
	} else {
		e = fmt.Errorf("postgres %s: %w", op, err)
	}
	return scrub(e, password)
}

// unavailable reports whether err means the database could not be reached,
// the connection broke or an operation timed out — anything a retry might
// cure — as opposed to a rejected statement or a canceled request.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; the database may be fine
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case strings.HasPrefix(pe.Code, "53"): // insufficient resources (too many connections, disk full)
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutdown, crash, cannot connect now
			return true
		case pe.Code == "57014": // query canceled (statement_timeout)
			return true
		}
		return false
	}
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// scrub masks password in err's text; errors.Is and errors.As still see err.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), password, redacted), err: err}
}

// scrubbed is an error whose text has had a secret masked.
type scrubbed struct {
	msg string
	err error
}

// Error returns the message with the password removed.
func (s *scrubbed) Error() string { return s.msg }

// Unwrap returns the original error, for errors.Is and errors.As.
func (s *scrubbed) Unwrap() error { return s.err }

// parseError reports a DSN that pgx cannot parse. pgx's text names the DSN
// with the password masked (best effort); parseError also masks the raw DSN
// and every password candidate its own parser finds in it.
func parseError(dsn string, err error) error {
	red, secrets := redact(dsn)
	msg := err.Error()
	msg = strings.ReplaceAll(msg, dsn, red)
	for _, sec := range secrets {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, redacted)
		}
	}
	return fmt.Errorf("postgres open: %w", &token.InputError{Kind: token.ErrInvalidInput,
		Msg: "invalid DSN: " + msg})
}
