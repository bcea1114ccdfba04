package token

import (
	"math"
	"net/netip"
	"strings"
	"time"
)

// Token is the stored record of one access token. The secret itself is never
// part of it: only its Digest and the last HintLen characters (Hint).
//
// Zero times mean "not set": a legacy token has a zero CreatedAt, a token
// without expiry a zero ExpiresAt, an unrevoked token a zero RevokedAt.
type Token struct {
	ID            string    `json:"id"`
	Owner         string    `json:"owner"`
	Label         string    `json:"label"`
	Digest        Digest    `json:"-"`
	Hint          string    `json:"hint"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	RevokedAt     time.Time `json:"revoked_at"`
	RevokedBy     string    `json:"revoked_by"`
	LastUsedAt    time.Time `json:"last_used_at"`
	LastUsedIP    string    `json:"last_used_ip"`
	LastUsedAgent string    `json:"last_used_agent"`
	// AllowedIPs, when not empty, are the only client addresses the token
	// is accepted from (see Restrictions in restrict.go). Fixed at creation.
	AllowedIPs []netip.Prefix `json:"allowed_ips,omitempty"`
	// Scopes, when not empty, name the only scopes the token reaches.
	// Fixed at creation, sorted.
	Scopes []string `json:"scopes,omitempty"`
}

// Restricted reports whether t carries an IP allow-list or scopes.
func (t Token) Restricted() bool { return len(t.AllowedIPs) > 0 || len(t.Scopes) > 0 }

// RestrictionsDetail describes t's restrictions for the history (the
// EventCreate detail): "" when there are none, else e.g.
// "allowed IPs: 203.0.113.0/24, 198.51.100.7; scopes: issues".
func RestrictionsDetail(t Token) string {
	var parts []string
	if len(t.AllowedIPs) > 0 {
		parts = append(parts, "allowed IPs: "+strings.Join(FormatAllowedIPs(t.AllowedIPs), ", "))
	}
	if len(t.Scopes) > 0 {
		parts = append(parts, "scopes: "+strings.Join(t.Scopes, ", "))
	}
	return strings.Join(parts, "; ")
}

// Legacy reports whether t was imported from an earlier system (no creation date).
func (t Token) Legacy() bool { return t.CreatedAt.IsZero() }

// Revoked reports whether t has been revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// ExpiredAt reports whether t has expired at instant now. A token without an
// expiry date never expires; one with ExpiresAt E is valid strictly before E.
func (t Token) ExpiredAt(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// ExpiringSoonWindow is how close to its expiry a token is shown as "expiring soon".
const ExpiringSoonWindow = 7 * 24 * time.Hour

// Status is what the token page shows for a token.
type Status string

// Token statuses, as shown to users.
const (
	StatusActive       Status = "active"
	StatusExpiringSoon Status = "expiring_soon"
	StatusExpired      Status = "expired"
	StatusRevoked      Status = "revoked"
)

// StatusAt returns the status of t at instant now.
func (t Token) StatusAt(now time.Time) Status {
	switch {
	case t.Revoked():
		return StatusRevoked
	case t.ExpiredAt(now):
		return StatusExpired
	case !t.ExpiresAt.IsZero() && t.ExpiresAt.Sub(now) <= ExpiringSoonWindow:
		return StatusExpiringSoon
	default:
		return StatusActive
	}
}

// EventKind names what a history Event records.
type EventKind string

// History event kinds.
const (
	EventCreate EventKind = "create"
	EventRevoke EventKind = "revoke"
	EventCap    EventKind = "cap"
	EventImport EventKind = "import"
	EventVault  EventKind = "vault"
)

// Event is one entry of the tokens history. It never carries a secret.
type Event struct {
	ID      int64
	At      time.Time
	Kind    EventKind
	Actor   string
	Owner   string
	TokenID string
	Label   string
	Detail  string
}

// LastUse is one coalesced "token was used" record, written behind requests.
type LastUse struct {
	TokenID string
	At      time.Time
	IP      string
	Agent   string
}

// RejectReason says why a known token was refused.
type RejectReason string

// Reasons a known token is rejected; shown to its owner.
const (
	RejectExpired          RejectReason = "expired"
	RejectRevoked          RejectReason = "revoked"
	RejectUsernameMismatch RejectReason = "username_mismatch"
)

// Rejection is a refused attempt with a known token, kept so the owner can
// see why a Power BI refresh failed. Identical attempts (same token, reason,
// IP and agent) within one write-behind flush are one Rejection: At is the
// newest, Count how many.
type Rejection struct {
	TokenID string
	Owner   string
	Label   string
	At      time.Time
	IP      string
	Agent   string
	Reason  RejectReason
	// Count is how many identical refused attempts this record stands for,
	// at least 1; 0 (from a store or caller that predates it) means 1. Read
	// it with Times.
	Count int
}

// MaxRejectionCount is the largest Count a store keeps (Postgres integer);
// a larger one is stored as this.
const MaxRejectionCount = math.MaxInt32

// Times returns how many refused attempts r stands for: Count, or 1 when
// Count is not set (0 or less), at most MaxRejectionCount.
func (r Rejection) Times() int {
	return min(max(r.Count, 1), MaxRejectionCount)
}
