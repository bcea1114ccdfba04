package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
)

// notifyBatchMax is the number of changed tokens above which one CapExpiry
// batch sends one "flush" instead of one "c:" notification per token.
const notifyBatchMax = 100

// capSQL caps one batch in one statement: cand takes the next $5 unrevoked
// ids after $4 from tokens_unrevoked_id_idx; old locks those still due (a
// row changed meanwhile is re-checked, so a concurrent revoke or cap is
// respected) and keeps their previous expiry; upd sets the new one (a
// primary-key lookup per id, never a scan of the table); ev records one
// EventCap each, with the detail made in SQL as token.Store describes it;
// sent queues the notifications, delivered on commit. The answer is one
// row: how many ids cand took and the last of them (the next cursor), and
// the digests changed. Nothing but that row comes back to the client.
//
// $1 limit, $2 at, $3 by, $4 after, $5 batch, $6 event kind, $7 detail
// prefix, $8 channel, $9 notifyBatchMax.
const capSQL = `WITH cand AS MATERIALIZED (
		SELECT id FROM tokens
		WHERE revoked_at IS NULL AND id COLLATE "C" > $4
		ORDER BY id COLLATE "C" LIMIT $5),
	old AS MATERIALIZED (
		SELECT t.id, t.expires_at FROM tokens t
		WHERE t.id = ANY (ARRAY(SELECT id FROM cand)) AND t.revoked_at IS NULL
			AND (t.expires_at IS NULL OR t.expires_at > $1)
		FOR UPDATE OF t),
	upd AS (
		UPDATE tokens t SET expires_at = $1 WHERE t.id = ANY (ARRAY(SELECT id FROM old))
		RETURNING t.id, t.owner, t.label, t.digest),
	ev AS (
		INSERT INTO events (at, kind, actor, owner, token_id, label, detail)
		SELECT $2, $6, $3, u.owner, u.id, u.label,
			$7 || coalesce(to_char(o.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'never')
		FROM upd u JOIN old o ON o.id = u.id
		ORDER BY u.id COLLATE "C"),
	sent AS (
		SELECT count(*) AS n FROM (
			SELECT pg_notify($8, CASE WHEN (SELECT count(*) FROM upd) > $9 THEN '` + PayloadFlush + `'
				ELSE '` + PayloadChanged + `' || encode(u.digest, 'hex') END)
			FROM upd u) x)
	SELECT (SELECT count(*) FROM cand), (SELECT max(id COLLATE "C") FROM cand),
		ARRAY(SELECT digest FROM upd), (SELECT n FROM sent)`

// CapExpiry caps one batch of up to batch unrevoked tokens after the ID
// after in one statement (capSQL) and one transaction, and tells every
// instance: "c:<digest>" per changed token, or one "flush" when the batch
// changed more than 100; see token.Store.
func (s *Store) CapExpiry(ctx context.Context, limit time.Time, by string, at time.Time, after string, batch int) ([]token.Digest, string, error) {
	switch {
	case limit.IsZero():
		return nil, "", invalid("cap expiry", "the expiry limit must be set")
	case strings.TrimSpace(by) == "":
		return nil, "", invalid("cap expiry", "by (who caps) must not be empty")
	case at.IsZero():
		return nil, "", invalid("cap expiry", "the time of the change must be set")
	case batch <= 0:
		return nil, "", invalid("cap expiry", "batch must be positive, got %d", batch)
	}
	if err := token.CheckListCursor(after); err != nil {
		return nil, "", fmt.Errorf("postgres cap expiry: %w", err)
	}
	var (
		taken   int64
		last    *string
		digests [][]byte
		sent    int64
	)
	detail := "expires_at " + limit.UTC().Format(time.RFC3339) + ", was "
	err := s.inTx(ctx, "cap expiry", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, capSQL, ts(limit), ts(at), by, after, batch, string(token.EventCap), detail,
			Channel, notifyBatchMax).Scan(&taken, &last, &digests, &sent)
	})
	if err != nil {
		return nil, "", err
	}
	changed := make([]token.Digest, len(digests))
	for i, d := range digests {
		copy(changed[i][:], d)
	}
	next := ""
	if taken == int64(batch) && last != nil {
		next = *last
	}
	return changed, next, nil
}

// CountTokens counts unrevoked tokens in one query (an index-only scan of
// a partial index on unrevoked tokens); see token.Store.
func (s *Store) CountTokens(ctx context.Context, owner string) (int, error) {
	if err := s.checkOpen("count tokens"); err != nil {
		return 0, err
	}
	var n int64
	var err error
	if owner == "" {
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE revoked_at IS NULL`).Scan(&n)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE owner = $1 AND revoked_at IS NULL`, owner).Scan(&n)
	}
	if err != nil {
		return 0, s.wrap("count tokens", err)
	}
	return int(n), nil
}
