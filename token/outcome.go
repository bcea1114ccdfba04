package token

import (
	"fmt"
	"net/netip"
	"time"
)

// Outcome is the verdict of Validate.
type Outcome uint8

// Validation outcomes.
const (
	OutcomeValid       Outcome = iota
	OutcomeMalformed           // no prefix and no legacy tokens, bad length/alphabet/checksum
	OutcomeUnknown             // well-formed, no such digest
	OutcomeExpired             // the token's expiry has passed
	OutcomeRevoked             // the token was revoked
	OutcomeUnavailable         // store failed on a miss
)

var outcomeNames = [...]string{"valid", "malformed", "unknown", "expired", "revoked", "unavailable"}

// String returns the outcome's name as used in logs and metrics.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Result is what Validate found. TokenID, Owner and Label are set for known
// tokens (valid, expired, revoked); they are never secret.
type Result struct {
	Outcome   Outcome
	TokenID   string
	Owner     string
	Label     string
	ExpiresAt time.Time
	CacheHit  bool
	// AllowedIPs and Scopes are the token's restrictions (nil: none); the
	// caller enforces them (see AllowsIP), the slices are shared: read only.
	AllowedIPs []netip.Prefix
	Scopes     []string
}
