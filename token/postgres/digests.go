package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
)

// Digests calls fn for every token added after cursor and returns the next
// cursor; see token.Store. The cursor is the oldest transaction id that was
// still in progress when the previous call read (pg_snapshot_xmin), so rows
// of transactions that committed after that read are found by the next one.
// Both statements run in one repeatable-read snapshot.
func (s *Store) Digests(ctx context.Context, cursor string, fn func(token.Digest)) (string, error) {
	const op = "list token digests"
	if err := s.checkOpen(op); err != nil {
		return "", err
	}
	var from uint64
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return "", invalid(op, "digest cursor %q is not a transaction id", cursor)
		}
		from = n
	}
	var next string
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&next); err != nil {
			return err
		}
		var rows pgx.Rows
		var err error
		if cursor == "" {
			rows, err = tx.Query(ctx, `SELECT digest FROM tokens`)
		} else {
			rows, err = tx.Query(ctx, `SELECT digest FROM tokens WHERE added_xid >= $1::text::xid8`, strconv.FormatUint(from, 10))
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		var raw []byte
		for rows.Next() {
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			var d token.Digest
			if len(raw) != len(d) {
				return fmt.Errorf("a token has a %d-byte digest, want %d", len(raw), len(d))
			}
			copy(d[:], raw)
			fn(d)
		}
		return rows.Err()
	})
	if err != nil {
		return "", s.wrap(op, err)
	}
	return next, nil
}
