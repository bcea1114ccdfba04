package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/token"
)

// outOfScopeBody is the whole body of the 403 a scoped token gets outside
// its scopes: it names neither the token nor its scopes.
const outOfScopeBody = "this token's scopes do not include this path\n"

// scopeSet is the checked form of tokengate_auth's `scope` and
// `scope_always` options. Patterns are Caddy path matcher patterns
// (caddyhttp.MatchPath: case-insensitive, on the cleaned path, * wildcards).
type scopeSet struct {
	// byName holds, per scope name, a matcher of the scope's patterns
	// followed by the scope_always patterns, so a token of one scope costs
	// one match.
	byName map[string]caddyhttp.MatchPath
	// always matches the scope_always patterns alone: all a token reaches
	// whose scopes this handler does not define.
	always caddyhttp.MatchPath
	// names are the defined scope names, sorted.
	names []string
}

// newScopeSet checks the configured scopes and builds their matchers; the
// arguments are not changed. Errors name the option and the scope.
func newScopeSet(scopes map[string][]string, always []string) (scopeSet, error) {
	s := scopeSet{byName: make(map[string]caddyhttp.MatchPath, len(scopes))}
	alwaysPatterns, err := checkPatterns("scope_always", always)
	if err != nil {
		return scopeSet{}, err
	}
	if always != nil && len(alwaysPatterns) == 0 {
		return scopeSet{}, fmt.Errorf("tokengate_auth: scope_always: list at least one path pattern, e.g. /odata/ /odata/$metadata")
	}
	if s.always, err = provisionPaths(alwaysPatterns); err != nil {
		return scopeSet{}, err
	}
	for name, patterns := range scopes {
		if !token.ValidScopeName(name) {
			return scopeSet{}, fmt.Errorf("tokengate_auth: scopes: %q is not a scope name (1 to %d characters a-z, 0-9, - and _, starting with a letter)", token.Clip(name, 80), token.MaxScopeNameLen)
		}
		field := "scopes: " + name
		checked, err := checkPatterns(field, patterns)
		if err != nil {
			return scopeSet{}, err
		}
		if len(checked) == 0 {
			return scopeSet{}, fmt.Errorf("tokengate_auth: %s: list at least one path pattern, e.g. /odata/Issues*", field)
		}
		if s.byName[name], err = provisionPaths(append(checked, alwaysPatterns...)); err != nil {
			return scopeSet{}, err
		}
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	return s, nil
}

// checkPatterns returns a copy of patterns after checking each: a path
// (starting with /) or a pattern starting with *, without placeholders
// (scopes are checked before the request's identity is set).
func checkPatterns(field string, patterns []string) ([]string, error) {
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		switch {
		case p == "":
			return nil, fmt.Errorf("tokengate_auth: %s: empty path pattern", field)
		case p[0] != '/' && p[0] != '*':
			return nil, fmt.Errorf("tokengate_auth: %s: path pattern %q must start with / (or *): request paths always do", field, token.Clip(p, 80))
		case strings.ContainsAny(p, "{}"):
			return nil, fmt.Errorf("tokengate_auth: %s: path pattern %q: placeholders are not supported in scopes", field, token.Clip(p, 80))
		}
		out = append(out, p)
	}
	return out, nil
}

// provisionPaths makes a path matcher of patterns as Caddy provisions a
// `path` matcher (lower case; a lone * first).
func provisionPaths(patterns []string) (caddyhttp.MatchPath, error) {
	m := caddyhttp.MatchPath(patterns)
	if err := m.Provision(caddy.Context{}); err != nil {
		return nil, fmt.Errorf("tokengate_auth: scope patterns: %w", err)
	}
	return m, nil
}

// permits reports whether a token limited to scopes (not empty) may reach
// r's path: a path of one of its scopes, or of scope_always. Scope names
// this handler does not define reach scope_always only.
func (s *scopeSet) permits(r *http.Request, scopes []string) (bool, error) {
	if crossesEntitySets(r) {
		return false, nil
	}
	defined := false
	for _, name := range scopes {
		m, ok := s.byName[name]
		if !ok {
			continue
		}
		defined = true
		if ok, err := m.MatchWithError(r); ok || err != nil {
			return ok, err
		}
	}
	if defined || len(s.always) == 0 {
		return false, nil
	}
	return s.always.MatchWithError(r)
}

// scopeRegistry collects the scope names the tokengate_auth handlers of one
// config define, for the token page and token.Service (Policy.KnownScopes).
type scopeRegistry struct {
	mu    sync.Mutex
	names []string // sorted, no duplicates
}

// add records names.
func (s *scopeRegistry) add(names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		if i, found := slices.BinarySearch(s.names, n); !found {
			s.names = slices.Insert(s.names, i, n)
		}
	}
}

// list returns a copy of the names, sorted.
func (s *scopeRegistry) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.names)
}

// crossesEntitySets reports whether an OData request reaches beyond the
// entity set its path names: scopes are paths, but $expand (or expand,
// OData 4.01, any case, percent-encoded or not) and navigation after a key
// (/odata/Worklogs(7)/Issue) read other sets through an allowed one — a
// token scoped to Worklogs would read Issues. Scoped tokens may do neither;
// reading a key's raw value (…(7)/$value) is allowed. Key-as-segment URLs
// (/Worklogs/7/Issue) are a backend convention the proxy cannot tell apart
// from a path: scope patterns must not cover them.
func crossesEntitySets(r *http.Request) bool {
	if i := strings.Index(r.URL.Path, ")/"); i >= 0 {
		if rest := strings.TrimSuffix(r.URL.Path[i+2:], "/"); rest != "" && rest != "$value" {
			return true
		}
	}
	if r.URL.RawQuery == "" {
		return false
	}
	for key := range r.URL.Query() {
		if strings.EqualFold(strings.TrimPrefix(strings.TrimSpace(key), "$"), "expand") {
			return true
		}
	}
	return false
}

// outOfScope refuses a scoped token on a path outside its scopes with 403
// and a short plain body, and records the attempt for the token's owner
// (out_of_scope); user must already be redacted. A matcher error is the
// operator's problem: 500, nothing recorded.
func (h *Auth) outOfScope(w http.ResponseWriter, r *http.Request, v *token.Validator, res token.Result, ip, user string, matchErr error) error {
	if matchErr != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("tokengate_auth: matching scope patterns: %w", matchErr))
	}
	v.RecordRejection(res, token.RejectOutOfScope, ip, r.UserAgent())
	return h.refuse(w, r, refusal{status: http.StatusForbidden, outcome: string(token.RejectOutOfScope),
		msg: "path outside the token's scopes", level: zapcore.InfoLevel, ip: ip, tokenID: res.TokenID, user: user,
		body: outOfScopeBody})
}
