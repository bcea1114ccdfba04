package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokengate/tokengate/token"
)

// ownerLockClass is the first key of the per-owner transaction advisory lock
// (pg_advisory_xact_lock(int, int)) that makes Create's limit check atomic.
// The two-key form never collides with tern's single bigint key.
const ownerLockClass = 0x746b67 // "tkg"

// duplicate maps a unique violation to token.ErrDuplicate; other errors are
// returned unchanged.
func duplicate(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return err
	}
	what := "a token with the same digest"
	if pe.ConstraintName == "tokens_pkey" {
		what = "a token with the same id"
	}
	return fmt.Errorf("%s exists already: %w", what, token.ErrDuplicate)
}

// checkNew validates the fields of a token to be inserted.
func checkNew(op string, t token.Token, row string) error {
	switch {
	case strings.TrimSpace(t.ID) == "":
		return invalid(op, "%sid must not be empty", row)
	case strings.TrimSpace(t.Owner) == "":
		return invalid(op, "%sowner must not be empty", row)
	case t.Digest == token.Digest{}:
		return invalid(op, "%sdigest must not be all zero", row)
	}
	return nil
}

// Create inserts t and its EventCreate event; see token.Store.
func (s *Store) Create(ctx context.Context, t token.Token, limit int) error {
	if err := checkNew("create", t, ""); err != nil {
		return err
	}
	for _, p := range t.AllowedIPs {
		if !p.IsValid() || p != p.Masked() {
			return invalid("create", "allowed IP %q is not a masked range (see token.ParseAllowedIPs)", p)
		}
	}
	at := t.CreatedAt
	if at.IsZero() {
		at = time.Now().UTC()
	}
	return s.inTx(ctx, "create", func(tx pgx.Tx) error {
		if limit > 0 {
			// The lock serialises creations per owner until commit; the count
			// runs in a later statement, so its snapshot sees them all.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, ownerLockClass, t.Owner); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE owner = $1 AND revoked_at IS NULL`, t.Owner).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return fmt.Errorf("%q has %d unrevoked tokens, the limit is %d: %w", t.Owner, n, limit, token.ErrLimitReached)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO tokens (id, owner, label, digest, hint, created_at, expires_at, allowed_ips, scopes)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, t.Owner, t.Label, t.Digest[:], t.Hint, ts(t.CreatedAt), ts(t.ExpiresAt),
			nonNil(t.AllowedIPs), nonNil(t.Scopes))
		if err != nil {
			return duplicate(err)
		}
		return insertEvents(ctx, tx, []token.Event{{At: at, Kind: token.EventCreate, Actor: t.Owner,
			Owner: t.Owner, TokenID: t.ID, Label: t.Label, Detail: token.RestrictionsDetail(t)}})
	})
}

// ByDigest returns the token with digest d; see token.Store. It is one
// indexed query (a prepared statement after the first use on a connection).
func (s *Store) ByDigest(ctx context.Context, d token.Digest) (token.Token, error) {
	if err := s.checkOpen("by digest"); err != nil {
		return token.Token{}, err
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE digest = $1`, d[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return token.Token{}, fmt.Errorf("postgres by digest: %w", token.ErrNotFound)
	}
	if err != nil {
		return token.Token{}, s.wrap("by digest", err)
	}
	return t, nil
}

// listOrder is List's ORDER BY, token.CompareListOrder in SQL: newest first,
// legacy last, ties by ID in byte order.
const listOrder = ` ORDER BY created_at DESC NULLS LAST, id COLLATE "C"`

// List returns unrevoked tokens; see token.Store.
func (s *Store) List(ctx context.Context, owner string) ([]token.Token, error) {
	if err := s.checkOpen("list"); err != nil {
		return nil, err
	}
	var (
		rows pgx.Rows
		err  error
	)
	if owner == "" {
		rows, err = s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE revoked_at IS NULL`+listOrder)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE owner = $1 AND revoked_at IS NULL`+listOrder, owner)
	}
	if err != nil {
		return nil, s.wrap("list", err)
	}
	list, err := collectTokens(rows)
	if err != nil {
		return nil, s.wrap("list", err)
	}
	return list, nil
}

// checkRevoke validates the arguments common to Revoke and RevokeOwner.
func checkRevoke(op, by string, at time.Time) error {
	if strings.TrimSpace(by) == "" {
		return invalid(op, "by (who revokes) must not be empty")
	}
	if at.IsZero() {
		return invalid(op, "the revocation time must be set")
	}
	return nil
}

// Revoke revokes one token and notifies "r:<digest>" in the same
// transaction; see token.Store.
func (s *Store) Revoke(ctx context.Context, id, owner, by string, at time.Time) (token.Token, error) {
	if err := checkRevoke("revoke", by, at); err != nil {
		return token.Token{}, err
	}
	var t token.Token
	err := s.inTx(ctx, "revoke", func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `UPDATE tokens SET revoked_at = $3, revoked_by = $4
			WHERE id = $1 AND revoked_at IS NULL AND ($2 = '' OR owner = $2)
			RETURNING `+tokenCols, id, owner, ts(at), by))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound(fmt.Sprintf("no unrevoked token %q", id) + ownerSuffix(owner))
		}
		if err != nil {
			return err
		}
		return revoked(ctx, tx, []token.Token{t}, by, at)
	})
	if err != nil {
		return token.Token{}, err
	}
	return t, nil
}

// ownerSuffix describes the owner restriction of a lookup in an error text.
func ownerSuffix(owner string) string {
	if owner == "" {
		return ""
	}
	return fmt.Sprintf(" of %q", owner)
}

// revoked notifies and records the revocation of gone inside tx. NOTIFY is
// delivered only when tx commits, so its place in the transaction is free.
func revoked(ctx context.Context, tx pgx.Tx, gone []token.Token, by string, at time.Time) error {
	payloads := make([]string, len(gone))
	events := make([]token.Event, len(gone))
	for i, t := range gone {
		payloads[i] = PayloadRevoked + t.Digest.String()
		events[i] = token.Event{At: at, Kind: token.EventRevoke, Actor: by, Owner: t.Owner, TokenID: t.ID, Label: t.Label}
	}
	if err := notify(ctx, tx, payloads); err != nil {
		return err
	}
	return insertEvents(ctx, tx, events)
}

// RevokeOwner revokes every unrevoked token of owner; see token.Store. The
// tokens are returned in List order.
func (s *Store) RevokeOwner(ctx context.Context, owner, by string, at time.Time) ([]token.Token, error) {
	if strings.TrimSpace(owner) == "" {
		return nil, invalid("revoke owner", "owner must not be empty")
	}
	if err := checkRevoke("revoke owner", by, at); err != nil {
		return nil, err
	}
	var gone []token.Token
	err := s.inTx(ctx, "revoke owner", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE tokens SET revoked_at = $2, revoked_by = $3
			WHERE owner = $1 AND revoked_at IS NULL RETURNING `+tokenCols, owner, ts(at), by)
		if err != nil {
			return err
		}
		if gone, err = collectTokens(rows); err != nil {
			return err
		}
		return revoked(ctx, tx, gone, by, at)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(gone, token.CompareListOrder)
	return gone, nil
}

// HasLegacy reports whether an unrevoked legacy token exists; see token.Store.
func (s *Store) HasLegacy(ctx context.Context) (bool, error) {
	if err := s.checkOpen("has legacy"); err != nil {
		return false, err
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE created_at IS NULL AND revoked_at IS NULL)`).Scan(&ok)
	return ok, s.wrap("has legacy", err)
}
