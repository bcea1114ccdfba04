package token_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/token"
)

func vaultKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, token.VaultKeyLen)
	if _, err := rand.Read(key); err != nil {
		t.Fatalf("reading a key: %v", err)
	}
	return key
}

func vaultSealer(t *testing.T, key []byte) *token.Sealer {
	t.Helper()
	s, err := token.NewSealer(key)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func mustSeal(t *testing.T, s *token.Sealer, owner, kind, secret string) []byte {
	t.Helper()
	ct, err := s.Seal(owner, kind, secret)
	if err != nil {
		t.Fatalf("Seal(%s, %s): %v", owner, kind, err)
	}
	return ct
}

func TestSealerRoundTrip(t *testing.T) {
	s := vaultSealer(t, vaultKey(t))
	for _, secret := range []string{"ATATT3xFfGF0-a-jira-token", "ü–€ unicode ✓", strings.Repeat("x", token.MaxVaultSecretLen)} {
		ct := mustSeal(t, s, "alice", "jira", secret)
		if want := 24 + len(secret) + 16; len(ct) != want {
			t.Errorf("ciphertext of a %d-byte secret is %d bytes, want %d (nonce + sealed + tag)", len(secret), len(ct), want)
		}
		if bytes.Contains(ct, []byte(secret)) {
			t.Errorf("ciphertext contains the plaintext")
		}
		got, err := s.Open("alice", "jira", ct)
		if err != nil || got != secret {
			t.Errorf("Open = %v (round trip ok: %v)", err, got == secret)
		}
	}
	// Another Sealer with the same key opens it too (the key is all it needs).
	key := vaultKey(t)
	ct := mustSeal(t, vaultSealer(t, key), "alice", "jira", "same-key-secret")
	if got, err := vaultSealer(t, key).Open("alice", "jira", ct); err != nil || got != "same-key-secret" {
		t.Errorf("Open with a second Sealer of the same key: %v", err)
	}
}

func TestSealerFreshNonce(t *testing.T) {
	s := vaultSealer(t, vaultKey(t))
	a := mustSeal(t, s, "alice", "jira", "the-same-secret")
	b := mustSeal(t, s, "alice", "jira", "the-same-secret")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one secret are equal")
	}
	if bytes.Equal(a[:24], b[:24]) {
		t.Error("two seals share a nonce")
	}
	for i, ct := range [][]byte{a, b} {
		if got, err := s.Open("alice", "jira", ct); err != nil || got != "the-same-secret" {
			t.Errorf("Open(seal %d): %v", i, err)
		}
	}
}

func TestSealerOpenFails(t *testing.T) {
	const secret = "do-not-leak-this-secret"
	s := vaultSealer(t, vaultKey(t))
	ct := mustSeal(t, s, "alice", "jira", secret)
	check := func(what string, got string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: Open succeeded, want an error", what)
			return
		}
		if got != "" || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: Open returned plaintext or leaked it in %q", what, err)
		}
	}
	got, err := vaultSealer(t, vaultKey(t)).Open("alice", "jira", ct)
	check("wrong key", got, err)
	got, err = s.Open("bob", "jira", ct)
	check("moved to bob", got, err)
	got, err = s.Open("alice", "tempo", ct)
	check("moved to another kind", got, err)
	// The owner/kind boundary is part of the binding: ("alic", "ejira") is not ("alice", "jira").
	got, err = s.Open("alic", "ejira", ct)
	check("shifted owner/kind boundary", got, err)
	for i := range ct { // every byte: nonce, body and tag
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		got, err = s.Open("alice", "jira", bad)
		check("flipped byte", got, err)
	}
	for _, n := range []int{0, 1, 23, 24, 39, len(ct) - 1} {
		got, err = s.Open("alice", "jira", ct[:n])
		check("truncated", got, err)
	}
	got, err = s.Open("alice", "jira", append(bytes.Clone(ct), 0))
	check("extended", got, err)
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := token.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer(%d-byte key) succeeded, want an error", n)
		}
	}
}

