package jiraexport

import (
	"strings"
)

// ftype is the static type of a filter subexpression.
type ftype uint8

const (
	ftNull   ftype = iota // the untyped null literal
	ftString              // Edm.String
	ftNumber              // every numeric EDM type
	ftBool                // Edm.Boolean
	ftTime                // Edm.DateTimeOffset
	ftDate                // Edm.Date: a time at midnight UTC
)

// String names the type in error messages.
func (t ftype) String() string {
	return [...]string{"null", "Edm.String", "a number", "Edm.Boolean", "Edm.DateTimeOffset", "Edm.Date"}[t]
}

// scalarType maps an EDM type name to its filter type.
func scalarType(edm string) (ftype, bool) {
	switch edm {
	case "Edm.String":
		return ftString, true
	case "Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Double", "Edm.Single", "Edm.Decimal":
		return ftNumber, true
	case "Edm.Boolean":
		return ftBool, true
	case "Edm.DateTimeOffset":
		return ftTime, true
	case "Edm.Date":
		return ftDate, true
	}
	return 0, false
}

// propType classifies a declared property: its scalar type, or for a
// collection the type of its elements and coll set.
func propType(t edmType) (typ ftype, coll, ok bool) {
	name := t.String()
	if inner, found := strings.CutPrefix(name, "Collection("); found {
		typ, ok = scalarType(strings.TrimSuffix(inner, ")"))
		return typ, true, ok
	}
	typ, ok = scalarType(name)
	return typ, false, ok
}

// forEachElem calls f on each element of the collection value v until f
// returns false, and reports whether it never did.
func forEachElem(v value, f func(e value) bool) bool {
	for _, s := range v.list {
		if !f(str(s)) {
			return false
		}
	}
	return true
}

// fenv is the evaluation state of one row: the values of lambda variables.
type fenv struct{ vars []value }

// cexpr is a compiled subexpression.
type cexpr[R any] struct {
	typ  ftype
	desc string // how error messages name it
	coll bool   // a collection-valued property (only valid under any/all)
	eval func(r *R, e *fenv) value
}

// compiler compiles a syntax tree against the columns of one table.
type compiler[R any] struct {
	t     *table[R]
	scope []string // lambda variables in scope, innermost last
}

// compileFilter type-checks n against t and returns the row predicate: a
// row matches when the expression is true (not false, not null).
func compileFilter[R any](t *table[R], n *fnode) (func(r *R) bool, error) {
	c := &compiler[R]{t: t}
	x, err := c.compile(n)
	if err != nil {
		return nil, err
	}
	if err := c.want(x, ftBool, "$filter"); err != nil {
		return nil, typeError("the expression must be a boolean condition, not %s", x.desc)
	}
	nvars := c.maxVars(n, 0)
	return func(r *R) bool {
		e := fenv{}
		if nvars > 0 {
			e.vars = make([]value, nvars)
		}
		v := x.eval(r, &e)
		return !v.null && v.b
	}, nil
}

// maxVars is the deepest lambda nesting under n.
func (c *compiler[R]) maxVars(n *fnode, d int) int {
	if n == nil {
		return d
	}
	if n.kind == fnLambda && n.name != "" {
		d++
	}
	m := d
	for _, a := range n.args {
		m = max(m, c.maxVars(a, d))
	}
	return m
}

// want checks that x has type t (or is the null literal).
func (c *compiler[R]) want(x *cexpr[R], t ftype, where string) error {
	if x.coll {
		name := strings.Fields(x.desc)[0]
		return typeError("%s is a collection; use %s/any(x:…) or %s/all(x:…) (in %s)", x.desc, name, name, where)
	}
	if x.typ != t && x.typ != ftNull {
		return typeError("%s expects %s, but %s is %s", where, t, x.desc, x.typ)
	}
	return nil
}

