package bolt

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// ImportChunk is how many rows a streamed import (token.Service.ImportCSV)
// writes per transaction into a bolt file by default. Token IDs of one
// import ascend, but digests and the owner indexes take each row on a
// random page, and bbolt holds every page a transaction touches until it
// commits: with 1,000 rows a transaction, 50k rows imported in 3.2 s
// (15 MiB peak heap), 200k in 14.9 s (30 MiB, the growth being the
// import's digest set); 5,000 rows: 2.1 s / 11.2 s but 25 → 62 MiB.
const ImportChunk = 1000

// ImportChunk returns ImportChunk; see token.ImportChunker.
func (s *Store) ImportChunk() int { return ImportChunk }

// importTokens inserts the legacy tokens ts with one EventImport each, in
// one transaction. It checks every row first (in row order, so the first bad
// row is the one reported), then writes each bucket in key order: bbolt
// splits a node only when the transaction commits, so keys put in random
// order into one node move the rest of the node each time — quadratic in a
// large import into a small file — while keys in order are appended.
func importTokens(tx *bbolt.Tx, ts []token.Token, by string, at time.Time) error {
	ids := make(map[string]bool, len(ts))
	digests := make(map[token.Digest]bool, len(ts))
	for i, t := range ts {
		err := checkInsert(tx, t)
		switch {
		case err != nil:
		case digests[t.Digest]:
			err = fmt.Errorf("token %s: digest exists already: %w", t.ID, token.ErrDuplicate)
		case ids[t.ID]:
			err = fmt.Errorf("token id %s exists already: %w", t.ID, token.ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("import row %d: %w", i+1, err)
		}
		ids[t.ID], digests[t.Digest] = true, true
	}
	ids, digests = nil, nil

	// Every bucket takes keys in order: pages are filled (appendFill)
	// instead of split in half.
	for _, name := range [][]byte{bTokens, bDigests, bOwners, bEventOwners} {
		tx.Bucket(name).FillPercent = appendFill
	}
	// Keys are sorted next to the row number (not through ts): a sort of
	// 200k rows that looks each key up in ts misses the cache on every
	// comparison, which made it the part growing faster than the rows.
	type idRow struct {
		id string
		i  int
	}
	byID := make([]idRow, len(ts))
	for i, t := range ts {
		byID[i] = idRow{t.ID, i}
	}
	slices.SortFunc(byID, func(a, b idRow) int { return cmp.Compare(a.id, b.id) })
	legacy := 0
	for _, r := range byID {
		t := ts[r.i]
		t.RevokedAt, t.RevokedBy = time.Time{}, ""
		t.LastUsedAt, t.LastUsedIP, t.LastUsedAgent = time.Time{}, "", ""
		if err := putRecord(tx, toRecord(t)); err != nil {
			return err
		}
		if t.Legacy() {
			legacy++
		}
	}
	byID = nil
	if err := addLegacy(tx, legacy); err != nil {
		return err
	}
	type digestRow struct {
		d token.Digest
		i int
	}
	byDigest := make([]digestRow, len(ts))
	for i, t := range ts {
		byDigest[i] = digestRow{t.Digest, i}
	}
	slices.SortFunc(byDigest, func(a, b digestRow) int { return bytes.Compare(a.d[:], b.d[:]) })
	for _, r := range byDigest {
		if err := tx.Bucket(bDigests).Put(r.d[:], idValue(ts[r.i].ID)); err != nil {
			return err
		}
	}
	byDigest = nil
	if err := putSorted(tx.Bucket(bOwners), len(ts), func(i int) []byte {
		return append(ownerKey(ts[i].Owner), ts[i].ID...)
	}); err != nil {
		return err
	}

	// Sequence-numbered buckets take rows in order; their keys ascend.
	ownerKeys := make([][]byte, 0, len(ts))
	for _, t := range ts {
		if err := appendAdded(tx, t.Digest); err != nil {
			return err
		}
		k, err := putEvent(tx, token.Event{At: at, Kind: token.EventImport, Actor: by, Owner: t.Owner,
			TokenID: t.ID, Label: t.Label}, true) // the record was just written
		if err != nil {
			return err
		}
		if t.Owner != "" {
			ownerKeys = append(ownerKeys, append(ownerKey(t.Owner), k...))
		}
	}
	return putSorted(tx.Bucket(bEventOwners), len(ownerKeys), func(i int) []byte { return ownerKeys[i] })
}

// putSorted puts the n keys key(0) … key(n-1), with empty values, into b in
// key order.
func putSorted(b *bbolt.Bucket, n int, key func(i int) []byte) error {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = key(i)
	}
	slices.SortFunc(keys, bytes.Compare)
	for _, k := range keys {
		if err := b.Put(k, []byte{}); err != nil {
			return err
		}
	}
	return nil
}
