// Package caddymodule adapts tokengate to Caddy: the "tokengate" app, which
// owns the token store, the validation cache and the revocation listener
// (shared across config reloads through a caddy.UsagePool), the
// http.handlers.tokengate_auth handler, their Caddyfile syntax, metrics and
// the "tokengate tokens" operator subcommands. The rules themselves live in
// package token; this package only wires them into Caddy.
//
// # Choices where the design contract is silent
//
//   - Lifecycle: the tokengate app acquires its store in Provision — a locked
//     bolt file, an unreachable database or a failed migration fails the load
//     before any server of the new config takes traffic, so a bad reload
//     leaves the running config serving (Caddy starts a config's apps in
//     random order, so opening in Start would let the doomed config's server
//     answer 503s). A reload shares the open store and the warm cache, so its
//     Provision is cheap. Validating a config (`caddy validate`, `caddy adapt
//     --validate`, in any binary that imports this package) opens no store:
//     it works beside a running server and never touches the database. Caddy
//     gives a module no signal for that, so the package recognizes the
//     command itself (see CheckConfigOnly and checkonly.go).
//   - Cache lifetimes, flush intervals and windows are at least 10ms (a bare
//     JSON number is nanoseconds).
//   - No rate limit refuses a request: unknown tokens cost no store lookup
//     (the prefilter), so limits would only lock valid tokens out. Rejections
//     are logged in aggregate per client (IPv4 address or IPv6 /64).
//   - A portal identity template whose placeholder does not resolve (e.g.
//     {http.auth.user.id}@corp with nobody signed in) is nobody: 401. The
//     token page refuses identities established by tokengate_auth.
//   - Vault: the key is 32 bytes (base64 or hex); the ciphertext is bound to
//     its owner and kind; a person without a stored credential gets no header
//     (the upstream decides); a credential that cannot be decrypted (wrong
//     key) is a 500 and an error log, never a 401; admins have no vault
//     access at all.
//   - Restrictions: a token used from outside its IP allow-list is a 401
//     like any bad credential (checked before match_username, so the owner
//     sees ip_not_allowed); a scoped token outside its scopes is a 403 with
//     a short text/plain body, after every 401 check. Scope names live in
//     the tokengate_auth handlers; each registers its names with the
//     config's tokengate app, whose token service offers and accepts exactly
//     those. A token's scope that a handler does not define reaches only
//     that handler's scope_always paths (nothing is refused at load, so a
//     config change cannot break stored tokens, it can only narrow them).
//     Scope patterns are Caddy path matcher patterns without placeholders
//     (they are matched before the identity is set).
package caddymodule
