package jiraexport

import (
	"fmt"
	"net/http"
	"strings"
)

// Navigation paths: Set(key)/Nav addresses what a navigation property of
// one entity points to, as Power Query requests it when a person drills
// into a related-table cell: the collection (with the query options of a
// collection, paged like one) or the single entity; Set(key)/Nav/$count
// counts a collection.

// domain is the row index space of a request: every row of t, or the rows
// a navigation path selected (rq.subset).
func (t *table[R]) domain(rq *request) (int, func(pos int) int) {
	if rq.hasSubset {
		return len(rq.subset), func(pos int) int { return rq.subset[pos] }
	}
	return t.size(), func(pos int) int { return pos }
}

func (t *table[R]) serveNavigation(rq *request, keyText, path string) error {
	name, rest, _ := strings.Cut(path, "/")
	ni, ok := t.navIndex(name)
	if !ok || (rest != "" && rest != "$count") {
		return writeError(rq.w, http.StatusNotFound, "NotFound", fmt.Sprintf("resource not found for the segment '%s' of %s", path, t.name))
	}
	nav := &t.navs[ni]
	if rest == "$count" && !nav.many {
		return writeError(rq.w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s is single-valued: it has no $count", name))
	}
	i, err := t.lookup(rq, keyText)
	if err != nil || i < 0 {
		return err
	}
	var row R
	t.load(i, &row)
	return rq.svc.set(nav.target).serveRelated(rq, nav.link(&row, nil), nav.many, rest == "$count")
}

// serveRelated answers the rows idx of t that a navigation path selected:
// as a collection or its count if many, else as the single entity (204 No
// Content when there is none, as OData answers a null navigation).
func (t *table[R]) serveRelated(rq *request, idx []int, many, count bool) error {
	switch {
	case count:
		rq.subset, rq.hasSubset = idx, true
		return t.serveCount(rq)
	case many:
		rq.subset, rq.hasSubset = idx, true
		return t.serveCollection(rq)
	}
	if err := rq.opts.only("a single entity", "$select", "$expand", "$format"); err != nil {
		return rq.badRequest(err)
	}
	if len(idx) == 0 || !t.visible(&rq.viewer, idx[0]) {
		rq.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return t.writeEntity(rq, idx[0])
}
