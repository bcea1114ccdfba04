package jiraexport

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// UserHeader is the request header carrying the authenticated identity,
// set by the tokengate_auth handler.
const UserHeader = "X-Authenticated-User"

// Content types of the responses.
const (
	ContentTypeJSON = "application/json;odata.metadata=minimal"
	ContentTypeXML  = "application/xml"
)

// Service is the OData v4 demo service. It is safe for concurrent use; all
// its data is derived from the configuration and never changes.
type Service struct {
	cfg            Config
	seed           uint64
	users          []userRec
	userIdx        map[string]int
	members        [numProjects][]int32
	issueProj      []uint8
	issueNum       []int32
	projIssueCount [numProjects]int32
	counts         []uint8            // per issue: packed worklog, sprint link and change counts
	ck             [numFields][]int32 // running totals every ckEvery issues (packed.go)
	epics          [numProjects][]int32
	sprintTotals   []sprintTotals
	sets           []entitySet
	metadata       string
}

// New validates cfg (see Config for the defaults) and builds the service.
// Building is linear in cfg.Issues and takes about 7 milliseconds per
// 50 000 issues (it lays out every issue's sprints and status changes); rows
// themselves are generated on the fly while responses stream.
func New(cfg Config) (*Service, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, fmt.Errorf("jira export config: %w", err)
	}
	s := &Service{cfg: cfg, seed: mix(uint64(cfg.Seed))}
	s.buildUsers()
	s.buildIssues(cfg.Issues)
	s.layoutIssues()
	s.sets = []entitySet{s.issuesTable(), s.projectsTable(), s.sprintsTable(), s.worklogsTable(), s.usersTable(),
		s.issueSprintsTable(), s.statusChangesTable(), s.sprintReportsTable(), s.velocityTable()}
	s.metadata = s.buildMetadata()
	return s, nil
}

// Config returns the effective configuration, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// VisibleIssueCount is the number of issues user may read: those of the
// projects the user belongs to (see ProjectsOf).
func (s *Service) VisibleIssueCount(user string) int {
	mask := s.projectsOf(user)
	n := 0
	for p, c := range s.projIssueCount {
		if mask&(1<<p) != 0 {
			n += int(c)
		}
	}
	return n
}

// VisibleWorklogCount is the number of worklogs user may read.
func (s *Service) VisibleWorklogCount(user string) int {
	v := viewer{user: user, projects: s.projectsOf(user)}
	n := 0
	for i := range s.issueProj {
		if v.member(int(s.issueProj[i])) {
			n += s.count(fWorklogs, i)
		}
	}
	return n
}

// ProjectsOf returns the keys of the projects user belongs to, in the order
// of the Projects entity set. Any identity has a deterministic membership;
// alice, bob and carol have fixed ones (carol belongs to every project).
func (s *Service) ProjectsOf(user string) []string {
	mask := s.projectsOf(user)
	var keys []string
	for p, d := range projectDefs {
		if mask&(1<<p) != 0 {
			keys = append(keys, d.key)
		}
	}
	return keys
}

// Users returns the ids of the user directory (the Users entity set).
func (s *Service) Users() []string {
	ids := make([]string, len(s.users))
	for i, u := range s.users {
		ids[i] = u.id
	}
	return ids
}

// ServeHTTP implements http.Handler. Errors while writing a response that
// has already started (a client gone away) are dropped.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = s.Serve(w, r)
}

// Serve answers one request. Protocol errors are answered with an OData
// error body and a nil error; the returned error is a failure to write the
// response (typically the client went away mid-stream).
func (s *Service) Serve(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("OData-Version", "4.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method "+r.Method+" is not allowed; this service is read-only (GET, HEAD)")
	}
	rel, ok := s.relativePath(r.URL.Path)
	if !ok {
		return writeError(w, http.StatusNotFound, "NotFound", "no OData resource at this path; the service root is "+s.cfg.BasePath)
	}
	user := r.Header.Get(UserHeader)
	if user == "" || len(user) > 256 || !utf8.ValidString(user) || strings.ContainsFunc(user, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return writeError(w, http.StatusForbidden, "Forbidden", "no authenticated user: the "+UserHeader+" header is missing or invalid")
	}
	if mv := r.Header.Get("OData-MaxVersion"); mv != "" {
		if f, err := strconv.ParseFloat(strings.TrimSpace(mv), 64); err == nil && f < 4.0 {
			return writeError(w, http.StatusBadRequest, "UnsupportedVersion", "OData-MaxVersion "+mv+" is lower than 4.0, the only version this service speaks")
		}
	}
	root, err := serviceRoot(r, s.cfg.BasePath)
	if err != nil {
		return writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
	}
	opts, err := parseOptions(r.URL.RawQuery)
	if err != nil {
		return writeError(w, http.StatusBadRequest, "BadRequest", err.Error())
	}
	rq := &request{
		svc: s, w: w, r: r, head: r.Method == http.MethodHead, root: root, rel: rel, opts: opts,
		viewer: viewer{user: user, projects: s.projectsOf(user)}, pageSize: s.cfg.PageSize,
	}
	rq.applyPrefer()
	return s.route(rq)
}

// relativePath strips the base path; ok is false outside of it.
func (s *Service) relativePath(p string) (string, bool) {
	base := s.cfg.BasePath
	if base == "/" {
		return p, true
	}
	if p == base || strings.HasPrefix(p, base+"/") {
		return p[len(base):], true
	}
	return "", false
}

