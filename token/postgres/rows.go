package postgres

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokengate/tokengate/token"
)

// Conversions between token.Token and rows of the tokens table.

// tokenCols are the columns scanToken reads, in order.
const tokenCols = `id, owner, label, digest, hint, created_at, expires_at, revoked_at, revoked_by,
	last_used_at, last_used_ip, last_used_agent, allowed_ips, scopes`

// ts converts a time to a timestamptz parameter; the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()} }

// fromTS converts a scanned timestamptz to UTC; NULL is the zero time.
func fromTS(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// scanToken reads one row of tokenCols, followed by extra destinations.
func scanToken(row pgx.Row, extra ...any) (token.Token, error) {
	var (
		t                                  token.Token
		digest                             []byte
		created, expires, revoked, lastUse pgtype.Timestamptz
	)
	dest := append([]any{&t.ID, &t.Owner, &t.Label, &digest, &t.Hint, &created, &expires, &revoked,
		&t.RevokedBy, &lastUse, &t.LastUsedIP, &t.LastUsedAgent, &t.AllowedIPs, &t.Scopes}, extra...)
	if err := row.Scan(dest...); err != nil {
		return token.Token{}, err
	}
	if len(digest) != len(t.Digest) {
		return token.Token{}, fmt.Errorf("token %q has a %d-byte digest, want %d", t.ID, len(digest), len(t.Digest))
	}
	copy(t.Digest[:], digest)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = fromTS(created), fromTS(expires), fromTS(revoked), fromTS(lastUse)
	if len(t.AllowedIPs) == 0 { // '{}' scans as an empty slice: no restriction is nil
		t.AllowedIPs = nil
	}
	if len(t.Scopes) == 0 {
		t.Scopes = nil
	}
	return t, nil
}

// collectTokens reads all rows of tokenCols.
func collectTokens(rows pgx.Rows) ([]token.Token, error) {
	defer rows.Close()
	var out []token.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// nonNil returns s, or an empty slice for nil: the restriction columns are
// NOT NULL, and pgx encodes a nil slice as NULL.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
