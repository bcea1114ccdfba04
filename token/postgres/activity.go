package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokengate/tokengate/token"
)

// insertEvents appends history events inside tx.
func insertEvents(ctx context.Context, tx pgx.Tx, events []token.Event) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	at := make([]pgtype.Timestamptz, n)
	kind, actor, owner, id, label, detail := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		at[i], kind[i], actor[i], owner[i], id[i], label[i], detail[i] =
			ts(e.At), string(e.Kind), e.Actor, e.Owner, e.TokenID, e.Label, e.Detail
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (at, kind, actor, owner, token_id, label, detail)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
		at, kind, actor, owner, id, label, detail)
	if err != nil {
		return fmt.Errorf("recording history: %w", err)
	}
	return nil
}

// notify queues payloads on Channel inside tx; Postgres delivers them when
// (and only if) tx commits.
func notify(ctx context.Context, tx pgx.Tx, payloads []string) error {
	if len(payloads) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, Channel, payloads)
	if err != nil {
		return fmt.Errorf("notifying %s: %w", Channel, err)
	}
	return nil
}

// touchAttempts bounds the retries of one TouchLastUsed chunk after a
// deadlock with another instance's concurrent flush.
const touchAttempts = 3

// touchChunk is how many tokens one TouchLastUsed statement updates. The
// planner sees the array sizes: at 50,000 ids it chose a sequential scan of
// every token and a hash join that spilled to disk (at 1,000 ids it still
// hashed all of a 100,000-token table); at this size it looks each id up in
// the primary key (TestTouchChunkUsesIndex).
const touchChunk = 500

// touchSQL updates the tokens of one chunk; $1..$4 are parallel arrays.
const touchSQL = `UPDATE tokens t
			SET last_used_at = u.at, last_used_ip = u.ip, last_used_agent = u.agent
			FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[]) AS u(id, at, ip, agent)
			WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at <= u.at)`

// TouchLastUsed records coalesced uses; see token.Store. Several records for
// one token are reduced to the newest; a stored newer use is kept. The
// records are written in chunks of touchChunk tokens, one statement (and
// transaction) each, in id order: a failure leaves the earlier chunks
// written, which is harmless (a retry rewrites the same or newer uses).
func (s *Store) TouchLastUsed(ctx context.Context, uses []token.LastUse) error {
	newest := make(map[string]token.LastUse, len(uses))
	for i, u := range uses {
		if u.At.IsZero() {
			return invalid("touch last used", "use %d (token %q): the time must be set", i+1, u.TokenID)
		}
		if u.TokenID == "" {
			continue // unknown id: ignored
		}
		if old, ok := newest[u.TokenID]; !ok || u.At.After(old.At) {
			newest[u.TokenID] = u
		}
	}
	if err := s.checkOpen("touch last used"); err != nil || len(newest) == 0 {
		return err
	}
	// Rows are locked in id order, the same in every instance.
	n := len(newest)
	ids, ips, agents, at := make([]string, 0, n), make([]string, n), make([]string, n), make([]pgtype.Timestamptz, n)
	for id := range newest {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		u := newest[id]
		at[i], ips[i], agents[i] = ts(u.At), u.IP, u.Agent
	}
	for lo := 0; lo < n; lo += touchChunk {
		hi := min(lo+touchChunk, n)
		var err error
		for attempt := 0; attempt < touchAttempts; attempt++ {
			_, err = s.pool.Exec(ctx, touchSQL, ids[lo:hi], at[lo:hi], ips[lo:hi], agents[lo:hi])
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "40P01" { // deadlock_detected
				break
			}
		}
		if err != nil {
			return s.wrap("touch last used", err)
		}
	}
	return nil
}

// AddRejections records refused attempts (each with its Times: a Count
// of 0 is stored as 1) and trims each owner's list to the
// newest token.MaxRejectionsPerOwner; see token.Store.
func (s *Store) AddRejections(ctx context.Context, rs []token.Rejection) error {
	n := len(rs)
	if n == 0 {
		return s.checkOpen("add rejections")
	}
	owner, id, label, ip, agent, reason := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	at, count := make([]pgtype.Timestamptz, n), make([]int32, n)
	owners := map[string]bool{}
	for i, r := range rs {
		switch {
		case strings.TrimSpace(r.Owner) == "":
			return invalid("add rejections", "rejection %d: owner must not be empty", i+1)
		case r.TokenID == "":
			return invalid("add rejections", "rejection %d: token id must not be empty", i+1)
		case r.At.IsZero():
			return invalid("add rejections", "rejection %d: the time must be set", i+1)
		case r.Reason == "":
			return invalid("add rejections", "rejection %d: reason must not be empty", i+1)
		}
		owner[i], id[i], label[i], at[i], ip[i], agent[i], reason[i], count[i] =
			r.Owner, r.TokenID, r.Label, ts(r.At), r.IP, r.Agent, string(r.Reason), int32(r.Times())
		owners[r.Owner] = true
	}
	distinct := make([]string, 0, len(owners))
	for o := range owners {
		distinct = append(distinct, o)
	}
	sort.Strings(distinct)
	return s.inTx(ctx, "add rejections", func(tx pgx.Tx) error {
		// Serialise trimming per owner (in a fixed order: no deadlocks).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(o)) FROM unnest($2::text[]) AS o`,
			ownerLockClass+1, distinct); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rejections (owner, token_id, label, at, ip, agent, reason, count)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
				$8::integer[])`,
			owner, id, label, at, ip, agent, reason, count); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM rejections r USING (
				SELECT id, row_number() OVER (PARTITION BY owner ORDER BY at DESC, id DESC) AS n
				FROM rejections WHERE owner = ANY($1)) old
			WHERE r.id = old.id AND old.n > $2`, distinct, token.MaxRejectionsPerOwner)
		return err
	})
}

// Rejections returns owner's newest refused attempts; see token.Store.
func (s *Store) Rejections(ctx context.Context, owner string, limit int) ([]token.Rejection, error) {
	if limit <= 0 {
		return nil, invalid("rejections", "limit must be positive, got %d", limit)
	}
	if err := s.checkOpen("rejections"); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT owner, token_id, label, at, ip, agent, reason, count FROM rejections
		WHERE owner = $1 ORDER BY at DESC, id DESC LIMIT $2`, owner, limit)
	if err != nil {
		return nil, s.wrap("rejections", err)
	}
	defer rows.Close()
	var out []token.Rejection
	for rows.Next() {
		var (
			r      token.Rejection
			at     pgtype.Timestamptz
			reason string
		)
		if err := rows.Scan(&r.Owner, &r.TokenID, &r.Label, &at, &r.IP, &r.Agent, &reason, &r.Count); err != nil {
			return nil, s.wrap("rejections", err)
		}
		r.At, r.Reason = fromTS(at), token.RejectReason(reason)
		out = append(out, r)
	}
	return out, s.wrap("rejections", rows.Err())
}

// History returns events newest first; see token.Store.
func (s *Store) History(ctx context.Context, owner string, limit int) ([]token.Event, error) {
	es, _, err := s.HistoryPage(ctx, owner, limit, "")
	return es, err
}
