package jiraexport

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The supported $filter language: comparisons of a scalar property with a
// literal (eq ne gt ge lt le), joined by "and", optionally parenthesized.
// Literals: 'strings' ('' escapes a quote), numbers, true, false, null and
// DateTimeOffset values such as 2024-01-01T00:00:00Z. Everything else is
// rejected with an error that names the unsupported construct.

type litKind uint8

const (
	litNull litKind = iota
	litString
	litNumber
	litTime
	litBool
)

// String names the literal kind in error messages.
func (k litKind) String() string {
	return [...]string{"null", "a string", "a number", "a DateTimeOffset", "a boolean"}[k]
}

type literal struct {
	kind litKind
	v    value
	text string
}

// cond is one comparison "prop op lit".
type cond struct {
	prop string
	op   string
	lit  literal
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tBare // numbers and date/time literals
	tLParen
	tRParen
	tComma
	tSlash
)

type ftok struct {
	kind tokKind
	text string // identifier / bare text, or the unescaped string
	pos  int
}

var (
	reNumber   = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	reDateTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$`)
	comparison = map[string]string{"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"} // op → flipped op
	otherOps   = map[string]bool{"or": true, "not": true, "add": true, "sub": true, "mul": true, "div": true, "divby": true, "mod": true, "has": true, "in": true}
)

func lexFilter(src string) ([]ftok, error) {
	var toks []ftok
	isIdent := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.'
	}
	isBare := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte(".:+-", c) >= 0
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',' || c == '/':
			toks = append(toks, ftok{kind: map[byte]tokKind{'(': tLParen, ')': tRParen, ',': tComma, '/': tSlash}[c], text: string(c), pos: i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, fmt.Errorf("$filter: unterminated string literal starting at position %d", i)
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
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && isIdent(src[j]) {
				j++
			}
			toks = append(toks, ftok{kind: tIdent, text: src[i:j], pos: i})
			i = j
		case c >= '0' && c <= '9' || c == '-':
			j := i + 1
			for j < len(src) && isBare(src[j]) {
				j++
			}
			toks = append(toks, ftok{kind: tBare, text: src[i:j], pos: i})
			i = j
		default:
			return nil, fmt.Errorf("$filter: unexpected character %q at position %d", c, i)
		}
	}
	return append(toks, ftok{kind: tEOF, pos: len(src)}), nil
}

type filterParser struct {
	toks []ftok
	i    int
	out  []cond
}

func (p *filterParser) peek() ftok { return p.toks[p.i] }
func (p *filterParser) next() ftok { t := p.toks[p.i]; p.i++; return t }

// parseFilter parses src into a conjunction of comparisons.
func parseFilter(src string) ([]cond, error) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, fmt.Errorf("$filter: empty expression")
	}
	if err := p.expr(); err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	return p.out, nil
}

func (p *filterParser) unexpected(t ftok) error {
	if t.kind == tIdent && otherOps[t.text] {
		return fmt.Errorf("$filter: operator '%s' is not supported (supported: eq, ne, gt, ge, lt, le, and)", t.text)
	}
	if t.kind == tEOF {
		return fmt.Errorf("$filter: unexpected end of expression")
	}
	return fmt.Errorf("$filter: unexpected '%s' at position %d", t.text, t.pos)
}

func (p *filterParser) expr() error {
	if err := p.term(); err != nil {
		return err
	}
	for p.peek().kind == tIdent && p.peek().text == "and" {
		p.next()
		if err := p.term(); err != nil {
			return err
		}
	}
	return nil
}

func (p *filterParser) term() error {
	if p.peek().kind == tLParen {
		p.next()
		if err := p.expr(); err != nil {
			return err
		}
		if t := p.next(); t.kind != tRParen {
			if t.kind == tEOF {
				return fmt.Errorf("$filter: missing ')'")
			}
			return p.unexpected(t)
		}
		return nil
	}
	left, err := p.operand()
	if err != nil {
		return err
	}
	opTok := p.next()
	flipped, ok := comparison[opTok.text]
	if opTok.kind != tIdent || !ok {
		if opTok.kind == tIdent && otherOps[opTok.text] || opTok.kind == tEOF {
			return p.unexpected(opTok)
		}
		return fmt.Errorf("$filter: expected a comparison operator (eq, ne, gt, ge, lt, le) at position %d, got '%s'", opTok.pos, opTok.text)
	}
	right, err := p.operand()
	if err != nil {
		return err
	}
	switch {
	case left.prop != "" && right.prop == "":
		p.out = append(p.out, cond{prop: left.prop, op: opTok.text, lit: right.lit})
	case left.prop == "" && right.prop != "":
		p.out = append(p.out, cond{prop: right.prop, op: flipped, lit: left.lit})
	case left.prop != "":
		return fmt.Errorf("$filter: comparing two properties (%s %s %s) is not supported; compare a property with a literal", left.prop, opTok.text, right.prop)
	default:
		return fmt.Errorf("$filter: comparing two literals is not supported; compare a property with a literal")
	}
	return nil
}

type operand struct {
	prop string
	lit  literal
}

func (p *filterParser) operand() (operand, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return operand{lit: literal{kind: litString, v: str(t.text), text: "'" + t.text + "'"}}, nil
	case tBare:
		l, err := parseBare(t.text)
		return operand{lit: l}, err
	case tIdent:
		switch t.text {
		case "null":
			return operand{lit: literal{kind: litNull, v: value{null: true}, text: "null"}}, nil
		case "true", "false":
			return operand{lit: literal{kind: litBool, v: boolean(t.text == "true"), text: t.text}}, nil
		}
		if otherOps[t.text] {
			return operand{}, p.unexpected(t)
		}
		switch n := p.peek(); n.kind {
		case tLParen:
			return operand{}, fmt.Errorf("$filter: function '%s' is not supported (only comparisons joined by 'and')", t.text)
		case tSlash:
			return operand{}, fmt.Errorf("$filter: property path '%s/...' is not supported", t.text)
		case tString:
			return operand{}, fmt.Errorf("$filter: typed literal %s'...' is not supported", t.text)
		}
		return operand{prop: t.text}, nil
	case tEOF:
		return operand{}, fmt.Errorf("$filter: unexpected end of expression, expected a property or a literal")
	default:
		return operand{}, p.unexpected(t)
	}
}

func parseBare(text string) (literal, error) {
	switch {
	case reNumber.MatchString(text):
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return literal{}, fmt.Errorf("$filter: number %s is out of range", text)
		}
		return literal{kind: litNumber, v: num(f), text: text}, nil
	case reDateTime.MatchString(text):
		layout := time.RFC3339Nano
		if len(text) >= 16 && text[16] != ':' { // no seconds
			layout = "2006-01-02T15:04Z07:00"
		}
		t, err := time.Parse(layout, text)
		if err != nil {
			return literal{}, fmt.Errorf("$filter: invalid DateTimeOffset %s: %w", text, err)
		}
		return literal{kind: litTime, v: value{sec: t.Unix(), nsec: int32(t.Nanosecond())}, text: text}, nil
	default:
		return literal{}, fmt.Errorf("$filter: unsupported literal %s (supported: 'string', numbers, true, false, null, DateTimeOffset like 2024-01-01T00:00:00Z)", text)
	}
}

// compileFilter type-checks conds against t and returns the predicate.
func compileFilter[R any](t *table[R], conds []cond) (func(r *R) bool, error) {
	type compiled struct {
		col column[R]
		op  string
		lit value
	}
	cs := make([]compiled, 0, len(conds))
	for _, c := range conds {
		ci, ok := t.colIndex(c.prop)
		if !ok {
			return nil, fmt.Errorf("$filter: unknown property '%s' of %s", c.prop, t.name)
		}
		col := t.cols[ci]
		if err := checkLiteral(col.name, col.typ, c.op, c.lit); err != nil {
			return nil, err
		}
		cs = append(cs, compiled{col, c.op, c.lit.v})
	}
	return func(r *R) bool {
		for _, c := range cs {
			if !matches(c.col.typ, c.op, c.col.get(r), c.lit) {
				return false
			}
		}
		return true
	}, nil
}

func checkLiteral(prop string, typ edmType, op string, lit literal) error {
	if typ == edmStringCollection {
		return fmt.Errorf("$filter: property '%s' is a collection; only scalar properties can be filtered (any/all are not supported)", prop)
	}
	if lit.kind == litNull {
		if op != "eq" && op != "ne" {
			return fmt.Errorf("$filter: null can only be compared with eq or ne, not '%s'", op)
		}
		return nil
	}
	want := map[edmType]litKind{edmString: litString, edmDateTimeOffset: litTime, edmBoolean: litBool}[typ]
	if typ.numeric() {
		want = litNumber
	}
	if lit.kind != want {
		return fmt.Errorf("$filter: cannot compare %s (%s) with %s, which is %s", prop, typ, lit.text, lit.kind)
	}
	if typ == edmBoolean && op != "eq" && op != "ne" {
		return fmt.Errorf("$filter: %s is Edm.Boolean and can only be compared with eq or ne, not '%s'", prop, op)
	}
	return nil
}

// matches applies OData's null rules: null equals only null, and relational
// operators are false when the property is null.
func matches(typ edmType, op string, v, lit value) bool {
	if lit.null {
		return v.null == (op == "eq")
	}
	if v.null {
		return op == "ne"
	}
	c := compareValues(typ, v, lit)
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	default: // le
		return c <= 0
	}
}
