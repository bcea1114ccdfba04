package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
)

// Notification claims (token.NoticeStore), in the notices table of
// migration 006.

var _ token.NoticeStore = (*Store)(nil)

// claimNoticeSQL inserts the claim, or takes over an existing row that was
// never sent and is older than the lease ($5), or (with $6) one that was
// sent and claimed before the repeat interval ($7) — in one statement, so
// exactly one of several instances racing for it gets a row back.
const claimNoticeSQL = `INSERT INTO notices AS n (token_id, kind, holder, claimed_at, sent_at)
VALUES ($1, $2, $3, $4, NULL)
ON CONFLICT (token_id, kind) DO UPDATE
SET holder = EXCLUDED.holder, claimed_at = EXCLUDED.claimed_at, sent_at = NULL
WHERE (n.sent_at IS NULL AND n.claimed_at < $5)
   OR ($6 AND n.sent_at IS NOT NULL AND n.claimed_at < $7)
RETURNING true`

// checkNotice checks the arguments every notice method takes.
func checkNotice(op, tokenID, kind string) error {
	switch {
	case tokenID == "":
		return invalid(op, "token id must not be empty")
	case kind == "" || len(kind) > token.MaxNoticeKindLen:
		return invalid(op, "notice kind must be 1 to %d bytes", token.MaxNoticeKindLen)
	}
	return nil
}

// ClaimNotice claims (tokenID, kind) for holder; see token.NoticeStore.
func (s *Store) ClaimNotice(ctx context.Context, tokenID, kind, holder string, now time.Time, lease, repeatAfter time.Duration) (bool, error) {
	const op = "claim notice"
	if err := checkNotice(op, tokenID, kind); err != nil {
		return false, err
	}
	if lease <= 0 || repeatAfter < 0 {
		return false, invalid(op, "lease must be positive and repeatAfter not negative, got %v and %v", lease, repeatAfter)
	}
	if err := s.checkOpen(op); err != nil {
		return false, err
	}
	var ok bool
	err := s.pool.QueryRow(ctx, claimNoticeSQL, tokenID, kind, holder, ts(now),
		ts(now.Add(-lease)), repeatAfter > 0, ts(now.Add(-repeatAfter))).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap(op, err)
	}
	return ok, nil
}

// NoticeSent marks (tokenID, kind) sent at at; see token.NoticeStore. A
// notice nobody claimed is ErrNotFound.
func (s *Store) NoticeSent(ctx context.Context, tokenID, kind string, at time.Time) error {
	const op = "notice sent"
	if err := checkNotice(op, tokenID, kind); err != nil {
		return err
	}
	if err := s.checkOpen(op); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE notices SET sent_at = $3 WHERE token_id = $1 AND kind = $2`, tokenID, kind, ts(at))
	if err != nil {
		return s.wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres %s: %w", op, errNotFound(fmt.Sprintf("notice %s of token %s", kind, tokenID)))
	}
	return nil
}

// ReleaseNotice drops holder's unsent claim; see token.NoticeStore.
func (s *Store) ReleaseNotice(ctx context.Context, tokenID, kind, holder string) error {
	const op = "release notice"
	if err := checkNotice(op, tokenID, kind); err != nil {
		return err
	}
	if err := s.checkOpen(op); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM notices WHERE token_id = $1 AND kind = $2 AND holder = $3 AND sent_at IS NULL`,
		tokenID, kind, holder)
	return s.wrap(op, err)
}

// expiringPageSQL seeks tokens_expiring_idx for the window and sorts the
// (few) tokens in it by id.
const expiringPageSQL = `SELECT ` + tokenCols + ` FROM tokens
WHERE revoked_at IS NULL AND expires_at > $1 AND expires_at <= $2 AND id COLLATE "C" > $3
ORDER BY id COLLATE "C" LIMIT $4`

// ExpiringPage returns unrevoked tokens with from < ExpiresAt <= until, by
// ID; see token.NoticeStore.
func (s *Store) ExpiringPage(ctx context.Context, from, until time.Time, limit int, after string) ([]token.Token, string, error) {
	const op = "expiring page"
	if err := s.checkPageArgs(op, limit, after); err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, expiringPageSQL, ts(from), ts(until), after, limit+1)
	if err != nil {
		return nil, "", s.wrap(op, err)
	}
	out, err := collectTokens(rows)
	if err != nil {
		return nil, "", s.wrap(op, err)
	}
	out, next := token.TrimPage(out, limit)
	return out, next, nil
}

// checkPageArgs checks a page's limit and cursor and that the store is open.
func (s *Store) checkPageArgs(op string, limit int, after string) error {
	if limit <= 0 {
		return invalid(op, "limit must be positive, got %d", limit)
	}
	if err := token.CheckListCursor(after); err != nil {
		return err
	}
	return s.checkOpen(op)
}
