package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tokengate/tokengate/token"
)

// TestVaultKeyFileCreatedOnceAndReused: the first start writes a random
// 32-byte key (base64, mode 0600) beside the store, later starts read the
// same key, and the file is never rewritten.
func TestVaultKeyFileCreatedOnceAndReused(t *testing.T) {
	store := filepath.Join(t.TempDir(), "data", "tokengate.db") // ./data does not exist yet
	core, logs := observer.New(zapcore.InfoLevel)
	logger := zap.New(core)

	key, err := fileVaultKey(store, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != token.VaultKeyLen || bytes.Equal(key, make([]byte, token.VaultKeyLen)) {
		t.Fatalf("generated key: %d bytes, all zero %v", len(key), bytes.Equal(key, make([]byte, token.VaultKeyLen)))
	}
	path := store + ".vaultkey"
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no key file beside the store: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if got := strings.TrimSpace(string(data)); got != base64.StdEncoding.EncodeToString(key) {
		t.Errorf("key file holds %d characters, want the key in base64", len(got))
	}
	if parsed, err := token.ParseVaultKey(string(data)); err != nil || !bytes.Equal(parsed, key) {
		t.Errorf("the file's contents do not work as vault_key: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(store))
	if len(entries) != 1 {
		t.Errorf("store directory holds %d entries, want only the key file (no temporary left behind)", len(entries))
	}

	again, err := fileVaultKey(store, false, logger)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("second start: %v, same key %v", err, bytes.Equal(again, key))
	}
	if data2, _ := os.ReadFile(path); !bytes.Equal(data2, data) {
		t.Error("the key file was rewritten")
	}

	// Logged once per process, as a warning with the advice, never the key.
	if logs.Len() != 1 {
		t.Fatalf("%d log lines, want one for the whole process", logs.Len())
	}
	e := logs.All()[0]
	if e.Level != zapcore.WarnLevel || !strings.Contains(e.Message, "vault_key") || !strings.Contains(e.Message, "production") {
		t.Errorf("log line %v %q, want a warning that advises vault_key in production", e.Level, e.Message)
	}
	line, _ := json.Marshal(e.ContextMap())
	for _, s := range []string{string(data), strings.TrimSpace(string(data))} {
		if strings.Contains(e.Message+string(line), s) {
			t.Error("the log line contains the key")
		}
	}
	if e.ContextMap()["file"] != path {
		t.Errorf("log line names file %v, want %s", e.ContextMap()["file"], path)
	}
}

// TestVaultKeyFileConcurrent: starts racing on a missing file agree on one
// key, and exactly one of them writes it.
func TestVaultKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db.vaultkey")
	const n = 16
	keys := make([][]byte, n)
	createdBy := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], createdBy[i], errs[i] = loadOrCreateVaultKeyFile(path)
		}()
	}
	wg.Wait()
	writers := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("start %d got another key", i)
		}
		if createdBy[i] {
			writers++
		}
	}
	if writers != 1 {
		t.Errorf("%d starts report writing the file, want 1", writers)
	}
}

// TestVaultKeyFileBad: a damaged key file fails the start with its path
// named, is never replaced, and the error does not echo its contents.
func TestVaultKeyFileBad(t *testing.T) {
	for name, content := range map[string]string{
		"empty":     "",
		"short":     base64.StdEncoding.EncodeToString([]byte("only-16-bytes-of")),
		"not a key": "correct horse battery staple secret-ish",
		"huge":      strings.Repeat("A", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "t.db")
			path := VaultKeyFile(store)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, checkOnly := range []bool{false, true} {
				_, err := fileVaultKey(store, checkOnly, zap.NewNop())
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("checkOnly %v: err %v, want one naming %s", checkOnly, err, path)
				}
				if len(content) > 8 && strings.Contains(err.Error(), content[:8]) {
					t.Errorf("the error echoes the file's contents: %v", err)
				}
			}
			if got, _ := os.ReadFile(path); string(got) != content {
				t.Error("the damaged key file was replaced")
			}
		})
	}
}

// TestVaultKeyFileCheckOnly: checking a config (`tokengate validate`)
// creates no key file but reads an existing one.
func TestVaultKeyFileCheckOnly(t *testing.T) {
	store := filepath.Join(t.TempDir(), "data", "t.db")
	key, err := fileVaultKey(store, true, zap.NewNop())
	if err != nil || len(key) != token.VaultKeyLen {
		t.Fatalf("check only, no file: %d-byte key, %v", len(key), err)
	}
	if _, err := os.Stat(filepath.Dir(store)); !os.IsNotExist(err) {
		t.Fatalf("check only created %s (or its directory): %v", VaultKeyFile(store), err)
	}
	want, err := fileVaultKey(store, false, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fileVaultKey(store, true, zap.NewNop()); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("check only with a file: %v, same key %v", err, bytes.Equal(got, want))
	}
}

// TestAppVaultWithoutKey: the embedded store without vault_key gets the
// vault from the key file; vault_key wins over it (no file is written);
// Postgres without vault_key leaves the vault off and refuses vault_kind.
func TestAppVaultWithoutKey(t *testing.T) {
	dir := t.TempDir()
	path, _ := json.Marshal(filepath.Join(dir, "t.db"))
	a := provisionApp(t, `{"store":{"type":"bolt","path":`+string(path)+`}}`)
	if a.Sealer() == nil || len(a.VaultKindIDs()) != 1 || a.VaultKindIDs()[0] != "jira" {
		t.Fatalf("bolt without vault_key: sealer %v, kinds %v; want the vault on with jira", a.Sealer() != nil, a.VaultKindIDs())
	}
	if _, err := os.Stat(filepath.Join(dir, "t.db.vaultkey")); err != nil {
		t.Fatalf("no key file beside the store: %v", err)
	}

	dir2 := t.TempDir()
	path2, _ := json.Marshal(filepath.Join(dir2, "t.db"))
	b := provisionApp(t, `{"store":{"type":"bolt","path":`+string(path2)+`},"vault_key":"`+strings.Repeat("ab", 32)+`"}`)
	if b.Sealer() == nil {
		t.Fatal("vault_key set: the vault is off")
	}
	if _, err := os.Stat(filepath.Join(dir2, "t.db.vaultkey")); !os.IsNotExist(err) {
		t.Errorf("vault_key set, yet a key file was written: %v", err)
	}

	pg := &App{Store: StoreConfig{Type: "postgres", DSN: "postgres://x"}}
	if s, err := pg.vaultSealer(nil, "postgres", "postgres://x"); s != nil || err != nil {
		t.Errorf("postgres without vault_key: sealer %v, err %v; want the vault off", s != nil, err)
	}
	pg.VaultKinds = []token.VaultKind{{ID: "jira", Label: "Jira"}}
	if _, err := pg.vaultSealer(nil, "postgres", "postgres://x"); err == nil || !strings.Contains(err.Error(), "needs vault_key") {
		t.Errorf("postgres, vault_kind without vault_key: %v, want needs vault_key", err)
	}
}
