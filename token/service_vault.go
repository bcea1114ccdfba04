package token

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// VaultEntry is what a person sees of one kind of stored credential: never
// the credential itself.
type VaultEntry struct {
	Kind      VaultKind
	Stored    bool
	Hint      string
	UpdatedAt time.Time
}

// EnableVault turns the vault on with sealer and the kinds people may store
// (DefaultVaultKinds when empty). Call it before serving requests.
func (s *Service) EnableVault(sealer *Sealer, kinds []VaultKind) {
	if len(kinds) == 0 {
		kinds = DefaultVaultKinds
	}
	s.sealer, s.vaultKinds = sealer, kinds
}

// VaultKinds returns the configured kinds, or nil when the vault is off.
func (s *Service) VaultKinds() []VaultKind {
	if s.sealer == nil {
		return nil
	}
	return s.vaultKinds
}

// Sealer returns the vault's sealer, or nil when the vault is off.
func (s *Service) Sealer() *Sealer { return s.sealer }

func (s *Service) vaultKind(id string) (VaultKind, error) {
	if s.sealer == nil {
		return VaultKind{}, ErrVaultDisabled
	}
	for _, k := range s.vaultKinds {
		if k.ID == id {
			return k, nil
		}
	}
	return VaultKind{}, fmt.Errorf("vault kind %q: %w", truncateForMessage(id), ErrNotFound)
}

// VaultEntries lists, for every configured kind, whether owner stored a
// credential, with its hint and time.
func (s *Service) VaultEntries(ctx context.Context, owner string) ([]VaultEntry, error) {
	if s.sealer == nil {
		return nil, ErrVaultDisabled
	}
	if err := ValidateOwner(owner); err != nil {
		return nil, err
	}
	stored, err := s.store.VaultSecrets(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("listing vault of %q: %w", owner, err)
	}
	byKind := make(map[string]VaultSecret, len(stored))
	for _, v := range stored {
		byKind[v.Kind] = v
	}
	out := make([]VaultEntry, 0, len(s.vaultKinds))
	for _, k := range s.vaultKinds {
		e := VaultEntry{Kind: k}
		if v, ok := byKind[k.ID]; ok {
			e.Stored, e.Hint, e.UpdatedAt = true, v.Hint, v.UpdatedAt
		}
		out = append(out, e)
	}
	return out, nil
}

// SetVaultSecret stores (or replaces) owner's credential of kind, encrypted.
func (s *Service) SetVaultSecret(ctx context.Context, owner, kind, secret string) (VaultEntry, error) {
	k, err := s.vaultKind(kind)
	if err != nil {
		return VaultEntry{}, err
	}
	if err := ValidateOwner(owner); err != nil {
		return VaultEntry{}, err
	}
	secret, err = NormalizeVaultSecret(secret)
	if err != nil {
		return VaultEntry{}, err
	}
	ct, err := s.sealer.Seal(owner, kind, secret)
	if err != nil {
		return VaultEntry{}, fmt.Errorf("sealing vault secret: %w", err)
	}
	v := VaultSecret{Owner: owner, Kind: kind, Ciphertext: ct, Hint: vaultHint(secret), UpdatedAt: s.Now().Truncate(time.Microsecond)}
	if err := s.store.PutVaultSecret(ctx, v, owner); err != nil {
		return VaultEntry{}, fmt.Errorf("storing vault secret %s of %q: %w", kind, owner, err)
	}
	s.vaultChanged(owner)
	return VaultEntry{Kind: k, Stored: true, Hint: v.Hint, UpdatedAt: v.UpdatedAt}, nil
}

// DeleteVaultSecret removes owner's credential of kind (ErrNotFound if none).
func (s *Service) DeleteVaultSecret(ctx context.Context, owner, kind string) error {
	if _, err := s.vaultKind(kind); err != nil {
		return err
	}
	if err := ValidateOwner(owner); err != nil {
		return err
	}
	if err := s.store.DeleteVaultSecret(ctx, owner, kind, owner, s.Now().Truncate(time.Microsecond)); err != nil {
		return fmt.Errorf("deleting vault secret %s of %q: %w", kind, owner, err)
	}
	s.vaultChanged(owner)
	return nil
}

// vaultChanged tells the Invalidator that owner's vault changed.
func (s *Service) vaultChanged(owner string) {
	if s.inv != nil {
		s.inv.VaultChanged(owner)
	}
}

// IsVaultDisabled reports whether err means the vault is off.
func IsVaultDisabled(err error) bool { return errors.Is(err, ErrVaultDisabled) }
