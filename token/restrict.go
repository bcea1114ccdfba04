package token

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Restrictions are fixed when a token is created and can never be widened
// (create a new token instead). The zero value restricts nothing.
//
// AllowedIPs: when not empty, the token is accepted only from a client IP
// inside one of the prefixes (IPv4 and IPv6; a single address is a /32 or
// /128). Scopes: when not empty, the token reaches only the paths of those
// named scopes (defined by the operator in tokengate_auth) and the paths every
// scoped token may reach.

// MaxAllowedIPs is the most IP addresses or ranges one token may list.
const MaxAllowedIPs = 16

// MaxScopeNameLen bounds a scope name.
const MaxScopeNameLen = 64

// Rejection reasons of restricted tokens.
const (
	// RejectIPNotAllowed: a valid token used from outside its AllowedIPs.
	RejectIPNotAllowed RejectReason = "ip_not_allowed"
	// RejectOutOfScope: a valid token used on a path outside its Scopes.
	RejectOutOfScope RejectReason = "out_of_scope"
)

// ParseAllowedIPs checks and normalizes the entries a person typed: IP
// addresses ("198.51.100.7", "2001:db8::1") or CIDR ranges
// ("203.0.113.0/24", "2001:db8::/48"), surrounding spaces and empty entries
// ignored. Ranges are masked ("10.1.2.3/8" → "10.0.0.0/8"), IPv4-mapped IPv6
// addresses become IPv4, duplicates are dropped, the order is kept. An
// invalid entry, a zone, or more than MaxAllowedIPs entries is an
// ErrInvalidInput that names the entry.
func ParseAllowedIPs(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, raw := range entries {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		p, err := parseIPOrPrefix(e)
		if err != nil {
			return nil, inputErr(ErrInvalidInput, fmt.Sprintf("allowed IP %d, %q: %v", i+1, Ellipsize(e, 60), err))
		}
		if !slices.Contains(out, p) {
			if len(out) == MaxAllowedIPs { // stop here: a huge list costs no more than this
				return nil, inputErr(ErrInvalidInput, fmt.Sprintf("more than %d allowed IP entries; at most %d are allowed (use ranges)", MaxAllowedIPs, MaxAllowedIPs))
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// parseIPOrPrefix parses one allowed-IP entry.
func parseIPOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP range (e.g. 203.0.113.0/24 or 2001:db8::/48)")
		}
		a := p.Addr()
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("IPv6 zones are not allowed")
		}
		if a.Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("an IPv4-mapped range needs at least /96")
			}
			p = netip.PrefixFrom(a.Unmap(), bits)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or range (e.g. 198.51.100.7 or 203.0.113.0/24)")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("IPv6 zones are not allowed")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// FormatAllowedIPs returns the prefixes as strings, single addresses without
// their /32 or /128 (the form people typed and the API returns).
func FormatAllowedIPs(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

// AllowsIP reports whether a token with allowed (empty: anywhere) may be
// used from ip, the client address Caddy determined. An unparseable ip is
// refused when there is a list.
func AllowsIP(allowed []netip.Prefix, ip string) bool {
	if len(allowed) == 0 {
		return true
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ValidScopeName reports whether name can name a scope: 1–MaxScopeNameLen
// characters of a-z, 0-9, '-' and '_', starting with a letter.
func ValidScopeName(name string) bool {
	if name == "" || len(name) > MaxScopeNameLen || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NormalizeScopes checks requested scope names against the known ones (the
// scopes the operator defined): duplicates dropped, sorted. An unknown name
// is an ErrInvalidInput that names it and lists the known ones.
func NormalizeScopes(requested, known []string) ([]string, error) {
	var out []string
	for _, s := range requested {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(known, s) {
			if len(known) == 0 {
				return nil, inputErr(ErrInvalidInput, fmt.Sprintf("scope %q: no scopes are configured on this server", Ellipsize(s, 60)))
			}
			return nil, inputErr(ErrInvalidInput, fmt.Sprintf("unknown scope %q; known scopes: %s", Ellipsize(s, 60), strings.Join(known, ", ")))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// KnownScopes returns the scope names a token may ask for (sorted; nil when
// the operator defined none).
func (s *Service) KnownScopes() []string {
	if s.policy.KnownScopes == nil {
		return nil
	}
	known := slices.Clone(s.policy.KnownScopes())
	slices.Sort(known)
	return slices.Compact(known)
}

// RequiresAllowedIPs reports whether new tokens must carry an IP allow-list.
func (s *Service) RequiresAllowedIPs() bool { return s.policy.RequireAllowedIPs }
