package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/fakeclock"
	"github.com/tokengate/tokengate/internal/mailpit"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/notify"
)

// TestQueuesBounded: before Start nothing is sent, so the queues fill.
// Rejected never blocks — batches beyond the alert queue are dropped and
// counted; a warning beyond the delivery queue is dropped, counted and its
// claim released, so once the notifier runs, a scan sends it.
func TestQueuesBounded(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	clock := fakeclock.New(start)
	obs, errs := newCounter(), &errorLog{}
	s := backends[0].open(t)()
	for _, owner := range []string{"alice", "bob", "carol"} {
		createToken(t, s, owner, "Sprint dashboard", start.Add(-time.Hour), start.Add(6*24*time.Hour))
	}
	n, err := notify.New(s, s, notify.WithQueues(mailConfig(mp, clock, "a", obs, errs), 1, 4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	r := token.Rejection{TokenID: "t1", Owner: "alice", Label: "x", At: start, IP: "192.0.2.1", Reason: token.RejectRevoked}
	for range 10 {
		n.Rejected([]token.Rejection{r})
	}
	n.Rejected([]token.Rejection{{TokenID: "t1", Owner: "alice", Reason: token.RejectUsernameMismatch}}) // not alertable: not queued
	if d := obs.get("dropped", "email", notify.EventRejected); d != 6 {
		t.Errorf("dropped rejection batches = %d, want 6 (10 - queue of 4)", d)
	}
	if err := n.Scan(context.Background()); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if d := obs.get("dropped", "email", notify.EventExpiring); d != 2 {
		t.Errorf("dropped warnings = %d, want 2 (3 - queue of 1)", d)
	}
	// Running, the notifier sends the queued one; scans pick up the two
	// released ones (with a queue of one, a scan may drop and release again).
	n.Start()
	deadline := time.Now().Add(waitTimeout)
	for obs.get("delivered", "email", notify.EventExpiring) < 3 && time.Now().Before(deadline) {
		scan(t, n)
		time.Sleep(10 * time.Millisecond)
	}
	n.Stop()
	for _, owner := range []string{"alice", "bob", "carol"} {
		checkMails(t, mp, owner+"@example.com", "expires in 6 days")
	}
}
