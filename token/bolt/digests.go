package bolt

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// appendAdded records d as the newest token in the added bucket. bbolt has
// one writer at a time, so sequence order is commit order: a cursor never
// skips a token committed later with a smaller sequence number.
func appendAdded(tx *bbolt.Tx, d token.Digest) error {
	b := tx.Bucket(bAdded)
	b.FillPercent = appendFill // keys ascend (see appendFill)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("numbering added token: %w", err)
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, seq), d[:])
}

// idValue is the value of the digests bucket for the token id: 0x00 and the
// decoded bytes when id is lowercase hex (as token.NewID makes them: 11
// bytes instead of 20), else the id itself, as files of the first format
// store every id (an id never starts with 0x00: see checkInsert).
func idValue(id string) []byte {
	if isHex(id) {
		v, _ := hex.AppendDecode([]byte{0}, []byte(id)) // valid: isHex
		return v
	}
	return []byte(id)
}

// idOfValue is idValue's inverse.
func idOfValue(v []byte) string {
	if len(v) > 0 && v[0] == 0 {
		return hex.EncodeToString(v[1:])
	}
	return string(v)
}

// ensureAdded creates the added bucket of a file written before it existed
// and fills it with every digest the file holds.
func ensureAdded(tx *bbolt.Tx) error {
	if tx.Bucket(bAdded) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bAdded); err != nil {
		return fmt.Errorf("creating bucket %s: %w", bAdded, err)
	}
	return tx.Bucket(bDigests).ForEach(func(k, _ []byte) error {
		var d token.Digest
		if len(k) != len(d) {
			return fmt.Errorf("digest index holds a %d-byte key, want %d", len(k), len(d))
		}
		copy(d[:], k)
		return appendAdded(tx, d)
	})
}

// Digests calls fn for every token added after cursor (a sequence number
// in decimal; "" for all) and returns the last sequence number seen.
func (s *Store) Digests(ctx context.Context, cursor string, fn func(token.Digest)) (string, error) {
	var after uint64
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return "", inputErr("digest cursor %q is not a bolt sequence number", cursor)
		}
		after = n
	}
	last := after
	err := s.view(ctx, "list token digests", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bAdded).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil; k, v = c.Next() {
			var d token.Digest
			if len(k) != 8 || len(v) != len(d) {
				return fmt.Errorf("added bucket holds a malformed entry (%d-byte key, %d-byte value)", len(k), len(v))
			}
			copy(d[:], v)
			fn(d)
			last = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(last, 10), nil
}
