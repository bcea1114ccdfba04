// Package bolt is the embedded token.Store: one bbolt file, for a single
// tokengate instance. It does not implement token.Watcher.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tokengate/tokengate/token"
)

// LockTimeout is how long Open waits for another holder of the file to let go.
const LockTimeout = time.Second

// ErrLocked is matched (errors.Is) by the error Open returns when another
// process or handle holds the file.
var ErrLocked = errors.New("token file is locked")

// LockedError says which file is held by someone else. It matches ErrLocked.
type LockedError struct{ Path string }

// Error names the file and the likely cause.
func (e *LockedError) Error() string {
	return fmt.Sprintf("token file %s is locked by another process (is another tokengate running?)", e.Path)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Bucket names. Keys: tokens id→record (record.go); digests digest→id
// (idValue); owners ownerKey+id→"" for unrevoked tokens; legacy id→"" for
// unrevoked legacy tokens of files of the first format (since, a count:
// legacy.go); events timeKey+seq→event; rejections
// ownerKey+timeKey+seq→rejection (eventcodec.go); vault ownerKey+kind→
// vaultRecord; added seq→digest, every token in the order it was added (for
// Digests); event_owners ownerKey+event key→"" (see bEventOwners); meta
// (migrate.go). Open creates missing buckets, so files written by an older
// build gain the newer ones (added is filled from digests then, event_owners
// from events), and migrates values of the first format.
var (
	bTokens     = []byte("tokens")
	bDigests    = []byte("digests")
	bOwners     = []byte("owners")
	bLegacy     = []byte("legacy")
	bEvents     = []byte("events")
	bRejections = []byte("rejections")
	bVault      = []byte("vault")
	bAdded      = []byte("added")
	allBuckets  = [][]byte{bTokens, bDigests, bOwners, bLegacy, bEvents, bRejections, bVault}
)

// Store is a token.Store in a bbolt file. It is safe for concurrent use.
type Store struct{ db *bbolt.DB }

var _ token.Store = (*Store)(nil)

// Open opens (creating it and its directory if missing) the token file at
// path. It fails within LockTimeout with a *LockedError if the file is held.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, &token.InputError{Kind: token.ErrInvalidInput, Msg: "token file path must not be empty"}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating directory of token file %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: LockTimeout, InitialMmapSize: initialMmapSize()})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &LockedError{Path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("opening token file %s: %w", path, err)
	}
	db.AllocSize = allocSize
	var old bool // in an earlier format: migrate
	err = db.Update(func(tx *bbolt.Tx) error {
		fresh := tx.Bucket(bTokens) == nil
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		if err := ensureAdded(tx); err != nil {
			return err
		}
		if err := ensureEventOwners(tx); err != nil {
			return err
		}
		old, err = checkFormat(tx, fresh)
		return err
	})
	if err == nil && old {
		err = migrate(db, migrateBatch)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("initialising token file %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// allocSize is how much the file grows by when it is full: bbolt's default
// 16 MiB left up to 16 MiB unused at the end of a file (80 bytes per token
// of a 200k-token file). Each growth costs a truncate and an fsync: with
// 1 MiB, one per ~2,000 created tokens, next to the fsync each create costs.
const allocSize = 1 << 20

// initialMmapSize is the address space mapped for the file from the start:
// 1 GiB on 64-bit systems (virtual, not memory: pages are read in as they
// are used). bbolt remaps — copying every node a write transaction has
// touched — each time the file outgrows the map, which made one large import
// spend most of its time and memory there. Windows grows the file itself to
// the map size, and 32-bit systems lack the address space: there, 0 (grow
// as needed).
func initialMmapSize() int {
	if runtime.GOOS == "windows" || strconv.IntSize < 64 {
		return 0
	}
	return 1 << 30
}

// Close closes the file and releases its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing token file: %w", err)
	}
	return nil
}

