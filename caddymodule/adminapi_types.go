package caddymodule

import (
	"time"

	"github.com/tokengate/tokengate/token"
)

// The JSON shapes of the admin API (admin.api.tokengate), shared by the
// `tokengate tokens` commands whichever way they reach the store. None of
// them carries a secret: a token is its id, hint and metadata.

// AdminToken is a token's metadata.
type AdminToken struct {
	ID         string   `json:"id"`
	Owner      string   `json:"owner"`
	Label      string   `json:"label"`
	Hint       string   `json:"hint"`
	CreatedAt  string   `json:"created_at,omitempty"` // RFC 3339; "" for legacy tokens
	ExpiresAt  string   `json:"expires_at,omitempty"` // "" never expires
	RevokedAt  string   `json:"revoked_at,omitempty"`
	RevokedBy  string   `json:"revoked_by,omitempty"`
	LastUsedAt string   `json:"last_used_at,omitempty"`
	LastUsedIP string   `json:"last_used_ip,omitempty"`
	Status     string   `json:"status"`
	Legacy     bool     `json:"legacy"`
	AllowedIPs []string `json:"allowed_ips"`
	Scopes     []string `json:"scopes"`
}

// AdminEvent is one history event.
type AdminEvent struct {
	ID      int64  `json:"id"`
	At      string `json:"at"`
	Kind    string `json:"kind"`
	Actor   string `json:"actor"`
	Owner   string `json:"owner"`
	TokenID string `json:"token_id"`
	Label   string `json:"label"`
	Detail  string `json:"detail,omitempty"`
}

// AdminTokenList is GET /tokengate/tokens. Total, on the first page (no
// cursor) only, is how many unrevoked tokens match the owner filter in all
// pages together, from a count query (a client paging through a million
// tokens does not count them again on every page).
type AdminTokenList struct {
	Tokens     []AdminToken `json:"tokens"`
	NextCursor string       `json:"next_cursor"`
	Total      *int         `json:"total,omitempty"`
}

// AdminHistory is GET /tokengate/history.
type AdminHistory struct {
	Events     []AdminEvent `json:"events"`
	NextCursor string       `json:"next_cursor"`
}

// AdminCount answers the actions that change many tokens.
type AdminCount struct {
	Revoked  *int `json:"revoked,omitempty"`
	Changed  *int `json:"changed,omitempty"`
	Imported *int `json:"imported,omitempty"`
	// AlreadyThere (import) counts rows skipped as imported by an earlier,
	// interrupted run: legacy tokens of the same owner with that digest.
	AlreadyThere *int   `json:"already_there,omitempty"`
	ExpiresBy    string `json:"expires_by,omitempty"` // cap-lifetime: the new latest expiry
}

// AdminRevoked answers DELETE /tokengate/tokens/{id}.
type AdminRevoked struct {
	Revoked AdminToken `json:"revoked"`
}

// AdminCapRequest is the body of POST /tokengate/cap-lifetime.
type AdminCapRequest struct {
	MaxLifetime string `json:"max_lifetime"`
}

// AdminRevokeUserRequest is the body of POST /tokengate/revoke-user.
type AdminRevokeUserRequest struct {
	Owner string `json:"owner"`
}

func adminTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func adminTokenOf(t token.Token, now time.Time) AdminToken {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return AdminToken{
		ID: t.ID, Owner: t.Owner, Label: t.Label, Hint: t.Hint,
		CreatedAt: adminTime(t.CreatedAt), ExpiresAt: adminTime(t.ExpiresAt),
		RevokedAt: adminTime(t.RevokedAt), RevokedBy: t.RevokedBy,
		LastUsedAt: adminTime(t.LastUsedAt), LastUsedIP: t.LastUsedIP,
		Status: string(t.StatusAt(now)), Legacy: t.Legacy(),
		AllowedIPs: append([]string{}, token.FormatAllowedIPs(t.AllowedIPs)...),
		Scopes:     scopes,
	}
}

func adminTokenList(p token.Page[token.Token], total *int, now time.Time) AdminTokenList {
	out := AdminTokenList{Tokens: make([]AdminToken, 0, len(p.Items)), NextCursor: p.Next, Total: total}
	for _, t := range p.Items {
		out.Tokens = append(out.Tokens, adminTokenOf(t, now))
	}
	return out
}

func adminHistory(p token.Page[token.Event]) AdminHistory {
	out := AdminHistory{Events: make([]AdminEvent, 0, len(p.Items)), NextCursor: p.Next}
	for _, e := range p.Items {
		out.Events = append(out.Events, AdminEvent{ID: e.ID, At: adminTime(e.At), Kind: string(e.Kind),
			Actor: e.Actor, Owner: e.Owner, TokenID: e.TokenID, Label: e.Label, Detail: e.Detail})
	}
	return out
}

func intp(n int) *int { return &n }
