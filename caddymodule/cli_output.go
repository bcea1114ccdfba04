package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokengate/tokengate/token"
)

// The tokens subcommands: each asks its backend and prints a table, or
// the admin API's JSON with --json.

func wantJSON(cmd *cobra.Command) bool { j, _ := cmd.Flags().GetBool("json"); return j }

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func pageFlags(cmd *cobra.Command) (owner, cursor string, limit int) {
	owner, _ = cmd.Flags().GetString("owner")
	cursor, _ = cmd.Flags().GetString("cursor")
	limit, _ = cmd.Flags().GetInt("limit")
	return owner, cursor, limit
}

// runList streams every page from --cursor on (--limit is the page size):
// each page is printed as it arrives (a table per page, or the tokens of a
// streamed {"tokens":[…],"next_cursor":"","total":N} object with --json),
// so memory stays flat however many tokens there are. Without --cursor,
// the last line on stderr is the count of unrevoked tokens matching
// --owner ("N tokens"), from the store's count query at the first page
// (total in the JSON).
func runList(ctx context.Context, cmd *cobra.Command, b tokensBackend, _ []string) error {
	owner, cursor, limit := pageFlags(cmd)
	w := cmd.OutOrStdout()
	js := wantJSON(cmd)
	n := 0
	var total *int
	for first := true; first || cursor != ""; first = false {
		out, err := b.list(ctx, owner, cursor, limit)
		if err != nil {
			if n > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "stopped after %d token(s); resume with --cursor %s\n", n, cursor)
			}
			return err
		}
		if js {
			err = streamJSONTokens(w, out.Tokens, first, n)
		} else {
			err = printTokenPage(w, out.Tokens, first)
		}
		if err != nil {
			return err
		}
		if first {
			total = out.Total
		}
		n += len(out.Tokens)
		cursor = out.NextCursor
	}
	if js {
		end := "],\"next_cursor\":\"\"}\n"
		if total != nil {
			end = fmt.Sprintf("],\"next_cursor\":\"\",\"total\":%d}\n", *total)
		}
		if _, err := io.WriteString(w, end); err != nil {
			return err
		}
	}
	if total != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), plural(*total, "token"))
	}
	if n == 0 {
		return errNothing
	}
	return nil
}

// streamJSONTokens writes one page of tokens into the streamed JSON object;
// written is how many tokens came before.
func streamJSONTokens(w io.Writer, ts []AdminToken, first bool, written int) error {
	if first {
		if _, err := io.WriteString(w, "{\"tokens\":["); err != nil {
			return err
		}
	}
	for i, t := range ts {
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if written+i > 0 {
			b = append([]byte(",\n"), b...)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// printTokenPage prints one page as a table (the header only on the first
// page); a tabwriter per page keeps only that page in memory.
func printTokenPage(w io.Writer, ts []AdminToken, first bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if first {
		fmt.Fprintln(tw, "ID\tOWNER\tLABEL\tHINT\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	}
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t…%s\t%s\t%s\t%s\t%s\n", t.ID, t.Owner, cell(t.Label), t.Hint,
			fmtTime(t.CreatedAt, "—"), fmtTime(t.ExpiresAt, "never"), fmtTime(t.LastUsedAt, "never"), t.Status)
	}
	return tw.Flush()
}

func runHistory(ctx context.Context, cmd *cobra.Command, b tokensBackend, _ []string) error {
	owner, cursor, limit := pageFlags(cmd)
	out, err := b.history(ctx, owner, cursor, limit)
	if err != nil {
		return err
	}
	if wantJSON(cmd) {
		err = printJSON(cmd, out)
	} else {
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tOWNER\tTOKEN\tDETAIL")
		for _, e := range out.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\n", fmtTime(e.At, "—"), cell(e.Actor), e.Kind, cell(e.Owner),
				e.TokenID, cell(e.Label), cell(e.Detail))
		}
		err = tw.Flush()
		nextPage(cmd.ErrOrStderr(), out.NextCursor)
	}
	if err == nil && len(out.Events) == 0 {
		return errNothing
	}
	return err
}

func runRevoke(ctx context.Context, cmd *cobra.Command, b tokensBackend, args []string) error {
	out, err := b.revoke(ctx, args[0])
	if err != nil {
		return err
	}
	if wantJSON(cmd) {
		return printJSON(cmd, out)
	}
	t := out.Revoked
	fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s (%s) of %s\n", t.ID, cell(t.Label), t.Owner)
	return nil
}

func runRevokeUser(ctx context.Context, cmd *cobra.Command, b tokensBackend, args []string) error {
	out, err := b.revokeUser(ctx, args[0])
	if err != nil {
		return err
	}
	if wantJSON(cmd) {
		err = printJSON(cmd, out)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "revoked %d tokens of %s\n", *out.Revoked, args[0])
	}
	if err == nil && *out.Revoked == 0 {
		return errNothing
	}
	return err
}

