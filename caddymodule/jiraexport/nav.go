package jiraexport

import (
	"fmt"
	"strings"
)

// navigation is a navigation property of an entity type whose rows are R.
type navigation[R any] struct {
	name     string
	target   string // entity set it binds to
	many     bool   // collection-valued
	nullable bool   // single-valued only: the target may be missing
	partner  string // the navigation property of the target pointing back, or ""
	// refs are the referential constraints: pairs of a property of this
	// type and the property of the target it equals.
	refs [][2]string
	// link appends the row indices, in the target set, of the entities r
	// points to.
	link func(r *R, out []int) []int
}

// entityTypeOf maps every entity set to its entity type.
var entityTypeOf = map[string]string{
	"Issues": "Issue", "Projects": "Project", "Sprints": "Sprint", "Worklogs": "Worklog", "Users": "User",
	"IssueSprints": "IssueSprint", "IssueStatusChanges": "IssueStatusChange",
	"SprintReports": "SprintReport", "Velocity": "SprintVelocity",
}

// ref is a referential-constraint pair property → referenced property.
func ref(prop, referenced string) [][2]string { return [][2]string{{prop, referenced}} }

// navIndex finds a navigation property by its exact name.
func (t *table[R]) navIndex(name string) (int, bool) {
	for i, n := range t.navs {
		if n.name == name {
			return i, true
		}
	}
	return 0, false
}

// writeNavigationCSDL appends the NavigationProperty elements of t.
func (t *table[R]) writeNavigationCSDL(b *strings.Builder) {
	for _, n := range t.navs {
		typ := schemaNamespace + "." + entityTypeOf[n.target]
		if n.many {
			typ = "Collection(" + typ + ")"
		}
		b.WriteString(`<NavigationProperty Name="` + n.name + `" Type="` + typ + `"`)
		if !n.many && !n.nullable {
			b.WriteString(` Nullable="false"`)
		}
		if n.partner != "" {
			b.WriteString(` Partner="` + n.partner + `"`)
		}
		if len(n.refs) == 0 {
			b.WriteString(`/>`)
			continue
		}
		b.WriteString(`>`)
		for _, r := range n.refs {
			b.WriteString(`<ReferentialConstraint Property="` + r[0] + `" ReferencedProperty="` + r[1] + `"/>`)
		}
		b.WriteString(`</NavigationProperty>`)
	}
}

// writeEntitySetCSDL appends the EntitySet element of t with one
// NavigationPropertyBinding per navigation property.
func (t *table[R]) writeEntitySetCSDL(b *strings.Builder) {
	b.WriteString(`<EntitySet Name="` + t.name + `" EntityType="` + schemaNamespace + "." + t.typeName + `"`)
	if len(t.navs) == 0 {
		b.WriteString(`/>`)
		return
	}
	b.WriteString(`>`)
	for _, n := range t.navs {
		b.WriteString(`<NavigationPropertyBinding Path="` + n.name + `" Target="` + n.target + `"/>`)
	}
	b.WriteString(`</EntitySet>`)
}

// expander writes the expanded entities of one navigation property; it is
// compiled per request and not safe for concurrent use.
type expander interface {
	// appendExpanded appends the visible rows idx as a JSON object (null
	// when there is none) or, if many, as an array.
	appendExpanded(b []byte, v *viewer, idx []int, many bool) []byte
	// selectList is the context-URL select list of the expansion, e.g.
	// "(Key,Name)", or "()" for all properties.
	selectList() string
}

// nestedPlan is the $select of an expanded set.
type nestedPlan[R any] struct {
	p   *plan[R]
	row R
}

func (n *nestedPlan[R]) appendExpanded(b []byte, v *viewer, idx []int, many bool) []byte {
	if many {
		b = append(b, '[')
	}
	first := true
	for _, i := range idx {
		if !n.p.t.visible(v, i) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		n.p.t.load(i, &n.row)
		b = n.p.appendEntity(b, &n.row, "", nil)
		if !many {
			break
		}
	}
	if many {
		return append(b, ']')
	}
	if first {
		return append(b, "null"...)
	}
	return b
}

