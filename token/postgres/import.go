package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/token"
)

// Import inserts legacy tokens, all or nothing, and notifies "flush" (cached
// negative results for their digests must go); see token.Store. Legacy
// tokens are unrestricted: their allowed_ips and scopes are '{}'.
func (s *Store) Import(ctx context.Context, tokens []token.Token, by string, at time.Time) error {
	switch {
	case strings.TrimSpace(by) == "":
		return invalid("import", "by (who imports) must not be empty")
	case at.IsZero():
		return invalid("import", "the time of the import must be set")
	}
	n := len(tokens)
	ids, owners, labels, hints := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	digests := make([][]byte, n)
	events := make([]token.Event, n)
	for i, t := range tokens {
		row := fmt.Sprintf("row %d: ", i+1)
		if err := checkNew("import", t, row); err != nil {
			return err
		}
		if !t.CreatedAt.IsZero() || !t.ExpiresAt.IsZero() {
			return invalid("import", "%slegacy token %q must have no creation and no expiry date", row, t.ID)
		}
		if t.Restricted() {
			return invalid("import", "%slegacy token %q must have no restrictions (allowed IPs, scopes)", row, t.ID)
		}
		ids[i], owners[i], labels[i], hints[i], digests[i] = t.ID, t.Owner, t.Label, t.Hint, t.Digest[:]
		events[i] = token.Event{At: at, Kind: token.EventImport, Actor: by, Owner: t.Owner, TokenID: t.ID, Label: t.Label}
	}
	if n == 0 {
		return s.checkOpen("import")
	}
	return s.inTx(ctx, "import", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tokens (id, owner, label, digest, hint)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[])`,
			ids, owners, labels, digests, hints)
		if err != nil {
			return duplicate(err)
		}
		if err := notify(ctx, tx, []string{PayloadFlush}); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}
