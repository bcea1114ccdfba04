package bolt

import (
	"bytes"
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

// Flags of a binary token record: which optional fields follow. The
// commonly set ones come first, so that their flags fit one varint byte.
const (
	fCreated = 1 << iota
	fExpires
	fLastUsedAt
	fLastUsedIP
	fLastUsedAgent
	fRevokedAt
	fRevokedBy
	fAllowedIPs
	fScopes
)

// decodeRecord decodes the stored value v of the token with key k (the id:
// the binary form does not repeat it). v is JSON in files of the first
// format, binary (binaryV1) since; both decode.
func decodeRecord(k, v []byte) (record, error) {
	var r record
	if len(v) > 0 && v[0] == '{' {
		if err := json.Unmarshal(v, &r); err != nil {
			return record{}, fmt.Errorf("decoding token %s: %w", k, err)
		}
		return r, nil
	}
	if len(v) == 0 || v[0] != binaryV1 {
		return record{}, fmt.Errorf("decoding token %s: unknown format %s", k, formatOf(v))
	}
	d := decoder{b: v[1:]}
	r.ID = string(k)
	flags := d.uvarint()
	r.Owner, r.Label = d.str(), d.str()
	r.Digest = bytes.Clone(d.bytes(uint64(len(token.Digest{}))))
	r.Hint = d.str()
	r.CreatedAt = optional(flags&fCreated, d.time)
	r.ExpiresAt = optional(flags&fExpires, d.time)
	r.LastUsedAt = optional(flags&fLastUsedAt, d.time)
	r.LastUsedIP = optional(flags&fLastUsedIP, d.str)
	r.LastUsedAgent = optional(flags&fLastUsedAgent, d.str)
	r.RevokedAt = optional(flags&fRevokedAt, d.time)
	r.RevokedBy = optional(flags&fRevokedBy, d.str)
	if flags&fAllowedIPs != 0 {
		r.AllowedIPs = make([]netip.Prefix, d.count())
		for i := range r.AllowedIPs {
			if err := r.AllowedIPs[i].UnmarshalBinary(d.bytes(uint64(d.byte()))); err != nil {
				d.fail(err)
			}
		}
	}
	if flags&fScopes != 0 {
		r.Scopes = make([]string, d.count())
		for i := range r.Scopes {
			r.Scopes[i] = d.str()
		}
	}
	if err := d.done(); err != nil {
		return record{}, fmt.Errorf("decoding token %s: %w", k, err)
	}
	return r, nil
}

// optional returns read() if flag is set, else the zero value.
func optional[T any](flag uint64, read func() T) T {
	if flag == 0 {
		var zero T
		return zero
	}
	return read()
}

// encodeRecord returns the stored form of r (binaryV1; see codec.go).
func encodeRecord(r record) ([]byte, error) {
	if len(r.Digest) != len(token.Digest{}) {
		return nil, fmt.Errorf("encoding token %s: digest of %d bytes, want %d", r.ID, len(r.Digest), len(token.Digest{}))
	}
	flags := flagIf(!r.CreatedAt.IsZero(), fCreated) | flagIf(!r.ExpiresAt.IsZero(), fExpires) |
		flagIf(!r.LastUsedAt.IsZero(), fLastUsedAt) | flagIf(r.LastUsedIP != "", fLastUsedIP) |
		flagIf(r.LastUsedAgent != "", fLastUsedAgent) | flagIf(!r.RevokedAt.IsZero(), fRevokedAt) |
		flagIf(r.RevokedBy != "", fRevokedBy) | flagIf(len(r.AllowedIPs) > 0, fAllowedIPs) |
		flagIf(len(r.Scopes) > 0, fScopes)
	e := encoder{b: make([]byte, 0, 96)}
	e.b = append(e.b, binaryV1)
	e.uvarint(flags)
	e.str(r.Owner)
	e.str(r.Label)
	e.b = append(e.b, r.Digest...)
	e.str(r.Hint)
	ifSet(flags&fCreated, e.time, r.CreatedAt)
	ifSet(flags&fExpires, e.time, r.ExpiresAt)
	ifSet(flags&fLastUsedAt, e.time, r.LastUsedAt)
	ifSet(flags&fLastUsedIP, e.str, r.LastUsedIP)
	ifSet(flags&fLastUsedAgent, e.str, r.LastUsedAgent)
	ifSet(flags&fRevokedAt, e.time, r.RevokedAt)
	ifSet(flags&fRevokedBy, e.str, r.RevokedBy)
	if flags&fAllowedIPs != 0 {
		e.uvarint(uint64(len(r.AllowedIPs)))
		for _, p := range r.AllowedIPs {
			b, err := p.MarshalBinary()
			if err != nil || len(b) > 255 {
				return nil, fmt.Errorf("encoding token %s: allowed IP %v: %w", r.ID, p, err)
			}
			e.b = append(append(e.b, byte(len(b))), b...)
		}
	}
	if flags&fScopes != 0 {
		e.uvarint(uint64(len(r.Scopes)))
		for _, s := range r.Scopes {
			e.str(s)
		}
	}
	return e.b, nil
}

// flagIf returns bit if set, else 0.
func flagIf(set bool, bit uint64) uint64 {
	if set {
		return bit
	}
	return 0
}

// ifSet calls write(v) if flag is set.
func ifSet[T any](flag uint64, write func(T), v T) {
	if flag != 0 {
		write(v)
	}
}

// formatOf describes the first byte of a value of an unknown format.
func formatOf(v []byte) string {
	if len(v) == 0 {
		return "(empty value)"
	}
	return fmt.Sprintf("0x%02x", v[0])
}
