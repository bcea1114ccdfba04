package jiraexport

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// options are the parsed query options of a request. Property-dependent
// options ($filter, $select, $orderby) are kept as text here and compiled
// against the addressed entity set by plan.
type options struct {
	present   map[string]bool
	filter    string
	sel       string
	orderby   string
	expand    string
	top, skip int // -1 = absent
	count     bool
	skiptoken string   // validated by parseSkipToken
	rawKept   []string // raw "name=value" pairs other than $skiptoken, for next links
}

// supportedOptions are the system query options this service understands.
var supportedOptions = map[string]bool{
	"$filter": true, "$select": true, "$orderby": true, "$top": true, "$skip": true,
	"$count": true, "$skiptoken": true, "$format": true, "$expand": true,
}

// parseOptions parses a raw query string. Unknown or repeated system query
// options and parameter aliases are errors; custom options (no '$' or '@'
// prefix) are allowed and ignored, as OData permits.
func parseOptions(raw string) (*options, error) {
	o := &options{present: map[string]bool{}, top: -1, skip: -1}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		rawName, rawVal, _ := strings.Cut(part, "=")
		name, err1 := url.QueryUnescape(rawName)
		val, err2 := url.QueryUnescape(rawVal)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("malformed query string near %q: bad percent-encoding", part)
		}
		if strings.HasPrefix(name, "@") {
			return nil, fmt.Errorf("parameter alias %s is not supported", name)
		}
		if !strings.HasPrefix(name, "$") {
			o.rawKept = append(o.rawKept, part)
			continue
		}
		if !supportedOptions[name] {
			return nil, fmt.Errorf("query option %s is not supported (supported: $filter, $select, $expand, $orderby, $top, $skip, $count, $skiptoken, $format)", name)
		}
		if o.present[name] {
			return nil, fmt.Errorf("query option %s is given more than once", name)
		}
		o.present[name] = true
		if name != "$skiptoken" {
			o.rawKept = append(o.rawKept, part)
		}
		switch name {
		case "$filter":
			o.filter = val
		case "$select":
			o.sel = val
		case "$orderby":
			o.orderby = val
		case "$expand":
			o.expand = val
		case "$top":
			o.top, err1 = nonNegative(name, val)
		case "$skip":
			o.skip, err1 = nonNegative(name, val)
		case "$skiptoken":
			o.skiptoken = val
		case "$count":
			switch val {
			case "true":
				o.count = true
			case "false":
			default:
				err1 = fmt.Errorf("$count must be true or false, got %q", val)
			}
		case "$format":
			switch strings.ReplaceAll(strings.ToLower(val), " ", "") {
			case "json", "application/json", "application/json;odata.metadata=minimal":
			default:
				err1 = fmt.Errorf("$format %q is not supported (supported: json)", val)
			}
		}
		if err1 != nil {
			return nil, err1
		}
	}
	return o, nil
}

func nonNegative(name, val string) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil || n < 0 || val[0] == '+' {
		return 0, fmt.Errorf("%s must be a non-negative integer, got %q", name, val)
	}
	return n, nil
}

// only rejects every present option not in allowed, for resources where the
// others make no sense (service document, $metadata, single entities).
func (o *options) only(resource string, allowed ...string) error {
	for name := range o.present {
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return fmt.Errorf("query option %s is not supported on %s", name, resource)
		}
	}
	return nil
}

// orderKey is one $orderby item.
type orderKey struct {
	col  int
	desc bool
}

// plan is a query compiled against one table.
type plan[R any] struct {
	t       *table[R]
	pred    func(r *R) bool // nil = no $filter
	cols    []int           // selected columns, in declaration order
	partial bool            // $select named a strict subset
	order   []orderKey
	expands []expandItem[R] // $expand, compiled by compileExpand
}

func compilePlan[R any](t *table[R], o *options) (*plan[R], error) {
	p := &plan[R]{t: t}
	if o.present["$filter"] {
		conds, err := parseFilter(o.filter)
		if err != nil {
			return nil, err
		}
		if p.pred, err = compileFilter(t, conds); err != nil {
			return nil, err
		}
	}
	if err := p.compileSelect(o); err != nil {
		return nil, err
	}
	if o.present["$orderby"] {
		if err := p.compileOrderBy(o.orderby); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *plan[R]) compileSelect(o *options) error {
	chosen := make([]bool, len(p.t.cols))
	all := !o.present["$select"]
	if !all {
		for _, item := range strings.Split(o.sel, ",") {
			item = strings.TrimSpace(item)
			switch {
			case item == "*":
				all = true
			case item == "":
				return fmt.Errorf("$select: empty item in %q", o.sel)
			case strings.ContainsAny(item, "/()"):
				return fmt.Errorf("$select: '%s' is not supported (only property names and *)", item)
			default:
				ci, ok := p.t.colIndex(item)
				if _, isNav := p.t.navIndex(item); !ok && isNav {
					continue // a navigation property: written when expanded
				}
				if !ok {
					return fmt.Errorf("$select: unknown property '%s' of %s", item, p.t.name)
				}
				chosen[ci] = true
			}
		}
	}
	p.cols = p.cols[:0]
	for i := range p.t.cols {
		if all || chosen[i] {
			p.cols = append(p.cols, i)
		}
	}
	p.partial = len(p.cols) < len(p.t.cols)
	return nil
}

func (p *plan[R]) compileOrderBy(src string) error {
	for _, item := range strings.Split(src, ",") {
		fields := strings.Fields(item)
		if len(fields) == 0 {
			return fmt.Errorf("$orderby: empty item in %q", src)
		}
		name := fields[0]
		if strings.ContainsAny(name, "/()") {
			return fmt.Errorf("$orderby: '%s' is not supported (only property names)", strings.TrimSpace(item))
		}
		ci, ok := p.t.colIndex(name)
		if !ok {
			return fmt.Errorf("$orderby: unknown property '%s' of %s", name, p.t.name)
		}
		if p.t.cols[ci].typ == edmStringCollection {
			return fmt.Errorf("$orderby: property '%s' is a collection and cannot be sorted on", name)
		}
		k := orderKey{col: ci}
		switch {
		case len(fields) == 1:
		case len(fields) == 2 && fields[1] == "asc":
		case len(fields) == 2 && fields[1] == "desc":
			k.desc = true
		default:
			return fmt.Errorf("$orderby: expected '<property> [asc|desc]', got %q", strings.TrimSpace(item))
		}
		p.order = append(p.order, k)
	}
	return nil
}

// selectList is the "(Prop,...)" part of the context URL after
// "#<EntitySet>" when $select chose a subset, else "".
func (p *plan[R]) selectList() string {
	if !p.partial && len(p.expands) == 0 {
		return ""
	}
	var names []string
	if p.partial {
		for _, c := range p.cols {
			names = append(names, p.t.cols[c].name)
		}
	}
	for _, e := range p.expands {
		names = append(names, e.nav.name+e.w.selectList())
	}
	return "(" + strings.Join(names, ",") + ")"
}
