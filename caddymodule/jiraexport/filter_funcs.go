package jiraexport

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// ffunc is a canonical function the filter language implements. A null
// argument makes the result null.
type ffunc struct {
	args    [][]ftype // the types each argument accepts
	minArgs int
	result  ftype
	fn      func(a []value) value
}

var (
	anyString = []ftype{ftString}
	anyNumber = []ftype{ftNumber}
	anyTime   = []ftype{ftTime}
	timeDate  = []ftype{ftTime, ftDate}
)

// filterFunctions are the implemented functions, by name.
var filterFunctions = map[string]ffunc{
	"contains":   {[][]ftype{anyString, anyString}, 2, ftBool, func(a []value) value { return boolean(strings.Contains(a[0].s, a[1].s)) }},
	"startswith": {[][]ftype{anyString, anyString}, 2, ftBool, func(a []value) value { return boolean(strings.HasPrefix(a[0].s, a[1].s)) }},
	"endswith":   {[][]ftype{anyString, anyString}, 2, ftBool, func(a []value) value { return boolean(strings.HasSuffix(a[0].s, a[1].s)) }},
	"tolower":    {[][]ftype{anyString}, 1, ftString, func(a []value) value { return str(strings.ToLower(a[0].s)) }},
	"toupper":    {[][]ftype{anyString}, 1, ftString, func(a []value) value { return str(strings.ToUpper(a[0].s)) }},
	"trim":       {[][]ftype{anyString}, 1, ftString, func(a []value) value { return str(strings.TrimSpace(a[0].s)) }},
	"length":     {[][]ftype{anyString}, 1, ftNumber, func(a []value) value { return num(float64(utf8.RuneCountInString(a[0].s))) }},
	"indexof":    {[][]ftype{anyString, anyString}, 2, ftNumber, indexOf},
	"substring":  {[][]ftype{anyString, anyNumber, anyNumber}, 2, ftString, substring},
	"year":       {[][]ftype{timeDate}, 1, ftNumber, datePart(func(t time.Time) int { return t.Year() })},
	"month":      {[][]ftype{timeDate}, 1, ftNumber, datePart(func(t time.Time) int { return int(t.Month()) })},
	"day":        {[][]ftype{timeDate}, 1, ftNumber, datePart(func(t time.Time) int { return t.Day() })},
	"hour":       {[][]ftype{anyTime}, 1, ftNumber, datePart(func(t time.Time) int { return t.Hour() })},
	"minute":     {[][]ftype{anyTime}, 1, ftNumber, datePart(func(t time.Time) int { return t.Minute() })},
	"date":       {[][]ftype{anyTime}, 1, ftDate, dateOf},
}

// supportedFunctionList and supportedOperators name what is implemented, for
// error messages; filterCapabilities lists both in $metadata.
var (
	supportedFunctionList = "contains, startswith, endswith, tolower, toupper, length, indexof, substring, trim, year, month, day, hour, minute, date"
	supportedOperators    = "eq, ne, gt, ge, lt, le, and, or, not, in, any, all"
)

// indexOf is the zero-based index, in characters, of a[1] in a[0], or -1.
func indexOf(a []value) value {
	i := strings.Index(a[0].s, a[1].s)
	if i < 0 {
		return num(-1)
	}
	return num(float64(utf8.RuneCountInString(a[0].s[:i])))
}

// substring returns the characters of a[0] from a[1] on, at most a[2] of
// them when given; out-of-range positions are clamped.
func substring(a []value) value {
	s := a[0].s
	n := utf8.RuneCountInString(s)
	clamp := func(f float64) int {
		if math.IsNaN(f) || f < 0 {
			return 0
		}
		return int(min(math.Trunc(f), float64(n)))
	}
	from := clamp(a[1].n)
	to := n
	if len(a) > 2 {
		to = min(from+clamp(a[2].n), n)
	}
	if n == len(s) { // ASCII: character and byte offsets agree
		return str(s[from:to])
	}
	r := []rune(s)
	return str(string(r[from:to]))
}

func datePart(part func(t time.Time) int) func(a []value) value {
	return func(a []value) value {
		return num(float64(part(time.Unix(a[0].sec, int64(a[0].nsec)).UTC())))
	}
}

// dateOf is the date (midnight UTC) of a DateTimeOffset.
func dateOf(a []value) value {
	sec := a[0].sec
	return tim(sec - ((sec%86400)+86400)%86400)
}

// call compiles a function call.
func (c *compiler[R]) call(n *fnode) (*cexpr[R], error) {
	f := filterFunctions[n.op]
	if len(n.args) < f.minArgs || len(n.args) > len(f.args) {
		want := f.minArgs
		if want != len(f.args) {
			return nil, syntaxError(n.pos, "%s takes %d or %d arguments, got %d", n.op, want, len(f.args), len(n.args))
		}
		return nil, syntaxError(n.pos, "%s takes %d argument(s), got %d", n.op, want, len(n.args))
	}
	xs := make([]*cexpr[R], len(n.args))
	for i, a := range n.args {
		x, err := c.compile(a)
		if err != nil {
			return nil, err
		}
		ok := x.typ == ftNull && !x.coll
		for _, t := range f.args[i] {
			ok = ok || x.typ == t && !x.coll
		}
		if !ok {
			return nil, typeError("argument %d of %s must be %s, but %s is %s", i+1, n.op, typeNames(f.args[i]), x.desc, describe(x))
		}
		xs[i] = x
	}
	fn := f.fn
	return &cexpr[R]{typ: f.result, desc: n.op + "()", eval: func(r *R, e *fenv) value {
		var buf [3]value
		a := buf[:len(xs)]
		for i, x := range xs {
			if a[i] = x.eval(r, e); a[i].null {
				return value{null: true}
			}
		}
		return fn(a)
	}}, nil
}

func typeNames(ts []ftype) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, " or ")
}

func describe[R any](x *cexpr[R]) string {
	if x.coll {
		return "a collection"
	}
	return x.typ.String()
}
