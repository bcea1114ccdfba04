package jiraexport

import "strings"

// sortColumn holds one $orderby key of every matching row, columnar.
type sortColumn struct {
	typ  edmType
	desc bool
	null []bool
	s    []string
	n    []float64
	t    []int64
}

func newSortColumn(typ edmType, desc bool, rows int) sortColumn {
	c := sortColumn{typ: typ, desc: desc, null: make([]bool, rows)}
	switch typ {
	case edmString:
		c.s = make([]string, rows)
	case edmDateTimeOffset:
		c.t = make([]int64, rows) // the data has whole seconds only
	default:
		c.n = make([]float64, rows)
	}
	return c
}

func (c *sortColumn) set(pos int, v value) {
	c.null[pos] = v.null
	switch {
	case v.null:
	case c.typ == edmString:
		c.s[pos] = v.s
	case c.typ == edmDateTimeOffset:
		c.t[pos] = v.sec
	case c.typ == edmBoolean && v.b:
		c.n[pos] = 1
	default:
		c.n[pos] = v.n
	}
}

// compare orders positions a and b; nulls come first ascending, last
// descending.
func (c *sortColumn) compare(a, b int) int {
	r := 0
	switch {
	case c.null[a] || c.null[b]:
		r = cmpBool(c.null[b], c.null[a])
	case c.s != nil:
		r = strings.Compare(c.s[a], c.s[b])
	case c.t != nil:
		r = cmpOrdered(c.t[a], c.t[b])
	default:
		r = cmpOrdered(c.n[a], c.n[b])
	}
	if c.desc {
		return -r
	}
	return r
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	if a == b {
		return 0
	}
	if a {
		return 1
	}
	return -1
}
