package jiraexport

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// skipToken is the position of a page: pos is the index, in the filtered and
// ordered sequence, of the page's first entity; for unordered sequences
// resume is the row index to continue scanning from, with exactly pos
// matches before it (so later pages need not rescan). Encoded "pos" or
// "pos.resume".
type skipToken struct {
	present   bool
	pos       int
	resume    int
	hasResume bool
}

func parseSkipToken(o *options, rows int) (skipToken, error) {
	if !o.present["$skiptoken"] {
		return skipToken{}, nil
	}
	bad := fmt.Errorf("$skiptoken %q is not valid for this request; use the @odata.nextLink as given", o.skiptoken)
	a, b, hasResume := strings.Cut(o.skiptoken, ".")
	pos, err := nonNegative("$skiptoken", a)
	if err != nil {
		return skipToken{}, bad
	}
	t := skipToken{present: true, pos: pos}
	if hasResume {
		r, err := nonNegative("$skiptoken", b)
		if err != nil || r > rows || r < 0 {
			return skipToken{}, bad
		}
		t.resume, t.hasResume = r, true
	}
	return t, nil
}

// window is the slice [start, end) of the matching sequence that $skip,
// $top and $skiptoken select, and pageEnd the end of this response's page.
type window struct{ start, end, pageEnd int }

func newWindow(o *options, tok skipToken, pageSize int) window {
	w := window{start: max(o.skip, 0), end: math.MaxInt}
	if o.top >= 0 {
		w.end = satAdd(w.start, o.top)
	}
	if tok.present {
		w.start = max(w.start, tok.pos)
	}
	w.pageEnd = min(satAdd(w.start, pageSize), w.end)
	return w
}

func satAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// compileRequest compiles the query options of rq against t, $expand
// included.
func compileRequest[R any](t *table[R], rq *request) (*plan[R], error) {
	p, err := compilePlan(t, rq.opts)
	if err != nil {
		return nil, err
	}
	if rq.opts.present["$expand"] {
		if err := p.compileExpand(rq.opts.expand, rq.svc.set); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (t *table[R]) serveCollection(rq *request) error {
	p, err := compileRequest(t, rq)
	if err != nil {
		return rq.badRequest(err)
	}
	n, at := t.domain(rq)
	tok, err := parseSkipToken(rq.opts, n)
	if err != nil {
		return rq.badRequest(err)
	}
	win := newWindow(rq.opts, tok, rq.pageSize)
	rq.startJSON()
	if rq.head {
		return nil
	}
	var row R
	match := func(pos int) bool {
		i := at(pos)
		if !t.visible(&rq.viewer, i) {
			return false
		}
		if p.pred == nil {
			return true
		}
		t.load(i, &row)
		return p.pred(&row)
	}
	js := newJSONStream(rq.w)
	js.buf = append(js.buf, `{"@odata.context":`...)
	js.buf = appendJSONString(js.buf, rq.root+"/$metadata#"+t.name+p.selectList())
	if len(p.order) > 0 {
		return p.streamSorted(rq, js, win, match, &row, n, at)
	}
	if rq.opts.count {
		total := 0
		for i := range n {
			if match(i) {
				total++
			}
		}
		js.buf = append(js.buf, `,"@odata.count":`...)
		js.buf = strconv.AppendInt(js.buf, int64(total), 10)
	}
	js.buf = append(js.buf, `,"value":[`...)
	c, from := 0, 0
	if tok.hasResume && tok.pos >= max(rq.opts.skip, 0) {
		c, from = tok.pos, tok.resume
	}
	next := ""
	for i := from; i < n && js.err == nil; i++ {
		if !match(i) {
			continue
		}
		if c >= win.pageEnd {
			if c < win.end {
				next = strconv.Itoa(c) + "." + strconv.Itoa(i)
			}
			break
		}
		if c >= win.start {
			if p.pred == nil {
				t.load(at(i), &row)
			}
			if c > win.start {
				js.buf = append(js.buf, ',')
			}
			js.buf = p.appendEntity(js.buf, &row, "", &rq.viewer)
			js.spill()
		}
		c++
	}
	return rq.endCollection(js, next)
}

// streamSorted materializes the matching row indices and their sort keys,
// sorts them and streams the page.
func (p *plan[R]) streamSorted(rq *request, js *jsonStream, win window, match func(int) bool, row *R, n int, at func(int) int) error {
	t := p.t
	var idx []int32
	for pos := range n {
		if match(pos) {
			idx = append(idx, int32(at(pos)))
		}
	}
	keys := make([]sortColumn, len(p.order))
	for k, o := range p.order {
		keys[k] = newSortColumn(t.cols[o.col].typ, o.desc, len(idx))
	}
	for pos, i := range idx {
		t.load(int(i), row)
		for k, o := range p.order {
			keys[k].set(pos, t.cols[o.col].get(row))
		}
	}
	perm := make([]int32, len(idx))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int {
		for k := range keys {
			if c := keys[k].compare(int(a), int(b)); c != 0 {
				return c
			}
		}
		return int(a - b) // default order breaks ties: stable paging
	})
	if rq.opts.count {
		js.buf = append(js.buf, `,"@odata.count":`...)
		js.buf = strconv.AppendInt(js.buf, int64(len(idx)), 10)
	}
	js.buf = append(js.buf, `,"value":[`...)
	total := len(idx)
	for k := win.start; k < min(win.pageEnd, total) && js.err == nil; k++ {
		t.load(int(idx[perm[k]]), row)
		if k > win.start {
			js.buf = append(js.buf, ',')
		}
		js.buf = p.appendEntity(js.buf, row, "", &rq.viewer)
		js.spill()
	}
	next := ""
	if win.pageEnd < min(total, win.end) {
		next = strconv.Itoa(win.pageEnd)
	}
	return rq.endCollection(js, next)
}

func (rq *request) endCollection(js *jsonStream, next string) error {
	js.buf = append(js.buf, ']')
	if next != "" {
		js.buf = append(js.buf, `,"@odata.nextLink":`...)
		js.buf = appendJSONString(js.buf, rq.nextLink(next))
	}
	js.buf = append(js.buf, '}')
	if err := js.finish(); err != nil {
		return fmt.Errorf("stream %s: %w", rq.rel, err)
	}
	return nil
}

func (t *table[R]) serveCount(rq *request) error {
	// $top, $skip and the options shaping the rows do not change a count;
	// they are checked, then ignored.
	p, err := compileRequest(t, rq)
	if err != nil {
		return rq.badRequest(err)
	}
	var row R
	total := 0
	n, at := t.domain(rq)
	for pos := range n {
		i := at(pos)
		if !t.visible(&rq.viewer, i) {
			continue
		}
		if p.pred != nil {
			t.load(i, &row)
			if !p.pred(&row) {
				continue
			}
		}
		total++
	}
	body := strconv.Itoa(total)
	rq.w.Header().Set("Content-Type", "text/plain")
	rq.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if rq.head {
		return nil
	}
	_, err = rq.w.Write([]byte(body))
	return err
}

func (t *table[R]) serveEntity(rq *request, keyText string) error {
	if err := rq.opts.only("a single entity", "$select", "$expand", "$format"); err != nil {
		return rq.badRequest(err)
	}
	i, err := t.lookup(rq, keyText)
	if err != nil || i < 0 {
		return err
	}
	return t.writeEntity(rq, i)
}

// lookup finds the visible entity keyText addresses. When there is none it
// answers the request itself and returns -1 (and the write error, if any).
func (t *table[R]) lookup(rq *request, keyText string) (int, error) {
	key := t.cols[t.key]
	if name, lit, ok := strings.Cut(keyText, "="); ok {
		if strings.TrimSpace(name) != key.name {
			return -1, rq.badRequest(fmt.Errorf("key property of %s is %s, got %q", t.name, key.name, name))
		}
		keyText = lit
	}
	lit, err := parseKeyLiteral(key.typ, strings.TrimSpace(keyText))
	if err != nil {
		return -1, rq.badRequest(fmt.Errorf("key of %s: %w", t.name, err))
	}
	i, ok := t.find(lit)
	if !ok || !t.visible(&rq.viewer, i) {
		return -1, writeError(rq.w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s(%s) not found", t.name, keyText))
	}
	return i, nil
}

// writeEntity answers row i as a single entity.
func (t *table[R]) writeEntity(rq *request, i int) error {
	p, err := compileRequest(t, rq)
	if err != nil {
		return rq.badRequest(err)
	}
	var row R
	t.load(i, &row)
	ctx := appendJSONString([]byte(`"@odata.context":`), rq.root+"/$metadata#"+t.name+p.selectList()+"/$entity")
	return rq.writeSmallJSON(p.appendEntity(nil, &row, string(ctx), &rq.viewer))
}

// parseKeyLiteral parses 'text' (” escapes a quote) for string keys and a
// decimal integer for numeric keys.
func parseKeyLiteral(typ edmType, s string) (value, error) {
	if typ == edmString {
		if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
			return value{}, fmt.Errorf("expected a quoted string like 'JRA-1', got %q", s)
		}
		inner := s[1 : len(s)-1]
		if strings.Count(inner, "'")%2 != 0 || strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return value{}, fmt.Errorf("unescaped quote in %q", s)
		}
		return str(strings.ReplaceAll(inner, "''", "'")), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return value{}, fmt.Errorf("expected an integer, got %q", s)
	}
	return num(float64(n)), nil
}
