package jiraexport

import (
	"strings"
)

// edmType is the EDM type of a property.
type edmType uint8

const (
	edmString edmType = iota
	edmInt32
	edmInt64
	edmDouble
	edmDateTimeOffset
	edmBoolean
	edmStringCollection
)

// String returns the EDM type name, e.g. Edm.String.
func (t edmType) String() string {
	switch t {
	case edmInt32:
		return "Edm.Int32"
	case edmInt64:
		return "Edm.Int64"
	case edmDouble:
		return "Edm.Double"
	case edmDateTimeOffset:
		return "Edm.DateTimeOffset"
	case edmBoolean:
		return "Edm.Boolean"
	case edmStringCollection:
		return "Collection(Edm.String)"
	default:
		return "Edm.String"
	}
}

func (t edmType) numeric() bool { return t == edmInt32 || t == edmInt64 || t == edmDouble }

// value is one property value of a row. Times are whole seconds plus
// nanoseconds since the Unix epoch, UTC.
type value struct {
	null bool
	s    string
	n    float64
	sec  int64
	nsec int32
	b    bool
	list []string
}

func str(s string) value    { return value{s: s} }
func num(n float64) value   { return value{n: n} }
func tim(sec int64) value   { return value{sec: sec} }
func boolean(b bool) value  { return value{b: b} }
func strs(l []string) value { return value{list: l} }
func optNum(ok bool, n float64) value {
	if !ok {
		return value{null: true}
	}
	return value{n: n}
}
func optTime(ok bool, sec int64) value {
	if !ok {
		return value{null: true}
	}
	return value{sec: sec}
}

// compareValues orders two non-collection values of type t; null sorts
// before everything (OData: nulls first in ascending order).
func compareValues(t edmType, a, b value) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return -1
	case b.null:
		return 1
	}
	switch t {
	case edmString:
		return strings.Compare(a.s, b.s)
	case edmDateTimeOffset:
		if a.sec != b.sec {
			return cmp3(a.sec < b.sec)
		}
		if a.nsec != b.nsec {
			return cmp3(a.nsec < b.nsec)
		}
		return 0
	case edmBoolean:
		if a.b == b.b {
			return 0
		}
		return cmp3(!a.b)
	default:
		if a.n == b.n {
			return 0
		}
		return cmp3(a.n < b.n)
	}
}

func cmp3(less bool) int {
	if less {
		return -1
	}
	return 1
}

// viewer is the identity of a request and what it may see.
type viewer struct {
	user     string
	projects uint64
}

func (v *viewer) member(p int) bool { return v.projects&(1<<p) != 0 }

// column is one property of an entity type whose rows are R.
type column[R any] struct {
	name     string
	typ      edmType
	nullable bool
	get      func(r *R) value
}

// table is an entity set whose rows, of type R, are generated on demand from
// their index 0..size()-1.
type table[R any] struct {
	name     string // entity set
	typeName string // entity type
	key      int    // index of the key column in cols
	cols     []column[R]
	size     func() int
	visible  func(v *viewer, i int) bool
	load     func(i int, r *R)
	find     func(key value) (int, bool) // a key literal to its row index
	navs     []navigation[R]
}

// colIndex finds a property by its exact name.
func (t *table[R]) colIndex(name string) (int, bool) {
	for i, c := range t.cols {
		if c.name == name {
			return i, true
		}
	}
	return 0, false
}

// entitySet is what the router needs of a table, independent of R.
type entitySet interface {
	setName() string
	entityTypeName() string
	writeCSDL(b *strings.Builder)
	writeEntitySetCSDL(b *strings.Builder)
	nested(o *options) (expander, error)
	serveCollection(rq *request) error
	serveCount(rq *request) error
	serveEntity(rq *request, keyText string) error
	serveNavigation(rq *request, keyText, path string) error
	serveRelated(rq *request, idx []int, many, count bool) error
}

func (t *table[R]) setName() string        { return t.name }
func (t *table[R]) entityTypeName() string { return t.typeName }

// writeCSDL appends the EntityType element of t.
func (t *table[R]) writeCSDL(b *strings.Builder) {
	b.WriteString(`<EntityType Name="` + t.typeName + `"><Key><PropertyRef Name="` + t.cols[t.key].name + `"/></Key>`)
	for _, c := range t.cols {
		b.WriteString(`<Property Name="` + c.name + `" Type="` + c.typ.String() + `"`)
		if !c.nullable {
			b.WriteString(` Nullable="false"`)
		}
		b.WriteString(`/>`)
	}
	t.writeNavigationCSDL(b)
	b.WriteString(`</EntityType>`)
}
