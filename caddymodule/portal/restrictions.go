package portal

// Token restrictions on the page and in the API: the IP allow-list and the
// scopes a person may give a token when creating it. They are fixed at
// creation (there is no edit route): a person who needs more creates a new
// token. The rules (syntax, limits, known scopes, the require_allowed_ips
// policy) are token.Service's; this file only shows them.

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/tokengate/tokengate/token"
)

// restrictionsView is how the page shows a token's restrictions: compactly
// in the list ("from 2 ranges", "scopes: issues"), the full list in a
// tooltip and a disclosure.
type restrictionsView struct {
	// AllowedIPs is the allow-list as the API returns it (empty: anywhere).
	AllowedIPs []string
	// IPsText is the compact form: "from 203.0.113.7", "from 3 addresses",
	// "from 2 ranges"; "" when there is no list.
	IPsText string
	// IPsTitle is the whole list in one line, for the tooltip.
	IPsTitle string
	// IPsLines is the list one entry a line, as the create form takes it
	// (Replace fills the form with it).
	IPsLines string
	// Scopes are the token's scope names (empty: every path).
	Scopes []string
	// ScopesText is "scopes: issues, worklogs"; "" without scopes.
	ScopesText string
	// ScopesList is the names separated by spaces (for Replace).
	ScopesList string
}

// Restricted reports whether there is anything to show.
func (v restrictionsView) Restricted() bool { return len(v.AllowedIPs) > 0 || len(v.Scopes) > 0 }

func restrictionsOf(t token.Token) restrictionsView {
	v := restrictionsView{AllowedIPs: token.FormatAllowedIPs(t.AllowedIPs), Scopes: t.Scopes}
	if n := len(t.AllowedIPs); n > 0 {
		v.IPsText = "from " + ipsSummary(t)
		v.IPsTitle = "Usable only from " + strings.Join(v.AllowedIPs, ", ")
		v.IPsLines = strings.Join(v.AllowedIPs, "\n")
	}
	if len(t.Scopes) > 0 {
		v.ScopesText = "scopes: " + strings.Join(t.Scopes, ", ")
		v.ScopesList = strings.Join(t.Scopes, " ")
	}
	return v
}

// ipsSummary names a one-entry list itself and counts longer ones:
// "3 addresses" when every entry is a single address, "2 ranges" otherwise.
func ipsSummary(t token.Token) string {
	ps := t.AllowedIPs
	if len(ps) == 1 {
		return token.FormatAllowedIPs(ps)[0]
	}
	for _, p := range ps {
		if !p.IsSingleIP() {
			return fmt.Sprintf("%d ranges", len(ps))
		}
	}
	return fmt.Sprintf("%d addresses", len(ps))
}

// apiAllowedIPs is the allow-list as the API returns it: [] when there is
// none, never null, so that clients need not tell the two apart.
func apiAllowedIPs(t token.Token) []string {
	return token.FormatAllowedIPs(t.AllowedIPs) // an empty, non-nil slice for none
}

// apiScopes is the scope names as the API returns them: [] when none.
func apiScopes(t token.Token) []string {
	if len(t.Scopes) == 0 {
		return []string{}
	}
	return t.Scopes
}

// createFormView is what the create form needs to offer restrictions.
type createFormView struct {
	// ClientIP is the caller's address as tokengate sees it, offered as a
	// one-click "add my current IP"; "" when it is not an IP address.
	ClientIP string
	// IPsRequired: the operator's require_allowed_ips policy.
	IPsRequired bool
	// MaxIPs is token.MaxAllowedIPs.
	MaxIPs int
	// Scopes are the scope names the operator defined (no section when none).
	Scopes []string
}

func (h *Handler) createForm(r *http.Request) createFormView {
	v := createFormView{
		IPsRequired: h.svc.RequiresAllowedIPs(),
		MaxIPs:      token.MaxAllowedIPs,
		Scopes:      h.svc.KnownScopes(),
	}
	// Offer the address in the form the server will accept and store
	// (IPv4-mapped IPv6 unmapped, no zone).
	if ps, err := token.ParseAllowedIPs([]string{h.clientIP(r)}); err == nil && len(ps) == 1 && ps[0].IsSingleIP() {
		v.ClientIP = token.FormatAllowedIPs(ps)[0]
	}
	return v
}

// RemoteIP returns the host part of r.RemoteAddr: the client address when
// nothing better is known (the default Config.ClientIP).
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// reasonText words a rejection reason for the owner; for ip_not_allowed it
// names the address, so that they know which one to allow.
func reasonText(x token.Rejection) string {
	switch x.Reason {
	case token.RejectExpired:
		return "expired"
	case token.RejectRevoked:
		return "revoked"
	case token.RejectUsernameMismatch:
		return "username mismatch (the user name is not the token's owner)"
	case token.RejectIPNotAllowed:
		if x.IP == "" {
			return "not allowed from this IP"
		}
		return "not allowed from this IP " + x.IP
	case token.RejectOutOfScope:
		return "outside the token's scopes"
	}
	return string(x.Reason)
}
