package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/token"
)

// alertable reports whether rejections for reason count towards an alert:
// the reasons the token page lists for a refresh that fails.
func alertable(reason token.RejectReason) bool {
	switch reason {
	case token.RejectExpired, token.RejectRevoked, token.RejectIPNotAllowed:
		return true
	}
	return false
}

// Rejected hands rejections that were just stored to the alert worker. It
// never blocks: when the worker is behind, the batch is dropped (counted as
// Dropped on every channel). Call it after the rejections are stored
// (token.ValidatorConfig.OnRejectionsStored).
func (n *Notifier) Rejected(rs []token.Rejection) {
	if n.cfg.RejectionCount == 0 {
		return
	}
	var batch []token.Rejection
	for _, r := range rs {
		if r.TokenID != "" && alertable(r.Reason) {
			batch = append(batch, r)
		}
	}
	if len(batch) == 0 || n.ctx.Err() != nil {
		return
	}
	select {
	case n.alerts <- batch:
	default:
		for _, c := range n.chans {
			n.cfg.Observer.Dropped(c.name(), EventRejected)
		}
	}
}

// alertLoop checks the batches Rejected hands over until Stop.
func (n *Notifier) alertLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case batch := <-n.alerts:
			n.checkRejections(batch)
		}
	}
}

// checkRejections counts, for every token of batch, the attempts its stored
// alertable rejections stand for within RejectionWindow and alerts its owner at RejectionCount
// or more — at most once per token per window, across instances.
func (n *Notifier) checkRejections(batch []token.Rejection) {
	now := n.cfg.Clock()
	owners := map[string][]token.Rejection{} // stored rejections, read once per owner
	seen := map[string]bool{}
	for _, r := range batch {
		if seen[r.TokenID] {
			continue
		}
		seen[r.TokenID] = true
		stored, ok := owners[r.Owner]
		if !ok {
			var err error
			if stored, err = n.storedRejections(r.Owner); err != nil {
				n.report(err)
				continue
			}
			owners[r.Owner] = stored
		}
		count, latest := n.countRecent(stored, r.TokenID, now)
		if count < n.cfg.RejectionCount {
			continue
		}
		ok, err := n.claim(n.ctx, r.TokenID, token.NoticeRejected, now, n.cfg.RejectionWindow)
		if err != nil {
			n.report(err)
			continue
		}
		if ok {
			t := token.Token{ID: latest.TokenID, Owner: latest.Owner, Label: latest.Label}
			n.dispatch(r.TokenID, token.NoticeRejected, n.newRejectedMessage(t, latest, count, n.cfg.RejectionWindow))
		}
	}
}

func (n *Notifier) storedRejections(owner string) ([]token.Rejection, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.t.storeTO)
	defer cancel()
	rs, err := n.rejs.Rejections(ctx, owner, token.MaxRejectionsPerOwner)
	if err != nil {
		return nil, fmt.Errorf("notify: reading rejections of %q: %w", owner, err)
	}
	return rs, nil
}

// countRecent counts the refused attempts of tokenID in stored (newest
// first) with an alertable reason within the window before now — a stored
// rejection stands for Times attempts (the write-behind coalesces identical
// ones) — and returns the newest rejection.
func (n *Notifier) countRecent(stored []token.Rejection, tokenID string, now time.Time) (int, token.Rejection) {
	since := now.Add(-n.cfg.RejectionWindow)
	count := 0
	var latest token.Rejection
	for _, s := range stored {
		if s.TokenID != tokenID || !alertable(s.Reason) || !s.At.After(since) {
			continue
		}
		if count == 0 || s.At.After(latest.At) {
			latest = s
		}
		count += s.Times()
	}
	return count, latest
}
