// Package jiraexport is the demo Jira export backend: a small, read-only
// OData v4 service of deterministic, Jira-like data (Issues, Projects,
// Sprints, Worklogs, Users, the IssueSprints bridge, the IssueStatusChanges
// changelog, and SprintReports and Velocity) that lets the tokengate
// quickstart and the end to end tests run without a real Jira. Navigation
// properties with referential constraints relate the sets; $expand follows
// them one level deep.
//
// The service itself (Service, New, Config) is plain net/http; caddy.go wraps
// it as the Caddy handler http.handlers.jira_export_demo.
//
// Identity comes from the X-Authenticated-User request header that the
// tokengate_auth handler sets upstream; a person sees the issues, sprints and
// worklogs of the projects they belong to only. SprintReports and Velocity
// are served only to requests carrying the person's Jira API token in
// X-Jira-Api-Token (JiraTokenHeader), which tokengate_auth injects from the
// vault; without it they answer 403 with an OData error saying to add the
// token on the token page under "Other tokens".
//
// Base path: the service answers below Config.BasePath (default "/") of the
// request path it receives and strips that prefix itself. Links it writes
// (@odata.context, @odata.nextLink) are absolute: scheme and host come from
// X-Forwarded-Proto / X-Forwarded-Host (else the request's own), then the
// X-Forwarded-Prefix (a prefix a proxy stripped), then BasePath.
package jiraexport

import (
	"fmt"
	"path"
	"strings"
)

// Defaults and limits of Config.
const (
	// DefaultIssues is the number of issues generated when Config.Issues is 0.
	DefaultIssues = 5000
	// DefaultPageSize is the server page size when Config.PageSize is 0.
	DefaultPageSize = 1000
	// MaxIssues bounds Config.Issues (the per-issue index costs about 7
	// bytes: project, number, and the packed worklog, sprint-link and
	// changelog counts).
	MaxIssues = 5_000_000
	// MaxPageSize bounds Config.PageSize and the odata.maxpagesize preference.
	MaxPageSize = 10_000_000
)

// Config configures a Service. The zero value is valid and means the
// defaults.
type Config struct {
	// Issues is the number of generated issues (0 = DefaultIssues).
	Issues int
	// PageSize is the number of entities per response page before an
	// @odata.nextLink is written (0 = DefaultPageSize).
	PageSize int
	// Seed makes the generated data reproducible; equal seeds and sizes give
	// byte-identical responses.
	Seed int64
	// BasePath is the path prefix the service is mounted at ("" or "/" =
	// the root). Requests outside it get 404.
	BasePath string
}

// normalized validates c and fills in the defaults. Errors name the field.
func (c Config) normalized() (Config, error) {
	switch {
	case c.Issues == 0:
		c.Issues = DefaultIssues
	case c.Issues < 0 || c.Issues > MaxIssues:
		return c, fmt.Errorf("issues: must be between 1 and %d, got %d", MaxIssues, c.Issues)
	}
	switch {
	case c.PageSize == 0:
		c.PageSize = DefaultPageSize
	case c.PageSize < 0 || c.PageSize > MaxPageSize:
		return c, fmt.Errorf("page_size: must be between 1 and %d, got %d", MaxPageSize, c.PageSize)
	}
	bp, err := normalizeBasePath(c.BasePath)
	if err != nil {
		return c, fmt.Errorf("base_path: %w", err)
	}
	c.BasePath = bp
	return c, nil
}

// Validate reports whether c is usable, with an error naming the bad field.
func (c Config) Validate() error {
	_, err := c.normalized()
	return err
}

// normalizeBasePath returns "/" or a clean "/a/b" without trailing slash.
func normalizeBasePath(p string) (string, error) {
	if p == "" || p == "/" {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("must start with '/', got %q", p)
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`?#%\"'<>`, r) {
			return "", fmt.Errorf("must be a plain URL path without spaces, '?', '#', '%%' or quotes, got %q", p)
		}
	}
	clean := path.Clean(p)
	if clean != strings.TrimSuffix(p, "/") {
		return "", fmt.Errorf("must be a clean path (no '//', '.' or '..' segments), got %q", p)
	}
	return clean, nil
}
