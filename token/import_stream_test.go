package token_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
	"github.com/tokengate/tokengate/token/postgres"
	"github.com/tokengate/tokengate/token/storetest"
)

// importStores opens a fresh store of each kind: a bolt file and a
// Postgres database (skipped without a server, never in CI).
var importStores = map[string]func(testing.TB) token.Store{
	"bolt": func(tb testing.TB) token.Store {
		st, err := bolt.Open(filepath.Join(tb.TempDir(), "tokens.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	},
	"postgres": func(tb testing.TB) token.Store {
		st, err := postgres.Open(context.Background(), storetest.PostgresDSN(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	},
}

// importLine is row i of a generated import file: owner o<i%7>, every
// third row given by its digest.
func importLine(i int) string {
	secret := fmt.Sprintf("legacy-secret-%09d", i)
	if i%3 == 0 {
		sum := sha256.Sum256([]byte(secret))
		return fmt.Sprintf("o%d,label %d,sha256:%s\n", i%7, i, hex.EncodeToString(sum[:]))
	}
	return fmt.Sprintf("o%d,label %d,%s\n", i%7, i, secret)
}

func importFile(n int) string {
	var b strings.Builder
	b.WriteString("owner,label,token\n")
	for i := range n {
		b.WriteString(importLine(i))
	}
	return b.String()
}

var importer = token.Operator("importer")

// TestImportCSVResume: an import cancelled after its first chunk keeps
// that chunk; running it again imports the rest and reports the first
// chunk as already there; a third run imports nothing. Every row is then
// present exactly once, with exactly one import event, on both stores.
func TestImportCSVResume(t *testing.T) {
	for name, open := range importStores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			svc := token.NewService(st, token.Policy{}, nil, nil)
			const rows = 25
			file := importFile(rows)
			ctx, cancel := context.WithCancel(context.Background())
			var seen []token.ImportProgress
			r, err := svc.ImportCSV(ctx, importer, strings.NewReader(file), token.ImportOptions{Chunk: 10,
				Progress: func(p token.ImportProgress) { seen = append(seen, p); cancel() }})
			if !errors.Is(err, context.Canceled) || r.Imported != 10 || r.AlreadyThere != 0 {
				t.Fatalf("cancelled run: %+v, %v; want 10 imported and context.Canceled", r, err)
			}
			if len(seen) != 1 || seen[0] != (token.ImportProgress{Imported: 10, ToImport: rows, Chunks: 1}) {
				t.Errorf("progress of the cancelled run: %+v", seen)
			}
			restore := token.SetImportLookups(0) // classified in a pass over the store's tokens
			r, err = svc.ImportCSV(context.Background(), importer, strings.NewReader(file), token.ImportOptions{Chunk: 10})
			restore()
			if err != nil || r != (token.ImportResult{Imported: rows - 10, AlreadyThere: 10}) {
				t.Fatalf("second run: %+v, %v; want 15 imported, 10 already there", r, err)
			}
			r, err = svc.ImportCSV(context.Background(), importer, strings.NewReader(file), token.ImportOptions{}) // looked up one by one
			if err != nil || r != (token.ImportResult{AlreadyThere: rows}) {
				t.Fatalf("third run: %+v, %v; want all already there", r, err)
			}
			checkImported(t, st, rows)
		})
	}
}

// checkImported: rows 0…n-1 of importFile are in st once each, as legacy
// tokens of their owner, with one import event each and no other event.
func checkImported(t *testing.T, st token.Store, n int) {
	t.Helper()
	ctx := context.Background()
	if c, err := st.CountTokens(ctx, ""); err != nil || c != n {
		t.Errorf("CountTokens = %d, %v; want %d", c, err, n)
	}
	ids := map[string]bool{}
	for i := range n {
		tok, err := st.ByDigest(ctx, token.DigestOf(fmt.Sprintf("legacy-secret-%09d", i)))
		if err != nil || tok.Owner != fmt.Sprintf("o%d", i%7) || !tok.Legacy() || tok.Label != fmt.Sprintf("label %d", i) {
			t.Errorf("row %d: %+v, %v", i, tok, err)
		}
		ids[tok.ID] = true
	}
	events := 0
	for before := ""; ; {
		es, next, err := st.HistoryPage(ctx, "", 100, before)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			events++
			if e.Kind != token.EventImport || !ids[e.TokenID] || e.Actor != importer.Name() {
				t.Errorf("event %+v: want one import event per imported token", e)
			}
			delete(ids, e.TokenID) // a second event for it fails above
		}
		if next == "" {
			break
		}
		before = next
	}
	if events != n {
		t.Errorf("%d events, want %d", events, n)
	}
}

// TestImportCSVClashes: a digest the store holds as another owner's legacy
// token or as a token created on the page is ErrDuplicate naming the first
// such line, and nothing is written; a revoked legacy token of the same
// owner counts as already there and stays revoked. Both ways of
// classifying: looked up one by one, and in a pass over the store's tokens
// (which lists no revoked token: those are looked up after it).
func TestImportCSVClashes(t *testing.T) {
	for _, lookups := range []int{1000, 0} {
		t.Run(fmt.Sprintf("lookups=%d", lookups), func(t *testing.T) {
			defer token.SetImportLookups(lookups)()
			testImportCSVClashes(t)
		})
	}
}

func testImportCSVClashes(t *testing.T) {
	for name, open := range importStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			svc := token.NewService(st, token.Policy{}, nil, nil)
			created, err := svc.Create(ctx, "o1", "page", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.ImportCSV(ctx, importer, strings.NewReader(importLine(0)+importLine(5)), token.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			five, err := st.ByDigest(ctx, token.DigestOf("legacy-secret-000000005"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.AdminRevoke(ctx, importer, five.ID); err != nil {
				t.Fatal(err)
			}
			for what, c := range map[string]struct{ file, want string }{
				"another owner's legacy token": {importLine(1) + importLine(2) + "bob,x,legacy-secret-000000000\n" + importLine(4),
					"import line 3: token: the store holds it already as a legacy token of another owner"},
				"a created token": {importLine(1) + importLine(2) + importLine(3) + "o1,x," + created.Secret + "\n" + "bob,x,legacy-secret-000000000\n",
					"import line 4: token: the store holds it already as a token created on the token page"},
			} {
				r, err := svc.ImportCSV(ctx, importer, strings.NewReader(c.file), token.ImportOptions{Chunk: 1})
				if !errors.Is(err, token.ErrDuplicate) || !strings.Contains(err.Error(), c.want) || r != (token.ImportResult{}) {
					t.Errorf("%s: %+v, %v; want ErrDuplicate %q", what, r, err, c.want)
				}
			}
			if n, err := st.CountTokens(ctx, ""); err != nil || n != 2 {
				t.Errorf("CountTokens = %d, %v; want the created token and row 0 only", n, err)
			}
			r, err := svc.ImportCSV(ctx, importer, strings.NewReader(importLine(5)+importLine(6)), token.ImportOptions{})
			if err != nil || r != (token.ImportResult{Imported: 1, AlreadyThere: 1}) {
				t.Errorf("a revoked legacy token of the same owner: %+v, %v; want it already there", r, err)
			}
			if tok, err := st.ByDigest(ctx, five.Digest); err != nil || !tok.Revoked() || tok.ID != five.ID {
				t.Errorf("revoked row 5 after the re-run: %+v, %v; want it still revoked", tok, err)
			}
		})
	}
}

// TestImportCSVRefusesBadFiles: the first bad line in file order is
// named with its field, and nothing is written.
func TestImportCSVRefusesBadFiles(t *testing.T) {
	st := importStores["bolt"](t)
	svc := token.NewService(st, token.Policy{}, nil, nil)
	ctx := context.Background()
	for file, want := range map[string]string{
		"":                    "import file has no tokens",
		"owner,label,token\n": "import file has no tokens",
		importLine(1) + ",x,y-0123456789012345\n":                                                                       "import line 2: owner:",
		importLine(1) + "a,,y-0123456789012345\n":                                                                       "import line 2: label:",
		importLine(1) + "a,x,short\n":                                                                                   "import line 2: token: too short",
		importLine(1) + "a,x,sha256:abc\n":                                                                              "import line 2: token:",
		importLine(1) + importLine(2) + "bob,x,\"y\n":                                                                   "import line 3",
		importLine(1) + importLine(2) + importLine(1) + "a,x,short\n":                                                   "import line 3: token: the same token as on line 1",
		importLine(1) + importLine(2) + "a,x,short\n" + importLine(1):                                                   "import line 3: token: too short",
		importLine(1) + importLine(2) + importLine(2) + importLine(1):                                                   "import line 3: token: the same token as on line 2",
		importLine(3) + importLine(1) + "b,y,legacy-secret-000000003\n":                                                 "import line 3: token: the same token as on line 1",
		strings.Repeat(importLine(4), 3):                                                                                "import line 2: token: the same token as on line 1",
		importLine(1) + "b,y,sha256:" + strings.Repeat("A", 64) + "\n" + "c,y,sha256:" + strings.Repeat("a", 64) + "\n": "import line 3: token: the same token as on line 2",
	} {
		r, err := svc.ImportCSV(ctx, importer, strings.NewReader(file), token.ImportOptions{Chunk: 1})
		if !errors.Is(err, token.ErrInvalidInput) || !strings.Contains(err.Error(), want) || r != (token.ImportResult{}) {
			t.Errorf("%q: %+v, %v; want an input error containing %q", file, r, err, want)
		}
	}
	if n, err := st.CountTokens(ctx, ""); err != nil || n != 0 {
		t.Errorf("CountTokens = %d, %v; want nothing written", n, err)
	}
	if _, err := svc.ImportCSV(ctx, token.Person("alice"), strings.NewReader(importLine(1)), token.ImportOptions{}); !errors.Is(err, token.ErrForbidden) {
		t.Errorf("a person importing: %v, want ErrForbidden", err)
	}
	if _, err := svc.ImportCSV(ctx, importer, strings.NewReader(importLine(1)), token.ImportOptions{Chunk: token.MaxImportChunk + 1}); !errors.Is(err, token.ErrInvalidInput) {
		t.Errorf("chunk too large: %v, want ErrInvalidInput", err)
	}
}

// changingFile reads as its first content until it has been read to the
// end twice (ImportCSV counts its lines, then checks it), then as second.
type changingFile struct {
	*strings.Reader
	second string
	ends   int
}

func (f *changingFile) Read(p []byte) (int, error) {
	n, err := f.Reader.Read(p)
	if errors.Is(err, io.EOF) {
		f.ends++
	}
	return n, err
}

func (f *changingFile) Seek(off int64, whence int) (int64, error) {
	if f.ends == 2 {
		f.Reader = strings.NewReader(f.second)
	}
	return f.Reader.Seek(off, whence)
}

// TestImportCSVFileChanged: a row the check did not see stops the write
// with an error naming its line; the chunks before it stay.
func TestImportCSVFileChanged(t *testing.T) {
	st := importStores["bolt"](t)
	svc := token.NewService(st, token.Policy{}, nil, nil)
	f := &changingFile{Reader: strings.NewReader(importLine(1) + importLine(2) + importLine(3)),
		second: importLine(1) + importLine(2) + importLine(4)}
	r, err := svc.ImportCSV(context.Background(), importer, f, token.ImportOptions{Chunk: 2})
	if err == nil || !strings.Contains(err.Error(), "import line 3: the import file changed since it was checked") || r.Imported != 2 {
		t.Errorf("changed file: %+v, %v; want 2 imported, then line 3 refused", r, err)
	}
}
