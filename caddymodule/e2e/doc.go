// Package e2e holds tokengate's end-to-end tests: the Power BI flow through
// the real tokengate binary (Caddy with tokengate's modules) in the
// quickstart's shape — tokengate_auth and reverse_proxy in front of the demo
// Jira export backend, tokens created and revoked through the token page's
// API — on both stores, the root Caddyfile itself, and a 200 MB export that
// must stream through with flat memory.
//
// The package has no code of its own outside its tests.
package e2e
