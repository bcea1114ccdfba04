package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
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
		Usage: "<migrate|import|revoke-user|cap-lifetime|list> [--config <file>]",
		Short: "Operator commands for tokengate's token store",
		Long: `Operator commands for the token store configured in the tokengate app of
the config (--config, default ./Caddyfile). None of them creates a token for
anybody: people create their own on the token page.

With the embedded (bolt) store, stop the server first: the file is locked
while tokengate runs. With Postgres they work while instances run, and
revocations reach every instance at once.`,
		CobraFunc: func(cmd *cobra.Command) {
			rememberCLI(cmd)
			cmd.PersistentFlags().StringP("config", "c", "Caddyfile", "Configuration file (Caddyfile or JSON)")
			cmd.PersistentFlags().StringP("adapter", "a", "", "Name of config adapter to apply")
			cmd.PersistentFlags().String("actor", "cli", "Name recorded in the tokens history as the actor")
			cmd.AddCommand(
				tokensCmd("migrate", "migrate", "Apply the Postgres schema migrations", cobra.NoArgs, runMigrate),
				tokensCmd("import", "import <file.csv>", "Import legacy tokens (CSV: owner,label,token or sha256:<hex>)", cobra.ExactArgs(1), runImport),
				tokensCmd("revoke-user", "revoke-user <owner>", "Revoke every token of a person (off-boarding)", cobra.ExactArgs(1), runRevokeUser),
				tokensCmd("cap-lifetime", "cap-lifetime <duration>", "Shorten tokens that live longer than now+duration (e.g. 365d)", cobra.ExactArgs(1), runCapLifetime),
				tokensCmd("list", "list [--owner <id>]", "List token metadata (never secrets)", cobra.NoArgs, runList),
			)
			for _, c := range cmd.Commands() {
				if c.Name() == "list" {
					c.Flags().String("owner", "", "Only this person's tokens")
				}
			}
		},
	})
}

// cliTimeout bounds a whole tokens subcommand (an import of many tokens
// included); opening a Postgres store has its own storeOpenTimeout.
const cliTimeout = 5 * time.Minute

type tokensFunc func(ctx context.Context, env *cliEnv, args []string) error

// cliEnv is what a tokens subcommand works with.
type cliEnv struct {
	cmd     *cobra.Command
	store   token.Store
	service *token.Service
	actor   string
}

func tokensCmd(name, use, short string, args cobra.PositionalArgs, run tokensFunc) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args, SilenceUsage: true,
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), cliTimeout)
			defer cancel()
			env, err := openCLIEnv(ctx, cmd, name == "migrate")
			if err != nil {
				return err
			}
			defer env.store.Close()
			return run(ctx, env, a)
		},
	}
}

// openCLIEnv reads the tokengate app settings from the config and opens its store.
// For migrate (needPostgres), the schema is left alone until Migrate runs.
func openCLIEnv(ctx context.Context, cmd *cobra.Command, needPostgres bool) (*cliEnv, error) {
	configFile, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	actor, _ := cmd.Flags().GetString("actor")
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
		return nil, errors.New("migrate: the configured store is not postgres (the embedded store needs no migrations)")
	}
	st, err := OpenStore(ctx, storeType, location, needPostgres, zap.NewNop())
	if err != nil {
		return nil, err
	}
	svc := token.NewService(st, app.policy(), nil, nil)
	return &cliEnv{cmd: cmd, store: st, service: svc, actor: actor}, nil
}

func runMigrate(ctx context.Context, env *cliEnv, _ []string) error {
	pg, ok := env.store.(*postgres.Store)
	if !ok {
		return errors.New("migrate: the configured store is not postgres")
	}
	if err := pg.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(env.cmd.OutOrStdout(), "migrations applied")
	return nil
}

func runImport(ctx context.Context, env *cliEnv, args []string) error {
	f, err := os.Open(args[0])
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	rows, err := token.ParseImportCSV(f)
	if err != nil {
		return fmt.Errorf("import %s: %w", args[0], err)
	}
	n, err := env.service.Import(ctx, env.actor, rows)
	if err != nil {
		return fmt.Errorf("import %s: %w", args[0], err)
	}
	fmt.Fprintf(env.cmd.OutOrStdout(), "imported %d legacy tokens (no creation or expiry date; they never expire)\n", n)
	return nil
}

func runRevokeUser(ctx context.Context, env *cliEnv, args []string) error {
	n, err := env.service.AdminRevokeOwner(ctx, env.actor, args[0])
	if err != nil {
		return fmt.Errorf("revoke-user: %w", err)
	}
	fmt.Fprintf(env.cmd.OutOrStdout(), "revoked %d tokens of %s\n", n, args[0])
	return nil
}

func runCapLifetime(ctx context.Context, env *cliEnv, args []string) error {
	d, err := caddy.ParseDuration(args[0])
	if err != nil || d <= 0 {
		return fmt.Errorf("cap-lifetime: duration: want a positive duration like 365d, got %q", args[0])
	}
	n, err := env.service.CapLifetime(ctx, env.actor, d)
	if err != nil {
		return fmt.Errorf("cap-lifetime: %w", err)
	}
	fmt.Fprintf(env.cmd.OutOrStdout(), "shortened %d tokens to expire by %s (shorter-lived tokens unchanged)\n",
		n, env.service.Now().Add(d).Format(time.RFC3339))
	return nil
}

func runList(ctx context.Context, env *cliEnv, _ []string) error {
	owner, _ := env.cmd.Flags().GetString("owner")
	ts, err := env.service.AdminList(ctx, owner)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	now := env.service.Now()
	tw := tabwriter.NewWriter(env.cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tLABEL\tHINT\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t…%s\t%s\t%s\t%s\t%s\n", t.ID, t.Owner, t.Label, t.Hint,
			fmtTime(t.CreatedAt, "—"), fmtTime(t.ExpiresAt, "never"), fmtTime(t.LastUsedAt, "never"), t.StatusAt(now))
	}
	return tw.Flush()
}

func fmtTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}
