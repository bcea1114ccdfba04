package jiraexport

import (
	"strings"
)

// fkind is the kind of a syntax-tree node.
type fkind uint8

const (
	fnOr     fkind = iota // args
	fnAnd                 // args
	fnNot                 // args[0]
	fnCmp                 // args[0] op args[1]
	fnIn                  // args[0] in (args[1:])
	fnCall                // op(args)
	fnLambda              // args[0]/op(name: args[1]); args[1] is nil for any()
	fnProp                // name, possibly a path a/b
	fnLit                 // lit
)

// fnode is a node of a parsed filter expression.
type fnode struct {
	kind fkind
	op   string // comparison operator, function name, any or all
	name string // property (path) or lambda variable
	pos  int
	args []*fnode
	lit  literal
}

var (
	comparisonOps = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true}
	arithmeticOps = map[string]bool{"add": true, "sub": true, "mul": true, "div": true, "divby": true, "mod": true}
	// reserved are the operator words that cannot start an operand.
	reserved = map[string]bool{"and": true, "or": true, "in": true, "has": true,
		"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true,
		"add": true, "sub": true, "mul": true, "div": true, "divby": true, "mod": true}
)

type filterParser struct {
	toks  []ftok
	i     int
	depth int
}

func (p *filterParser) peek() ftok { return p.toks[p.i] }
func (p *filterParser) next() ftok { t := p.toks[p.i]; p.i++; return t }

// peekWord reports whether the next token is the identifier w.
func (p *filterParser) peekWord(w string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == w
}

// parseFilter parses src into a syntax tree.
func parseFilter(src string) (*fnode, error) {
	if len(src) > maxFilterLen {
		return nil, syntaxError(maxFilterLen, "expression longer than %d bytes", maxFilterLen)
	}
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, syntaxError(0, "empty expression")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	if c := filterCost(n); c > maxFilterCost {
		return nil, syntaxError(0, "expression too complex (estimated cost %d per row, at most %d); use fewer conditions or an 'in' list", c, maxFilterCost)
	}
	return n, nil
}

// filterCost estimates the work of evaluating n on one row: one unit per
// node, eight per function call (sixteen when it builds a string), and a
// lambda body counts four times (a typical collection size).
func filterCost(n *fnode) int {
	if n == nil {
		return 0
	}
	c := 1
	switch n.kind {
	case fnCall:
		c = 8
		if f := filterFunctions[n.op]; f.result == ftString {
			c = 16 // allocates a string
		}
	case fnLambda:
		return c + filterCost(n.args[0]) + 4*filterCost(n.args[1])
	}
	for _, a := range n.args {
		c += filterCost(a)
	}
	return c
}

func (p *filterParser) unexpected(t ftok) error {
	switch {
	case t.kind == tEOF:
		return syntaxError(t.pos, "unexpected end of expression")
	case t.kind == tIdent && (arithmeticOps[t.text] || t.text == "has"):
		return notImplemented("operator '%s' is not implemented (supported: %s)", t.text, supportedOperators)
	case t.kind == tString:
		return syntaxError(t.pos, "unexpected string '%s'", clip(t.text))
	}
	return syntaxError(t.pos, "unexpected '%s'", clip(t.text))
}

func (p *filterParser) expect(k tokKind, what string) (ftok, error) {
	t := p.next()
	if t.kind != k {
		if t.kind == tEOF {
			return t, syntaxError(t.pos, "missing %s", what)
		}
		return t, syntaxError(t.pos, "expected %s, got '%s'", what, clip(t.text))
	}
	return t, nil
}

// or parses: and ('or' and)*.
func (p *filterParser) or() (*fnode, error) {
	return p.chain("or", fnOr, p.and)
}

// and parses: comparison ('and' comparison)*.
func (p *filterParser) and() (*fnode, error) {
	return p.chain("and", fnAnd, p.comparison)
}

func (p *filterParser) chain(word string, kind fkind, operand func() (*fnode, error)) (*fnode, error) {
	first, err := operand()
	if err != nil || !p.peekWord(word) {
		return first, err
	}
	n := &fnode{kind: kind, pos: first.pos, args: []*fnode{first}}
	for p.peekWord(word) {
		p.next()
		m, err := operand()
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, m)
	}
	return n, nil
}

// comparison parses: unary (cmpop unary | 'in' list)*; arithmetic and has
// are recognized and refused as not implemented.
func (p *filterParser) comparison() (*fnode, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tIdent {
			return left, nil
		}
		switch {
		case comparisonOps[t.text]:
			p.next()
			right, err := p.unary()
			if err != nil {
				return nil, err
			}
			left = &fnode{kind: fnCmp, op: t.text, pos: t.pos, args: []*fnode{left, right}}
		case t.text == "in":
			p.next()
			if p.peek().kind != tLParen {
				if p.peek().kind == tIdent {
					return nil, notImplemented("'in' with a property on the right is not implemented; use a list like Status in ('Done','To Do') or Labels/any(l:l eq 'x')")
				}
				return nil, syntaxError(p.peek().pos, "expected '(' after 'in'")
			}
			lp := p.next()
			n := &fnode{kind: fnIn, pos: t.pos, args: []*fnode{left}}
			for {
				if err := p.enter(lp.pos); err != nil {
					return nil, err
				}
				item, err := p.or()
				p.depth--
				if err != nil {
					return nil, err
				}
				n.args = append(n.args, item)
				if p.peek().kind != tComma {
					break
				}
				p.next()
			}
			if _, err := p.expect(tRParen, "')' closing the 'in' list"); err != nil {
				return nil, err
			}
			left = n
		case arithmeticOps[t.text] || t.text == "has":
			return nil, p.unexpected(t)
		default:
			return left, nil
		}
	}
}