// runCapLifetime caps in batches; run directly, it prints a progress line
// on stderr after every committed batch (through the admin API, the
// instance logs them). Interrupted, it says how many were capped: running
// it again finishes the job.
func runCapLifetime(ctx context.Context, cmd *cobra.Command, b tokensBackend, args []string) error {
	errw := cmd.ErrOrStderr()
	out, err := b.capLifetime(ctx, args[0], func(p token.CapProgress) {
		fmt.Fprintf(errw, "capped %d of %d unrevoked tokens so far (batch %d)\n", p.Changed, p.Total, p.Batches)
	})
	if err != nil {
		if out.Changed != nil && *out.Changed > 0 {
			fmt.Fprintf(errw, "interrupted after capping %d tokens; run cap-lifetime again to finish\n", *out.Changed)
		}
		return err
	}
	if wantJSON(cmd) {
		err = printJSON(cmd, out)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "shortened %d tokens to expire by %s (shorter-lived tokens unchanged)\n",
			*out.Changed, out.ExpiresBy)
	}
	if err == nil && *out.Changed == 0 {
		return errNothing
	}
	return err
}

// ImportProgressChunks is how many committed chunks a direct import
// prints one progress line on stderr for.
const ImportProgressChunks = 10

// runImport imports a CSV file of legacy tokens: checked whole, then
// written in chunks (directly: a progress line on stderr every
// ImportProgressChunks chunks; through the admin API the instance logs
// them). Interrupted, it says how many were imported: running it again
// with the same file finishes the job, skipping the rows already there.
func runImport(ctx context.Context, cmd *cobra.Command, b tokensBackend, args []string) error {
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	errw := cmd.ErrOrStderr()
	out, err := b.importCSV(ctx, f, func(p token.ImportProgress) {
		if p.Chunks%ImportProgressChunks == 0 || p.Imported == p.ToImport {
			fmt.Fprintf(errw, "imported %d of %d legacy tokens so far (%d already there, chunk %d)\n",
				p.Imported, p.ToImport, p.AlreadyThere, p.Chunks)
		}
	})
	if err != nil {
		if out.Imported != nil && *out.Imported > 0 {
			fmt.Fprintf(errw, "interrupted after importing %d tokens; run the import again with the same file to finish\n", *out.Imported)
		}
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if wantJSON(cmd) {
		return printJSON(cmd, out)
	}
	already := ""
	if out.AlreadyThere != nil && *out.AlreadyThere > 0 {
		already = fmt.Sprintf(", %d already there", *out.AlreadyThere)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "imported %d legacy tokens%s (no creation or expiry date; they never expire)\n", *out.Imported, already)
	return nil
}

// nextPage tells how to get the following page, if any.
func nextPage(w io.Writer, cursor string) {
	if cursor != "" {
		fmt.Fprintf(w, "more: add --cursor %s\n", cursor)
	}
}

// fmtTime renders an RFC 3339 time of the admin API compactly, or zero when "".
func fmtTime(s, zero string) string {
	if s == "" {
		return zero
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// plural is "1 token", "2 tokens".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// cell keeps a table cell on one line (labels and details may hold tabs).
func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.Join(strings.Fields(s), " ")
}