func (c *compiler[R]) compile(n *fnode) (*cexpr[R], error) {
	switch n.kind {
	case fnLit:
		v := n.lit.v
		typ := [...]ftype{litNull: ftNull, litString: ftString, litNumber: ftNumber, litTime: ftTime, litBool: ftBool, litDate: ftDate}[n.lit.kind]
		return &cexpr[R]{typ: typ, desc: n.lit.text, eval: func(*R, *fenv) value { return v }}, nil
	case fnProp:
		return c.property(n)
	case fnAnd, fnOr:
		return c.logical(n)
	case fnNot:
		x, err := c.compile(n.args[0])
		if err != nil {
			return nil, err
		}
		if err := c.want(x, ftBool, "not"); err != nil {
			return nil, err
		}
		return &cexpr[R]{typ: ftBool, desc: "not(…)", eval: func(r *R, e *fenv) value {
			v := x.eval(r, e)
			if v.null {
				return v
			}
			return boolean(!v.b)
		}}, nil
	case fnCmp:
		return c.comparison(n)
	case fnIn:
		return c.in(n)
	case fnCall:
		return c.call(n)
	default: // fnLambda
		return c.lambda(n)
	}
}

// property resolves a lambda variable or a column of the table.
func (c *compiler[R]) property(n *fnode) (*cexpr[R], error) {
	first, rest, isPath := strings.Cut(n.name, "/")
	for i := len(c.scope) - 1; i >= 0; i-- {
		if c.scope[i] == first {
			if isPath {
				return nil, notImplemented("path '%s' on a lambda variable is not implemented", clip(n.name))
			}
			idx := i
			return &cexpr[R]{typ: ftString, desc: first, eval: func(_ *R, e *fenv) value { return e.vars[idx] }}, nil
		}
	}
	ci, ok := c.t.colIndex(first)
	if _, isNav := c.t.navIndex(first); !ok && isNav {
		return nil, notImplemented("filtering through the navigation property '%s' is not implemented; filter on the properties of %s (such as its foreign keys)", first, c.t.name)
	}
	if !ok {
		return nil, syntaxError(n.pos, "unknown property '%s' of %s", clip(first), c.t.name)
	}
	col := c.t.cols[ci]
	if isPath {
		return nil, notImplemented("property path '%s/%s' is not implemented; filter on properties of %s", first, clip(rest), c.t.name)
	}
	typ, coll, ok := propType(col.typ)
	if !ok {
		return nil, notImplemented("filtering on %s (%s) is not implemented", col.name, col.typ)
	}
	return &cexpr[R]{typ: typ, coll: coll, desc: col.name + " (" + col.typ.String() + ")", eval: func(r *R, _ *fenv) value { return col.get(r) }}, nil
}

// logical compiles and/or with OData's three-valued logic: false and null
// is false, true or null is true, otherwise null propagates.
func (c *compiler[R]) logical(n *fnode) (*cexpr[R], error) {
	word := map[fkind]string{fnAnd: "and", fnOr: "or"}[n.kind]
	xs := make([]*cexpr[R], len(n.args))
	for i, a := range n.args {
		x, err := c.compile(a)
		if err != nil {
			return nil, err
		}
		if err := c.want(x, ftBool, "'"+word+"'"); err != nil {
			return nil, err
		}
		xs[i] = x
	}
	decisive := n.kind == fnOr // the value that decides the result
	return &cexpr[R]{typ: ftBool, desc: "'" + word + "' expression", eval: func(r *R, e *fenv) value {
		sawNull := false
		for _, x := range xs {
			v := x.eval(r, e)
			switch {
			case v.null:
				sawNull = true
			case v.b == decisive:
				return boolean(decisive)
			}
		}
		if sawNull {
			return value{null: true}
		}
		return boolean(!decisive)
	}}, nil
}

// comparable checks that a and b can be compared with op and returns the
// type to compare them as.
func (c *compiler[R]) comparable(a, b *cexpr[R], op string) (ftype, error) {
	for _, x := range []*cexpr[R]{a, b} {
		if x.coll {
			return 0, typeError("%s is a collection and cannot be compared with '%s'; use %s/any(x:x %s …)", x.desc, op, strings.Fields(x.desc)[0], op)
		}
	}
	t := a.typ
	switch {
	case a.typ == ftNull:
		t = b.typ
	case b.typ == ftNull:
	case a.typ == b.typ:
	case a.typ == ftTime && b.typ == ftDate || a.typ == ftDate && b.typ == ftTime:
		t = ftTime // a date compares as its midnight UTC
	default:
		return 0, typeError("cannot compare %s with %s, which is %s", a.desc, b.desc, b.typ)
	}
	if op != "eq" && op != "ne" && op != "in" {
		if a.typ == ftNull || b.typ == ftNull {
			return 0, typeError("null can only be compared with eq or ne, not '%s'", op)
		}
		if t == ftBool {
			return 0, typeError("%s and %s are Edm.Boolean and can only be compared with eq or ne, not '%s'", a.desc, b.desc, op)
		}
	}
	return t, nil
}

