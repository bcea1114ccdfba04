package token

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeLabel trims a label and checks it: 1–MaxLabelLen characters of
// valid UTF-8 that display as what they say. Labels are shown in the token
// list, the admin view and the history, so characters that are invisible or
// change how the text around them is displayed are refused (see
// labelRuneKind): control characters, bidirectional controls, zero-width and
// other format characters, line and paragraph separators, other default-
// ignorable characters and noncharacters. Letters, marks, digits,
// punctuation, symbols and emoji of every script stay valid, as do
// variation selectors (emoji presentation), private-use and unassigned
// code points.
//
// A refusal wraps ErrInvalidLabel and names the first offending character by
// code point, kind and 1-based position in the trimmed label, never by
// echoing the character itself.
func NormalizeLabel(label string) (string, error) {
	label = strings.TrimSpace(label)
	if !utf8.ValidString(label) {
		return "", inputErr(ErrInvalidLabel, "label is not valid UTF-8")
	}
	n := utf8.RuneCountInString(label)
	if n == 0 {
		return "", inputErr(ErrInvalidLabel, "label is required: name the token after where you use it, e.g. \"Power BI sprint report\"")
	}
	// Characters before length: an invisible character also counts towards
	// the length, and "remove U+200B" is more useful than "too long".
	if err := checkLabelRunes(label); err != nil {
		return "", err
	}
	if n > MaxLabelLen {
		return "", inputErr(ErrInvalidLabel, fmt.Sprintf("label is %d characters long; at most %d are allowed", n, MaxLabelLen))
	}
	return label, nil
}

// checkLabelRunes returns an ErrInvalidLabel input error naming the first
// character of the valid UTF-8 string label that labelRuneKind refuses, or
// nil when there is none.
func checkLabelRunes(label string) error {
	pos := 0
	for _, r := range label {
		pos++
		kind, control := labelRuneKind(r)
		switch {
		case kind == "":
			continue
		case control:
			return inputErr(ErrInvalidLabel, fmt.Sprintf(
				"label must not contain control characters (tabs, line breaks): %U (%s) at character %d",
				r, kind, pos))
		default:
			return inputErr(ErrInvalidLabel, fmt.Sprintf(
				"label must not contain %U (%s) at character %d: it is invisible or changes how the label is displayed; retype the label without it (such characters often come with pasted text)",
				r, kind, pos))
		}
	}
	return nil
}

// labelRuneKind says why r may not appear in a label: kind describes it for
// an error message ("a bidirectional override") and is "" when r is
// allowed; control is true for control characters (unicode.IsControl),
// whose message keeps the wording about tabs and line breaks.
func labelRuneKind(r rune) (kind string, control bool) {
	if unicode.IsControl(r) {
		switch r {
		case '\t':
			return "a tab", true
		case '\n', '\v', '\f', '\r', '\u0085':
			return "a line break", true
		}
		return "a control character", true
	}
	switch r {
	// Bidirectional controls: they reorder the text around them, so a label
	// can display as something else than what it holds.
	case '\u061C', '\u200E', '\u200F':
		return "a bidirectional mark", false
	case '\u202A', '\u202B':
		return "a bidirectional embedding", false
	case '\u202D', '\u202E':
		return "a bidirectional override", false
	case '\u2066', '\u2067', '\u2068':
		return "a bidirectional isolate", false
	case '\u202C', '\u2069':
		return "a bidirectional control", false
	// Zero-width and invisible format characters.
	case '\u200B':
		return "a zero-width space", false
	case '\u200C':
		return "a zero-width non-joiner", false
	case '\u200D':
		return "a zero-width joiner", false
	case '\u2060':
		return "a word joiner", false
	case '\uFEFF':
		return "a zero-width no-break space or byte-order mark", false
	case '\u00AD':
		return "a soft hyphen", false
	// White space that TrimSpace removes at the ends but that breaks the
	// line in the middle of a label.
	case '\u2028':
		return "a line separator", false
	case '\u2029':
		return "a paragraph separator", false
	}
	switch {
	case unicode.Is(unicode.Cf, r):
		// The rest of category Cf: invisible operators (U+2061–U+2064),
		// U+180E, interlinear annotation, tag characters (U+E0001,
		// U+E0020–U+E007F) and the like.
		return "an invisible formatting character", false
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		// Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), the combining
		// grapheme joiner U+034F and other characters that render as
		// nothing.
		return "an invisible character", false
	case isNoncharacter(r):
		return "a noncharacter", false
	}
	return "", false
}

// isNoncharacter reports whether r is one of Unicode's 66 noncharacters:
// U+FDD0–U+FDEF and the last two code points of every plane (U+FFFE,
// U+FFFF, U+1FFFE, …, U+10FFFF). They are valid UTF-8 but not text.
func isNoncharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || (r >= 0 && r <= unicode.MaxRune && r&0xFFFE == 0xFFFE)
}
