package bolt

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/tokengate/tokengate/token"
)

// record is the stored form of a token.Token. Its JSON names are the file
// format: never rename them. The restrictions are omitted when empty, so an
// unrestricted token is stored exactly as before they existed (and files of
// earlier builds read as unrestricted).
type record struct {
	ID            string    `json:"id"`
	Owner         string    `json:"owner"`
	Label         string    `json:"label"`
	Digest        []byte    `json:"digest"`
	Hint          string    `json:"hint"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokedBy     string    `json:"revoked_by,omitempty"`
	LastUsedAt    time.Time `json:"last_used_at,omitzero"`
	LastUsedIP    string    `json:"last_used_ip,omitempty"`
	LastUsedAgent string    `json:"last_used_agent,omitempty"`
	// AllowedIPs are CIDR ranges in netip.Prefix's text form
	// ("203.0.113.0/24", "198.51.100.7/32"), in the token's order.
	AllowedIPs []netip.Prefix `json:"allowed_ips,omitempty"`
	Scopes     []string       `json:"scopes,omitempty"`
}

func toRecord(t token.Token) record {
	return record{ID: t.ID, Owner: t.Owner, Label: t.Label, Digest: t.Digest[:], Hint: t.Hint,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, RevokedBy: t.RevokedBy,
		LastUsedAt: t.LastUsedAt, LastUsedIP: t.LastUsedIP, LastUsedAgent: t.LastUsedAgent,
		AllowedIPs: t.AllowedIPs, Scopes: t.Scopes}
}

// token returns the token r stores; no restriction is a nil slice.
func (r record) token() token.Token {
	t := token.Token{ID: r.ID, Owner: r.Owner, Label: r.Label, Hint: r.Hint,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, RevokedAt: r.RevokedAt, RevokedBy: r.RevokedBy,
		LastUsedAt: r.LastUsedAt, LastUsedIP: r.LastUsedIP, LastUsedAgent: r.LastUsedAgent}
	if len(r.AllowedIPs) > 0 {
		t.AllowedIPs = r.AllowedIPs
	}
	if len(r.Scopes) > 0 {
		t.Scopes = r.Scopes
	}
	copy(t.Digest[:], r.Digest)
	return t
}

// decodeRecord decodes the stored value v of the token with key k.
func decodeRecord(k, v []byte) (record, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return record{}, fmt.Errorf("decoding token %s: %w", k, err)
	}
	return r, nil
}

// encodeRecord returns the stored form of r.
func encodeRecord(r record) ([]byte, error) {
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding token %s: %w", r.ID, err)
	}
	return v, nil
}
