package token_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/tokengate/tokengate/token"
)

// TestNormalizeLabelAccepts: ordinary text of any script, emoji (with skin
// tones, variation selectors and flags), private-use and unassigned code
// points are valid and come back trimmed.
func TestNormalizeLabelAccepts(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"ascii", "Power BI sprint report", "Power BI sprint report"},
		{"trimmed", "  \t laptop \n ", "laptop"},
		{"line separators at the ends are trimmed", "\u2028laptop\u2029", "laptop"},
		{"accents", "Café crème — été", "Café crème — été"},
		{"combining accent", "Cafe\u0301", "Cafe\u0301"},
		{"CJK", "売上レポート 报告", "売上レポート 报告"},
		{"Korean", "판매 보고서", "판매 보고서"},
		{"Arabic", "تقرير المبيعات", "تقرير المبيعات"},
		{"Hebrew", "דוח מכירות", "דוח מכירות"},
		{"Arabic and Latin", "Power BI تقرير 2026", "Power BI تقرير 2026"},
		{"Cyrillic", "Отчёт о продажах", "Отчёт о продажах"},
		{"Devanagari", "बिक्री रिपोर्ट", "बिक्री रिपोर्ट"},
		{"Thai", "รายงานการขาย", "รายงานการขาย"},
		{"emoji", "📊 sales 🚀", "📊 sales 🚀"},
		{"emoji with variation selector", "I \u2764\uFE0F BI", "I \u2764\uFE0F BI"},
		{"emoji with skin tone", "👍🏽 ok", "👍🏽 ok"},
		{"flag", "🇩🇪 Berlin", "🇩🇪 Berlin"},
		{"no-break space", "Power\u00A0BI", "Power\u00A0BI"},
		{"ideographic space", "売上\u3000報告", "売上\u3000報告"},
		{"replacement character", "a\uFFFDb", "a\uFFFDb"},
		{"private use", "logo \uF8FF", "logo \uF8FF"},
		{"unassigned", "a\u0378b", "a\u0378b"},
		{"symbols and punctuation", "Q1/Q2 (€, ™, ©) – «ok» ¿? ¡!", "Q1/Q2 (€, ™, ©) – «ok» ¿? ¡!"},
		{"100 characters", strings.Repeat("é", token.MaxLabelLen), strings.Repeat("é", token.MaxLabelLen)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := token.NormalizeLabel(c.in)
			if err != nil || got != c.want {
				t.Fatalf("NormalizeLabel(%+q) = %+q, %v; want %+q, nil", c.in, got, err, c.want)
			}
		})
	}
}