// successor returns the smallest key greater than every key starting with
// prefix, or nil if there is none.
func successor(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func inputErr(format string, args ...any) error {
	return &token.InputError{Kind: token.ErrInvalidInput, Msg: fmt.Sprintf(format, args...)}
}

// view and update run fn in a transaction, mapping a closed file to ErrUnavailable.
func (s *Store) view(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	return s.run(ctx, op, false, fn)
}

func (s *Store) update(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	return s.run(ctx, op, true, fn)
}

func (s *Store) run(ctx context.Context, op string, write bool, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var err error
	if write {
		err = s.db.Update(fn)
	} else {
		err = s.db.View(fn)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("%s: token file is closed: %w", op, token.ErrUnavailable)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

func getRecord(tx *bbolt.Tx, id string) (record, bool, error) {
	v := tx.Bucket(bTokens).Get([]byte(id))
	if v == nil {
		return record{}, false, nil
	}
	r, err := decodeRecord([]byte(id), v)
	if err != nil {
		return record{}, false, err
	}
	return r, true, nil
}

func putRecord(tx *bbolt.Tx, r record) error {
	v, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bTokens).Put([]byte(r.ID), v)
}

// addEvent numbers and stores e with its owner-index entry.
func addEvent(tx *bbolt.Tx, e token.Event) error {
	k, err := putEvent(tx, e, ofToken(tx, e))
	if err != nil {
		return err
	}
	return indexEvent(tx, e.Owner, k)
}

// putEvent numbers and stores e, without its owner-index entry, and
// returns its key; fromToken says e's owner and label are its token's (see
// encodeEvent).
func putEvent(tx *bbolt.Tx, e token.Event, fromToken bool) ([]byte, error) {
	b := tx.Bucket(bEvents)
	seq, err := b.NextSequence()
	if err != nil {
		return nil, fmt.Errorf("numbering event: %w", err)
	}
	e.ID = int64(seq)
	b.FillPercent = appendFill // keys ascend (see appendFill)
	k := binary.BigEndian.AppendUint64(timeKey(e.At), seq)
	return k, b.Put(k, encodeEvent(e, fromToken))
}

// AddRejections records refused attempts, keeping the newest
// token.MaxRejectionsPerOwner per owner.
func (s *Store) AddRejections(ctx context.Context, rs []token.Rejection) error {
	if len(rs) == 0 {
		return nil
	}
	return s.update(ctx, "record rejected attempts", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bRejections)
		owners := map[string]bool{}
		for _, r := range rs {
			seq, err := b.NextSequence()
			if err != nil {
				return fmt.Errorf("numbering rejection: %w", err)
			}
			k := binary.BigEndian.AppendUint64(append(ownerKey(r.Owner), timeKey(r.At)...), seq)
			if err := b.Put(k, encodeRejection(r)); err != nil {
				return err
			}
			owners[r.Owner] = true
		}
		for owner := range owners { // drop the oldest beyond the cap
			prefix := ownerKey(owner)
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			for i := 0; i < len(keys)-token.MaxRejectionsPerOwner; i++ {
				if err := b.Delete(keys[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Rejections returns owner's refused attempts, newest first, at most limit.
func (s *Store) Rejections(ctx context.Context, owner string, limit int) ([]token.Rejection, error) {
	if limit <= 0 {
		return nil, inputErr("limit must be positive, got %d", limit)
	}
	out := []token.Rejection{}
	err := s.view(ctx, "list rejected attempts", func(tx *bbolt.Tx) error {
		prefix := ownerKey(owner)
		c := tx.Bucket(bRejections).Cursor()
		var k, v []byte
		if end := successor(prefix); end == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(end); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
			r, err := decodeRejection(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// History returns events newest first (by At, then ID), at most limit, only
// owner's when owner is not "" (read through the owner index).
func (s *Store) History(ctx context.Context, owner string, limit int) ([]token.Event, error) {
	es, _, err := s.HistoryPage(ctx, owner, limit, "")
	return es, err
}
