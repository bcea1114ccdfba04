// Package postgres is the token.Store that several tokengate instances share:
// a pgx connection pool on one Postgres database, its schema applied with tern
// migrations embedded in the binary, and a LISTEN/NOTIFY watcher that tells
// every instance about revocations committed by any of them.
//
// # Invalidation channel
//
// Changes that make cached validation results wrong send a notification on the
// channel [Channel] ("tokengate_invalidate") inside the transaction that makes
// them, so it is delivered if and only if the change commits. Payloads:
//
//	r:<digest hex>   the token with this SHA-256 digest was revoked (Revoke, RevokeOwner)
//	c:<digest hex>   the token's expiry changed (a CapExpiry batch of up to 100 tokens)
//	v:<owner>        the owner's vault secrets changed (PutVaultSecret, DeleteVaultSecret)
//	flush            drop every cached result (Import; a CapExpiry batch of more than 100 tokens;
//	                 a vault change of an owner longer than 1000 bytes)
//
// <digest hex> is the 64-character lower-case hex digest; a digest is not a
// secret, nor is an owner (the user id). Instances of earlier versions
// report v: as malformed and ignore it, keeping vault secrets up to
// cache_ttl. [Store.Watch] maps the payloads onto a token.Invalidator.
package postgres

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/token"
)

// Defaults applied by Open to zero Options fields.
const (
	// DefaultApplicationName is reported to Postgres (pg_stat_activity) when
	// neither the DSN nor Options set one.
	DefaultApplicationName = "tokengate"
	// DefaultConnectTimeout bounds each connection attempt when the DSN sets
	// no connect_timeout.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultReconnectDelay is how long Watch waits before reconnecting.
	DefaultReconnectDelay = 500 * time.Millisecond
)

// listenerSuffix is appended to the application name of the Watch connection,
// so that it can be told apart in pg_stat_activity.
const listenerSuffix = "-listener"

// Options tunes Open. The zero value is a sensible production setting: the
// pool size of pgxpool (or pool_max_conns from the DSN) and migrations applied
// on open.
type Options struct {
	// MaxConns caps the connection pool; 0 keeps pool_max_conns from the DSN
	// or pgxpool's default (the larger of 4 and the number of CPUs).
	MaxConns int32
	// SkipMigrate makes Open leave the schema alone; pending migrations must
	// then be applied with Migrate (the `tokengate tokens migrate` command).
	// By default Open applies them, which is safe when several instances
	// start at once: tern serialises them with an advisory lock.
	SkipMigrate bool
	// ApplicationName is shown in pg_stat_activity for the pool connections;
	// the Watch connection uses ApplicationName + "-listener". When empty,
	// application_name from the DSN or DefaultApplicationName is used.
	ApplicationName string
	// ReconnectDelay is how long Watch waits before reconnecting a lost
	// listener connection; 0 means DefaultReconnectDelay.
	ReconnectDelay time.Duration
	// OnWatchError, when set, receives every non-fatal Watch error: a lost
	// listener connection, a failed reconnect, a malformed notification
	// payload. It is called from the goroutine running Watch. The errors
	// never contain the DSN's password.
	OnWatchError func(error)
	// OnWatchState, when set, is called with true once a Watch connection
	// is LISTENing (after the FlushAll that follows every connect) and with
	// false when that connection is lost or Watch returns. Operators use it
	// to see whether an instance hears revocations; tests use it to wait
	// for the listener before they rely on the cache. It is called from the
	// goroutine running Watch.
	OnWatchState func(listening bool)
}

// Store is the Postgres token.Store. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	listenCfg *pgx.ConnConfig // for the dedicated Watch connection
	opts      Options
	password  string // scrubbed from every error text

	mu       sync.Mutex
	closed   bool
	closeCtx context.Context // canceled by Close; stops running Watch calls
	cancel   context.CancelFunc
	watchers sync.WaitGroup
}

// Interface guards.
var (
	_ token.Store   = (*Store)(nil)
	_ token.Watcher = (*Store)(nil)
)

// Open connects to the database named by dsn (a postgres:// URL or a
// keyword=value string, as pgx accepts) and, unless opts.SkipMigrate, applies
// pending migrations. It fails when the database cannot be reached: such
// errors wrap token.ErrUnavailable, a malformed dsn wraps token.ErrInvalidInput.
// No error text contains the DSN's password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, parseError(dsn, err)
	}
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("postgres open: %w", &token.InputError{Kind: token.ErrInvalidInput,
			Msg: fmt.Sprintf("MaxConns must not be negative, got %d", opts.MaxConns)})
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = DefaultReconnectDelay
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	app := opts.ApplicationName
	if app == "" {
		app = cc.RuntimeParams["application_name"]
	}
	if app == "" {
		app = DefaultApplicationName
	}
	cc.RuntimeParams["application_name"] = app

	listenCfg := cc.Copy()
	listenCfg.RuntimeParams["application_name"] = app + listenerSuffix
	// The listener connection idles for hours: TCP keep-alive probes notice a
	// peer that vanished without closing the connection within about 30 s.
	listenCfg.DialFunc = (&net.Dialer{
		Timeout:         cc.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3},
	}).DialContext

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("open", err, cc.Password)
	}
	closeCtx, cancel := context.WithCancel(context.Background())
	s := &Store{
		pool:      pool,
		listenCfg: listenCfg,
		opts:      opts,
		password:  cc.Password,
		closeCtx:  closeCtx,
		cancel:    cancel,
	}
	if opts.SkipMigrate {
		err = s.wrap("open", pool.Ping(ctx))
	} else {
		err = s.migrate(ctx, "open")
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops running Watch calls, waits for them to return and closes the
// pool. It is idempotent and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.watchers.Wait()
	s.pool.Close()
	return nil
}

// errClosed is returned by every method of a closed Store.
var errClosed = fmt.Errorf("store is closed: %w", token.ErrUnavailable)

// isClosed reports whether Close has been called.
func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// wrap classifies and wraps err for operation op (see wrap).
func (s *Store) wrap(op string, err error) error { return wrap(op, err, s.password) }

// inTx runs fn in a transaction that commits when fn returns nil and rolls
// back otherwise; errors are wrapped for op.
func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	if s.isClosed() {
		return fmt.Errorf("postgres %s: %w", op, errClosed)
	}
	// Read committed, whatever the server's default: the per-owner limit
	// counts rows committed while it waited for the owner's advisory lock.
	return s.wrap(op, pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn))
}

// checkOpen returns the error of a call on a closed Store, or nil.
func (s *Store) checkOpen(op string) error {
	if s.isClosed() {
		return fmt.Errorf("postgres %s: %w", op, errClosed)
	}
	return nil
}

// invalid returns an InputError of kind token.ErrInvalidInput for op.
func invalid(op, format string, args ...any) error {
	return fmt.Errorf("postgres %s: %w", op, &token.InputError{Kind: token.ErrInvalidInput, Msg: fmt.Sprintf(format, args...)})
}

// errNotFound is ErrNotFound naming what was looked for; inTx adds the operation.
func errNotFound(what string) error {
	return fmt.Errorf("%s: %w", what, token.ErrNotFound)
}
