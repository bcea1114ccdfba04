package caddymodule

import (
	"fmt"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// VaultInjection names a vault kind and the upstream header that carries it.
type VaultInjection struct {
	// Kind is a vault kind configured in the tokengate app (e.g. "jira").
	Kind string `json:"kind"`
	// Header is the request header set for the upstream.
	Header string `json:"header"`
}

// canonicalInjections checks injections and returns a copy with canonical
// header names; errors name the field.
func canonicalInjections(injections []VaultInjection) ([]VaultInjection, error) {
	var out []VaultInjection
	seen := map[string]bool{}
	for _, inj := range injections {
		name := http.CanonicalHeaderKey(inj.Header)
		if !httpguts.ValidHeaderFieldName(inj.Header) {
			return nil, fmt.Errorf("tokengate_auth: inject_vault %s: %q is not a valid header name", inj.Kind, inj.Header)
		}
		switch name {
		case "Authorization", "Host", "Cookie", "Content-Length", "Transfer-Encoding", "Connection", HeaderUser, HeaderTokenID:
			return nil, fmt.Errorf("tokengate_auth: inject_vault %s: header %s is reserved", inj.Kind, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("tokengate_auth: inject_vault: header %s used twice", name)
		}
		seen[name] = true
		out = append(out, VaultInjection{Kind: inj.Kind, Header: name})
	}
	return out, nil
}

// provisionVault checks that the app has a vault with the kinds to inject.
func (h *Auth) provisionVault(app appSource) error {
	h.sealer = app.Sealer()
	if h.sealer == nil {
		return fmt.Errorf("tokengate_auth: inject_vault: the tokengate app has no vault_key (store postgres needs one, the same on every instance)")
	}
	for _, inj := range h.inject {
		found := false
		for _, id := range app.VaultKindIDs() {
			found = found || id == inj.Kind
		}
		if !found {
			return fmt.Errorf("tokengate_auth: inject_vault: unknown vault kind %q (configure it with vault_kind in the tokengate app)", inj.Kind)
		}
		h.stripped = append(h.stripped, inj.Header)
	}
	return nil
}
