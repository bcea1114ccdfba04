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

// TestValidatorToAlert: the whole token-side path — a revoked token
// presented three times from three addresses is refused by the Validator,
// its write-behind stores the rejections and hands them to the notifier
// (OnRejectionsStored), which mails one alert.
func TestValidatorToAlert(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func() token.Store) {
		mp := mailpit.Start(t)
		clock := fakeclock.New(start)
		obs, errs := newCounter(), &errorLog{}
		s := open()
		secret, tk := newTokenRecord(t, "alice", "Sprint dashboard", start.Add(-time.Hour), time.Time{})
		ctx := context.Background()
		if err := s.Create(ctx, tk, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Revoke(ctx, tk.ID, "", "alice", start); err != nil {
			t.Fatal(err)
		}
		n := newNotifier(t, s, mailConfig(mp, clock, "a", obs, errs))
		v, err := token.NewValidator(s, token.ValidatorConfig{Clock: clock.Now, LastUsedFlush: time.Hour,
			OnRejectionsStored: n.Rejected, OnError: errs.add})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		for _, ip := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.9"} {
			clock.Advance(time.Second)
			r := v.Validate(ctx, secret)
			if r.Outcome != token.OutcomeRevoked {
				t.Fatalf("Validate = %v, want revoked", r.Outcome)
			}
			v.RecordRejection(r, token.RejectRevoked, ip, mashup)
		}
		if err := v.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		obs.waitCount(t, "delivered", "email", notify.EventRejected, 1)
		n.Stop()
		checkMails(t, mp, "alice@example.com", "'Sprint dashboard' was refused 3 times")
	})
}
