// Command tokengate is Caddy with its standard modules plus tokengate's: the
// tokengate app, the tokengate_auth and tokengate_portal handlers, the
// jira_export_demo backend and the "tokengate tokens" operator commands.
//
//	go run ./cmd/tokengate run              # serves ./Caddyfile
//	go run ./cmd/tokengate list-modules     # shows the modules
//
// It is exactly what `xcaddy build --with github.com/tokengate/tokengate`
// builds: nothing in tokengate depends on this main (`validate` beside a
// running server, for one, works in any build; see
// caddymodule.CheckConfigOnly).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// tokengate's modules.
	_ "github.com/tokengate/tokengate"
)

func main() {
	caddycmd.Main()
}
