package bolt

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// CapExpiry caps the expiry of every unrevoked token at limit.
func (s *Store) CapExpiry(ctx context.Context, limit time.Time, by string, at time.Time) ([]token.Token, error) {
	if err := checkActor(by, at); err != nil {
		return nil, err
	}
	if limit.IsZero() {
		return nil, inputErr("the expiry limit must be set")
	}
	var out []token.Token
	err := s.update(ctx, "cap token expiry", func(tx *bbolt.Tx) error {
		out = []token.Token{}
		var changed []record
		err := tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if r.RevokedAt.IsZero() && (r.ExpiresAt.IsZero() || r.ExpiresAt.After(limit)) {
				changed = append(changed, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range changed { // not inside ForEach: no writes while iterating
			prev := "never"
			if !r.ExpiresAt.IsZero() {
				prev = r.ExpiresAt.UTC().Format(time.RFC3339)
			}
			r.ExpiresAt = limit
			if err := putRecord(tx, r); err != nil {
				return err
			}
			err := addEvent(tx, token.Event{At: at, Kind: token.EventCap, Actor: by, Owner: r.Owner,
				TokenID: r.ID, Label: r.Label, Detail: fmt.Sprintf("expires_at %s, was %s", limit.UTC().Format(time.RFC3339), prev)})
			if err != nil {
				return err
			}
			out = append(out, r.token())
		}
		return nil
	})
	return out, err
}
