// Package caddymodule adapts tokengate to Caddy: the "tokengate" app, which
// owns the token store, the validation cache and the revocation listener
// (shared across config reloads through a caddy.UsagePool), the
// http.handlers.tokengate_auth handler, their Caddyfile syntax, metrics and
// the "tokengate tokens" operator subcommands. The rules themselves live in
// package token; this package only wires them into Caddy.
package caddymodule
