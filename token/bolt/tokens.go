package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// checkInsert returns why t cannot be inserted: an empty id or owner, a
// zero digest (ErrInvalidInput), or a digest or id stored already (ErrDuplicate).
func checkInsert(tx *bbolt.Tx, t token.Token) error {
	if t.ID == "" || t.Owner == "" {
		return inputErr("token id and owner must not be empty")
	}
	if t.ID[0] == 0 {
		return inputErr("token id %q must not start with a NUL byte", t.ID)
	}
	if t.Digest == (token.Digest{}) {
		return inputErr("token %s: digest must be set", t.ID)
	}
	if tx.Bucket(bDigests).Get(t.Digest[:]) != nil {
		return fmt.Errorf("token %s: digest exists already: %w", t.ID, token.ErrDuplicate)
	}
	if tx.Bucket(bTokens).Get([]byte(t.ID)) != nil {
		return fmt.Errorf("token id %s exists already: %w", t.ID, token.ErrDuplicate)
	}
	return nil
}

// insert stores a new token and its indexes; the digest and id must be new.
func insert(tx *bbolt.Tx, t token.Token) error {
	if err := checkInsert(tx, t); err != nil {
		return err
	}
	if err := putRecord(tx, toRecord(t)); err != nil {
		return err
	}
	if err := tx.Bucket(bDigests).Put(t.Digest[:], idValue(t.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bOwners).Put(append(ownerKey(t.Owner), t.ID...), []byte{}); err != nil {
		return err
	}
	if err := appendAdded(tx, t.Digest); err != nil {
		return err
	}
	if t.Legacy() {
		return addLegacy(tx, 1)
	}
	return nil
}

// Create inserts t with an EventCreate event, atomically enforcing limit.
func (s *Store) Create(ctx context.Context, t token.Token, limit int) error {
	if t.CreatedAt.IsZero() {
		return inputErr("token %s: created_at must be set (legacy tokens are imported)", t.ID)
	}
	for _, p := range t.AllowedIPs {
		if !p.IsValid() || p != p.Masked() {
			return inputErr("token %s: allowed IP %q is not a masked range (see token.ParseAllowedIPs)", t.ID, p)
		}
	}
	t.RevokedAt, t.RevokedBy = time.Time{}, ""
	t.LastUsedAt, t.LastUsedIP, t.LastUsedAgent = time.Time{}, "", ""
	return s.update(ctx, "create token", func(tx *bbolt.Tx) error {
		if limit > 0 && len(ownerIDs(tx, t.Owner)) >= limit {
			return fmt.Errorf("%s has %d or more tokens: %w", t.Owner, limit, token.ErrLimitReached)
		}
		if err := insert(tx, t); err != nil {
			return err
		}
		return addEvent(tx, token.Event{At: t.CreatedAt, Kind: token.EventCreate, Actor: t.Owner,
			Owner: t.Owner, TokenID: t.ID, Label: t.Label, Detail: token.RestrictionsDetail(t)})
	})
}

// ownerIDs returns the ids of owner's unrevoked tokens.
func ownerIDs(tx *bbolt.Tx, owner string) []string {
	prefix := ownerKey(owner)
	var ids []string
	c := tx.Bucket(bOwners).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// ByDigest returns the token with digest d, revoked or not.
func (s *Store) ByDigest(ctx context.Context, d token.Digest) (token.Token, error) {
	var r record
	err := s.view(ctx, "look up token", func(tx *bbolt.Tx) error {
		id := tx.Bucket(bDigests).Get(d[:])
		if id == nil {
			return token.ErrNotFound
		}
		var ok bool
		var err error
		if r, ok, err = getRecord(tx, idOfValue(id)); err == nil && !ok {
			err = fmt.Errorf("digest index names missing token %s", idOfValue(id))
		}
		return err
	})
	return r.token(), err
}

// List returns the unrevoked tokens of owner (all owners for ""): newest
// first, legacy last, ties by ID.
func (s *Store) List(ctx context.Context, owner string) ([]token.Token, error) {
	out := []token.Token{}
	err := s.view(ctx, "list tokens", func(tx *bbolt.Tx) error {
		if owner == "" {
			return tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
				r, err := decodeRecord(k, v)
				if err != nil {
					return err
				}
				if r.RevokedAt.IsZero() {
					out = append(out, r.token())
				}
				return nil
			})
		}
		for _, id := range ownerIDs(tx, owner) {
			r, ok, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, r.token())
			}
		}
		return nil
	})
	slices.SortFunc(out, token.CompareListOrder)
	return out, err
}

