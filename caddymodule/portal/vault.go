package portal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

// VaultOffMessage is the error of the vault routes when no vault_key is
// configured (404: the credentials resource does not exist on this server).
const VaultOffMessage = "the vault is not configured on this server (no vault_key), so other tokens cannot be stored; ask the administrators"

// apiVaultEntry is one kind of stored credential as the API shows it: whether
// it is stored, its last 4 characters and when it was set — never the
// credential itself.
type apiVaultEntry struct {
	Kind      string  `json:"kind"`
	Label     string  `json:"label"`
	Stored    bool    `json:"stored"`
	Hint      *string `json:"hint"`
	UpdatedAt *string `json:"updated_at"`
}

func toAPIVault(e token.VaultEntry) apiVaultEntry {
	a := apiVaultEntry{Kind: e.Kind.ID, Label: e.Kind.Label, Stored: e.Stored}
	if e.Stored {
		hint := e.Hint
		a.Hint = &hint
		a.UpdatedAt = timePtr(e.UpdatedAt)
	}
	return a
}

// listVault answers GET /api/vault: the signed-in person's own entries only.
func (h *Handler) listVault(w http.ResponseWriter, r *http.Request, who string) {
	if h.svc.VaultKinds() == nil {
		writeJSON(w, http.StatusOK, map[string]any{"enabled": false, "entries": []apiVaultEntry{}})
		return
	}
	es, err := h.svc.VaultEntries(r.Context(), who)
	if err != nil {
		if token.IsVaultDisabled(err) {
			writeJSON(w, http.StatusOK, map[string]any{"enabled": false, "entries": []apiVaultEntry{}})
			return
		}
		h.serviceError(w, r, "vault_list", who, err)
		return
	}
	out := make([]apiVaultEntry, 0, len(es))
	for _, e := range es {
		out = append(out, toAPIVault(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"enabled": true, "entries": out})
}

// vaultKind returns the configured kind named by the {kind} path segment,
// or writes 404 (vault off, or a kind this server does not store).
func (h *Handler) vaultKind(w http.ResponseWriter, r *http.Request) (token.VaultKind, bool) {
	kinds := h.svc.VaultKinds()
	if kinds == nil {
		writeError(w, http.StatusNotFound, VaultOffMessage)
		return token.VaultKind{}, false
	}
	id := r.PathValue("kind")
	ids := make([]string, 0, len(kinds))
	for _, k := range kinds {
		if k.ID == id {
			return k, true
		}
		ids = append(ids, k.ID)
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no such kind of credential %q; this server stores: %s",
		truncate(id, 40), strings.Join(ids, ", ")))
	return token.VaultKind{}, false
}

type vaultPutRequest struct {
	Secret string `json:"secret"`
}

// putVault answers PUT /api/vault/{kind}: store or replace the signed-in
// person's credential; the answer is the entry, never the secret.
func (h *Handler) putVault(w http.ResponseWriter, r *http.Request, who string) {
	k, ok := h.vaultKind(w, r)
	if !ok {
		return
	}
	var req vaultPutRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	e, err := h.svc.SetVaultSecret(r.Context(), who, k.ID, req.Secret)
	if err != nil {
		h.vaultError(w, r, "vault_set", who, k, err)
		return
	}
	h.log.Info("vault secret stored", zap.String("action", "vault_set"), zap.String("identity", who),
		zap.String("kind", k.ID))
	writeJSON(w, http.StatusOK, toAPIVault(e))
}

// deleteVault answers DELETE /api/vault/{kind}: 204, or 404 when nothing
// of that kind is stored.
func (h *Handler) deleteVault(w http.ResponseWriter, r *http.Request, who string) {
	k, ok := h.vaultKind(w, r)
	if !ok {
		return
	}
	if err := h.svc.DeleteVaultSecret(r.Context(), who, k.ID); err != nil {
		h.vaultError(w, r, "vault_delete", who, k, err)
		return
	}
	h.log.Info("vault secret deleted", zap.String("action", "vault_delete"), zap.String("identity", who),
		zap.String("kind", k.ID))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// vaultError maps a vault error of the Service; others go to serviceError.
func (h *Handler) vaultError(w http.ResponseWriter, r *http.Request, action, who string, k token.VaultKind, err error) {
	switch {
	case token.IsVaultDisabled(err):
		writeError(w, http.StatusNotFound, VaultOffMessage)
	case errors.Is(err, token.ErrNotFound) && !errors.Is(err, token.ErrUnavailable):
		writeError(w, http.StatusNotFound, "you have no "+k.Label+" stored")
	default:
		h.serviceError(w, r, action, who, err)
	}
}

// vaultView is one kind of credential on the page.
type vaultView struct {
	ID, Label           string
	Stored              bool
	Hint                string
	Updated, UpdatedISO string
}

// vaultPageData fills the "Other tokens" section when the vault is on.
func (h *Handler) vaultPageData(r *http.Request, d *pageData, who string) error {
	if h.svc.VaultKinds() == nil {
		return nil
	}
	es, err := h.svc.VaultEntries(r.Context(), who)
	if err != nil {
		if token.IsVaultDisabled(err) {
			return nil
		}
		return err
	}
	d.VaultEnabled = true
	for _, e := range es {
		v := vaultView{ID: e.Kind.ID, Label: e.Kind.Label, Stored: e.Stored}
		if e.Stored {
			v.Hint = e.Hint
			if !e.UpdatedAt.IsZero() {
				v.Updated, v.UpdatedISO = e.UpdatedAt.UTC().Format(DateTimeLayout), rfc3339(e.UpdatedAt)
			}
		}
		d.Vault = append(d.Vault, v)
	}
	return nil
}
