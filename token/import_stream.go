package token

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Bounds of a streamed import's chunks.
const (
	// DefaultImportChunk is how many rows one import transaction writes
	// when ImportOptions.Chunk is zero.
	DefaultImportChunk = 10000
	// MaxImportChunk is the largest ImportOptions.Chunk accepted.
	MaxImportChunk = 100000
)

// ImportChunker is implemented by stores whose import transactions should
// hold fewer rows than DefaultImportChunk: ImportCSV's default chunk is
// then ImportChunk().
type ImportChunker interface {
	ImportChunk() int
}

// ImportOptions tunes ImportCSV. The zero value is the default.
type ImportOptions struct {
	// Chunk is how many rows one Store.Import transaction writes (0:
	// DefaultImportChunk, or the store's ImportChunk; at most MaxImportChunk). Memory grows with it,
	// not with the file (but for the digest set of the check, see ImportCSV).
	Chunk int
	// Progress, if set, is called after every committed chunk, from the
	// calling goroutine. Cancelling the context from it stops the run
	// before the next chunk.
	Progress func(ImportProgress)
}

// ImportProgress is the state of an import run after a committed chunk.
type ImportProgress struct {
	// Imported is how many tokens the run has written so far.
	Imported int
	// AlreadyThere is how many rows the run skips because an earlier run
	// imported them (the same digest as a legacy token of the same owner).
	AlreadyThere int
	// ToImport is how many rows the run writes in all (known after the check).
	ToImport int
	// Chunks is how many chunks have committed.
	Chunks int
}

// ImportResult is what an import run did.
type ImportResult struct {
	// Imported is how many tokens this run wrote (before an error).
	Imported int
	// AlreadyThere is how many rows were skipped as imported before.
	AlreadyThere int
}

// ImportCSV imports the legacy tokens of a CSV file (see ParseImportCSV for
// its format) in two passes over src, each from its start, with memory
// flat in the rows but for one digest set:
//
//  1. The check reads every row, validates it (owner, label, token) and
//     keeps its digest (about 48 bytes a row: 48 MB for a million), then
//     finds digests given twice in the file and, in one pass over the
//     store's digests, those the store holds already. Any error — the
//     first in file order, naming the line and the field — and nothing is
//     written.
//  2. The write seeks src back to its start, reads the rows again and
//     imports them in chunks of opts.Chunk rows, each one Store.Import
//     transaction (all or nothing) with one import event per token, all
//     with one time for the run; cached negative results are dropped after
//     every chunk and progress is reported. The IDs of one run ascend (see
//     newImportIDs), so stores append them to their ID index instead of
//     touching a random page of it per row.
//
// An interrupted run (a cancelled context, an unreachable store) keeps the
// chunks that committed and returns how many tokens they hold with the
// error. Running it again with the same file finishes the job: a row whose
// digest the store holds as a legacy token of the same owner (revoked or
// not: a revoked one is not brought back) counts as AlreadyThere and is
// skipped; a digest of any other token is ErrDuplicate, naming the line.
// Owners are compared by a 64-bit hash with a seed chosen per run. If the
// file changes between the passes, the write stops at the first row the
// check did not see, with an error.
func (s *Service) ImportCSV(ctx context.Context, actor Actor, src io.ReadSeeker, opts ImportOptions) (ImportResult, error) {
	if err := s.authorize(actor, "import legacy tokens"); err != nil {
		return ImportResult{}, err
	}
	def := DefaultImportChunk
	if c, ok := s.store.(ImportChunker); ok {
		def = c.ImportChunk()
	}
	chunk, err := sizeOption("chunk", opts.Chunk, def, MaxImportChunk)
	if err != nil {
		return ImportResult{}, err
	}
	if err := rewind(src); err != nil {
		return ImportResult{}, err
	}
	rows, err := countLines(src)
	if err != nil {
		return ImportResult{}, err
	}
	if err := rewind(src); err != nil {
		return ImportResult{}, err
	}
	set, err := checkImportFile(src, rows)
	if err != nil {
		return ImportResult{}, err
	}
	if err := set.checkStore(ctx, s.store); err != nil {
		return ImportResult{}, err
	}
	if err := rewind(src); err != nil {
		return ImportResult{}, err
	}
	w := importWriter{s: s, ctx: ctx, by: actor.Name(), at: s.Now(), chunk: chunk, progress: opts.Progress}
	if w.ids, err = newImportIDs(w.at); err != nil {
		return ImportResult{}, err
	}
	w.p.AlreadyThere = set.already
	w.p.ToImport = len(set.entries) - set.already
	err = w.run(newImportReader(src), set)
	return ImportResult{Imported: w.p.Imported, AlreadyThere: w.p.AlreadyThere}, err
}