// revoke marks r revoked and records the event; r must be unrevoked.
func revoke(tx *bbolt.Tx, r record, by string, at time.Time) (token.Token, error) {
	r.RevokedAt, r.RevokedBy = at, by
	if err := putRecord(tx, r); err != nil {
		return token.Token{}, err
	}
	if err := tx.Bucket(bOwners).Delete(append(ownerKey(r.Owner), r.ID...)); err != nil {
		return token.Token{}, err
	}
	if r.CreatedAt.IsZero() { // legacy
		if err := revokedLegacy(tx, r.ID); err != nil {
			return token.Token{}, err
		}
	}
	err := addEvent(tx, token.Event{At: at, Kind: token.EventRevoke, Actor: by, Owner: r.Owner,
		TokenID: r.ID, Label: r.Label})
	return r.token(), err
}

func checkActor(by string, at time.Time) error {
	if by == "" {
		return inputErr("the acting identity (by) must not be empty")
	}
	if at.IsZero() {
		return inputErr("the time of the change (at) must be set")
	}
	return nil
}

// Revoke revokes the unrevoked token id (of owner, unless owner is "").
func (s *Store) Revoke(ctx context.Context, id, owner, by string, at time.Time) (token.Token, error) {
	if err := checkActor(by, at); err != nil {
		return token.Token{}, err
	}
	var out token.Token
	err := s.update(ctx, "revoke token", func(tx *bbolt.Tx) error {
		r, ok, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if !ok || !r.RevokedAt.IsZero() || (owner != "" && r.Owner != owner) {
			return fmt.Errorf("token %s: %w", id, token.ErrNotFound)
		}
		out, err = revoke(tx, r, by, at)
		return err
	})
	return out, err
}

// RevokeOwner revokes every unrevoked token of owner.
func (s *Store) RevokeOwner(ctx context.Context, owner, by string, at time.Time) ([]token.Token, error) {
	if err := checkActor(by, at); err != nil {
		return nil, err
	}
	var out []token.Token
	err := s.update(ctx, "revoke tokens of "+owner, func(tx *bbolt.Tx) error {
		out = []token.Token{}
		for _, id := range ownerIDs(tx, owner) {
			r, ok, err := getRecord(tx, id)
			if err != nil || !ok {
				return errors.Join(err, fmt.Errorf("owner index names missing token %s", id))
			}
			t, err := revoke(tx, r, by, at)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// Import inserts legacy tokens, all or nothing. Legacy tokens are
// unrestricted: one with allowed IPs or scopes is refused.
func (s *Store) Import(ctx context.Context, ts []token.Token, by string, at time.Time) error {
	if err := checkActor(by, at); err != nil {
		return err
	}
	for i, t := range ts {
		if !t.CreatedAt.IsZero() || !t.ExpiresAt.IsZero() {
			return inputErr("import row %d (token %s): legacy tokens have no created_at or expires_at", i+1, t.ID)
		}
		if t.Restricted() {
			return inputErr("import row %d (token %s): legacy tokens have no restrictions (allowed IPs, scopes)", i+1, t.ID)
		}
	}
	return s.update(ctx, "import tokens", func(tx *bbolt.Tx) error { return importTokens(tx, ts, by, at) })
}

// HasLegacy reports whether any unrevoked legacy token exists.
func (s *Store) HasLegacy(ctx context.Context) (bool, error) {
	var has bool
	err := s.view(ctx, "check for legacy tokens", func(tx *bbolt.Tx) error {
		var err error
		has, err = hasLegacy(tx)
		return err
	})
	return has, err
}

// TouchLastUsed records uses; unknown ids and older records are ignored.
func (s *Store) TouchLastUsed(ctx context.Context, uses []token.LastUse) error {
	if len(uses) == 0 {
		return nil
	}
	return s.update(ctx, "record token use", func(tx *bbolt.Tx) error {
		for _, u := range uses {
			r, ok, err := getRecord(tx, u.TokenID)
			if err != nil {
				return err
			}
			if !ok || u.At.Before(r.LastUsedAt) {
				continue
			}
			r.LastUsedAt, r.LastUsedIP, r.LastUsedAgent = u.At, u.IP, u.Agent
			if err := putRecord(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}
