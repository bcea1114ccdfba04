package portal

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/caddymodule"
	"github.com/tokengate/tokengate/token"
)

// MaxRejectionsShown is how many recent rejected attempts the page and
// GET /api/rejections return.
const MaxRejectionsShown = token.MaxRejectionsPerOwner

// signedIn returns the identity of the request, or writes 401/403 and "".
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) string {
	who := h.identity(r)
	if who == "" {
		writeError(w, http.StatusUnauthorized, "you are not signed in; sign in to manage your tokens")
		return ""
	}
	if err := token.ValidateOwner(who); err != nil {
		writeError(w, http.StatusForbidden, "your identity cannot own tokens: "+err.Error())
		return ""
	}
	return who
}

// user wraps an API handler that needs a signed-in person.
func (h *Handler) user(f func(w http.ResponseWriter, r *http.Request, who string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if who := h.signedIn(w, r); who != "" {
			f(w, r, who)
		}
	}
}

// admin wraps an API handler for administrators only.
func (h *Handler) admin(f func(w http.ResponseWriter, r *http.Request, who string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who := h.signedIn(w, r)
		if who == "" {
			return
		}
		if !h.svc.IsAdmin(token.Person(who)) {
			h.log.Warn("admin API refused", zap.String("identity", who), zap.String("path", r.URL.Path))
			writeError(w, http.StatusForbidden, "only administrators may use this; ask one if you need it")
			return
		}
		f(w, r, who)
	}
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, who string) {
	ts, err := h.svc.List(r.Context(), who)
	if err != nil {
		h.serviceError(w, r, "list", who, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": toAPIList(ts, h.now(), false)})
}

type createRequest struct {
	Label     string  `json:"label"`
	ExpiresOn *string `json:"expires_on"`
	// AllowedIPs and Scopes are the optional restrictions (see restrictions.go).
	AllowedIPs []string `json:"allowed_ips"`
	Scopes     []string `json:"scopes"`
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, who string) {
	var req createRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	date := ""
	if req.ExpiresOn != nil {
		date = *req.ExpiresOn
	}
	c, err := h.svc.CreateWith(r.Context(), who, token.CreateRequest{
		Label: req.Label, ExpiresOn: date, AllowedIPs: req.AllowedIPs, Scopes: req.Scopes})
	if err != nil {
		h.serviceError(w, r, "create", who, err)
		return
	}
	h.log.Info("token created", zap.String("action", "create"), zap.String("identity", who),
		zap.String("token_id", c.Token.ID), zap.Strings("allowed_ips", token.FormatAllowedIPs(c.Token.AllowedIPs)),
		zap.Strings("scopes", c.Token.Scopes))
	out := toAPI(c.Token, h.now(), false)
	out.Token = c.Secret
	writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, who string) {
	t, err := h.svc.Revoke(r.Context(), who, r.PathValue("id"))
	if err != nil {
		h.serviceError(w, r, "revoke", who, err)
		return
	}
	h.log.Info("token revoked", zap.String("action", "revoke"), zap.String("identity", who),
		zap.String("token_id", t.ID))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// apiRejection is one entry of GET /api/rejections: Count identical
// refused attempts (same token, IP, agent and reason), the last at At.
type apiRejection struct {
	At      string `json:"at"`
	IP      string `json:"ip"`
	Agent   string `json:"agent"`
	TokenID string `json:"token_id"`
	Label   string `json:"label"`
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
}

func (h *Handler) listRejections(w http.ResponseWriter, r *http.Request, who string) {
	rs, err := h.svc.Rejections(r.Context(), who, MaxRejectionsShown)
	if err != nil {
		h.serviceError(w, r, "rejections", who, err)
		return
	}
	out := make([]apiRejection, 0, len(rs))
	for _, x := range rs {
		out = append(out, apiRejection{At: rfc3339(x.At), IP: x.IP, Agent: x.Agent,
			TokenID: x.TokenID, Label: x.Label, Reason: string(x.Reason), Count: x.Times()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"rejections": out})
}

// ownerParam returns the optional "owner" query parameter, or writes 400.
func ownerParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	owner := r.URL.Query().Get("owner")
	if owner == "" {
		return "", true
	}
	if err := token.ValidateOwner(owner); err != nil {
		writeError(w, http.StatusBadRequest, "owner: "+err.Error())
		return "", false
	}
	return owner, true
}

// adminListTokens answers one page (limit ≤ token.MaxHistoryLimit,
// default token.DefaultPageSize) of the unrevoked tokens, by id, after
// cursor; next_cursor is "" on the last page. The first page (no cursor)
// also has total: how many unrevoked tokens match the owner filter, from a
// count query.
func (h *Handler) adminListTokens(w http.ResponseWriter, r *http.Request, who string) {
	owner, ok := ownerParam(w, r)
	if !ok {
		return
	}
	limit, err := token.ParseLimit(r.URL.Query().Get("limit"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := h.svc.AdminListPage(r.Context(), token.Person(who), owner, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		h.serviceError(w, r, "admin_list", who, err)
		return
	}
	out := map[string]any{"tokens": toAPIList(p.Items, h.now(), true), "next_cursor": p.Next}
	if r.URL.Query().Get("cursor") == "" {
		total, err := h.svc.AdminCountTokens(r.Context(), token.Person(who), owner)
		if err != nil {
			h.serviceError(w, r, "admin_list", who, err)
			return
		}
		out["total"] = total
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) adminRevokeToken(w http.ResponseWriter, r *http.Request, who string) {
	t, err := h.svc.AdminRevoke(r.Context(), token.Person(who), r.PathValue("id"))
	if err != nil {
		h.serviceError(w, r, "admin_revoke", who, err)
		return
	}
	h.log.Info("token revoked by administrator", zap.String("action", "admin_revoke"),
		zap.String("identity", who), zap.String("owner", t.Owner), zap.String("token_id", t.ID))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) adminRevokeOwner(w http.ResponseWriter, r *http.Request, who string) {
	owner := r.PathValue("owner")
	if err := token.ValidateOwner(owner); err != nil {
		writeError(w, http.StatusBadRequest, "owner: "+err.Error())
		return
	}
	n, err := h.svc.AdminRevokeOwner(r.Context(), token.Person(who), owner)
	if err != nil {
		h.serviceError(w, r, "admin_revoke_owner", who, err)
		return
	}
	h.log.Info("all tokens of a person revoked", zap.String("action", "admin_revoke_owner"),
		zap.String("identity", who), zap.String("owner", owner), zap.Int("revoked", n))
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// DefaultHistoryLimit is how many events GET /api/admin/history returns
// when no limit is given.
const DefaultHistoryLimit = token.DefaultPageSize

type apiEvent struct {
	ID      int64  `json:"id"`
	At      string `json:"at"`
	Kind    string `json:"kind"`
	Actor   string `json:"actor"`
	Owner   string `json:"owner"`
	TokenID string `json:"token_id"`
	Label   string `json:"label"`
	Detail  string `json:"detail,omitempty"`
}

func (h *Handler) adminHistory(w http.ResponseWriter, r *http.Request, who string) {
	owner, ok := ownerParam(w, r)
	if !ok {
		return
	}
	limit, err := token.ParseLimit(r.URL.Query().Get("limit"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := h.svc.HistoryPage(r.Context(), token.Person(who), owner, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		h.serviceError(w, r, "admin_history", who, err)
		return
	}
	out := make([]apiEvent, 0, len(p.Items))
	for _, e := range p.Items {
		out = append(out, apiEvent{ID: e.ID, At: rfc3339(e.At), Kind: string(e.Kind), Actor: e.Actor,
			Owner: e.Owner, TokenID: e.TokenID, Label: e.Label, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_cursor": p.Next})
}

type capRequest struct {
	MaxLifetime string `json:"max_lifetime"`
}

func (h *Handler) adminCap(w http.ResponseWriter, r *http.Request, who string) {
	var req capRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	limit, err := ParseLifetime(req.MaxLifetime)
	if err != nil {
		writeError(w, http.StatusBadRequest, "max_lifetime: "+err.Error())
		return
	}
	fields := []zap.Field{zap.String("action", "admin_cap"), zap.String("identity", who),
		zap.String("max_lifetime", token.FormatLifetime(limit))}
	res, err := h.svc.CapLifetimeWith(r.Context(), token.Person(who), limit,
		token.CapOptions{Progress: caddymodule.CapProgressLogger(h.log, fields...)})
	if err != nil {
		if res.Changed > 0 {
			h.log.Warn("token lifetime cap interrupted; run it again to finish", append(fields, zap.Int("changed", res.Changed), zap.Error(err))...)
		}
		h.serviceError(w, r, "admin_cap", who, err)
		return
	}
	h.log.Info("token lifetime capped", append(fields, zap.Int("changed", res.Changed))...)
	writeJSON(w, http.StatusOK, map[string]any{"changed": res.Changed, "expires_by": rfc3339(res.ExpiresBy)})
}

// MaxCapLifetime is the longest lifetime the cap action accepts.
const MaxCapLifetime = token.MaxCapLifetime

// ParseLifetime parses a lifetime such as "90d" (days) or a Go duration such
// as "36h"; see token.ParseLifetime, the rule the admin API and CLI share.
func ParseLifetime(s string) (time.Duration, error) { return token.ParseLifetime(s) }
