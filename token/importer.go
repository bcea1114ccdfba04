package token

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

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
// never the secret.
func ParseImportCSV(r io.Reader) ([]ImportRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	cr.TrimLeadingSpace = true
	var rows []ImportRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: %v (want 3 columns: owner,label,token)", pe.Line, pe.Err))
			}
			return nil, fmt.Errorf("reading import file: %w", err)
		}
		if len(rows) == 0 && line == 1 && strings.EqualFold(rec[0], "owner") && strings.EqualFold(rec[2], "token") {
			continue // header
		}
		row := ImportRow{Line: line, Owner: strings.TrimSpace(rec[0]), Label: rec[1]}
		tok := strings.TrimSpace(rec[2])
		if hexDigest, ok := strings.CutPrefix(tok, "sha256:"); ok {
			row.DigestHex = hexDigest
		} else {
			row.Secret = tok
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, inputErr(ErrInvalidInput, "import file has no tokens (want lines owner,label,token)")
	}
	return rows, nil
}

// Import stores legacy tokens, all or nothing: they have no creation and no
// expiry date and never expire. actor is recorded in the history. It returns
// how many were imported.
func (s *Service) Import(ctx context.Context, actor string, rows []ImportRow) (int, error) {
	ts := make([]Token, 0, len(rows))
	for i, row := range rows {
		line := row.Line
		if line == 0 {
			line = i + 1
		}
		t, err := legacyToken(row)
		if err != nil {
			return 0, inputErr(ErrInvalidInput, fmt.Sprintf("import line %d: %s", line, err.Error()))
		}
		ts = append(ts, t)
	}
	if err := s.store.Import(ctx, ts, actor, s.Now()); err != nil {
		return 0, fmt.Errorf("importing %d legacy tokens: %w", len(ts), err)
	}
	if s.inv != nil {
		s.inv.FlushAll()
	}
	return len(ts), nil
}

func legacyToken(row ImportRow) (Token, error) {
	if err := ValidateOwner(row.Owner); err != nil {
		return Token{}, fmt.Errorf("owner: %w", err)
	}
	label, err := NormalizeLabel(row.Label)
	if err != nil {
		return Token{}, fmt.Errorf("label: %w", err)
	}
	id, err := NewID()
	if err != nil {
		return Token{}, err
	}
	t := Token{ID: id, Owner: row.Owner, Label: label}
	switch {
	case row.Secret != "" && row.DigestHex != "":
		return Token{}, errors.New("token: give the token or its digest, not both")
	case row.Secret != "":
		if len(row.Secret) < 16 {
			return Token{}, fmt.Errorf("token: too short (%d characters, at least 16 required)", len(row.Secret))
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
