package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokengate/tokengate/token"
)

// vaultCols are the columns scanVault reads, in order.
const vaultCols = `owner, kind, ciphertext, hint, updated_at`

// scanVault reads one row of vaultCols.
func scanVault(row pgx.Row) (token.VaultSecret, error) {
	var (
		v       token.VaultSecret
		updated pgtype.Timestamptz
	)
	if err := row.Scan(&v.Owner, &v.Kind, &v.Ciphertext, &v.Hint, &updated); err != nil {
		return token.VaultSecret{}, err
	}
	v.UpdatedAt = fromTS(updated)
	return v, nil
}

// checkVaultKey validates the owner and kind of a vault call.
func checkVaultKey(op, owner, kind string) error {
	switch {
	case strings.TrimSpace(owner) == "":
		return invalid(op, "owner must not be empty")
	case strings.TrimSpace(kind) == "":
		return invalid(op, "kind must not be empty")
	}
	return nil
}

// vaultChanged records a vault change of e.Owner in tx and notifies
// PayloadVault with the owner: every instance's Validator then drops that
// person's cached vault secrets, nobody else's and no token's.
func vaultChanged(ctx context.Context, tx pgx.Tx, e token.Event) error {
	if err := notify(ctx, tx, []string{vaultPayload(e.Owner)}); err != nil {
		return err
	}
	return insertEvents(ctx, tx, []token.Event{e})
}

// vaultPayload is the notification of a change to owner's vault:
// PayloadVault+owner, or PayloadFlush for an owner too long to carry.
func vaultPayload(owner string) string {
	if len(owner) > maxVaultPayloadOwner {
		return PayloadFlush
	}
	return PayloadVault + owner
}

// PutVaultSecret inserts or replaces the secret of (v.Owner, v.Kind), records
// an EventVault "set" dated v.UpdatedAt and notifies the owner's vault
// change, in one transaction; see token.VaultStore.
func (s *Store) PutVaultSecret(ctx context.Context, v token.VaultSecret, actor string) error {
	const op = "put vault secret"
	if err := checkVaultKey(op, v.Owner, v.Kind); err != nil {
		return err
	}
	switch {
	case len(v.Ciphertext) == 0:
		return invalid(op, "%s of %q: ciphertext must not be empty", v.Kind, v.Owner)
	case v.UpdatedAt.IsZero():
		return invalid(op, "%s of %q: updated_at must be set", v.Kind, v.Owner)
	case strings.TrimSpace(actor) == "":
		return invalid(op, "actor must not be empty")
	}
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		// The upsert locks the row before the event is numbered, so the
		// events of one (owner, kind) are numbered in commit order.
		_, err := tx.Exec(ctx, `INSERT INTO vault_secrets (`+vaultCols+`) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (owner, kind) DO UPDATE
			SET ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint, updated_at = EXCLUDED.updated_at`,
			v.Owner, v.Kind, v.Ciphertext, v.Hint, ts(v.UpdatedAt))
		if err != nil {
			return err
		}
		return vaultChanged(ctx, tx, token.Event{At: v.UpdatedAt, Kind: token.EventVault, Actor: actor,
			Owner: v.Owner, Label: v.Kind, Detail: "set"})
	})
}

// VaultSecret returns the secret of (owner, kind), or token.ErrNotFound; see
// token.VaultStore.
func (s *Store) VaultSecret(ctx context.Context, owner, kind string) (token.VaultSecret, error) {
	const op = "vault secret"
	if err := checkVaultKey(op, owner, kind); err != nil {
		return token.VaultSecret{}, err
	}
	if err := s.checkOpen(op); err != nil {
		return token.VaultSecret{}, err
	}
	v, err := scanVault(s.pool.QueryRow(ctx, `SELECT `+vaultCols+` FROM vault_secrets WHERE owner = $1 AND kind = $2`,
		owner, kind))
	if errors.Is(err, pgx.ErrNoRows) {
		return token.VaultSecret{}, fmt.Errorf("postgres %s: %s of %q: %w", op, kind, owner, token.ErrNotFound)
	}
	if err != nil {
		return token.VaultSecret{}, s.wrap(op, err)
	}
	return v, nil
}

// VaultSecrets returns owner's secrets ordered by kind (byte order); see
// token.VaultStore.
func (s *Store) VaultSecrets(ctx context.Context, owner string) ([]token.VaultSecret, error) {
	const op = "vault secrets"
	if strings.TrimSpace(owner) == "" {
		return nil, invalid(op, "owner must not be empty")
	}
	if err := s.checkOpen(op); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+vaultCols+` FROM vault_secrets WHERE owner = $1 ORDER BY kind COLLATE "C"`, owner)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	out := []token.VaultSecret{}
	for rows.Next() {
		v, err := scanVault(rows)
		if err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return out, nil
}

// DeleteVaultSecret removes the secret of (owner, kind), records an
// EventVault "deleted" dated at and notifies the owner's vault change, in
// one transaction; token.ErrNotFound (and no event) when there is none. See
// token.VaultStore.
func (s *Store) DeleteVaultSecret(ctx context.Context, owner, kind, actor string, at time.Time) error {
	const op = "delete vault secret"
	if err := checkVaultKey(op, owner, kind); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(actor) == "":
		return invalid(op, "actor must not be empty")
	case at.IsZero():
		return invalid(op, "the time of the deletion must be set")
	}
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM vault_secrets WHERE owner = $1 AND kind = $2`, owner, kind)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNotFound(fmt.Sprintf("no vault secret %s of %q", kind, owner))
		}
		return vaultChanged(ctx, tx, token.Event{At: at, Kind: token.EventVault, Actor: actor,
			Owner: owner, Label: kind, Detail: "deleted"})
	})
}
