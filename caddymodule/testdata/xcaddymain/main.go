// Command xcaddymain is the main that `xcaddy build --with
// github.com/tokengate/tokengate` generates (xcaddy's mainModuleTemplate):
// caddycmd.Main, Caddy's standard modules and tokengate's root package,
// nothing else. The tests build it to prove that tokengate needs no custom
// main; it lives under testdata so that `go build ./...` skips it.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/tokengate/tokengate"
)

func main() {
	caddycmd.Main()
}
