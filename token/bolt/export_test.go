package bolt

import bbolt "go.etcd.io/bbolt"

// SetNoSync turns fsync after each commit off (on) for tests that write
// hundreds of thousands of transactions: the file's layout is the same.
func SetNoSync(s *Store, on bool) { s.db.NoSync = on }

// Stats returns the file's page size and, per bucket, the bytes its pages
// take (leaf and branch pages, in use and free within them).
func Stats(s *Store) (pageSize int, buckets map[string]int, err error) {
	buckets = map[string]int{}
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			st := b.Stats()
			buckets[string(name)] = st.LeafAlloc + st.BranchAlloc + st.InlineBucketInuse
			return nil
		})
	})
	return s.db.Info().PageSize, buckets, err
}
