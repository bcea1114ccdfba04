// Package token is the domain of tokengate: the personal access token format,
// digests, the Token and Event records, the Store interface that the storage
// back ends implement, the Service that enforces the rules for creating,
// listing and revoking tokens, and the Validator that checks presented secrets
// through an in-memory cache.
//
// The package knows nothing of Caddy or HTTP; the caddymodule packages adapt it.
//
// # Choices where the design contract is silent
//
//   - Expiry date D is valid until D+1 00:00:00Z; pages show the last valid
//     second (2026-12-31 23:59:59 UTC for D = 2026-12-31), the API the exact
//     instant (2027-01-01T00:00:00Z). Dates more than 100 years away are
//     refused: leave the date empty for a token that never expires.
//   - A token already expired when looked up is cached like a negative
//     answer, for NegativeTTL.
//   - A valid token is cached for CacheTTL less a jitter of up to a tenth of
//     it, derived from the digest (the same every time), so that entries
//     filled together do not all go stale together; nothing is cached
//     longer than CacheTTL, so the bound on revocation staleness is
//     unchanged.
//   - Last-used records and rejections are written behind: a buffer half
//     full (MaxPendingUses, MaxPendingRejections) flushes at once instead of
//     waiting for LastUsedFlush; what is still dropped (the store slow or
//     down) is counted through DropObserver and reported to OnError once
//     per flush interval. A Postgres flush writes 500 tokens per statement
//     so that each finds its rows through the primary key.
//   - Unknown tokens never enter the cache: the prefilter (a Bloom filter of
//     every digest in the store, synced through Store.Digests) refuses them;
//     a miss waits for the next shared sync so that a token added a moment
//     ago elsewhere is still found.
//   - MaxLifetime must be at least one day; the latest allowed expiry date is
//     the last day whose following midnight is within now + MaxLifetime.
//   - Labels: 1–MaxLabelLen characters after trimming, no control,
//     bidirectional or invisible formatting characters (see NormalizeLabel).
//   - Legacy import rows need at least 16 characters (or a SHA-256 digest), at
//     most 4096 bytes, UTF-8 without control characters, and must not be a
//     broken tgp_ token (it could never sign in); a file may start with a
//     byte-order mark (Excel's "CSV UTF-8"); one token twice in a file is
//     refused naming both lines.
package token