// importWriter is the write pass of ImportCSV.
type importWriter struct {
	s        *Service
	ctx      context.Context
	by       string
	at       time.Time
	chunk    int
	progress func(ImportProgress)
	p        ImportProgress
	buf      []Token
	firstRow int // line of buf[0]
	ids      importIDs
}

func (w *importWriter) run(ir *importReader, set *importSet) error {
	w.buf = make([]Token, 0, w.chunk)
	for {
		row, err := ir.next()
		if errors.Is(err, io.EOF) {
			return w.flush()
		}
		if err != nil {
			return w.fail(fmt.Errorf("the import file changed since it was checked: %w", err))
		}
		t, err := checkRow(row)
		var e *importEntry
		if err == nil {
			e = set.find(t.Digest)
		}
		if e == nil || e.line != int32(row.Line) {
			return w.fail(inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: the import file changed since it was checked; run the import again", row.Line)))
		}
		if e.state == entryAlready {
			continue
		}
		t.ID = w.ids.next()
		if len(w.buf) == 0 {
			w.firstRow = row.Line
		}
		w.buf = append(w.buf, t)
		if len(w.buf) == w.chunk {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
}

// flush writes the buffered tokens in one transaction.
func (w *importWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.ctx.Err(); err != nil {
		return w.fail(err)
	}
	if err := w.s.store.Import(w.ctx, w.buf, w.by, w.at); err != nil {
		return w.fail(fmt.Errorf("chunk of %d tokens from line %d: %w", len(w.buf), w.firstRow, err))
	}
	if w.s.inv != nil {
		w.s.inv.FlushAll() // negative results cached for these digests must go
	}
	w.p.Imported += len(w.buf)
	w.p.Chunks++
	clear(w.buf) // drop the strings before the next chunk
	w.buf = w.buf[:0]
	if w.progress != nil {
		w.progress(w.p)
	}
	return nil
}

func (w *importWriter) fail(err error) error {
	if w.p.Imported == 0 {
		return fmt.Errorf("importing legacy tokens: %w", err)
	}
	return fmt.Errorf("importing legacy tokens (%d imported before; run the import again to finish): %w", w.p.Imported, err)
}

// sizeOption returns n, or def when n is 0; a negative n or one above
// maxN is an input error naming the option.
func sizeOption(name string, n, def, maxN int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0 || n > maxN:
		return 0, inputErr(ErrInvalidInput, fmt.Sprintf("%s must be a whole number from 1 to %d, got %d", name, maxN, n))
	}
	return n, nil
}

// importIDs makes the token IDs of one import run: like NewID's, 20
// lowercase hex characters, but ascending: 4 bytes of the run's time (Unix
// seconds), then a 48-bit counter starting at a random multiple of 2^24.
// They are unique within a run; two runs started within the same second
// collide only if their counters overlap (a chance of about one in 2^24
// per million rows), and the store refuses a duplicate ID (ErrDuplicate,
// nothing of that chunk written).
type importIDs struct {
	prefix uint32
	n      uint64
}

func newImportIDs(at time.Time) (importIDs, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return importIDs{}, fmt.Errorf("reading random bytes: %w", err)
	}
	return importIDs{prefix: uint32(at.Unix()), n: uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24}, nil
}

func (g *importIDs) next() string {
	var b [10]byte
	binary.BigEndian.PutUint32(b[:4], g.prefix)
	binary.BigEndian.PutUint16(b[4:6], uint16(g.n>>32))
	binary.BigEndian.PutUint32(b[6:], uint32(g.n))
	g.n++
	return hex.EncodeToString(b[:])
}
