package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// bMeta holds facts about the file: under metaFormat, its format version
// (one byte). Files of the first format (JSON values) have no meta bucket.
var (
	bMeta      = []byte("meta")
	metaFormat = []byte("format")
)

// fileFormat is the format this build writes (3): format 2 plus rejections
// that count several identical attempts (binaryV2, eventcodec.go), which
// earlier builds cannot read. Format 2: binary tokens, events and
// rejections, compact ids in digests, legacy tokens counted (legacy.go).
// Format 1 stored JSON and listed legacy tokens in a bucket.
const fileFormat = 3

// formatBeforeCounts is the format before rejections carried counts: its values
// all decode, so such a file only gets the new number.
const formatBeforeCounts = 2

// migrateBatch is how many values one migration transaction rewrites at
// most: memory stays flat, and a crash leaves a file whose mixed old and new
// values all decode; the next Open goes on where it stopped.
const migrateBatch = 10_000

// checkFormat creates the meta bucket and reports whether the file needs
// migrate. fresh says the file had no tokens bucket before this Open:
// then it is written in fileFormat from the start.
func checkFormat(tx *bbolt.Tx, fresh bool) (bool, error) {
	meta, err := tx.CreateBucketIfNotExists(bMeta)
	if err != nil {
		return false, fmt.Errorf("creating bucket %s: %w", bMeta, err)
	}
	v := meta.Get(metaFormat)
	switch {
	case v == nil && fresh:
		return false, meta.Put(metaFormat, []byte{fileFormat})
	case v == nil:
		return true, nil
	case len(v) != 1:
		return false, fmt.Errorf("malformed format version (%d bytes)", len(v))
	case v[0] > fileFormat:
		return false, fmt.Errorf("the file is in format %d, written by a newer tokengate (this one reads up to %d)", v[0], fileFormat)
	case v[0] == formatBeforeCounts:
		return false, meta.Put(metaFormat, []byte{fileFormat})
	}
	return v[0] < fileFormat, nil
}

// conversion rewrites one bucket's values of the first format: convert
// returns the new value of key k, or ok false to leave v as it is (already
// new, or not safely convertible: every form decodes).
type conversion struct {
	bucket  []byte
	convert func(tx *bbolt.Tx, k, v []byte) (nv []byte, ok bool)
}

var conversions = []conversion{
	{bTokens, func(tx *bbolt.Tx, k, v []byte) ([]byte, bool) {
		if len(v) == 0 || v[0] != '{' {
			return nil, false
		}
		r, err := decodeRecord(k, v)
		if err != nil || r.ID != string(k) {
			return nil, false // the binary form takes the id from the key
		}
		nv, err := encodeRecord(r)
		return nv, err == nil
	}},
	{bEvents, func(tx *bbolt.Tx, k, v []byte) ([]byte, bool) {
		if len(v) == 0 || v[0] != '{' || len(k) != eventKeyLen {
			return nil, false
		}
		e, err := decodeEvent(tx, k, v)
		if err != nil || uint64(e.ID) != binary.BigEndian.Uint64(k[12:]) || !bytes.Equal(timeKey(e.At), k[:12]) {
			return nil, false // the binary form takes time and id from the key
		}
		return encodeEvent(e, ofToken(tx, e)), true
	}},
	{bRejections, func(tx *bbolt.Tx, k, v []byte) ([]byte, bool) {
		if len(v) == 0 || v[0] != '{' {
			return nil, false
		}
		r, err := decodeRejection(k, v)
		owner, rest, kerr := parseOwnerKey(k)
		if err != nil || kerr != nil || owner != r.Owner || len(rest) != eventKeyLen || !bytes.Equal(timeKey(r.At), rest[:12]) {
			return nil, false // the binary form takes owner and time from the key
		}
		return encodeRejection(r), true
	}},
	{bDigests, func(_ *bbolt.Tx, _, v []byte) ([]byte, bool) {
		if len(v) == 0 || v[0] == 0 || !isHex(string(v)) {
			return nil, false
		}
		return idValue(string(v)), true
	}},
}

// migrate rewrites the values of a file of the first format in the current
// one, batch values per transaction (Open: migrateBatch), then records
// fileFormat.
func migrate(db *bbolt.DB, batch int) error {
	if err := convertAll(db, conversions, batch); err != nil {
		return fmt.Errorf("migrating to format %d: %w", fileFormat, err)
	}
	if err := drainLegacy(db, batch); err != nil {
		return fmt.Errorf("migrating to format %d: %w", fileFormat, err)
	}
	return db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bMeta).Put(metaFormat, []byte{fileFormat})
	})
}

// convertAll applies each conversion to its whole bucket, batch values per
// transaction.
func convertAll(db *bbolt.DB, convs []conversion, batch int) error {
	for _, c := range convs {
		var after []byte
		for done := false; !done; {
			err := db.Update(func(tx *bbolt.Tx) error {
				var err error
				after, done, err = migrateBatchOf(tx, c, after, batch)
				return err
			})
			if err != nil {
				return fmt.Errorf("bucket %s: %w", c.bucket, err)
			}
		}
	}
	return nil
}

// migrateBatchOf converts up to batch values of conv.bucket with keys after
// after (from the first when nil); it returns the last key it looked at and
// whether the bucket is done.
func migrateBatchOf(tx *bbolt.Tx, conv conversion, after []byte, batch int) ([]byte, bool, error) {
	b := tx.Bucket(conv.bucket)
	type kv struct{ k, v []byte }
	var out []kv
	c := b.Cursor()
	k, v := c.First()
	if after != nil {
		if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	for scanned := 0; k != nil && len(out) < batch && scanned < 10*batch; k, v = c.Next() {
		scanned++
		after = bytes.Clone(k)
		if nv, ok := conv.convert(tx, k, v); ok {
			out = append(out, kv{after, nv})
		}
	}
	for _, e := range out { // not while iterating: a Put may move the cursor's page
		if err := b.Put(e.k, e.v); err != nil {
			return nil, false, err
		}
	}
	return after, k == nil, nil
}
