package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/token"
)

// ExpiredWindow is how long after its expiry a token still gets its "has
// expired" message: a notifier that was down (or turned on) later than that
// does not tell about tokens that expired before.
const ExpiredWindow = 7 * 24 * time.Hour

// Scan runs one expiry scan now: it pages through the unrevoked tokens that
// expire within the largest warning lead or expired within ExpiredWindow
// (tuning.pageSize at a time, so memory is bounded) and claims and queues
// what is due:
//
//   - a token expiring within the leads gets the warning of the smallest
//     lead that covers it (12 hours before expiry: the 1d warning, never a
//     7d one afterwards — the larger leads are claimed as superseded);
//   - an expired token gets one "has expired" message.
//
// Each notice is claimed in the store first, so several instances and
// restarts send it once. Scan returns when the messages are queued, not
// sent.
func (n *Notifier) Scan(ctx context.Context) error {
	n.scanMu.Lock()
	defer n.scanMu.Unlock()
	now := n.cfg.Clock()
	leads := n.cfg.ExpiryWarnings
	from, until := now.Add(-ExpiredWindow), now.Add(leads[len(leads)-1])
	after := ""
	for {
		if err := n.ctx.Err(); err != nil {
			return fmt.Errorf("notify: scan: stopped: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, n.t.storeTO)
		ts, next, err := n.store.ExpiringPage(pctx, from, until, n.t.pageSize, after)
		cancel()
		if err != nil {
			return fmt.Errorf("notify: scan: reading expiring tokens: %w", err)
		}
		for _, t := range ts {
			if n.ctx.Err() != nil {
				return fmt.Errorf("notify: scan: stopped: %w", n.ctx.Err())
			}
			if err := n.scanToken(ctx, t, now); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// scanToken claims and queues what is due for t at now.
func (n *Notifier) scanToken(ctx context.Context, t token.Token, now time.Time) error {
	if !now.Before(t.ExpiresAt) {
		ok, err := n.claim(ctx, t.ID, token.NoticeExpired, now, 0)
		if ok {
			n.dispatch(t.ID, token.NoticeExpired, n.newExpiredMessage(t))
		}
		return err
	}
	leads := n.cfg.ExpiryWarnings // ascending
	left := t.ExpiresAt.Sub(now)
	i := 0
	for i < len(leads) && leads[i] < left {
		i++
	}
	if i == len(leads) {
		return nil // not due yet (ExpiringPage's bound)
	}
	kind := token.NoticeExpiring(leads[i])
	ok, err := n.claim(ctx, t.ID, kind, now, 0)
	if err != nil || !ok {
		return err
	}
	for _, larger := range leads[i+1:] {
		if err := n.supersede(ctx, t.ID, token.NoticeExpiring(larger), now); err != nil {
			n.report(err) // the warning itself is claimed: send it anyway
		}
	}
	n.dispatch(t.ID, kind, n.newExpiringMessage(t, leads[i], now))
	return nil
}

// claim claims (tokenID, kind) for this instance.
func (n *Notifier) claim(ctx context.Context, tokenID, kind string, now time.Time, repeatAfter time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, n.t.storeTO)
	defer cancel()
	ok, err := n.store.ClaimNotice(ctx, tokenID, kind, n.cfg.Holder, now, n.t.lease, repeatAfter)
	if err != nil {
		return false, fmt.Errorf("notify: claiming %s of token %s: %w", kind, tokenID, err)
	}
	return ok, nil
}

// supersede marks the warning kind of tokenID as done without sending it: a
// smaller lead's warning went out instead.
func (n *Notifier) supersede(ctx context.Context, tokenID, kind string, now time.Time) error {
	ok, err := n.claim(ctx, tokenID, kind, now, 0)
	if err != nil || !ok {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.t.storeTO)
	defer cancel()
	if err := n.store.NoticeSent(ctx, tokenID, kind, now); err != nil {
		return fmt.Errorf("notify: marking %s of token %s superseded: %w", kind, tokenID, err)
	}
	return nil
}