func (n *nestedPlan[R]) selectList() string {
	if s := n.p.selectList(); s != "" {
		return s
	}
	return "()"
}

// nested compiles the $select of an expansion into t.
func (t *table[R]) nested(o *options) (expander, error) {
	p := &plan[R]{t: t}
	if err := p.compileSelect(o); err != nil {
		return nil, err
	}
	return &nestedPlan[R]{p: p}, nil
}

// expandItem is one compiled $expand item of a plan.
type expandItem[R any] struct {
	nav *navigation[R]
	w   expander
	idx []int // scratch
}

// compileExpand parses $expand: a comma-separated list of navigation
// properties, each optionally with a nested ($select=...). One level only.
func (p *plan[R]) compileExpand(src string, setOf func(name string) entitySet) error {
	items, err := splitTopLevel(src)
	if err != nil {
		return err
	}
	for _, item := range items {
		name, nestedOpts, hasNested := strings.Cut(item, "(")
		name = strings.TrimSpace(name)
		if hasNested && !strings.HasSuffix(item, ")") {
			return fmt.Errorf("$expand: unexpected text after ')' in '%s'", item)
		}
		if name == "*" {
			return expandNotImplemented("$expand: '*' is not supported; name the navigation properties of %s", p.t.name)
		}
		if strings.Contains(name, "/") {
			return expandNotImplemented("$expand: '%s' is not supported (one level of navigation properties only)", name)
		}
		ni, ok := p.t.navIndex(name)
		if !ok {
			return fmt.Errorf("$expand: unknown navigation property '%s' of %s", name, p.t.name)
		}
		for _, e := range p.expands {
			if e.nav.name == name {
				return fmt.Errorf("$expand: '%s' is given more than once", name)
			}
		}
		no := &options{present: map[string]bool{}}
		if hasNested {
			if err := parseNestedOptions(name, strings.TrimSuffix(nestedOpts, ")"), no); err != nil {
				return err
			}
		}
		w, err := setOf(p.t.navs[ni].target).nested(no)
		if err != nil {
			return fmt.Errorf("$expand=%s: %w", name, err)
		}
		p.expands = append(p.expands, expandItem[R]{nav: &p.t.navs[ni], w: w})
	}
	return nil
}

// parseNestedOptions accepts the options of an expand item: $select only.
func parseNestedOptions(nav, src string, o *options) error {
	for _, part := range strings.Split(src, ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case name == "$select" && !o.present[name]:
			o.present[name], o.sel = true, val
		case name == "":
			return fmt.Errorf("$expand=%s(...): empty option", nav)
		case strings.HasPrefix(name, "$") && supportedOptions[name] || name == "$levels":
			return expandNotImplemented("$expand=%s(%s): only a nested $select is supported", nav, name)
		default:
			return fmt.Errorf("$expand=%s(%s): unknown or repeated option (only a nested $select is supported)", nav, name)
		}
	}
	return nil
}

// unimplementedError is valid OData this service does not implement: the
// service answers it 501 NotImplemented rather than 400.
type unimplementedError struct{ msg string }

func (e *unimplementedError) Error() string { return e.msg }

// NotImplemented marks the error for a 501 answer.
func (e *unimplementedError) NotImplemented() bool { return true }

func expandNotImplemented(format string, args ...any) error {
	return &unimplementedError{fmt.Sprintf(format, args...)}
}

// splitTopLevel splits an $expand value at the commas outside parentheses.
func splitTopLevel(src string) ([]string, error) {
	var items []string
	depth, start := 0, 0
	for i := 0; i <= len(src); i++ {
		if i < len(src) {
			switch src[i] {
			case '(':
				depth++
				continue
			case ')':
				if depth--; depth < 0 {
					return nil, fmt.Errorf("$expand: unbalanced ')' in %q", src)
				}
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		if depth > 0 {
			return nil, fmt.Errorf("$expand: missing ')' in %q", src)
		}
		item := strings.TrimSpace(src[start:i])
		if item == "" {
			return nil, fmt.Errorf("$expand: empty item in %q", src)
		}
		items = append(items, item)
		start = i + 1
	}
	return items, nil
}
