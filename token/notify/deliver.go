package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Delivery: every claimed notice becomes one message, queued once per
// channel (a bounded queue and one worker per channel, so a mail server that
// is down does not hold up webhooks). A worker retries an attempt that
// failed for a passing reason after each wait of tuning.backoff (2 s, 4 s, …
// 32 s: six attempts within about three minutes, well inside the claim
// lease of five, so no other instance takes the claim over while it is
// still being tried). When every channel is done the notice is marked sent
// if any channel delivered it, and released otherwise, so the next scan
// tries again.

// channel is one way of sending: mail or webhook.
type channel interface {
	name() string
	// send makes one attempt; an error wrapping errPermanent is not retried.
	send(ctx context.Context, m *message) error
}

// errPermanent marks a failure that retrying cannot fix (a 4xx answer, an
// address that is not one).
var errPermanent = errors.New("permanent failure")

// permanent wraps err as not worth retrying.
func permanent(err error) error { return fmt.Errorf("%w: %w", errPermanent, err) }

// notice is one claimed (token, kind) on its way through the channels.
type notice struct {
	tokenID, kind string
	claimed       time.Time // when it was claimed (monotonic): see expired
	mu            sync.Mutex
	pending       int
	ok            bool
}

// delivery is a message for one channel.
type delivery struct {
	n   *notice
	msg *message
}

// dispatch queues msg on every channel for the claimed notice (tokenID,
// kind). A full queue counts as a failed delivery (Dropped).
func (n *Notifier) dispatch(tokenID, kind string, msg *message) {
	nt := &notice{tokenID: tokenID, kind: kind, claimed: time.Now(), pending: len(n.chans)}
	if n.ctx.Err() != nil { // stopped: leave it to the next instance
		nt.pending = 1
		n.finish(nt, false)
		return
	}
	for _, c := range n.chans {
		d := &delivery{n: nt, msg: msg}
		select {
		case n.queues[c.name()] <- d:
		default:
			n.report(fmt.Errorf("notify: %s queue full: %s for token %s dropped; the next scan retries", c.name(), msg.event, tokenID))
			n.cfg.Observer.Dropped(c.name(), msg.event)
			n.finish(nt, false)
		}
	}
}

// finish records one channel's outcome; the last one marks the notice sent
// (any channel delivered) or releases the claim (none did).
func (n *Notifier) finish(nt *notice, ok bool) {
	nt.mu.Lock()
	nt.pending--
	nt.ok = nt.ok || ok
	last, sent := nt.pending == 0, nt.ok
	nt.mu.Unlock()
	if !last {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.t.storeTO)
	defer cancel()
	if sent {
		if err := n.store.NoticeSent(ctx, nt.tokenID, nt.kind, n.cfg.Clock()); err != nil {
			n.report(fmt.Errorf("notify: marking %s of token %s sent: %w", nt.kind, nt.tokenID, err))
		}
		return
	}
	if err := n.store.ReleaseNotice(ctx, nt.tokenID, nt.kind, n.cfg.Holder); err != nil {
		n.report(fmt.Errorf("notify: releasing %s of token %s: %w", nt.kind, nt.tokenID, err))
	}
}

// deliverLoop sends what arrives on q through c until Stop; then it releases
// what is still queued.
func (n *Notifier) deliverLoop(c channel, q chan *delivery) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			n.drain(q)
			return
		case d := <-q:
			n.finish(d.n, n.attempt(c, d))
		}
	}
}

// drain releases the claims of what is queued on q (after Stop).
func (n *Notifier) drain(q chan *delivery) {
	for {
		select {
		case d := <-q:
			n.finish(d.n, false)
		default:
			return
		}
	}
}

// attempt sends d's message through c, retrying passing failures with
// backoff; it reports whether it was delivered. An attempt in progress is
// not cut short by Stop (it might have been accepted), the waits between
// attempts are. No attempt starts once the claim is so old that its lease
// could run out during it: another instance may take the claim over then,
// and the message must not go out twice.
// A failure is reported (OnError) before it is counted, so whoever sees
// the count sees the report.
func (n *Notifier) attempt(c channel, d *delivery) bool {
	obs, m := n.cfg.Observer, d.msg
	for i := 0; ; i++ {
		if time.Since(d.n.claimed) > n.t.lease-n.t.sendTO-leaseMargin {
			n.report(fmt.Errorf("notify: %s of %s for token %s: gave up after %d attempt(s): the claim's lease runs out", c.name(), m.event, m.tok.ID, i))
			obs.Failed(c.name(), m.event)
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.t.sendTO)
		err := c.send(ctx, m)
		cancel()
		if err == nil {
			obs.Delivered(c.name(), m.event)
			return true
		}
		if errors.Is(err, errPermanent) || i == len(n.t.backoff) || n.ctx.Err() != nil {
			n.report(fmt.Errorf("notify: %s of %s for token %s failed after %d attempt(s): %w", c.name(), m.event, m.tok.ID, i+1, err))
			obs.Failed(c.name(), m.event)
			return false
		}
		obs.Retried(c.name(), m.event)
		t := time.NewTimer(n.t.backoff[i])
		select {
		case <-t.C:
		case <-n.ctx.Done():
			t.Stop()
			obs.Failed(c.name(), m.event)
			return false
		}
	}
}

// leaseMargin is kept between the last attempt's end and the claim's lease.
const leaseMargin = 10 * time.Second
