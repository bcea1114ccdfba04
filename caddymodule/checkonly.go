package caddymodule

import (
	"sync/atomic"

	"github.com/spf13/cobra"
)

// Checking a config without opening its store.
//
// `caddy validate` and `caddy adapt --validate` call caddy.Validate, which
// provisions every module of the config and cancels it without starting it.
// They must work beside a running server (whose bolt file is locked) and
// must not touch, let alone migrate, a database. But the tokengate app
// acquires its store in Provision, not in Start: apps start in random order,
// and a store opened in Start would let a reload's HTTP server take traffic
// before a failing store refused the reload (TestFailedReloadKeepsServing).
//
// Caddy v2.11.9 gives a module no way to tell the two apart while it
// provisions. caddy.Validate and caddy.Load both run caddy's unexported
// run → provisionContext with the same kind of caddy.Context (a fresh
// context.Background with the new config, no values); caddy.ActiveContext
// is the previous config's, empty in a fresh process in both cases; the one
// difference, whether the admin endpoint is replaced, is private (and an
// admin.api module would not see it under `admin off`); and the "validation
// complete" cancellation comes after Provision returned.
//
// So the package tells from the command Caddy's own command line runs, in
// whatever binary imports it (the tokengate binary, an xcaddy build): at
// the start of every command that caddycmd.Main executes (cobra's
// OnInitialize), it finds the command being executed — the one whose flags
// cobra has just parsed — and sets checkOnly for `validate` and for
// `adapt --validate`. Programs that call caddy.Validate themselves call
// CheckConfigOnly first.

// checkOnly is set by CheckConfigOnly.
var checkOnly atomic.Bool

// cliCommand is a command of Caddy's command tree (the "tokens" command,
// registered by this package), through which the root is found.
var cliCommand atomic.Pointer[cobra.Command]

func init() {
	cobra.OnInitialize(detectCheckOnly)
}

// CheckConfigOnly makes the tokengate app skip opening its store: for
// checking a config beside a running server (whose bolt file is locked)
// without touching, let alone migrating, a database. `caddy validate` and
// `caddy adapt --validate` set it by themselves in any binary that imports
// this package; a program that calls caddy.Validate itself calls it first.
func CheckConfigOnly() { checkOnly.Store(true) }

// rememberCLI records cmd, a command of Caddy's command tree, for
// detectCheckOnly.
func rememberCLI(cmd *cobra.Command) { cliCommand.Store(cmd) }

// detectCheckOnly sets checkOnly when the command being executed only
// validates a config.
func detectCheckOnly() {
	c := cliCommand.Load()
	if c == nil {
		return
	}
	if onlyValidates(executing(c.Root())) {
		CheckConfigOnly()
	}
}

// executing returns the command of the tree under root whose flags have
// been parsed (cobra parses the flags of the command it executes only,
// just before it runs the OnInitialize functions), or nil.
func executing(root *cobra.Command) *cobra.Command {
	if root.Flags().Parsed() {
		return root
	}
	for _, c := range root.Commands() {
		if found := executing(c); found != nil {
			return found
		}
	}
	return nil
}

// onlyValidates reports whether c is Caddy's `validate` command or its
// `adapt` command with --validate: both call caddy.Validate and start
// nothing.
func onlyValidates(c *cobra.Command) bool {
	if c == nil || !c.HasParent() || c.Parent() != c.Root() {
		return false
	}
	switch c.Name() {
	case "validate":
		return true
	case "adapt":
		v, err := c.Flags().GetBool("validate")
		return err == nil && v
	}
	return false
}
