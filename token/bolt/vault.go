package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// vaultRecord is the stored form of a token.VaultSecret; the key (ownerKey +
// kind) holds the owner and the kind.
type vaultRecord struct {
	Ciphertext []byte    `json:"ciphertext"`
	Hint       string    `json:"hint,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// vaultKey is ownerKey(owner) followed by kind: prefix-free per owner, and in
// kind order within an owner.
func vaultKey(owner, kind string) []byte { return append(ownerKey(owner), kind...) }

func checkVaultKey(owner, kind string) error {
	switch {
	case owner == "":
		return inputErr("vault secret: owner must not be empty")
	case kind == "":
		return inputErr("vault secret: kind must not be empty")
	}
	return nil
}

// PutVaultSecret inserts or replaces the secret of (v.Owner, v.Kind) and
// records an EventVault "set" dated v.UpdatedAt.
func (s *Store) PutVaultSecret(ctx context.Context, v token.VaultSecret, actor string) error {
	if err := checkVaultKey(v.Owner, v.Kind); err != nil {
		return err
	}
	if len(v.Ciphertext) == 0 {
		return inputErr("vault secret %s of %q: ciphertext must not be empty", v.Kind, v.Owner)
	}
	if v.UpdatedAt.IsZero() {
		return inputErr("vault secret %s of %q: updated_at must be set", v.Kind, v.Owner)
	}
	if actor == "" {
		return inputErr("the acting identity (actor) must not be empty")
	}
	val, err := json.Marshal(vaultRecord{Ciphertext: v.Ciphertext, Hint: v.Hint, UpdatedAt: v.UpdatedAt.UTC()})
	if err != nil {
		return fmt.Errorf("encoding vault secret %s of %q: %w", v.Kind, v.Owner, err)
	}
	return s.update(ctx, "store vault secret", func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bVault).Put(vaultKey(v.Owner, v.Kind), val); err != nil {
			return err
		}
		return addEvent(tx, token.Event{At: v.UpdatedAt, Kind: token.EventVault, Actor: actor,
			Owner: v.Owner, Label: v.Kind, Detail: "set"})
	})
}

func decodeVault(owner, kind string, val []byte) (token.VaultSecret, error) {
	var r vaultRecord
	if err := json.Unmarshal(val, &r); err != nil {
		return token.VaultSecret{}, fmt.Errorf("decoding vault secret %s of %q: %w", kind, owner, err)
	}
	return token.VaultSecret{Owner: owner, Kind: kind, Ciphertext: r.Ciphertext, Hint: r.Hint,
		UpdatedAt: r.UpdatedAt.UTC()}, nil
}

// VaultSecret returns the secret of (owner, kind), or token.ErrNotFound.
func (s *Store) VaultSecret(ctx context.Context, owner, kind string) (token.VaultSecret, error) {
	if err := checkVaultKey(owner, kind); err != nil {
		return token.VaultSecret{}, err
	}
	var out token.VaultSecret
	err := s.view(ctx, "read vault secret", func(tx *bbolt.Tx) error {
		val := tx.Bucket(bVault).Get(vaultKey(owner, kind))
		if val == nil {
			return fmt.Errorf("vault secret %s of %q: %w", kind, owner, token.ErrNotFound)
		}
		var err error
		out, err = decodeVault(owner, kind, val)
		return err
	})
	return out, err
}

// VaultSecrets returns owner's secrets ordered by kind (byte order).
func (s *Store) VaultSecrets(ctx context.Context, owner string) ([]token.VaultSecret, error) {
	if owner == "" {
		return nil, inputErr("vault secrets: owner must not be empty")
	}
	out := []token.VaultSecret{}
	err := s.view(ctx, "list vault secrets", func(tx *bbolt.Tx) error {
		prefix := ownerKey(owner)
		c := tx.Bucket(bVault).Cursor()
		for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
			v, err := decodeVault(owner, string(k[len(prefix):]), val)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteVaultSecret removes the secret of (owner, kind) and records an
// EventVault "deleted" dated at; token.ErrNotFound when there is none.
func (s *Store) DeleteVaultSecret(ctx context.Context, owner, kind, actor string, at time.Time) error {
	if err := checkVaultKey(owner, kind); err != nil {
		return err
	}
	if err := checkActor(actor, at); err != nil {
		return err
	}
	return s.update(ctx, "delete vault secret", func(tx *bbolt.Tx) error {
		b, key := tx.Bucket(bVault), vaultKey(owner, kind)
		if b.Get(key) == nil {
			return fmt.Errorf("vault secret %s of %q: %w", kind, owner, token.ErrNotFound)
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		return addEvent(tx, token.Event{At: at, Kind: token.EventVault, Actor: actor,
			Owner: owner, Label: kind, Detail: "deleted"})
	})
}
