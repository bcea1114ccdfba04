package bolt

import (
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// metaLegacy (in bMeta) counts the unrevoked legacy tokens, a uvarint. The
// first format kept their ids in the legacy bucket (36 bytes a token, to
// answer HasLegacy); migrate moves them into the count batch by batch, so
// unrevoked legacy tokens = the bucket's keys + the count, in every state.
var metaLegacy = []byte("legacy_count")

func legacyCount(tx *bbolt.Tx) (uint64, error) {
	meta := tx.Bucket(bMeta)
	if meta == nil { // Open creates it; a read before that finds no count
		return 0, nil
	}
	v := meta.Get(metaLegacy)
	if v == nil {
		return 0, nil
	}
	n, w := binary.Uvarint(v)
	if w <= 0 || w != len(v) {
		return 0, fmt.Errorf("malformed count of legacy tokens (%d bytes)", len(v))
	}
	return n, nil
}

// addLegacy adds delta to the count of unrevoked legacy tokens.
func addLegacy(tx *bbolt.Tx, delta int) error {
	n, err := legacyCount(tx)
	if err != nil {
		return err
	}
	if delta < 0 && uint64(-delta) > n {
		return fmt.Errorf("count of legacy tokens %d would drop below 0 by %d", n, -delta)
	}
	return tx.Bucket(bMeta).Put(metaLegacy, binary.AppendUvarint(nil, uint64(int64(n)+int64(delta))))
}

// hasLegacy reports whether any unrevoked legacy token exists.
func hasLegacy(tx *bbolt.Tx) (bool, error) {
	if k, _ := tx.Bucket(bLegacy).Cursor().First(); k != nil {
		return true, nil
	}
	n, err := legacyCount(tx)
	return n > 0, err
}

// revokedLegacy takes the legacy token id, just revoked, out of the bucket
// if a file of the first format still lists it there, else out of the count.
func revokedLegacy(tx *bbolt.Tx, id string) error {
	b := tx.Bucket(bLegacy)
	if b.Get([]byte(id)) != nil {
		return b.Delete([]byte(id))
	}
	return addLegacy(tx, -1)
}

// drainLegacy moves the ids of the legacy bucket into the count, batch per
// transaction.
func drainLegacy(db *bbolt.DB, batch int) error {
	for done := false; !done; {
		err := db.Update(func(tx *bbolt.Tx) error {
			var err error
			done, err = drainLegacyBatch(tx, batch)
			return err
		})
		if err != nil {
			return fmt.Errorf("counting legacy tokens: %w", err)
		}
	}
	return nil
}

// drainLegacyBatch moves up to batch ids of the legacy bucket into the
// count and reports whether the bucket is empty.
func drainLegacyBatch(tx *bbolt.Tx, batch int) (bool, error) {
	var keys [][]byte
	c := tx.Bucket(bLegacy).Cursor()
	for k, _ := c.First(); k != nil && len(keys) < batch; k, _ = c.Next() {
		keys = append(keys, append([]byte{}, k...))
	}
	for _, k := range keys { // not while iterating
		if err := tx.Bucket(bLegacy).Delete(k); err != nil {
			return false, err
		}
	}
	return len(keys) < batch, addLegacy(tx, len(keys))
}
