package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

// The generated vault key file.
//
// With the embedded store and no vault_key, the app keeps the vault key in a
// file beside the store (VaultKeyFile), generated on first start so the
// quickstart shows "Other tokens" without manual steps. Production sets
// vault_key from a secret; with Postgres the key is never generated, since
// every instance sharing the database needs the same one.
//
// The file holds the key in base64 (one line), so an operator moving to
// vault_key can put its contents in the secret and keep the credentials
// already stored readable. It is written once (mode 0600, never replaced),
// read on every later start, and never logged. `caddy validate` reads it
// when it exists and creates nothing.

// VaultKeyFileSuffix is appended to the bolt store's path to name the
// generated vault key file.
const VaultKeyFileSuffix = ".vaultkey"

// maxVaultKeyFile bounds how much of a vault key file is read.
const maxVaultKeyFile = 1024

// VaultKeyFile returns the path of the vault key file generated beside the
// bolt store at storePath.
func VaultKeyFile(storePath string) string { return storePath + VaultKeyFileSuffix }

// vaultKeyLogged holds the key file paths already logged by this process,
// so that config reloads do not repeat the advice.
var vaultKeyLogged sync.Map

// fileVaultKey returns the vault key of the bolt store at storePath from its
// key file, generating the file when it does not exist. When the config is
// only checked (checkOnly, see CheckConfigOnly) a missing file is not
// created and a zero key stands in: nothing is sealed in that mode.
func fileVaultKey(storePath string, checkOnly bool, logger *zap.Logger) ([]byte, error) {
	path := VaultKeyFile(storePath)
	if checkOnly {
		key, err := readVaultKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return make([]byte, token.VaultKeyLen), nil
		}
		return key, err
	}
	key, created, err := loadOrCreateVaultKeyFile(path)
	if err != nil {
		return nil, err
	}
	if _, seen := vaultKeyLogged.LoadOrStore(path, true); !seen && logger != nil {
		const advice = "in production set vault_key from a secret (e.g. vault_key {env.TOKENGATE_VAULT_KEY}); to keep the credentials already stored, use this file's contents as the secret"
		if created {
			logger.Warn("generated a vault key file beside the store for other tokens (no vault_key configured); "+advice, zap.String("file", path))
		} else {
			logger.Info("vault key from the file beside the store (no vault_key configured); "+advice, zap.String("file", path))
		}
	}
	return key, nil
}

// loadOrCreateVaultKeyFile returns the key in the file at path, first
// generating it (a random key, mode 0600) when no file exists; created
// reports whether this call wrote it. A file that another process creates
// concurrently is read, never replaced.
func loadOrCreateVaultKeyFile(path string) (key []byte, created bool, err error) {
	key, err = readVaultKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = make([]byte, token.VaultKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("tokengate: vault key file: generating a key: %w", err)
	}
	switch err := writeNewFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n")); {
	case err == nil:
		return key, true, nil
	case errors.Is(err, fs.ErrExist):
		key, err = readVaultKeyFile(path)
		return key, false, err
	default:
		return nil, false, fmt.Errorf("tokengate: vault key file %s: %w (or set vault_key)", path, err)
	}
}

// readVaultKeyFile reads and decodes the key file at path; a missing file
// is an error that wraps fs.ErrNotExist. Errors never contain the key.
func readVaultKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("tokengate: vault key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxVaultKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("tokengate: vault key file %s: %w", path, err)
	}
	if len(data) > maxVaultKeyFile {
		return nil, fmt.Errorf("tokengate: vault key file %s: larger than %d bytes, not a key file", path, maxVaultKeyFile)
	}
	key, err := token.ParseVaultKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("tokengate: vault key file %s: %w (restore the file from a backup; deleting it makes the stored credentials unreadable)", path, err)
	}
	return key, nil
}

// writeNewFile writes data to a new file at path with mode 0600, all at
// once: it is written and synced under a temporary name, then linked into
// place, so no reader ever sees a partial file. An existing file is left
// alone and the error wraps fs.ErrExist. Where hard links are not
// supported it falls back to an exclusive create.
func writeNewFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeSyncClose(tmp, data); err != nil {
		return err
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if err := writeSyncClose(f, data); err != nil {
			os.Remove(path)
			return err
		}
	}
	syncDir(dir)
	return nil
}

// writeSyncClose writes data to f, syncs and closes it.
func writeSyncClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// syncDir makes a new directory entry durable where the platform allows it.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
