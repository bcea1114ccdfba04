package token

import (
	"context"
	"time"
)

// Store persists tokens, the history of changes and recent rejected attempts.
// Implementations are safe for concurrent use. An error that means the back
// end could not be reached wraps ErrUnavailable; "no such token" is ErrNotFound.
// Every change writes its history events in the same transaction as the change.
type Store interface {
	// Create inserts t (every field but the revocation and last-use ones set
	// by the caller) together with an EventCreate event (actor = t.Owner).
	// If limit > 0 and the owner already has limit or more unrevoked tokens
	// (expired ones count), nothing is written and the error wraps
	// ErrLimitReached; the check and the insert are atomic. A digest that
	// exists already yields ErrDuplicate.
	Create(ctx context.Context, t Token, limit int) error

	// ByDigest returns the token with digest d, revoked or not, or ErrNotFound.
	ByDigest(ctx context.Context, d Digest) (Token, error)

	// List returns the unrevoked tokens of owner, or of all owners when owner
	// is "", expired ones included: newest CreatedAt first, legacy tokens
	// (zero CreatedAt) last, ties broken by ID.
	List(ctx context.Context, owner string) ([]Token, error)

	// Revoke sets RevokedAt = at and RevokedBy = by on the unrevoked token id
	// and records an EventRevoke (actor = by). When owner is not "", the token
	// must belong to owner. An unknown id, an already revoked token or another
	// owner's token yields ErrNotFound. It returns the token as revoked.
	// Shared stores tell other instances (see Watcher) in the same transaction.
	Revoke(ctx context.Context, id, owner, by string, at time.Time) (Token, error)

	// RevokeOwner revokes every unrevoked token of owner as Revoke does (one
	// event each) and returns them; none is not an error.
	RevokeOwner(ctx context.Context, owner, by string, at time.Time) ([]Token, error)

	// CapExpiry caps one batch: of the next batch (> 0) tokens in ID order
	// (bytewise) with IDs greater than after ("" for the first batch), it
	// sets ExpiresAt = limit on every unrevoked one whose ExpiresAt is zero
	// or later than limit and records one EventCap each (actor = by, At =
	// at, Detail "expires_at <limit>, was <old expiry or never>", times in
	// RFC 3339 UTC), all in one transaction, and returns the digests of the
	// changed tokens. Shorter-lived tokens are left alone; a store may skip
	// revoked tokens without counting them. next is the ID to pass as after
	// for the following batch, "" when no token follows. Memory and
	// transaction size are bounded by batch, not by the number of tokens.
	// Shared stores tell other instances (see Watcher) in the same
	// transaction. An after that cannot be a token ID (see CheckListCursor)
	// wraps ErrInvalidInput.
	CapExpiry(ctx context.Context, limit time.Time, by string, at time.Time, after string, batch int) (changed []Digest, next string, err error)

	// CountTokens returns how many unrevoked tokens (expired ones included)
	// owner has, or all owners together when owner is "", without loading them.
	CountTokens(ctx context.Context, owner string) (int, error)

	// Import inserts legacy tokens (zero CreatedAt and ExpiresAt) with one
	// EventImport each (actor = by, At = at), all or nothing. A digest that
	// exists already (in the store or twice in ts) yields ErrDuplicate.
	Import(ctx context.Context, ts []Token, by string, at time.Time) error

	// Digests calls fn with the digest of every token (revoked ones too)
	// added after cursor — every token when cursor is "" — and returns the
	// cursor to pass next time. A digest may be delivered again by a later
	// call; one committed before the call began is never skipped. The
	// cursor is opaque; an invalid one is an error wrapping ErrInvalidInput.
	// The Validator's prefilter is built from it.
	Digests(ctx context.Context, cursor string, fn func(Digest)) (next string, err error)

	// HasLegacy reports whether the store holds any unrevoked legacy token.
	HasLegacy(ctx context.Context) (bool, error)

	// TouchLastUsed records coalesced uses. Unknown ids are ignored, and a
	// record older than the stored LastUsedAt does not overwrite it.
	TouchLastUsed(ctx context.Context, uses []LastUse) error

	// AddRejections records refused attempts with known tokens, keeping at
	// most the newest MaxRejectionsPerOwner per owner. Each record keeps
	// its Times (a Count of 0 is stored as 1).
	AddRejections(ctx context.Context, rs []Rejection) error

	// Rejections returns owner's recent refused attempts, newest first, at
	// most limit; every Count is at least 1.
	Rejections(ctx context.Context, owner string, limit int) ([]Rejection, error)

	// History returns events newest first (by At, then ID), at most limit,
	// only owner's when owner is not "".
	History(ctx context.Context, owner string, limit int) ([]Event, error)

	// ListPage returns up to limit (> 0) unrevoked tokens of owner (of all
	// owners when ""), expired ones included, ordered by ID (bytewise),
	// with IDs greater than after ("" for the first page). next is the ID
	// of the last token returned when more may follow, "" on the last page.
	// A token created between pages shows up on a later page iff its ID
	// sorts after the cursor; none is returned twice. An after that cannot
	// be a token ID (see CheckListCursor) wraps ErrInvalidInput.
	ListPage(ctx context.Context, owner string, limit int, after string) (ts []Token, next string, err error)

	// HistoryPage returns up to limit (> 0) events in History's order (newest
	// first by At, then ID), only owner's when owner is not "", strictly
	// older than the cursor before ("" for the newest; see EventCursor).
	// next is the cursor of the last event returned when more may follow, ""
	// on the last page. A malformed before wraps ErrInvalidInput.
	HistoryPage(ctx context.Context, owner string, limit int, before string) (es []Event, next string, err error)

	// VaultStore keeps the people's upstream credentials (encrypted).
	VaultStore

	// NoticeStore keeps which notifications were sent (see notice.go).
	NoticeStore

	// Close releases the store's resources.
	Close() error
}

// MaxRejectionsPerOwner bounds how many rejected attempts a store keeps per owner.
const MaxRejectionsPerOwner = 50

// Invalidator is told which cached results no longer hold. The Validator
// implements it.
type Invalidator interface {
	// Revoked marks the token with digest d as revoked.
	Revoked(d Digest)
	// Changed drops any cached result for d (its expiry changed).
	Changed(d Digest)
	// VaultChanged drops owner's cached vault secrets (one of them was set
	// or deleted); nobody else's, and no token's.
	VaultChanged(owner string)
	// FlushAll drops every cached result, vault secrets included (after a
	// lost listener connection, an import, or anything else that may have
	// been missed).
	FlushAll()
}

// Watcher is implemented by stores that several instances share. Watch
// delivers the invalidations committed by any instance, this one included,
// until ctx is done, reconnecting by itself; after every (re)connect it calls
// inv.FlushAll, since notifications may have been missed meanwhile.
type Watcher interface {
	Watch(ctx context.Context, inv Invalidator) error
}

// Clock returns the current time; tests inject a fake one.
type Clock func() time.Time

// SystemClock is the real clock, in UTC.
func SystemClock() time.Time { return time.Now().UTC() }