// TestNormalizeLabelRefuses: every refusal wraps ErrInvalidLabel and says
// what to fix; a forbidden character is named by code point, kind and
// 1-based position, and never echoed.
func TestNormalizeLabelRefuses(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string // substrings of the message
	}{
		{"issue 8 example", "\u202eevil\u200b", []string{"U+202E (a bidirectional override) at character 1"}},
		{"override after text", "invoice\u202Efdp.exe", []string{"U+202E (a bidirectional override) at character 8"}},
		{"left-to-right override", "a\u202Db", []string{"U+202D (a bidirectional override) at character 2"}},
		{"embedding LRE", "a\u202Ab", []string{"U+202A (a bidirectional embedding)"}},
		{"embedding RLE", "a\u202Bb", []string{"U+202B (a bidirectional embedding)"}},
		{"pop directional formatting", "a\u202Cb", []string{"U+202C (a bidirectional control)"}},
		{"LRI", "a\u2066b", []string{"U+2066 (a bidirectional isolate)"}},
		{"RLI", "a\u2067b", []string{"U+2067 (a bidirectional isolate)"}},
		{"FSI", "a\u2068b", []string{"U+2068 (a bidirectional isolate)"}},
		{"PDI", "a\u2069b", []string{"U+2069 (a bidirectional control)"}},
		{"LRM", "a\u200Eb", []string{"U+200E (a bidirectional mark)"}},
		{"RLM", "תקרית\u200F", []string{"U+200F (a bidirectional mark) at character 6"}},
		{"Arabic letter mark", "تقرير\u061C", []string{"U+061C (a bidirectional mark) at character 6"}},
		{"zero-width space", "admin\u200Breport", []string{"U+200B (a zero-width space) at character 6"}},
		{"zero-width non-joiner", "a\u200Cb", []string{"U+200C (a zero-width non-joiner)"}},
		{"zero-width joiner", "dev 👩\u200D💻", []string{"U+200D (a zero-width joiner) at character 6"}},
		{"word joiner", "a\u2060b", []string{"U+2060 (a word joiner)"}},
		{"invisible times", "a\u2062b", []string{"U+2062 (an invisible formatting character)"}},
		{"invisible plus", "a\u2064b", []string{"U+2064 (an invisible formatting character)"}},
		{"byte-order mark at the start", "\uFEFFreport", []string{"U+FEFF (a zero-width no-break space or byte-order mark) at character 1"}},
		{"soft hyphen", "pass\u00ADword", []string{"U+00AD (a soft hyphen) at character 5"}},
		{"Mongolian vowel separator", "a\u180Eb", []string{"U+180E (an invisible formatting character)"}},
		{"interlinear annotation", "a\uFFF9b", []string{"U+FFF9 (an invisible formatting character)"}},
		{"tag character", "ok\U000E0041", []string{"U+E0041 (an invisible formatting character) at character 3"}},
		{"line separator inside", "a\u2028b", []string{"U+2028 (a line separator) at character 2"}},
		{"paragraph separator inside", "a\u2029b", []string{"U+2029 (a paragraph separator) at character 2"}},
		{"Hangul filler", "\u3164", []string{"U+3164 (an invisible character) at character 1"}},
		{"halfwidth Hangul filler", "a\uFFA0b", []string{"U+FFA0 (an invisible character)"}},
		{"combining grapheme joiner", "a\u034Fb", []string{"U+034F (an invisible character)"}},
		{"noncharacter FFFE", "a\uFFFEb", []string{"U+FFFE (a noncharacter) at character 2"}},
		{"noncharacter FFFF", "a\uFFFF", []string{"U+FFFF (a noncharacter) at character 2"}},
		{"noncharacter FDD0", "a\uFDD0", []string{"U+FDD0 (a noncharacter)"}},
		{"noncharacter 1FFFE", "a\U0001FFFE", []string{"U+1FFFE (a noncharacter)"}},
		{"noncharacter 10FFFF", "a\U0010FFFF", []string{"U+10FFFF (a noncharacter)"}},
		{"position counts characters, not bytes", "été 報告\u202E", []string{"U+202E (a bidirectional override) at character 7"}},
		{"position in the trimmed label", "   ab\u200B", []string{"U+200B (a zero-width space) at character 3"}},
		{"first offending character is named", "a\u200Bb\u202Ec", []string{"U+200B (a zero-width space) at character 2"}},
		{"character before length", strings.Repeat("a", token.MaxLabelLen) + "\u200B", []string{"U+200B (a zero-width space) at character 101"}},
		{"tab", "a\tb", []string{"control characters (tabs, line breaks)", "U+0009 (a tab) at character 2"}},
		{"newline", "a\nb", []string{"control characters (tabs, line breaks)", "U+000A (a line break) at character 2"}},
		{"carriage return", "a\rb", []string{"control characters (tabs, line breaks)", "U+000D (a line break)"}},
		{"next line", "a\u0085b", []string{"control characters (tabs, line breaks)", "U+0085 (a line break)"}},
		{"NUL", "a\x00b", []string{"control characters (tabs, line breaks)", "U+0000 (a control character) at character 2"}},
		{"escape", "a\x1b[31mred", []string{"control characters (tabs, line breaks)", "U+001B (a control character)"}},
		{"delete", "a\x7fb", []string{"control characters (tabs, line breaks)", "U+007F (a control character)"}},
		{"C1 control", "a\u009Bb", []string{"control characters (tabs, line breaks)", "U+009B (a control character)"}},
		{"empty", "", []string{"label is required"}},
		{"blank", " \t\n ", []string{"label is required"}},
		{"too long", strings.Repeat("é", token.MaxLabelLen+1), []string{"label is 101 characters long; at most 100 are allowed"}},
		{"not UTF-8", "a\xffb", []string{"label is not valid UTF-8"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := token.NormalizeLabel(c.in)
			if err == nil {
				t.Fatalf("NormalizeLabel(%+q) = %+q, nil; want an error", c.in, got)
			}
			if !errors.Is(err, token.ErrInvalidLabel) {
				t.Errorf("NormalizeLabel(%+q): %v does not wrap ErrInvalidLabel", c.in, err)
			}
			var in *token.InputError
			if !errors.As(err, &in) {
				t.Errorf("NormalizeLabel(%+q): %T is not an *InputError", c.in, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NormalizeLabel(%+q): %q lacks %q", c.in, err, w)
				}
			}
			if strings.ContainsFunc(err.Error(), func(r rune) bool { return r > unicode.MaxASCII || unicode.IsControl(r) }) {
				t.Errorf("NormalizeLabel(%+q): message %+q echoes a non-ASCII or control character", c.in, err.Error())
			}
		})
	}
}

