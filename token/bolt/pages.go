package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// bEventOwners indexes the history by owner: ownerKey+eventKey → "", where
// eventKey (timeKey+seq, 20 bytes) is the event's key in bEvents. Every
// event with an owner is indexed in the transaction that adds it; Open
// fills the bucket for files written before it existed (ensureEventOwners).
var bEventOwners = []byte("event_owners")

// eventKeyLen is the length of a key of bEvents: timeKey, then the sequence.
const eventKeyLen = 12 + 8

// indexEvent adds the owner-index entry of the event stored under key.
func indexEvent(tx *bbolt.Tx, owner string, key []byte) error {
	if owner == "" {
		return nil
	}
	return tx.Bucket(bEventOwners).Put(append(ownerKey(owner), key...), []byte{})
}

// ensureEventOwners creates the owner index of the history in a file
// written before it existed and fills it from every stored event.
func ensureEventOwners(tx *bbolt.Tx) error {
	if tx.Bucket(bEventOwners) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bEventOwners); err != nil {
		return fmt.Errorf("creating bucket %s: %w", bEventOwners, err)
	}
	return tx.Bucket(bEvents).ForEach(func(k, v []byte) error {
		e, err := decodeEvent(tx, k, v)
		if err != nil {
			return err
		}
		return indexEvent(tx, e.Owner, k)
	})
}

// ListPage returns up to limit unrevoked tokens of owner (all when ""),
// by ID, with IDs greater than after; see token.Store.
func (s *Store) ListPage(ctx context.Context, owner string, limit int, after string) ([]token.Token, string, error) {
	if limit <= 0 {
		return nil, "", inputErr("limit must be positive, got %d", limit)
	}
	if err := token.CheckListCursor(after); err != nil {
		return nil, "", err
	}
	out := []token.Token{}
	more := false
	err := s.view(ctx, "list tokens", func(tx *bbolt.Tx) error {
		if owner == "" {
			c := tx.Bucket(bTokens).Cursor()
			for k, v := c.Seek([]byte(after)); k != nil; k, v = c.Next() {
				if string(k) == after {
					continue
				}
				r, err := decodeRecord(k, v)
				if err != nil {
					return err
				}
				if !r.RevokedAt.IsZero() {
					continue
				}
				if len(out) == limit {
					more = true
					return nil
				}
				out = append(out, r.token())
			}
			return nil
		}
		prefix := ownerKey(owner)
		c := tx.Bucket(bOwners).Cursor()
		for k, _ := c.Seek(append(bytes.Clone(prefix), after...)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := string(k[len(prefix):])
			if id == after {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			r, ok, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("owner index names missing token %s", id)
			}
			out = append(out, r.token())
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// HistoryPage returns up to limit events older than before, newest first,
// only owner's when owner is not ""; see token.Store. An owner's page reads
// the owner index, never the other owners' events.
func (s *Store) HistoryPage(ctx context.Context, owner string, limit int, before string) ([]token.Event, string, error) {
	if limit <= 0 {
		return nil, "", inputErr("limit must be positive, got %d", limit)
	}
	at, id, err := token.ParseEventCursor(before)
	if err != nil {
		return nil, "", err
	}
	var end []byte // the first key not to return; nil: none
	if before != "" {
		end = binary.BigEndian.AppendUint64(timeKey(at), uint64(id))
	}
	out, more := []token.Event{}, false
	err = s.view(ctx, "read history", func(tx *bbolt.Tx) error {
		events := tx.Bucket(bEvents)
		b, prefix := events, []byte(nil)
		if owner != "" {
			b, prefix = tx.Bucket(bEventOwners), ownerKey(owner)
		}
		c := b.Cursor()
		for k, v := seekBefore(c, prefix, end); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(out) == limit {
				more = true
				return nil
			}
			if owner != "" {
				if len(k) != len(prefix)+eventKeyLen {
					return fmt.Errorf("history owner index holds a malformed key of %d bytes", len(k))
				}
				if k, v = k[len(prefix):], events.Get(k[len(prefix):]); v == nil {
					return fmt.Errorf("history owner index names a missing event")
				}
			}
			e, err := decodeEvent(tx, k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = token.EventCursor(out[len(out)-1])
	}
	return out, next, nil
}

// seekBefore positions c on the last key that starts with prefix and sorts
// before prefix+end (every key with the prefix when end is nil), or on a
// key without the prefix (or nil) when there is none.
func seekBefore(c *bbolt.Cursor, prefix, end []byte) ([]byte, []byte) {
	bound := successor(prefix) // nil for the empty prefix: no bound
	if end != nil {
		bound = append(bytes.Clone(prefix), end...)
	}
	if bound == nil {
		return c.Last()
	}
	if k, _ := c.Seek(bound); k == nil {
		return c.Last()
	}
	return c.Prev()
}
