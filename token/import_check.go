package token

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"slices"
)

// rowState is what the check of an import found for one row.
type rowState uint8

const (
	entryNew      rowState = iota // to be imported
	entryConflict                 // the store holds the digest; not yet classified
	entryAlready                  // imported before: a legacy token of the same owner
)

// importEntry is one row of an import file as the check keeps it: 48 bytes.
type importEntry struct {
	d     Digest
	owner uint64 // maphash of the owner, seeded per run
	line  int32
	state rowState
}

// importSet is the digest set of an import file, sorted by digest.
type importSet struct {
	entries []importEntry
	seed    maphash.Seed
	already int
}

// Bounds of the store check.
const (
	// maxRowsHint bounds the digest set allocated ahead (800 MB); a larger
	// file grows it as it is read.
	maxRowsHint = 1 << 24
	// importScanPage is the page size of that pass.
	importScanPage = 1000
)

// importLookups is up to how many digests the store holds already are
// looked up one by one; more are classified in one pass over the store's
// tokens (a re-run after a large interrupted import). A variable for tests.
var importLookups = 1000

// checkImportFile reads every row of r, validates it and returns the
// file's digest set, or the error of the first bad line in file order.
// rows (see countLines) sizes the set, so that it is not copied as it grows.
func checkImportFile(r io.Reader, rows int) (*importSet, error) {
	set := &importSet{seed: maphash.MakeSeed(), entries: make([]importEntry, 0, min(rows, maxRowsHint))}
	ir := newImportReader(r)
	var rowErr error
	for {
		row, err := ir.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && row.Line > math.MaxInt32 {
			err = inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: the file has too many lines", row.Line))
		}
		if err != nil {
			rowErr = err // every row kept so far comes before it
			break
		}
		t, err := checkRow(row)
		if err != nil {
			rowErr = inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: %s", row.Line, err.Error()))
			break
		}
		set.entries = append(set.entries, importEntry{d: t.Digest, owner: maphash.String(set.seed, t.Owner), line: int32(row.Line)})
	}
	slices.SortFunc(set.entries, func(a, b importEntry) int {
		if c := bytes.Compare(a.d[:], b.d[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.line, b.line)
	})
	var dup, first int32 = math.MaxInt32, 0
	for i := 1; i < len(set.entries); i++ {
		if set.entries[i].d == set.entries[i-1].d && set.entries[i].line < dup {
			dup = set.entries[i].line
			first = set.entries[i-1].line
			for j := i - 1; j > 0 && set.entries[j-1].d == set.entries[i].d; j-- {
				first = set.entries[j-1].line
			}
		}
	}
	switch {
	case dup != math.MaxInt32:
		return nil, inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: token: the same token as on line %d", dup, first))
	case rowErr != nil:
		return nil, rowErr
	case len(set.entries) == 0:
		return nil, errNoImportRows
	}
	return set, nil
}

// find returns the entry of d, or nil.
func (set *importSet) find(d Digest) *importEntry {
	i, ok := slices.BinarySearchFunc(set.entries, d, func(e importEntry, d Digest) int { return bytes.Compare(e.d[:], d[:]) })
	if !ok {
		return nil
	}
	return &set.entries[i]
}

// checkStore marks the rows whose digest the store holds: as imported
// before when the token is a legacy token of the same owner, else it
// returns ErrDuplicate naming the first such line.
func (set *importSet) checkStore(ctx context.Context, store Store) error {
	conflicts := 0
	if _, err := store.Digests(ctx, "", func(d Digest) {
		if e := set.find(d); e != nil && e.state == entryNew {
			e.state = entryConflict
			conflicts++
		}
	}); err != nil {
		return fmt.Errorf("checking the import against the store's digests: %w", err)
	}
	if conflicts == 0 {
		return nil
	}
	bad := &importClash{line: math.MaxInt32}
	if conflicts > importLookups {
		if err := set.scanStore(ctx, store, bad); err != nil {
			return err
		}
	}
	for i := range set.entries { // the few left, and revoked tokens
		e := &set.entries[i]
		if e.state != entryConflict {
			continue
		}
		t, err := store.ByDigest(ctx, e.d)
		if err != nil {
			return fmt.Errorf("import line %d: looking up the token in the store: %w", e.line, err)
		}
		set.classify(e, t, bad)
	}
	if bad.line != math.MaxInt32 {
		return fmt.Errorf("import line %d: token: the store holds it already as %s: %w", bad.line, bad.what, ErrDuplicate)
	}
	return nil
}

// scanStore classifies the conflicts that are unrevoked tokens in one
// pass over the store's tokens, a page at a time.
func (set *importSet) scanStore(ctx context.Context, store Store, bad *importClash) error {
	for after := ""; ; {
		ts, next, err := store.ListPage(ctx, "", importScanPage, after)
		if err != nil {
			return fmt.Errorf("checking the import against the store's tokens: %w", err)
		}
		for _, t := range ts {
			if e := set.find(t.Digest); e != nil && e.state == entryConflict {
				set.classify(e, t, bad)
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// importClash is the first row (in file order) whose digest belongs to a
// token it cannot have been imported as.
type importClash struct {
	line int32
	what string
}

// classify decides on e, whose digest the store holds as t.
func (set *importSet) classify(e *importEntry, t Token, bad *importClash) {
	if t.Legacy() && maphash.String(set.seed, t.Owner) == e.owner {
		e.state = entryAlready
		set.already++
		return
	}
	e.state = entryNew // reported, not skipped
	if e.line < bad.line {
		bad.line = e.line
		bad.what = "a token created on the token page"
		if t.Legacy() {
			bad.what = "a legacy token of another owner"
		}
	}
}

// countLines returns how many lines of r hold anything: at least as many as
// it has rows (a quoted field may span lines), read in a few milliseconds a
// megabyte.
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n, empty := 0, true
	for {
		k, err := r.Read(buf)
		for _, c := range buf[:k] {
			switch {
			case c == '\n':
				empty = true
			case empty && c != '\r':
				empty = false
				n++
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading the import file: %w", err)
		}
	}
}

// rewind seeks src back to its start.
func rewind(src io.Seeker) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding the import file: %w", err)
	}
	return nil
}