func (s *Service) route(rq *request) error {
	rel := strings.TrimPrefix(rq.rel, "/")
	switch rel {
	case "":
		if err := rq.opts.only("the service document", "$format"); err != nil {
			return rq.badRequest(err)
		}
		return s.serveServiceDocument(rq)
	case "$metadata":
		if err := rq.opts.only("$metadata"); err != nil {
			return rq.badRequest(err)
		}
		rq.w.Header().Set("Content-Type", ContentTypeXML)
		rq.w.Header().Set("Content-Length", strconv.Itoa(len(s.metadata)))
		if rq.head {
			return nil
		}
		_, err := rq.w.Write([]byte(s.metadata))
		return err
	}
	name, rest := rel, ""
	if i := strings.IndexAny(rel, "(/"); i >= 0 {
		name, rest = rel[:i], rel[i:]
	}
	for _, set := range s.sets {
		if set.setName() != name {
			continue
		}
		if needsJiraToken[name] && strings.TrimSpace(rq.r.Header.Get(JiraTokenHeader)) == "" {
			return writeError(rq.w, http.StatusForbidden, "JiraApiTokenRequired", jiraTokenMessage(name))
		}
		switch {
		case rest == "" || rest == "/":
			return set.serveCollection(rq)
		case rest == "/$count":
			return set.serveCount(rq)
		case strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")"):
			return set.serveEntity(rq, rest[1:len(rest)-1])
		case strings.HasPrefix(rest, "(") && strings.Contains(rest, ")/"):
			key, path, _ := strings.Cut(rest[1:], ")/")
			return set.serveNavigation(rq, key, path)
		}
		return writeError(rq.w, http.StatusNotFound, "NotFound", fmt.Sprintf("resource not found for the segment '%s' of %s", strings.TrimPrefix(rest, "/"), name))
	}
	return writeError(rq.w, http.StatusNotFound, "NotFound", fmt.Sprintf("resource not found for the segment '%s'", name))
}

func (s *Service) serveServiceDocument(rq *request) error {
	type entry struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
		URL  string `json:"url"`
	}
	doc := struct {
		Context string  `json:"@odata.context"`
		Value   []entry `json:"value"`
	}{Context: rq.root + "/$metadata"}
	for _, set := range s.sets {
		doc.Value = append(doc.Value, entry{set.setName(), "EntitySet", set.setName()})
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode service document: %w", err)
	}
	return rq.writeSmallJSON(body)
}

// set returns the entity set called name; it must exist.
func (s *Service) set(name string) entitySet {
	for _, set := range s.sets {
		if set.setName() == name {
			return set
		}
	}
	panic("jiraexport: no entity set " + name)
}

// request is one request being answered.
type request struct {
	svc      *Service
	w        http.ResponseWriter
	r        *http.Request
	head     bool
	root     string // absolute service root, without trailing slash
	rel      string // path below the root, e.g. "/Issues"
	opts     *options
	viewer   viewer
	pageSize int
	prefer   bool  // odata.maxpagesize was applied
	subset   []int // with hasSubset: the rows a navigation path selected
	// hasSubset restricts a collection or count to subset (see domain).
	hasSubset bool
}

// applyPrefer honours Prefer: odata.maxpagesize=N. Preferences are hints:
// a value that is not an integer between 1 and MaxPageSize (0 included) is
// ignored, not an error, and not reported in Preference-Applied.
func (rq *request) applyPrefer() {
	for _, h := range rq.r.Header.Values("Prefer") {
		for _, pref := range strings.Split(h, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "odata.maxpagesize") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n < 1 || n > MaxPageSize {
				continue
			}
			rq.pageSize, rq.prefer = n, true
		}
	}
}

// badRequest answers 400 BadRequest, or 501 NotImplemented when err is
// valid OData this service does not implement (see filterError).
func (rq *request) badRequest(err error) error {
	var ni interface{ NotImplemented() bool }
	if errors.As(err, &ni) && ni.NotImplemented() {
		return writeError(rq.w, http.StatusNotImplemented, "NotImplemented", err.Error())
	}
	return writeError(rq.w, http.StatusBadRequest, "BadRequest", err.Error())
}

func (rq *request) writeSmallJSON(body []byte) error {
	rq.w.Header().Set("Content-Type", ContentTypeJSON)
	rq.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if rq.head {
		return nil
	}
	_, err := rq.w.Write(body)
	return err
}

// startJSON sets the headers of a streamed JSON response.
func (rq *request) startJSON() {
	rq.w.Header().Set("Content-Type", ContentTypeJSON)
	if rq.prefer {
		rq.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(rq.pageSize))
	}
	rq.w.WriteHeader(http.StatusOK)
}

// writeError writes an OData JSON error. The returned error is a write error.
func writeError(w http.ResponseWriter, status int, code, msg string) error {
	body, err := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": msg}})
	if err != nil {
		return fmt.Errorf("encode error body: %w", err)
	}
	h := w.Header()
	h.Set("OData-Version", "4.0")
	h.Set("Content-Type", ContentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil && !errors.Is(err, http.ErrBodyNotAllowed) {
		return fmt.Errorf("write error response: %w", err)
	}
	return nil
}
