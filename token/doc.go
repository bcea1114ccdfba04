// Package token is the domain of tokengate: the personal access token format,
// digests, the Token and Event records, the Store interface that the storage
// back ends implement, the Service that enforces the rules for creating,
// listing and revoking tokens, and the Validator that checks presented secrets
// through an in-memory cache.
//
// The package knows nothing of Caddy or HTTP; the caddymodule packages adapt it.
package token
