package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// TestLegacyCountOfHalfMigratedFile revokes the legacy tokens of a file
// whose legacy bucket was moved into the count only in part: HasLegacy
// stays true until the last one is revoked.
func TestLegacyCountOfHalfMigratedFile(t *testing.T) {
	path, _, _, want := firstFormatFile(t)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := checkFormat(tx, false); err != nil {
			return err
		}
		done, err := drainLegacyBatch(tx, 2)
		if err == nil && done {
			err = fmt.Errorf("the legacy bucket is drained by a batch of 2")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	revokeLegacy(t, &Store{db: db}, want)
}

// revokeLegacy revokes the unrevoked legacy tokens of want one by one,
// checking HasLegacy before each and after the last.
func revokeLegacy(t *testing.T, s *Store, want storeState) {
	t.Helper()
	ctx := context.Background()
	var legacy []string
	for _, tok := range want.Tokens {
		if tok.Legacy() && !tok.Revoked() {
			legacy = append(legacy, tok.ID)
		}
	}
	if len(legacy) < 3 {
		t.Fatalf("the file holds %d unrevoked legacy tokens, want 3 or more", len(legacy))
	}
	for i, id := range legacy {
		if has, err := s.HasLegacy(ctx); err != nil || !has {
			t.Fatalf("HasLegacy with %d legacy tokens left = %v, %v", len(legacy)-i, has, err)
		}
		if _, err := s.Revoke(ctx, id, "", "ops", time.Now()); err != nil {
			t.Fatalf("Revoke(%s): %v", id, err)
		}
	}
	if has, err := s.HasLegacy(ctx); err != nil || has {
		t.Errorf("HasLegacy with every legacy token revoked = %v, %v", has, err)
	}
}

// firstFormatFile writes a file through the store (fillFile), notes what
// the store answers, and downgrades the file to the first format.
func firstFormatFile(t *testing.T) (path string, owners []string, digests []token.Digest, want storeState) {
	path = filepath.Join(t.TempDir(), "tokengate.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	owners, digests = fillFile(t, s)
	want = stateOf(t, s, owners, digests)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	downgrade(t, path)
	return path, owners, digests, want
}

// TestNewerFormatRefused: a file whose format version is newer than this
// build's is not opened (it could not read it), and the error says why.
func TestNewerFormatRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokengate.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bMeta).Put(metaFormat, []byte{fileFormat + 1}) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a file in a newer format succeeded")
	}
	if want := fmt.Sprintf("the file is in format %d, written by a newer tokengate (this one reads up to %d)", fileFormat+1, fileFormat); !strings.Contains(err.Error(), want) {
		t.Errorf("Open error = %q, want it to say %q", err, want)
	}
}