func TestParseVaultKey(t *testing.T) {
	key := vaultKey(t)
	forms := map[string]string{
		"hex":             hex.EncodeToString(key),
		"upper hex":       strings.ToUpper(hex.EncodeToString(key)),
		"std padded":      base64.StdEncoding.EncodeToString(key),
		"std raw":         base64.RawStdEncoding.EncodeToString(key),
		"url padded":      base64.URLEncoding.EncodeToString(key),
		"url raw":         base64.RawURLEncoding.EncodeToString(key),
		"with whitespace": " " + base64.StdEncoding.EncodeToString(key) + "\n",
	}
	for what, s := range forms {
		got, err := token.ParseVaultKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseVaultKey(%s) = %x, %v; want the key", what, got, err)
		}
	}
	// A key whose base64 needs '+' or '/' (std) and '-' or '_' (url).
	special := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		if got, err := token.ParseVaultKey(enc.EncodeToString(special)); err != nil || !bytes.Equal(got, special) {
			t.Errorf("ParseVaultKey(%q) = %x, %v", enc.EncodeToString(special), got, err)
		}
	}

	other := func(n int) []byte { return bytes.Repeat([]byte{0xa7}, n) }
	bad := map[string]string{
		"empty":           "",
		"blank":           "   \t",
		"16 bytes b64":    base64.StdEncoding.EncodeToString(other(16)),
		"31 bytes b64":    base64.RawStdEncoding.EncodeToString(other(31)),
		"33 bytes b64":    base64.StdEncoding.EncodeToString(other(33)),
		"48 bytes b64":    base64.StdEncoding.EncodeToString(other(48)),
		"31 bytes hex":    hex.EncodeToString(other(31)),
		"33 bytes hex":    hex.EncodeToString(other(33)),
		"64 non-hex":      strings.Repeat("zq", 32),
		"junk":            "this is not a vault key!",
		"hex with junk":   hex.EncodeToString(key)[:62] + "!!",
		"b64 inner space": base64.StdEncoding.EncodeToString(key)[:20] + " " + base64.StdEncoding.EncodeToString(key)[20:],
	}
	for what, s := range bad {
		got, err := token.ParseVaultKey(s)
		var ie *token.InputError
		if err == nil || !errors.Is(err, token.ErrInvalidInput) || !errors.As(err, &ie) {
			t.Errorf("ParseVaultKey(%s) = %x, %v; want an InputError of kind ErrInvalidInput", what, got, err)
			continue
		}
		if trimmed := strings.TrimSpace(s); trimmed != "" && strings.Contains(err.Error(), trimmed) {
			t.Errorf("ParseVaultKey(%s): the error %q echoes the key", what, err)
		}
		if !strings.Contains(err.Error(), "vault_key") {
			t.Errorf("ParseVaultKey(%s): the error %q does not name vault_key", what, err)
		}
	}
}

func TestNormalizeVaultSecret(t *testing.T) {
	long := strings.Repeat("a", token.MaxVaultSecretLen)
	ok := map[string]string{
		"  ATATT3x-token  ": "ATATT3x-token",
		"tok\n":             "tok", // a pasted trailing newline is trimmed
		"päss wörd ✓":       "päss wörd ✓",
		long:                long,
	}
	for in, want := range ok {
		got, err := token.NormalizeVaultSecret(in)
		if err != nil || got != want {
			t.Errorf("NormalizeVaultSecret(%.20q) = %.20q, %v; want %.20q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"empty":         "",
		"blank":         " \t\r\n ",
		"CR":            "secret-part\rrest",
		"LF":            "secret-part\nrest",
		"tab":           "secret-part\trest",
		"NUL":           "secret-part\x00rest",
		"DEL":           "secret-part\x7frest",
		"too long":      long + "b",
		"invalid UTF-8": "secret-part\xff\xfe",
	}
	for what, in := range bad {
		got, err := token.NormalizeVaultSecret(in)
		if !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("NormalizeVaultSecret(%s) = %.20q, %v; want ErrInvalidInput", what, got, err)
			continue
		}
		if strings.Contains(err.Error(), "secret-part") {
			t.Errorf("NormalizeVaultSecret(%s): the error %q echoes the secret", what, err)
		}
	}
}

func TestValidateVaultKind(t *testing.T) {
	for _, k := range []string{"jira", "a", "tempo-2_x", "a" + strings.Repeat("b", 31)} {
		if err := token.ValidateVaultKind(k); err != nil {
			t.Errorf("ValidateVaultKind(%q): %v", k, err)
		}
	}
	for _, k := range []string{"", "Jira", "1abc", "_x", "ji ra", "a" + strings.Repeat("b", 32), "jira\n"} {
		if err := token.ValidateVaultKind(k); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("ValidateVaultKind(%q) = %v, want ErrInvalidInput", k, err)
		}
	}
}
