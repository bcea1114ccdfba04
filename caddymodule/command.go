package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/postgres"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "tokens",
		Usage: "<list|revoke|revoke-user|cap-lifetime|import|history|migrate> [--config <file>] [--address <admin>] [--json]",
		Short: "Operator commands for tokengate's tokens",
		Long: `Operator commands for the tokens of the tokengate app in the config
(--config, default ./Caddyfile). None of them creates a token for anybody:
people create their own on the token page.

list, revoke, revoke-user, cap-lifetime, import and history talk to the
running instance through Caddy's admin endpoint (admin.api.tokengate; the
address from --address, else the config's admin setting, else
localhost:2019), like 'caddy reload': a revoke is in effect at once, with
the embedded store too. When no instance answers they open the configured
store directly. One line on stderr says which path was taken. migrate always
works directly on Postgres.

The actor recorded in the history is --actor, default cli:<os user>.
Output is a table, or JSON with --json. Exit status: 0 done, 1 error,
2 nothing matched (no such token, nobody's tokens, an empty list).`,
		CobraFunc: func(cmd *cobra.Command) {
			rememberCLI(cmd)
			pf := cmd.PersistentFlags()
			pf.StringP("config", "c", "Caddyfile", "Configuration file (Caddyfile or JSON)")
			pf.StringP("adapter", "a", "", "Name of config adapter to apply")
			pf.String("address", "", "Admin API address of the running instance (default: the config's admin, else localhost:2019)")
			pf.String("actor", "", "Name recorded in the tokens history as the actor (default cli:<os user>)")
			pf.Bool("json", false, "Print JSON instead of a table")
			list := tokensCmd("list", "list [--owner <id>] [--limit N] [--cursor C]", "List token metadata (never secrets), streaming every page from --cursor on", cobra.NoArgs, runList)
			hist := tokensCmd("history", "history [--owner <id>] [--limit N] [--cursor C]", "Print the history: time, actor, action, owner, token, detail", cobra.NoArgs, runHistory)
			for _, c := range []*cobra.Command{list, hist} {
				c.Flags().String("owner", "", "Only this person's")
				c.Flags().Int("limit", token.DefaultPageSize, fmt.Sprintf("Page size (1 to %d)", token.MaxHistoryLimit))
				c.Flags().String("cursor", "", "Start after this cursor (next_cursor of the previous page)")
			}
			cmd.AddCommand(list, hist,
				tokensCmd("revoke", "revoke <token id>", "Revoke one token (of anybody)", cobra.ExactArgs(1), runRevoke),
				tokensCmd("revoke-user", "revoke-user <owner>", "Revoke every token of a person (off-boarding)", cobra.ExactArgs(1), runRevokeUser),
				tokensCmd("cap-lifetime", "cap-lifetime <lifetime>", "Shorten tokens that live longer than now+lifetime (e.g. 365d, at most 36500d)", cobra.ExactArgs(1), runCapLifetime),
				tokensCmd("import", "import <file.csv>", "Import legacy tokens (CSV: owner,label,token or sha256:<hex>)", cobra.ExactArgs(1), runImport),
				&cobra.Command{Use: "migrate", Short: "Apply the Postgres schema migrations (directly)", Args: cobra.NoArgs,
					SilenceUsage: true, RunE: runMigrate},
			)
		},
	})
}

// cliTimeout bounds a whole tokens subcommand, except the bulk ones
// (cap-lifetime, import), which commit batch by batch and may take minutes
// at a million tokens; opening a Postgres store has its own
// storeOpenTimeout. Every subcommand stops at SIGINT/SIGTERM (Ctrl-C): a
// bulk one between two batches, keeping those committed, so that running
// it again finishes the job.
const cliTimeout = 5 * time.Minute

// bulkCommands run without cliTimeout.
var bulkCommands = map[string]bool{"cap-lifetime": true, "import": true}

// commandContext is the context of the tokens subcommand name: cancelled
// by SIGINT/SIGTERM and, unless it is a bulk command, after cliTimeout.
func commandContext(parent context.Context, name string) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	if bulkCommands[name] {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	return ctx, func() { cancel(); stop() }
}

// errNothing is returned by a subcommand whose output is complete but
// empty or zero (exit status 2).
var errNothing = errors.New("nothing matched")

// tokensFunc runs a subcommand on b, printing to cmd's output.
type tokensFunc func(ctx context.Context, cmd *cobra.Command, b tokensBackend, args []string) error

