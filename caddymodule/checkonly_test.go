package caddymodule

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestOnlyValidates: of a command tree shaped like Caddy's, the command
// cobra executes is found by its parsed flags, and only `validate` and
// `adapt --validate` count as checking a config (TestXcaddyBuild runs the
// real thing).
func TestOnlyValidates(t *testing.T) {
	for args, want := range map[string]bool{
		"validate --config Caddyfile":            true,
		"validate":                               true,
		"adapt --config Caddyfile --validate":    true,
		"adapt --validate=false --config x":      false,
		"adapt --config Caddyfile":               false,
		"run --config Caddyfile":                 false,
		"tokens validate":                        false, // not Caddy's validate
		"tokens list --owner validate":           false,
		"--config x run":                         false,
		"help validate":                          false,
		"reload --config Caddyfile --force":      false,
		"validate --adapter caddyfile --envfile": false, // a flag error: nothing runs
	} {
		root := &cobra.Command{Use: "caddy", SilenceErrors: true, SilenceUsage: true}
		root.PersistentFlags().String("config", "", "")
		noop := func(*cobra.Command, []string) error { return nil }
		validate := &cobra.Command{Use: "validate", RunE: noop}
		validate.Flags().String("adapter", "", "")
		validate.Flags().StringSlice("envfile", nil, "")
		adapt := &cobra.Command{Use: "adapt", RunE: noop}
		adapt.Flags().Bool("validate", false, "")
		run := &cobra.Command{Use: "run", RunE: noop}
		reload := &cobra.Command{Use: "reload", RunE: noop}
		reload.Flags().Bool("force", false, "")
		tokens := &cobra.Command{Use: "tokens"}
		list := &cobra.Command{Use: "list", RunE: noop}
		list.Flags().String("owner", "", "")
		tokens.AddCommand(&cobra.Command{Use: "validate", RunE: noop}, list)
		root.AddCommand(validate, adapt, run, reload, tokens)

		var got bool
		ran := false
		root.PersistentPreRun = func(*cobra.Command, []string) {
			ran = true
			got = onlyValidates(executing(root))
		}
		root.SetArgs(strings.Fields(args))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		_ = root.Execute()
		if ran && got != want || !ran && want {
			t.Errorf("caddy %s: onlyValidates = %v (ran %v), want %v", args, got, ran, want)
		}
	}
}
