package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
)

// The vault keeps the upstream credentials a person stores for the export
// backend to use on their behalf (a Jira API token, tokens of Jira apps),
// encrypted at rest with XChaCha20-Poly1305. They are injected into that
// person's proxied requests only and never shown again in full.

// ErrVaultDisabled: no vault key is configured.
var ErrVaultDisabled = errors.New("the vault is not configured (no vault_key)")

// VaultKeyLen is the length of the vault key in bytes.
const VaultKeyLen = chacha20poly1305.KeySize

// MaxVaultSecretLen bounds a stored credential, in bytes.
const MaxVaultSecretLen = 4096

// VaultSecret is one stored credential. Ciphertext is the 24-byte nonce
// followed by the sealed secret; the additional data binds it to its owner
// and kind, so a ciphertext cannot be moved to another person.
type VaultSecret struct {
	Owner      string
	Kind       string
	Ciphertext []byte
	Hint       string // the last 4 characters, for recognition
	UpdatedAt  time.Time
}

// VaultStore persists vault secrets. Every Store implements it; each change
// records an EventVault (Label = kind, Detail "set" or "deleted") in the same
// transaction, and shared stores tell other instances to flush (see Watcher).
type VaultStore interface {
	// PutVaultSecret inserts or replaces the secret of (s.Owner, s.Kind).
	PutVaultSecret(ctx context.Context, s VaultSecret, actor string) error
	// VaultSecret returns the secret of (owner, kind), or ErrNotFound.
	VaultSecret(ctx context.Context, owner, kind string) (VaultSecret, error)
	// VaultSecrets returns owner's secrets ordered by kind.
	VaultSecrets(ctx context.Context, owner string) ([]VaultSecret, error)
	// DeleteVaultSecret removes the secret of (owner, kind), or ErrNotFound.
	DeleteVaultSecret(ctx context.Context, owner, kind, actor string, at time.Time) error
}

// VaultKind is a kind of credential people can store, e.g. {jira, "Jira API token"}.
type VaultKind struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// DefaultVaultKinds apply when a vault key is set but no kinds are configured.
var DefaultVaultKinds = []VaultKind{{ID: "jira", Label: "Jira API token"}}

var vaultKindRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ValidateVaultKind checks a kind id: a lower-case letter, then up to 31
// lower-case letters, digits, '_' or '-'.
func ValidateVaultKind(id string) error {
	if !vaultKindRe.MatchString(id) {
		return inputErr(ErrInvalidInput, fmt.Sprintf("vault kind %q: use a lower-case letter followed by up to 31 of a-z, 0-9, _ or -", truncateForMessage(id)))
	}
	return nil
}

// ParseVaultKey decodes a 32-byte key given as 64 hex characters or as
// base64 (standard or URL alphabet, padded or not). Errors never echo the key.
func ParseVaultKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, inputErr(ErrInvalidInput, "vault_key is empty")
	}
	if len(s) == 2*VaultKeyLen {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != VaultKeyLen {
				return nil, inputErr(ErrInvalidInput, fmt.Sprintf("vault_key decodes to %d bytes; it must be %d (e.g. `openssl rand -base64 32`)", len(k), VaultKeyLen))
			}
			return k, nil
		}
	}
	return nil, inputErr(ErrInvalidInput, fmt.Sprintf("vault_key must be %d bytes in base64 or hex (e.g. `openssl rand -base64 32`)", VaultKeyLen))
}

// Sealer encrypts and decrypts vault secrets with one key.
type Sealer struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
	}
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("vault key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

func vaultAD(owner, kind string) []byte { return []byte("tokengate-vault\x00" + owner + "\x00" + kind) }

// Seal encrypts secret for (owner, kind) with a fresh random nonce.
func (s *Sealer) Seal(owner, kind, secret string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("vault nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), vaultAD(owner, kind)), nil
}

// Open decrypts a ciphertext made by Seal for (owner, kind). A wrong key, a
// tampered ciphertext or another owner's or kind's ciphertext fails.
func (s *Sealer) Open(owner, kind string, ciphertext []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n {
		return "", errors.New("vault: ciphertext too short")
	}
	pt, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], vaultAD(owner, kind))
	if err != nil {
		return "", errors.New("vault: cannot decrypt (wrong vault_key, or the data was altered)")
	}
	return string(pt), nil
}

// vaultHint returns the last HintLen characters of a vault secret, for
// recognition, or "" when the secret has fewer than 3*HintLen characters: a
// hint must not give away most (or all) of a short credential. Unlike
// HintOf it never splits a multi-byte character (the hint is valid UTF-8).
func vaultHint(secret string) string {
	if utf8.RuneCountInString(secret) < 3*HintLen {
		return ""
	}
	i := len(secret)
	for range HintLen {
		_, size := utf8.DecodeLastRuneInString(secret[:i])
		i -= size
	}
	return secret[i:]
}

// NormalizeVaultSecret trims a credential and checks it can travel in an
// HTTP header: 1–MaxVaultSecretLen bytes of UTF-8 without control characters.
func NormalizeVaultSecret(secret string) (string, error) {
	secret = strings.TrimSpace(secret)
	switch {
	case secret == "":
		return "", inputErr(ErrInvalidInput, "secret is required: paste the token you created in Jira or the app")
	case len(secret) > MaxVaultSecretLen:
		return "", inputErr(ErrInvalidInput, fmt.Sprintf("secret is %d bytes long; at most %d are allowed", len(secret), MaxVaultSecretLen))
	case !utf8.ValidString(secret):
		return "", inputErr(ErrInvalidInput, "secret is not valid UTF-8")
	}
	for _, r := range secret {
		if r < 0x20 || r == 0x7f {
			return "", inputErr(ErrInvalidInput, "secret must not contain control characters (tabs, line breaks)")
		}
	}
	return secret, nil
}