func tokensCmd(name, use, short string, args cobra.PositionalArgs, run tokensFunc) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args, SilenceUsage: true,
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx, cancel := commandContext(cmd.Context(), name)
			defer cancel()
			err := runTokens(ctx, cmd, a, run)
			if errors.Is(err, errNothing) || errors.Is(err, errNotFound) {
				if !errors.Is(err, errNothing) {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", name, strings.TrimSuffix(err.Error(), ": "+errNotFound.Error()))
				}
				cmd.SilenceErrors = true
				return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return 2, nil })(cmd, a)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		},
	}
}

// runTokens runs the subcommand through the admin API and, when no
// instance answers there, directly on the configured store.
func runTokens(ctx context.Context, cmd *cobra.Command, args []string, run tokensFunc) error {
	configFile, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	address, _ := cmd.Flags().GetString("address")
	actor := cliActor(cmd)
	if err := token.ValidateOwner(actor); err != nil {
		return fmt.Errorf("--actor: %w", err)
	}
	var cfgJSON []byte
	if address == "" {
		var err error
		if cfgJSON, _, _, err = caddycmd.LoadConfig(configFile, adapter); err != nil {
			return fmt.Errorf("loading config %s: %w", configFile, err)
		}
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(address, cfgJSON, configFile, adapter)
	if err != nil {
		return fmt.Errorf("admin address: %w", err)
	}
	var b tokensBackend = &apiBackend{addr: addr, actor: actor}
	err = run(ctx, cmd, b, args)
	if !errors.Is(err, errNoInstance) {
		fmt.Fprintln(cmd.ErrOrStderr(), "tokengate: "+b.describe())
		return err
	}
	env, err := openCLIEnv(ctx, cmd, false)
	if err != nil {
		return fmt.Errorf("no instance answered at %s, and opening the store directly failed: %w", addr, err)
	}
	db := &directBackend{store: env.store, svc: env.service, actor: token.Operator(actor), location: env.location}
	defer db.close()
	fmt.Fprintln(cmd.ErrOrStderr(), "tokengate: "+db.describe())
	return run(ctx, cmd, db, args)
}

// cliActor is --actor, else cli:<os user>.
func cliActor(cmd *cobra.Command) string {
	if a, _ := cmd.Flags().GetString("actor"); a != "" {
		return a
	}
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	return "cli:" + name
}

// cliEnv is the configured store, opened by this process.
type cliEnv struct {
	store    token.Store
	service  *token.Service
	location string // "embedded store …" or "Postgres store"
}

// openCLIEnv reads the tokengate app settings from the config and opens its store.
// For migrate (needPostgres), the schema is left alone until Migrate runs.
func openCLIEnv(ctx context.Context, cmd *cobra.Command, needPostgres bool) (*cliEnv, error) {
	configFile, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	cfgJSON, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, fmt.Errorf("loading config %s: %w", configFile, err)
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, fmt.Errorf("reading config %s: %w", configFile, err)
	}
	app := new(App)
	if raw, ok := cfg.Apps["tokengate"]; ok {
		if err := json.Unmarshal(raw, app); err != nil {
			return nil, fmt.Errorf("config %s: apps.tokengate: %w", configFile, err)
		}
	}
	storeType, location, err := app.Store.resolve(caddy.NewReplacer())
	if err != nil {
		return nil, err
	}
	app.setDefaults()
	if err := app.validate(); err != nil {
		return nil, err
	}
	if needPostgres && storeType != "postgres" {
		return nil, errors.New("the configured store is not postgres (the embedded store needs no migrations)")
	}
	st, err := OpenStore(ctx, storeType, location, needPostgres, zap.NewNop())
	if err != nil {
		return nil, err
	}
	where := "Postgres store"
	if storeType != "postgres" {
		where = "embedded store " + location
	}
	return &cliEnv{store: st, service: token.NewService(st, app.policy(), nil, nil), location: where}, nil
}

func runMigrate(cmd *cobra.Command, _ []string) error {
	ctx, cancel := commandContext(cmd.Context(), "migrate")
	defer cancel()
	env, err := openCLIEnv(ctx, cmd, true)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer env.store.Close()
	pg, ok := env.store.(*postgres.Store)
	if !ok {
		return errors.New("migrate: the configured store is not postgres")
	}
	if err := pg.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
	return nil
}
