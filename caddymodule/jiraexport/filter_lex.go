package jiraexport

import (
	"strings"
)

// tokKind is the kind of a token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tBare // numbers, dates and DateTimeOffset values
	tLParen
	tRParen
	tComma
	tSlash
	tColon
	tMinus // a '-' not starting a number
)

// ftok is one token of a filter expression.
type ftok struct {
	kind tokKind
	text string // identifier / bare text, or the unescaped string
	pos  int    // byte offset in the expression
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lexFilter splits src into tokens.
func lexFilter(src string) ([]ftok, error) {
	var toks []ftok
	punct := map[byte]tokKind{'(': tLParen, ')': tRParen, ',': tComma, '/': tSlash, ':': tColon}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case punct[c] != 0:
			toks = append(toks, ftok{kind: punct[c], text: string(c), pos: i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, syntaxError(i, "unterminated string literal")
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, ftok{kind: tString, text: b.String(), pos: i})
			i = j + 1
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && (isIdentStart(src[j]) || isDigit(src[j]) || src[j] == '.') {
				j++
			}
			toks = append(toks, ftok{kind: tIdent, text: src[i:j], pos: i})
			i = j
		case isDigit(c) || c == '-' && i+1 < len(src) && isDigit(src[i+1]):
			j := i + 1
			for j < len(src) && (isDigit(src[j]) || isIdentStart(src[j]) && src[j] != '$' || strings.IndexByte(".:+-", src[j]) >= 0) {
				j++
			}
			toks = append(toks, ftok{kind: tBare, text: src[i:j], pos: i})
			i = j
		case c == '-':
			toks = append(toks, ftok{kind: tMinus, text: "-", pos: i})
			i++
		default:
			return nil, syntaxError(i, "unexpected character %q", c)
		}
	}
	return append(toks, ftok{kind: tEOF, pos: len(src)}), nil
}