func (c *compiler[R]) comparison(n *fnode) (*cexpr[R], error) {
	a, err := c.compile(n.args[0])
	if err != nil {
		return nil, err
	}
	b, err := c.compile(n.args[1])
	if err != nil {
		return nil, err
	}
	t, err := c.comparable(a, b, n.op)
	if err != nil {
		return nil, err
	}
	edm := edmOf(t)
	op := n.op
	return &cexpr[R]{typ: ftBool, desc: "'" + op + "' comparison", eval: func(r *R, e *fenv) value {
		return boolean(matches(edm, op, a.eval(r, e), b.eval(r, e)))
	}}, nil
}

func (c *compiler[R]) in(n *fnode) (*cexpr[R], error) {
	left, err := c.compile(n.args[0])
	if err != nil {
		return nil, err
	}
	items := make([]*cexpr[R], 0, len(n.args)-1)
	t := left.typ
	for _, a := range n.args[1:] {
		x, err := c.compile(a)
		if err != nil {
			return nil, err
		}
		if t, err = c.comparable(left, x, "in"); err != nil {
			return nil, err
		}
		items = append(items, x)
	}
	edm := edmOf(t)
	return &cexpr[R]{typ: ftBool, desc: "'in' expression", eval: func(r *R, e *fenv) value {
		v := left.eval(r, e)
		for _, x := range items {
			if matches(edm, "eq", v, x.eval(r, e)) {
				return boolean(true)
			}
		}
		return boolean(false)
	}}, nil
}

// edmOf is the EDM type compareValues orders values of t as.
func edmOf(t ftype) edmType {
	switch t {
	case ftNumber:
		return edmDouble
	case ftBool:
		return edmBoolean
	case ftTime, ftDate:
		return edmDateTimeOffset
	}
	return edmString
}

// matches applies OData's null rules: null equals only null, and relational
// operators are false when either side is null.
func matches(typ edmType, op string, v, w value) bool {
	if v.null || w.null {
		return (v.null == w.null) == (op == "eq") && (op == "eq" || op == "ne")
	}
	c := compareValues(typ, v, w)
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

// lambda compiles coll/any(v:body), coll/all(v:body) and coll/any().
func (c *compiler[R]) lambda(n *fnode) (*cexpr[R], error) {
	coll, err := c.compile(n.args[0])
	if err != nil {
		return nil, err
	}
	if !coll.coll {
		return nil, typeError("%s() needs a collection-valued property, but %s is not a collection", n.op, coll.desc)
	}
	if n.args[1] == nil { // any(): not empty
		return &cexpr[R]{typ: ftBool, desc: "any()", eval: func(r *R, e *fenv) value {
			return boolean(!forEachElem(coll.eval(r, e), func(value) bool { return false }))
		}}, nil
	}
	if coll.typ != ftString {
		return nil, notImplemented("lambdas over collections of %s are not implemented", coll.typ)
	}
	if len(c.scope) >= maxLambdaDepth {
		return nil, notImplemented("lambdas nested more than %d deep are not implemented", maxLambdaDepth)
	}
	for _, v := range c.scope {
		if v == n.name {
			return nil, syntaxError(n.pos, "lambda variable '%s' is already in use", n.name)
		}
	}
	idx := len(c.scope)
	c.scope = append(c.scope, n.name)
	body, err := c.compile(n.args[1])
	c.scope = c.scope[:idx]
	if err != nil {
		return nil, err
	}
	if err := c.want(body, ftBool, n.op+"()"); err != nil {
		return nil, err
	}
	all := n.op == "all"
	return &cexpr[R]{typ: ftBool, desc: n.op + "()", eval: func(r *R, e *fenv) value {
		sawNull := false
		done := forEachElem(coll.eval(r, e), func(el value) bool {
			e.vars[idx] = el
			v := body.eval(r, e)
			if v.null {
				sawNull = true
				return true
			}
			return v.b == all // stop at the first counterexample / witness
		})
		switch {
		case !done:
			return boolean(!all)
		case sawNull:
			return value{null: true}
		}
		return boolean(all)
	}}, nil
}
