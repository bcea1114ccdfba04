// Package tokengate registers all of tokengate's Caddy modules: the
// tokengate app and the tokengate_auth handler (package caddymodule), the
// tokengate_portal token page (caddymodule/portal) and the
// jira_export_demo backend (caddymodule/jiraexport), with their Caddyfile
// directives and the "tokens" subcommands. Import it for its side effects,
// as xcaddy does:
//
//	xcaddy build v2.11.9 --with github.com/tokengate/tokengate
//
// cmd/tokengate is the same build with a main of its own.
package tokengate

import (
	_ "github.com/tokengate/tokengate/caddymodule"            // app, tokengate_auth, tokens subcommands
	_ "github.com/tokengate/tokengate/caddymodule/jiraexport" // jira_export_demo
	_ "github.com/tokengate/tokengate/caddymodule/portal"     // tokengate_portal
)
