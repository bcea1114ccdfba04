package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxVaultCacheEntries bounds the vault cache; beyond it the cache is cleared.
const maxVaultCacheEntries = 10_000

// vaultCache keeps ciphertexts (never plaintext) of vault secrets for
// injection, for CacheTTL. A generation counter makes fills that started
// before a change discard themselves, as for tokens.
type vaultCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]vaultCacheEntry
}

type vaultCacheEntry struct {
	secret VaultSecret
	found  bool
	until  time.Time
}

func vaultCacheKey(owner, kind string) string { return owner + "\x00" + kind }

// VaultCredential returns owner's decrypted credential of kind for injection
// into their proxied request. It is ErrNotFound when they stored none and
// wraps ErrUnavailable when the store cannot be reached and nothing is cached.
func (v *Validator) VaultCredential(ctx context.Context, sealer *Sealer, owner, kind string) (string, error) {
	if sealer == nil {
		return "", ErrVaultDisabled
	}
	key := vaultCacheKey(owner, kind)
	now := v.cfg.Clock()
	v.vault.mu.Lock()
	e, ok := v.vault.entries[key]
	gen := v.vault.gen
	v.vault.mu.Unlock()
	if !ok || !now.Before(e.until) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.cfg.LookupTimeout)
		s, err := v.store.VaultSecret(lctx, owner, kind)
		cancel()
		switch {
		case err == nil:
			e = vaultCacheEntry{secret: s, found: true}
		case errors.Is(err, ErrNotFound):
			e = vaultCacheEntry{}
		default:
			return "", fmt.Errorf("reading vault secret %s of %q: %w", kind, owner, err)
		}
		e.until = now.Add(v.cfg.CacheTTL)
		v.vault.mu.Lock()
		if v.vault.gen == gen {
			if v.vault.entries == nil || len(v.vault.entries) >= maxVaultCacheEntries {
				v.vault.entries = make(map[string]vaultCacheEntry)
			}
			v.vault.entries[key] = e
		}
		v.vault.mu.Unlock()
	}
	if !e.found {
		return "", fmt.Errorf("vault secret %s of %q: %w", kind, owner, ErrNotFound)
	}
	return sealer.Open(owner, kind, e.secret.Ciphertext)
}

// VaultChanged drops the cached secret of (owner, kind); fills that started
// before are discarded. Call it after the change is committed.
func (v *Validator) VaultChanged(owner, kind string) {
	v.vault.mu.Lock()
	v.vault.gen++
	delete(v.vault.entries, vaultCacheKey(owner, kind))
	v.vault.mu.Unlock()
}

// flushVault drops every cached vault secret.
func (v *Validator) flushVault() {
	v.vault.mu.Lock()
	v.vault.gen++
	v.vault.entries = nil
	v.vault.mu.Unlock()
}
