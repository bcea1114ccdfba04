package bolt

import (
	"bytes"
	"context"

	bbolt "go.etcd.io/bbolt"
)

// CountTokens counts the unrevoked tokens of owner (all when "") in the
// owners index (ownerKey+id for every unrevoked token): keys only, no
// token is decoded; see token.Store.
func (s *Store) CountTokens(ctx context.Context, owner string) (int, error) {
	n := 0
	err := s.view(ctx, "count tokens", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bOwners).Cursor()
		if owner == "" {
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n++
			}
			return nil
		}
		prefix := ownerKey(owner)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}
