// Command tokengate is Caddy with its standard modules plus tokengate's: the
// tokengate app, the tokengate_auth and tokengate_portal handlers, the
// jira_export_demo backend and the "tokengate tokens" operator commands.
//
//	go run ./cmd/tokengate run              # serves ./Caddyfile
//	go run ./cmd/tokengate list-modules     # shows the modules
package main

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// tokengate's modules.
	"github.com/tokengate/tokengate/caddymodule"
	_ "github.com/tokengate/tokengate/caddymodule/jiraexport"
	_ "github.com/tokengate/tokengate/caddymodule/portal"
)

func main() {
	// "tokengate validate" checks a config without opening token stores:
	// beside a running server (whose bolt file is locked) and without
	// touching, let alone migrating, a database.
	if len(os.Args) > 1 && os.Args[1] == "validate" {
		caddymodule.CheckConfigOnly()
	}
	caddycmd.Main()
}