// enter counts one level of nesting.
func (p *filterParser) enter(pos int) error {
	p.depth++
	if p.depth > maxFilterDepth {
		return syntaxError(pos, "expression nested deeper than %d levels", maxFilterDepth)
	}
	return nil
}

// unary parses: 'not' unary | primary.
func (p *filterParser) unary() (*fnode, error) {
	t := p.peek()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch {
	case t.kind == tIdent && t.text == "not":
		p.next()
		arg, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &fnode{kind: fnNot, pos: t.pos, args: []*fnode{arg}}, nil
	case t.kind == tMinus:
		return nil, notImplemented("negation ('-' before a non-literal) is not implemented")
	}
	return p.primary()
}

// primary parses a parenthesized expression, a literal, a function call or
// a property path with an optional lambda.
func (p *filterParser) primary() (*fnode, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return n, nil
	case tString:
		return &fnode{kind: fnLit, pos: t.pos, lit: literal{kind: litString, v: str(t.text), text: "'" + clip(t.text) + "'"}}, nil
	case tBare:
		l, err := parseBare(t.text, t.pos)
		return &fnode{kind: fnLit, pos: t.pos, lit: l}, err
	case tIdent:
	default:
		if t.kind == tEOF {
			return nil, syntaxError(t.pos, "unexpected end of expression, expected a property, a literal or a function")
		}
		return nil, p.unexpected(t)
	}
	switch t.text {
	case "null":
		return &fnode{kind: fnLit, pos: t.pos, lit: literal{kind: litNull, v: value{null: true}, text: "null"}}, nil
	case "true", "false":
		return &fnode{kind: fnLit, pos: t.pos, lit: literal{kind: litBool, v: boolean(t.text == "true"), text: t.text}}, nil
	case "INF", "NaN", "$it", "$root", "$this":
		return nil, notImplemented("'%s' is not implemented", t.text)
	}
	if reserved[t.text] {
		return nil, syntaxError(t.pos, "expected a property, a literal or a function, got operator '%s'", t.text)
	}
	switch p.peek().kind {
	case tLParen:
		return p.call(t)
	case tString:
		return nil, notImplemented("typed literal %s'…' is not implemented", clip(t.text))
	case tSlash:
		return p.path(t)
	}
	return &fnode{kind: fnProp, name: t.text, pos: t.pos}, nil
}

// call parses the arguments of function name, whose '(' is next.
func (p *filterParser) call(name ftok) (*fnode, error) {
	if _, ok := filterFunctions[name.text]; !ok {
		if name.text == "any" || name.text == "all" {
			return nil, syntaxError(name.pos, "%s() needs a collection-valued property, as in Labels/%s(l:l eq 'x')", name.text, name.text)
		}
		return nil, notImplemented("function '%s' is not implemented (supported: %s)", clip(name.text), supportedFunctionList)
	}
	p.next() // (
	n := &fnode{kind: fnCall, op: name.text, pos: name.pos}
	if p.peek().kind == tRParen {
		p.next()
		return n, nil
	}
	for {
		arg, err := p.or()
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, arg)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if _, err := p.expect(tRParen, "')' closing "+name.text+"("); err != nil {
		return nil, err
	}
	return n, nil
}

// path parses first/segment… where the next token is '/': a lambda
// (any/all) or a longer property path, left to the compiler to refuse.
func (p *filterParser) path(first ftok) (*fnode, error) {
	prop := &fnode{kind: fnProp, name: first.text, pos: first.pos}
	for p.peek().kind == tSlash {
		p.next()
		seg, err := p.expect(tIdent, "a property or any/all after '/'")
		if err != nil {
			return nil, err
		}
		if (seg.text == "any" || seg.text == "all") && p.peek().kind == tLParen {
			return p.lambda(prop, seg)
		}
		prop.name += "/" + seg.text
	}
	return prop, nil
}

// lambda parses "(v: expr)" or "()" after coll/any or coll/all.
func (p *filterParser) lambda(coll *fnode, op ftok) (*fnode, error) {
	p.next() // (
	n := &fnode{kind: fnLambda, op: op.text, pos: op.pos, args: []*fnode{coll, nil}}
	if p.peek().kind == tRParen {
		p.next()
		if op.text == "all" {
			return nil, syntaxError(op.pos, "all() needs a lambda, as in all(l:l ne 'x')")
		}
		return n, nil
	}
	v, err := p.expect(tIdent, "a lambda variable")
	if err != nil {
		return nil, err
	}
	if reserved[v.text] || strings.ContainsAny(v.text, ".$") {
		return nil, syntaxError(v.pos, "'%s' cannot be a lambda variable", clip(v.text))
	}
	if _, err := p.expect(tColon, "':' after the lambda variable"); err != nil {
		return nil, err
	}
	n.name = v.text
	if n.args[1], err = p.or(); err != nil {
		return nil, err
	}
	if _, err := p.expect(tRParen, "')' closing "+op.text+"("); err != nil {
		return nil, err
	}
	return n, nil
}
