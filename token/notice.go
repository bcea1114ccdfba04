package token

import (
	"context"
	"time"
)

// NoticeStore keeps which notifications were sent, so that each is sent once
// per token and kind across instances and restarts. Both stores implement it;
// Store embeds it. The notify package is its user.
type NoticeStore interface {
	// ClaimNotice claims the notice (tokenID, kind) for holder at now. It
	// succeeds (true) when no claim exists, or the existing one was never
	// marked sent and was claimed before now-lease (its holder died), or it
	// was sent and repeatAfter > 0 and it was claimed before now-repeatAfter
	// (rejection alerts: one per window). Atomic across instances.
	ClaimNotice(ctx context.Context, tokenID, kind, holder string, now time.Time, lease, repeatAfter time.Duration) (bool, error)
	// NoticeSent marks a claimed notice as sent at at.
	NoticeSent(ctx context.Context, tokenID, kind string, at time.Time) error
	// ReleaseNotice drops an unsent claim of holder (delivery failed for
	// good; the next scan retries). A sent notice or another holder's claim
	// is left alone.
	ReleaseNotice(ctx context.Context, tokenID, kind, holder string) error
	// ExpiringPage returns up to limit (> 0) unrevoked tokens with from <
	// ExpiresAt <= until, ordered by ID (bytewise), with IDs greater than
	// after ("" for the first page); next is the ID of the last token
	// returned when more may follow, "" on the last page (as in ListPage).
	ExpiringPage(ctx context.Context, from, until time.Time, limit int, after string) (ts []Token, next string, err error)
}

// Notice kinds (the kind argument of NoticeStore): NoticeExpiring(lead) for
// the warning lead before expiry, NoticeExpired at expiry, NoticeRejected for
// a rejection alert.
const (
	NoticeExpired  = "expired"
	NoticeRejected = "rejected"
)

// NoticeExpiring is the notice kind of the expiry warning lead before expiry,
// e.g. "expiring:7d".
func NoticeExpiring(lead time.Duration) string { return "expiring:" + FormatLifetime(lead) }

// MaxNoticeKindLen bounds the length of a notice kind a store accepts.
const MaxNoticeKindLen = 64

// TrimPage turns up to limit+1 tokens read for a page of limit into the
// page and its next cursor: the ID of the last token of the page when the
// extra one shows that more follow, else "". A nil page becomes empty.
func TrimPage(ts []Token, limit int) ([]Token, string) {
	if len(ts) <= limit {
		if ts == nil {
			ts = []Token{}
		}
		return ts, ""
	}
	ts = ts[:limit]
	return ts, ts[limit-1].ID
}
