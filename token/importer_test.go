package token_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

const legacySecret = "legacy-secret-0123456789"

// TestParseImportCSV: headers (with or without Excel's byte-order mark),
// lines numbered as in the file, and malformed files refused with the line
// — never a panic.
func TestParseImportCSV(t *testing.T) {
	for name, in := range map[string]string{
		"plain":             "alice,Power BI," + legacySecret + "\n",
		"header":            "owner,label,token\nalice,Power BI," + legacySecret + "\n",
		"BOM":               "\ufeffalice,Power BI," + legacySecret + "\n",
		"BOM and header":    "\ufeffowner,label,token\r\nalice,Power BI," + legacySecret + "\r\n",
		"blank then header": "\n\nOwner, Label, Token\nalice,Power BI," + legacySecret + "\n",
	} {
		rows, err := token.ParseImportCSV(strings.NewReader(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(rows) != 1 || rows[0].Owner != "alice" || rows[0].Label != "Power BI" || rows[0].Secret != legacySecret {
			t.Errorf("%s: rows = %+v, want alice's one token", name, rows)
		}
		if want := strings.Count(in, "\n"); rows[0].Line != want {
			t.Errorf("%s: line = %d, want %d", name, rows[0].Line, want)
		}
	}
	for in, want := range map[string]string{
		"\"\n":                   "import line 1",
		"\"abc":                  "import line 1",
		"alice,x\n":              "import line 1: wrong number of fields",
		"owner,label,token\n":    "no tokens",
		"alice,x,y\nbob,x,\"y\n": "import line 2",
	} {
		_, err := token.ParseImportCSV(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("%q: error %v, want an input error containing %q", in, err, want)
		}
	}
}

// TestImportRefusesUnusableSecrets: a legacy secret that could never sign in
// or could not be stored is refused with its line, and nothing is imported.
func TestImportRefusesUnusableSecrets(t *testing.T) {
	good, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	broken := good[:len(good)-1] + "x"
	if good[len(good)-1] == 'x' {
		broken = good[:len(good)-1] + "y"
	}
	svc, st := newImportService(t)
	for secret, want := range map[string]string{
		"short": "too short",
		strings.Repeat("z", token.MaxLegacyLen+1): "too long",
		broken:                        `starts with "tgp_" but is not a well-formed token`,
		"legacy-secret-\xff\xfe-0123": "not valid UTF-8",
		"legacy-secret-\x00-0123456":  "contains control characters",
	} {
		rows := []token.ImportRow{{Line: 7, Owner: "alice", Label: "old", Secret: secret}}
		_, err := svc.Import(context.Background(), token.Operator("admin"), rows)
		if err == nil || !strings.Contains(err.Error(), "import line 7: token: "+want) {
			t.Errorf("secret %.20q: error %v, want %q", secret, err, want)
		}
	}
	_, err = svc.Import(context.Background(), token.Operator("admin"), []token.ImportRow{
		{Line: 2, Owner: "alice", Label: "a", Secret: legacySecret},
		{Line: 5, Owner: "bob", Label: "b", Secret: legacySecret},
	})
	if err == nil || !strings.Contains(err.Error(), "import line 5: token: the same token as on line 2") {
		t.Errorf("a token twice in one file: %v, want both lines named", err)
	}
	if n, err := svc.Import(context.Background(), token.Operator("admin"), []token.ImportRow{
		{Owner: "alice", Label: "generated format", Secret: good},
		{Owner: "alice", Label: "euro", Secret: "legacy-secret-0123€€"},
	}); err != nil || n != 2 {
		t.Fatalf("importing usable secrets: %d, %v", n, err)
	}
	toks, err := st.List(context.Background(), "alice")
	if err != nil || len(toks) != 2 {
		t.Fatalf("alice's tokens: %d, %v; want the 2 usable ones only", len(toks), err)
	}
	for _, tok := range toks {
		if tok.Label == "euro" && tok.Hint != "23€€" {
			t.Errorf("hint of a secret ending in multi-byte characters = %q, want the last 4 characters %q", tok.Hint, "23€€")
		}
	}
}

// TestExpiryDateBounds: dates from today to MaxExpiryYears ahead are
// accepted (valid until the next midnight UTC); later ones are refused with
// the advice to leave the date empty.
func TestExpiryDateBounds(t *testing.T) {
	svc, _ := newImportService(t)
	now := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	for date, want := range map[string]time.Time{
		"2026-11-28": time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC),
		"2126-11-28": time.Date(2126, 11, 29, 0, 0, 0, 0, time.UTC),
	} {
		got, err := svc.ExpiryFromDate(date, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", date, got, err, want)
		}
	}
	for date, want := range map[string]string{
		"2126-11-29": "more than 100 years away; leave the date empty",
		"9999-12-31": "more than 100 years away",
		"2026-11-27": "in the past",
		"2026-02-30": "not a date of the form YYYY-MM-DD",
	} {
		_, err := svc.ExpiryFromDate(date, now)
		if err == nil || !errors.Is(err, token.ErrInvalidDate) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want ErrInvalidDate containing %q", date, err, want)
		}
	}
}

func newImportService(t *testing.T) (*token.Service, token.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return token.NewService(st, token.Policy{}, nil, nil), st
}
