package token

import (
	"context"
	"fmt"
	"sync"
)

// maxVaultCacheEntries bounds the vault cache; beyond it the cache is cleared.
const maxVaultCacheEntries = 10_000

// vaultCache keeps ciphertexts (never plaintext) of vault secrets for
// injection, per owner and kind, for as long as vaultEntryFor says. A
// generation counter makes fills that started before a change discard
// themselves, as for tokens.
type vaultCache struct {
	mu      sync.Mutex
	gen     uint64
	owners  map[string]map[string]vaultCacheEntry // owner → kind → entry
	entries int                                   // in all owners' maps
}

// get returns the entry of (owner, kind), if any, and the generation to
// pass to put.
func (c *vaultCache) get(owner, kind string) (e vaultCacheEntry, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok = c.owners[owner][kind]
	return e, ok, c.gen
}

// put caches e for (owner, kind) unless the cache changed since gen.
func (c *vaultCache) put(owner, kind string, e vaultCacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.owners == nil || c.entries >= maxVaultCacheEntries {
		c.owners, c.entries = make(map[string]map[string]vaultCacheEntry), 0
	}
	kinds := c.owners[owner]
	if kinds == nil {
		kinds = make(map[string]vaultCacheEntry)
		c.owners[owner] = kinds
	}
	if _, ok := kinds[kind]; !ok {
		c.entries++
	}
	kinds[kind] = e
}

// dropOwner drops owner's entries and discards fills in flight.
func (c *vaultCache) dropOwner(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries -= len(c.owners[owner])
	delete(c.owners, owner)
}

// clear drops every entry and discards fills in flight.
func (c *vaultCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.owners, c.entries = nil, 0
}

// VaultCredential returns owner's decrypted credential of kind for injection
// into their proxied request. It is ErrNotFound when they stored none and
// wraps ErrUnavailable when the store cannot be reached and nothing is cached.
func (v *Validator) VaultCredential(ctx context.Context, sealer *Sealer, owner, kind string) (string, error) {
	if sealer == nil {
		return "", ErrVaultDisabled
	}
	now := v.cfg.Clock()
	e, ok, gen := v.vault.get(owner, kind)
	if !ok || !now.Before(e.until) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.cfg.LookupTimeout)
		s, err := v.store.VaultSecret(lctx, owner, kind)
		cancel()
		if e, ok = vaultEntryFor(s, err, now, v.cfg); !ok {
			return "", fmt.Errorf("reading vault secret %s of %q: %w", kind, owner, err)
		}
		v.vault.put(owner, kind, e, gen)
	}
	if !e.found {
		return "", fmt.Errorf("vault secret %s of %q: %w", kind, owner, ErrNotFound)
	}
	return sealer.Open(owner, kind, e.secret.Ciphertext)
}

// VaultChanged drops owner's cached vault secrets, of every kind, and
// discards vault fills that started before; the token cache is untouched.
// Call it after the change is committed.
func (v *Validator) VaultChanged(owner string) {
	v.vault.dropOwner(owner)
}

// flushVault drops every cached vault secret.
func (v *Validator) flushVault() {
	v.vault.clear()
}
