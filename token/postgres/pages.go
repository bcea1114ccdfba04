package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokengate/tokengate/token"
)

// ListPage returns up to limit unrevoked tokens of owner (all when ""), by
// ID in byte order, with IDs greater than after; see token.Store. Keyset
// queries on the partial indexes of migration 005.
func (s *Store) ListPage(ctx context.Context, owner string, limit int, after string) ([]token.Token, string, error) {
	const op = "list page"
	if limit <= 0 {
		return nil, "", invalid(op, "limit must be positive, got %d", limit)
	}
	if err := token.CheckListCursor(after); err != nil {
		return nil, "", err
	}
	if err := s.checkOpen(op); err != nil {
		return nil, "", err
	}
	q, args := listPageQuery(owner, limit+1, after)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", s.wrap(op, err)
	}
	out, err := collectTokens(rows)
	if err != nil {
		return nil, "", s.wrap(op, err)
	}
	if out == nil {
		out = []token.Token{}
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, out[limit-1].ID, nil
}

// HistoryPage returns up to limit events older than before, newest first,
// only owner's when owner is not ""; see token.Store. Keyset queries on
// events_at_idx and events_owner_idx.
func (s *Store) HistoryPage(ctx context.Context, owner string, limit int, before string) ([]token.Event, string, error) {
	const op = "history"
	if limit <= 0 {
		return nil, "", invalid(op, "limit must be positive, got %d", limit)
	}
	at, id, err := token.ParseEventCursor(before)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkOpen(op); err != nil {
		return nil, "", err
	}
	q, args := historyPageQuery(owner, limit+1, before != "", at, id)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", s.wrap(op, err)
	}
	defer rows.Close()
	out := []token.Event{}
	for rows.Next() {
		var (
			e    token.Event
			ts   pgtype.Timestamptz
			kind string
		)
		if err := rows.Scan(&e.ID, &ts, &kind, &e.Actor, &e.Owner, &e.TokenID, &e.Label, &e.Detail); err != nil {
			return nil, "", s.wrap(op, err)
		}
		e.At, e.Kind = fromTS(ts), token.EventKind(kind)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(op, err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, token.EventCursor(out[limit-1]), nil
}

// listPageQuery is ListPage's keyset query for n rows and its arguments.
func listPageQuery(owner string, n int, after string) (string, []any) {
	const q = `SELECT ` + tokenCols + ` FROM tokens WHERE revoked_at IS NULL AND id COLLATE "C" > $1`
	const order = ` ORDER BY id COLLATE "C" LIMIT `
	if owner == "" {
		return q + order + `$2`, []any{after, n}
	}
	return q + ` AND owner = $2` + order + `$3`, []any{after, owner, n}
}

// historyPageQuery is HistoryPage's keyset query for n rows (older than
// (at, id) if cursor) and its arguments.
func historyPageQuery(owner string, n int, cursor bool, at time.Time, id int64) (string, []any) {
	var (
		where []string
		args  []any
	)
	if owner != "" {
		args = append(args, owner)
		where = append(where, fmt.Sprintf("owner = $%d", len(args)))
	}
	if cursor {
		args = append(args, pgtype.Timestamptz{Time: at, Valid: true}, id)
		where = append(where, fmt.Sprintf("(at, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	q := `SELECT id, at, kind, actor, owner, token_id, label, detail FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, n)
	return q + fmt.Sprintf(" ORDER BY at DESC, id DESC LIMIT $%d", len(args)), args
}