// TestNormalizeLabelEveryCodePoint checks the rule over all of Unicode, from
// the general categories rather than from the lists in label.go: control,
// format, line and paragraph separator characters, noncharacters and the
// other default-ignorable characters are refused with their code point and
// position; every letter, mark, number, punctuation, symbol and space
// character, private-use and unassigned code point is accepted.
func TestNormalizeLabelEveryCodePoint(t *testing.T) {
	refused := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue // surrogates cannot be encoded in UTF-8
		}
		in := "a" + string(r) + "b"
		_, err := token.NormalizeLabel(in)
		noncharacter := (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
		wantRefused := unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point) || noncharacter
		switch {
		case wantRefused && err == nil:
			t.Errorf("%U is accepted", r)
		case wantRefused:
			refused++
			if !errors.Is(err, token.ErrInvalidLabel) || !strings.Contains(err.Error(), fmt.Sprintf("%U (", r)) ||
				!strings.Contains(err.Error(), " at character 2") {
				t.Errorf("%U: %v; want ErrInvalidLabel naming %U at character 2", r, err, r)
			}
		case err != nil:
			t.Errorf("%U is refused: %v", r, err)
		}
	}
	if refused < 66+65+170 { // noncharacters + Cc + Cf, at least
		t.Errorf("only %d code points refused", refused)
	}
}

// TestImportLabelUsesTheSameRule: legacy tokens brought in with the import
// command go through NormalizeLabel too, so a spoofing label is refused
// there with the line, the field and the character.
func TestImportLabelUsesTheSameRule(t *testing.T) {
	svc, st := newImportService(t)
	rows, err := token.ParseImportCSV(strings.NewReader("owner,label,token\nalice,ok,legacy-secret-0000000001\nbob,\u202Eevil\u200B,legacy-secret-0000000002\n"))
	if err != nil {
		t.Fatalf("ParseImportCSV: %v", err)
	}
	_, err = svc.Import(context.Background(), token.Operator("admin"), rows)
	if err == nil || !strings.Contains(err.Error(), "import line 3: label: label must not contain U+202E (a bidirectional override) at character 1") {
		t.Fatalf("importing a label with a bidi override: %v, want line 3 naming U+202E", err)
	}
	if !errors.Is(err, token.ErrInvalidInput) {
		t.Errorf("import error %v does not wrap ErrInvalidInput", err)
	}
	if ts, err := st.List(context.Background(), "alice"); err != nil || len(ts) != 0 {
		t.Errorf("alice's tokens after a refused import: %d, %v; want none (all or nothing)", len(ts), err)
	}
}

// TestServiceCreateLabel: Service.Create refuses a spoofing label before
// anything is stored.
func TestServiceCreateLabel(t *testing.T) {
	svc, st := newImportService(t)
	_, err := svc.Create(context.Background(), "alice", "\u202eevil\u200b", "")
	if !errors.Is(err, token.ErrInvalidLabel) || !strings.Contains(err.Error(), "U+202E") {
		t.Fatalf("Create with a bidi override: %v, want ErrInvalidLabel naming U+202E", err)
	}
	if ts, err := st.List(context.Background(), "alice"); err != nil || len(ts) != 0 {
		t.Errorf("alice's tokens: %d, %v; want none", len(ts), err)
	}
	c, err := svc.Create(context.Background(), "alice", "  تقرير 📊  ", "")
	if err != nil || c.Token.Label != "تقرير 📊" {
		t.Fatalf("Create with an Arabic label and an emoji: %+v, %v", c.Token, err)
	}
}
