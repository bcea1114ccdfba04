package token

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// utf8BOM is the byte-order mark some tools put at the start of UTF-8 files.
const utf8BOM = "\ufeff"

// ImportRow is one legacy token to import: its owner, a label, and either the
// legacy secret itself or its SHA-256 digest in hex.
type ImportRow struct {
	Line      int // 1-based line in the source file, for error messages
	Owner     string
	Label     string
	Secret    string // the legacy token; never stored, only digested
	DigestHex string // alternatively, SHA-256(token) in hex
}

// ParseImportCSV reads legacy tokens from CSV with the columns
// owner,label,token — where token is either the legacy secret or its
// SHA-256 hex digest prefixed with "sha256:". A first line
// "owner,label,token" is taken as a header. Errors name the line and field,
// never the secret. It holds every row in memory: large files go through
// Service.ImportCSV, which streams them.
func ParseImportCSV(r io.Reader) ([]ImportRow, error) {
	ir := newImportReader(r)
	var rows []ImportRow
	for {
		row, err := ir.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errNoImportRows
	}
	return rows, nil
}

var errNoImportRows = inputErr(ErrInvalidInput, "import file has no tokens (want lines owner,label,token)")

// importReader reads the rows of an import file one at a time, reusing
// the CSV reader's record: memory does not grow with the file.
type importReader struct {
	cr    *csv.Reader
	first bool
}

func newImportReader(r io.Reader) *importReader {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(len(utf8BOM)); err == nil && string(bom) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM)) // Excel's "CSV UTF-8" starts with one
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = 3
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	return &importReader{cr: cr, first: true}
}

// next returns the next row, skipping a header line, or io.EOF.
func (ir *importReader) next() (ImportRow, error) {
	for {
		rec, err := ir.cr.Read()
		if errors.Is(err, io.EOF) {
			return ImportRow{}, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return ImportRow{}, inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: %v (want 3 columns: owner,label,token)", pe.Line, pe.Err))
			}
			return ImportRow{}, fmt.Errorf("reading import file: %w", err)
		}
		line, _ := ir.cr.FieldPos(0)
		first := ir.first
		ir.first = false
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "owner") && strings.EqualFold(strings.TrimSpace(rec[2]), "token") {
			continue // header
		}
		// The strings are copied out of the reused record.
		row := ImportRow{Line: line, Owner: strings.Clone(strings.TrimSpace(rec[0])), Label: strings.Clone(rec[1])}
		tok := strings.TrimSpace(rec[2])
		if hexDigest, ok := strings.CutPrefix(tok, "sha256:"); ok {
			row.DigestHex = strings.Clone(hexDigest)
		} else {
			row.Secret = strings.Clone(tok)
		}
		return row, nil
	}
}

// Import stores legacy tokens, all or nothing: they have no creation and no
// expiry date and never expire. actor, an administrator or operator (else
// ErrForbidden), is recorded in the history. It returns how many were imported.
// It holds every row and writes them in one transaction: files go through
// ImportCSV, which streams them in chunks.
func (s *Service) Import(ctx context.Context, actor Actor, rows []ImportRow) (int, error) {
	if err := s.authorize(actor, "import legacy tokens"); err != nil {
		return 0, err
	}
	ts := make([]Token, 0, len(rows))
	lineOf := make(map[Digest]int, len(rows))
	for i, row := range rows {
		line := row.Line
		if line == 0 {
			line = i + 1
		}
		t, err := legacyToken(row)
		if err != nil {
			return 0, inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: %s", line, err.Error()))
		}
		if first, dup := lineOf[t.Digest]; dup {
			return 0, inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: token: the same token as on line %d", line, first))
		}
		lineOf[t.Digest] = line
		ts = append(ts, t)
	}
	if err := s.store.Import(ctx, ts, actor.Name(), s.Now()); err != nil {
		return 0, fmt.Errorf("importing %d legacy tokens: %w", len(ts), err)
	}
	if s.inv != nil {
		s.inv.FlushAll()
	}
	return len(ts), nil
}

// legacyToken checks row and returns its token with a new ID.
func legacyToken(row ImportRow) (Token, error) {
	t, err := checkRow(row)
	if err != nil {
		return Token{}, err
	}
	if t.ID, err = NewID(); err != nil {
		return Token{}, err
	}
	return t, nil
}

// checkRow checks row and returns its token without an ID; an error names
// the field, never the secret.
func checkRow(row ImportRow) (Token, error) {
	if err := ValidateOwner(row.Owner); err != nil {
		return Token{}, fmt.Errorf("owner: %w", err)
	}
	label, err := NormalizeLabel(row.Label)
	if err != nil {
		return Token{}, fmt.Errorf("label: %w", err)
	}
	t := Token{Owner: row.Owner, Label: label}
	switch {
	case row.Secret != "" && row.DigestHex != "":
		return Token{}, errors.New("token: give the token or its digest, not both")
	case row.Secret != "":
		if err := checkLegacySecret(row.Secret); err != nil {
			return Token{}, err
		}
		t.Digest = DigestOf(row.Secret)
		t.Hint = HintOf(row.Secret)
	case row.DigestHex != "":
		d, err := ParseDigestHex(strings.ToLower(row.DigestHex))
		if err != nil {
			return Token{}, fmt.Errorf("token: %w", err)
		}
		t.Digest = d
	default:
		return Token{}, errors.New("token: empty")
	}
	return t, nil
}

// checkLegacySecret refuses legacy secrets that could never sign in (or
// could not be stored): too short or too long, a broken tgp_ token, text
// that is not UTF-8 or holds control characters.
func checkLegacySecret(secret string) error {
	switch {
	case len(secret) < 16:
		return fmt.Errorf("token: too short (%d characters, at least 16 required)", len(secret))
	case len(secret) > MaxLegacyLen:
		return fmt.Errorf("token: too long (%d bytes, at most %d)", len(secret), MaxLegacyLen)
	case strings.HasPrefix(secret, Prefix) && !WellFormed(secret):
		return fmt.Errorf("token: starts with %q but is not a well-formed token (length or checksum); it could never sign in", Prefix)
	case !utf8.ValidString(secret):
		return errors.New("token: not valid UTF-8")
	case strings.IndexFunc(secret, unicode.IsControl) >= 0:
		return errors.New("token: contains control characters")
	}
	return nil
}
