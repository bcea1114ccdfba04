package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/tokengate/tokengate/token"
)

// Channel is the LISTEN/NOTIFY channel of cache invalidations.
const Channel = "tokengate_invalidate"

// Notification payloads on Channel (see the package documentation).
const (
	// PayloadRevoked prefixes the hex digest of a revoked token.
	PayloadRevoked = "r:"
	// PayloadChanged prefixes the hex digest of a token whose expiry changed.
	PayloadChanged = "c:"
	// PayloadFlush asks every instance to drop all cached results.
	PayloadFlush = "flush"
	// PayloadVault prefixes the owner whose vault secrets changed.
	PayloadVault = "v:"
)

// maxVaultPayloadOwner is the longest owner a PayloadVault notification
// carries (NOTIFY payloads must stay under 8000 bytes); a vault change of a
// longer one, which the Service never lets through, notifies PayloadFlush.
const maxVaultPayloadOwner = 1000

// Watch implements token.Watcher: it LISTENs on Channel on a dedicated
// connection (not one of the pool's; application_name is the pool's plus
// "-listener") and hands every notification to inv until ctx is done or the
// Store is closed, then returns nil. A lost connection is re-established
// after Options.ReconnectDelay, for ever; after every (re)connect, once
// LISTEN is in place, inv.FlushAll is called, because notifications may have
// been missed meanwhile. Connection errors and malformed payloads are
// reported to Options.OnWatchError and otherwise ignored. Watch may run
// several times at once, each with its own connection.
func (s *Store) Watch(ctx context.Context, inv token.Invalidator) error {
	if inv == nil {
		return errors.New("postgres watch: the Invalidator is nil")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("postgres watch: %w", errClosed)
	}
	s.watchers.Add(1)
	s.mu.Unlock()
	defer s.watchers.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closeCtx, cancel)
	defer stop()

	// pgxlisten calls Connect and HandleBacklog from the goroutine running
	// Listen, so state needs no lock. Connect runs first and again after
	// every lost connection; HandleBacklog runs once LISTEN is in place.
	st := &watchState{report: s.opts.OnWatchState}
	defer st.set(false)
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			st.set(false)
			conn, err := pgx.ConnectConfig(ctx, s.listenCfg.Copy())
			if err != nil {
				return nil, s.wrap("watch", err)
			}
			return conn, nil
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil && s.opts.OnWatchError != nil {
				s.opts.OnWatchError(scrub(err, s.password))
			}
		},
		ReconnectDelay: s.opts.ReconnectDelay,
	}
	l.Handle(Channel, invalidationHandler{inv: inv, state: st})
	err := l.Listen(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return s.wrap("watch", err)
}

// watchState tracks whether one Watch call is LISTENing and reports changes.
type watchState struct {
	listening bool
	report    func(bool)
}

// set records the state and reports it when it changed.
func (w *watchState) set(listening bool) {
	if w.listening == listening {
		return
	}
	w.listening = listening
	if w.report != nil {
		w.report(listening)
	}
}

// invalidationHandler maps notifications onto an Invalidator.
type invalidationHandler struct {
	inv   token.Invalidator
	state *watchState
}

// HandleNotification dispatches one payload; a malformed one is an error
// (which pgxlisten hands to LogError) and changes nothing.
func (h invalidationHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	return dispatch(h.inv, n.Payload)
}

// HandleBacklog is called by pgxlisten after LISTEN succeeded on a new
// connection: whatever was sent while there was none is lost, so drop it all.
func (h invalidationHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.inv.FlushAll()
	h.state.set(true)
	return nil
}

// dispatch applies one payload to inv.
func dispatch(inv token.Invalidator, payload string) error {
	if payload == PayloadFlush {
		inv.FlushAll()
		return nil
	}
	if owner, ok := strings.CutPrefix(payload, PayloadVault); ok {
		if owner == "" {
			return fmt.Errorf("malformed %s payload %q: no owner", Channel, payload)
		}
		inv.VaultChanged(owner)
		return nil
	}
	var apply func(token.Digest)
	var hexDigest string
	switch {
	case strings.HasPrefix(payload, PayloadRevoked):
		apply, hexDigest = inv.Revoked, payload[len(PayloadRevoked):]
	case strings.HasPrefix(payload, PayloadChanged):
		apply, hexDigest = inv.Changed, payload[len(PayloadChanged):]
	default:
		return fmt.Errorf("malformed %s payload %q: want %q, %q<digest>, %q<digest> or %q<owner>",
			Channel, truncate(payload, 80), PayloadFlush, PayloadRevoked, PayloadChanged, PayloadVault)
	}
	d, err := token.ParseDigestHex(hexDigest)
	if err != nil {
		return fmt.Errorf("malformed %s payload %q: %w", Channel, truncate(payload, 80), err)
	}
	apply(d)
	return nil
}

// truncate shortens s to at most n bytes for an error text.
func truncate(s string, n int) string { return token.Ellipsize(s, n) }
