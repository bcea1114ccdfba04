package bolt

import (
	"bytes"
	"context"
	"time"

	"go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// MaxCapBatch bounds the tokens one CapExpiry transaction looks at,
// whatever batch asks. Each capped token's history entry adds a key to the
// owner index of the history at a random place, so a transaction dirties
// about one page of that index per token, and bbolt keeps every dirty page
// in memory until commit: at a million tokens, a batch of 5,000 peaked at
// 118 MiB of heap (36 s in all), 2,000 at 71 MiB (60 s), 1,000 at 48 MiB
// (71 s).
const MaxCapBatch = 1000

// CapExpiry caps one batch: of the next batch tokens (at most MaxCapBatch;
// revoked ones count) after the ID after, it caps every unrevoked one that
// expires later than limit or never, in one bbolt transaction; see
// token.Store. The batch is read first and written after the cursor is
// done with (no writes while iterating), so the transaction holds at most
// batch stored values.
func (s *Store) CapExpiry(ctx context.Context, limit time.Time, by string, at time.Time, after string, batch int) ([]token.Digest, string, error) {
	if err := checkActor(by, at); err != nil {
		return nil, "", err
	}
	switch {
	case limit.IsZero():
		return nil, "", inputErr("the expiry limit must be set")
	case batch <= 0:
		return nil, "", inputErr("batch must be positive, got %d", batch)
	}
	if err := token.CheckListCursor(after); err != nil {
		return nil, "", err
	}
	batch = min(batch, MaxCapBatch)
	var (
		changed []token.Digest
		next    string
	)
	err := s.update(ctx, "cap token expiry", func(tx *bbolt.Tx) error {
		due, last, more, err := capCandidates(tx, limit, after, batch)
		if err != nil {
			return err
		}
		changed, next = make([]token.Digest, 0, len(due)), ""
		if more {
			next = last
		}
		detail := "expires_at " + limit.UTC().Format(time.RFC3339) + ", was "
		for _, kv := range due {
			r, err := decodeRecord(kv[0], kv[1])
			if err != nil {
				return err
			}
			prev := "never"
			if !r.ExpiresAt.IsZero() {
				prev = r.ExpiresAt.UTC().Format(time.RFC3339)
			}
			r.ExpiresAt = limit
			if err := putRecord(tx, r); err != nil {
				return err
			}
			err = addEvent(tx, token.Event{At: at, Kind: token.EventCap, Actor: by, Owner: r.Owner,
				TokenID: r.ID, Label: r.Label, Detail: detail + prev})
			if err != nil {
				return err
			}
			var d token.Digest
			copy(d[:], r.Digest)
			changed = append(changed, d)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return changed, next, nil
}

// capCandidates reads up to batch stored tokens after the key after and
// returns copies of the keys and values of those CapExpiry must change, the
// last key read and whether that was a full batch (more may follow).
func capCandidates(tx *bbolt.Tx, limit time.Time, after string, batch int) (due [][2][]byte, last string, more bool, err error) {
	c := tx.Bucket(bTokens).Cursor()
	k, v := c.Seek([]byte(after))
	if k != nil && after != "" && string(k) == after {
		k, v = c.Next()
	}
	n := 0
	for ; k != nil && n < batch; k, v = c.Next() {
		n++
		r, err := decodeRecord(k, v)
		if err != nil {
			return nil, "", false, err
		}
		if r.RevokedAt.IsZero() && (r.ExpiresAt.IsZero() || r.ExpiresAt.After(limit)) {
			due = append(due, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		}
		last = string(k)
	}
	return due, last, n == batch, nil
}
