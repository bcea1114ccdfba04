package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// Notification claims (token.NoticeStore). bNotices maps noticeKey(token id,
// kind) → noticeRecord (JSON). The bucket is created by the first claim, so
// files of earlier builds need nothing at Open; a missing bucket holds no
// claim.
var bNotices = []byte("notices")

var _ token.NoticeStore = (*Store)(nil)

// noticeRecord is a stored claim; its JSON names are the file format.
type noticeRecord struct {
	Holder    string    `json:"holder"`
	ClaimedAt time.Time `json:"claimed_at"`
	SentAt    time.Time `json:"sent_at,omitzero"`
}

// noticeKey is the token id, length first (prefix-free), then the kind.
func noticeKey(tokenID, kind string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(tokenID))), tokenID+kind...)
}

func checkNotice(tokenID, kind string) error {
	switch {
	case tokenID == "":
		return inputErr("token id must not be empty")
	case kind == "" || len(kind) > token.MaxNoticeKindLen:
		return inputErr("notice kind must be 1 to %d bytes", token.MaxNoticeKindLen)
	}
	return nil
}

// getNotice reads the claim under k; ok is false when there is none.
func getNotice(b *bbolt.Bucket, k []byte) (n noticeRecord, ok bool, err error) {
	v := b.Get(k)
	if v == nil {
		return n, false, nil
	}
	if err := json.Unmarshal(v, &n); err != nil {
		return n, false, fmt.Errorf("decoding notice claim: %w", err)
	}
	return n, true, nil
}

func putNotice(b *bbolt.Bucket, k []byte, n noticeRecord) error {
	v, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encoding notice claim: %w", err)
	}
	return b.Put(k, v)
}

// ClaimNotice claims (tokenID, kind) for holder; see token.NoticeStore. The
// check and the write are one bbolt transaction.
func (s *Store) ClaimNotice(ctx context.Context, tokenID, kind, holder string, now time.Time, lease, repeatAfter time.Duration) (bool, error) {
	if err := checkNotice(tokenID, kind); err != nil {
		return false, err
	}
	if lease <= 0 || repeatAfter < 0 {
		return false, inputErr("lease must be positive and repeatAfter not negative, got %v and %v", lease, repeatAfter)
	}
	claimed := false
	err := s.update(ctx, "claim notice", func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bNotices)
		if err != nil {
			return fmt.Errorf("creating bucket %s: %w", bNotices, err)
		}
		k := noticeKey(tokenID, kind)
		n, ok, err := getNotice(b, k)
		if err != nil {
			return err
		}
		stale := n.SentAt.IsZero() && n.ClaimedAt.Before(now.Add(-lease))
		repeat := !n.SentAt.IsZero() && repeatAfter > 0 && n.ClaimedAt.Before(now.Add(-repeatAfter))
		if ok && !stale && !repeat {
			return nil
		}
		claimed = true
		return putNotice(b, k, noticeRecord{Holder: holder, ClaimedAt: now})
	})
	if err != nil {
		return false, err
	}
	return claimed, nil
}

// NoticeSent marks (tokenID, kind) sent at at; see token.NoticeStore. A
// notice nobody claimed is ErrNotFound.
func (s *Store) NoticeSent(ctx context.Context, tokenID, kind string, at time.Time) error {
	if err := checkNotice(tokenID, kind); err != nil {
		return err
	}
	return s.update(ctx, "notice sent", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bNotices)
		if b == nil {
			return fmt.Errorf("notice %s of token %s: %w", kind, tokenID, token.ErrNotFound)
		}
		k := noticeKey(tokenID, kind)
		n, ok, err := getNotice(b, k)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("notice %s of token %s: %w", kind, tokenID, token.ErrNotFound)
		}
		n.SentAt = at
		return putNotice(b, k, n)
	})
}

// ReleaseNotice drops holder's unsent claim; see token.NoticeStore.
func (s *Store) ReleaseNotice(ctx context.Context, tokenID, kind, holder string) error {
	if err := checkNotice(tokenID, kind); err != nil {
		return err
	}
	return s.update(ctx, "release notice", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bNotices)
		if b == nil {
			return nil
		}
		k := noticeKey(tokenID, kind)
		n, ok, err := getNotice(b, k)
		if err != nil || !ok || n.Holder != holder || !n.SentAt.IsZero() {
			return err
		}
		return b.Delete(k)
	})
}

// ExpiringPage returns unrevoked tokens with from < ExpiresAt <= until, by
// ID; see token.NoticeStore. It reads the tokens bucket from after on until
// the page is full: the embedded store serves one instance, which scans
// every ten minutes, so one pass over the file per scan is cheap enough and
// needs no expiry index to keep up to date.
func (s *Store) ExpiringPage(ctx context.Context, from, until time.Time, limit int, after string) ([]token.Token, string, error) {
	if limit <= 0 {
		return nil, "", inputErr("limit must be positive, got %d", limit)
	}
	if err := token.CheckListCursor(after); err != nil {
		return nil, "", err
	}
	var out []token.Token
	err := s.view(ctx, "expiring tokens", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bTokens).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && len(out) <= limit; k, v = c.Next() {
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if r.RevokedAt.IsZero() && r.ExpiresAt.After(from) && !r.ExpiresAt.After(until) {
				out = append(out, r.token())
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	out, next := token.TrimPage(out, limit)
	return out, next, nil
}
