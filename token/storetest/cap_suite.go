package storetest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/token"
)

// capBatch is the batch size of capAll: small, so that every test capping
// more than two tokens goes through several batches.
const capBatch = 2

// capAll caps every due token as the Service does: batches of capBatch
// until next is "", checking the bound of each. It returns the changed
// tokens as stored afterwards.
func (e *env) capAll(limit time.Time, by string, at time.Time) ([]token.Token, error) {
	e.t.Helper()
	var out []token.Token
	for after, calls := "", 0; ; calls++ {
		if calls > 10000 {
			return nil, errors.New("CapExpiry never returned an empty next cursor")
		}
		changed, next, err := e.s.CapExpiry(e.ctx, limit, by, at, after, capBatch)
		if err != nil {
			return out, err
		}
		if len(changed) > capBatch {
			e.t.Errorf("CapExpiry(batch %d) changed %d tokens", capBatch, len(changed))
		}
		if next != "" && next <= after {
			return nil, fmt.Errorf("CapExpiry(after %q) = next %q: the cursor does not advance", after, next)
		}
		for _, d := range changed {
			out = append(out, e.byDigest(d))
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// capEvents returns the cap events of the history by token id.
func (e *env) capEvents() map[string][]token.Event {
	e.t.Helper()
	out := map[string][]token.Event{}
	for _, ev := range e.history("", 1000) {
		if ev.Kind == token.EventCap {
			out[ev.TokenID] = append(out[ev.TokenID], ev)
		}
	}
	return out
}

// capFixture creates five tokens a cap to e.at(30 days) must change
// (never-expiring, longer-lived and legacy) and four it must leave alone
// (shorter-lived, at the limit, expired, revoked). It returns the limit
// and both sets.
func (e *env) capFixture() (limit time.Time, due, alone []token.Token) {
	limit = e.at(30 * day)
	for i := range 4 {
		exp := time.Time{}
		if i%2 == 1 {
			exp = e.at(time.Duration(40+i) * day)
		}
		due = append(due, e.newToken(fmt.Sprintf("owner%d", i), fmt.Sprintf("due %d", i), e.at(-time.Hour), exp))
	}
	alone = []token.Token{
		e.newToken("owner0", "shorter", e.at(-time.Hour), e.at(10*day)),
		e.newToken("owner1", "at the limit", e.at(-time.Hour), limit),
		e.newToken("owner2", "expired", e.at(-2*day), e.at(-day)),
		e.newToken("owner3", "revoked", e.at(-time.Hour), time.Time{}),
	}
	for _, tok := range append(append([]token.Token{}, due...), alone...) {
		e.mustCreate(tok, 0)
	}
	alone[3] = e.mustRevoke(alone[3].ID, "", "carol", e.at(-time.Minute))
	legacy := e.legacyToken("owner4", "legacy")
	e.mustImport([]token.Token{legacy}, "admin", e.at(-time.Hour))
	return limit, append(due, legacy), alone
}

// testCapBatches: batches of two over five due tokens among others change
// each due token once, in ID order, and nothing else.
func testCapBatches(e *env) {
	t := e.t
	limit, due, alone := e.capFixture()
	at := e.at(0)
	var changed []token.Digest
	batches := 0
	for after := ""; ; {
		got, next, err := e.s.CapExpiry(e.ctx, limit, "carol", at, after, 2)
		if err != nil {
			t.Fatalf("CapExpiry(after %q): %v", after, err)
		}
		batches++
		if len(got) > 2 {
			t.Errorf("batch %d changed %d tokens, want at most 2", batches, len(got))
		}
		changed = append(changed, got...)
		if next == "" {
			break
		}
		if next <= after || batches > 20 {
			t.Fatalf("next cursor %q after %q (batch %d): not advancing", next, after, batches)
		}
		after = next
	}
	if batches < 3 {
		t.Errorf("%d batches of 2 over 10 tokens, want at least 3", batches)
	}
	byDigest := map[token.Digest]token.Token{}
	for _, tok := range due {
		byDigest[tok.Digest] = tok
	}
	seen := map[token.Digest]int{}
	for _, d := range changed {
		seen[d]++
		if _, ok := byDigest[d]; !ok {
			t.Errorf("CapExpiry changed %s, which was not due", d)
		}
	}
	events := e.capEvents()
	for _, tok := range due {
		if seen[tok.Digest] != 1 {
			t.Errorf("due token %s (%s) reported %d times, want once", tok.ID, tok.Label, seen[tok.Digest])
		}
		tok.ExpiresAt = limit
		checkToken(t, "capped token", e.byDigest(tok.Digest), tok)
		if n := len(events[tok.ID]); n != 1 {
			t.Errorf("token %s (%s): %d cap events, want 1", tok.ID, tok.Label, n)
		}
	}
	for _, tok := range alone {
		checkToken(t, "token left alone", e.byDigest(tok.Digest), tok)
		if len(events[tok.ID]) != 0 {
			t.Errorf("token %s (%s) left alone has cap events %+v", tok.ID, tok.Label, events[tok.ID])
		}
	}
	// Once done, a run from the start finds nothing (same or later limit).
	again, err := e.capAll(e.at(31*day), "carol", e.at(time.Minute))
	if err != nil || len(again) != 0 {
		t.Errorf("re-run after a complete cap = %d tokens, %v; want none", len(again), err)
	}
}

// testCapInterrupted: a Service run cancelled from its progress callback
// after the first batch keeps that batch; a later run (a minute on, so a
// later now+limit) finishes the job; every due token has exactly one cap
// event, dated by the run that capped it.
func testCapInterrupted(e *env) {
	t := e.t
	_, due, alone := e.capFixture()
	clock := e.at(0)
	svc := token.NewService(e.s, token.Policy{}, nil, func() time.Time { return clock })
	op := token.Operator("ops")
	ctx, cancel := context.WithCancel(e.ctx)
	var first []token.CapProgress
	r, err := svc.CapLifetimeWith(ctx, op, 30*day, token.CapOptions{Batch: 2, Progress: func(p token.CapProgress) {
		first = append(first, p)
		cancel()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: error %v, want context.Canceled", err)
	}
	if len(first) != 1 || r.Changed != first[0].Changed || r.Changed > 2 || first[0].Total != 8 {
		t.Fatalf("interrupted run: result %+v, progress %+v; want one batch of at most 2, total 8 unrevoked", r, first)
	}
	clock = e.at(time.Minute)
	r2, err := svc.CapLifetimeWith(e.ctx, op, 30*day, token.CapOptions{Batch: 2})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if r.Changed+r2.Changed != len(due) {
		t.Errorf("runs changed %d + %d tokens, want %d in all", r.Changed, r2.Changed, len(due))
	}
	events := e.capEvents()
	for _, tok := range due {
		evs := events[tok.ID]
		if len(evs) != 1 {
			t.Errorf("token %s (%s): %d cap events, want exactly 1: %+v", tok.ID, tok.Label, len(evs), evs)
			continue
		}
		got := e.byDigest(tok.Digest)
		if !got.ExpiresAt.Equal(evs[0].At.Add(30 * day)) {
			t.Errorf("token %s expires %v, want its cap event's time %v + 30 days", tok.ID, got.ExpiresAt, evs[0].At)
		}
	}
	for _, tok := range alone {
		if len(events[tok.ID]) != 0 {
			t.Errorf("token %s (%s) left alone has cap events", tok.ID, tok.Label)
		}
	}
	r3, err := svc.CapLifetimeWith(e.ctx, op, 30*day, token.CapOptions{})
	if err != nil || r3.Changed != 0 {
		t.Errorf("third run = %d changed, %v; want 0", r3.Changed, err)
	}
}

// testCapInput: a bad batch or cursor is refused before anything changes.
func testCapInput(e *env) {
	t := e.t
	tok := e.newToken("alice", "never", e.at(-time.Hour), time.Time{})
	e.mustCreate(tok, 0)
	limit := e.at(day)
	for _, c := range []struct {
		what  string
		after string
		batch int
	}{{"batch 0", "", 0}, {"negative batch", "", -1}, {"control character cursor", "a\x00b", 1}} {
		_, _, err := e.s.CapExpiry(e.ctx, limit, "carol", e.at(0), c.after, c.batch)
		wantErr(t, "CapExpiry with "+c.what, err, token.ErrInvalidInput)
	}
	_, _, err := e.s.CapExpiry(e.ctx, time.Time{}, "carol", e.at(0), "", 1)
	wantErr(t, "CapExpiry without a limit", err, token.ErrInvalidInput)
	checkToken(t, "token after refused caps", e.byDigest(tok.Digest), tok)
}

// testCountTokens: counts are of unrevoked tokens, expired and legacy ones
// included, per owner or in all.
func testCountTokens(e *env) {
	t := e.t
	count := func(owner string, want int) {
		t.Helper()
		n, err := e.s.CountTokens(e.ctx, owner)
		if err != nil || n != want {
			t.Errorf("CountTokens(%q) = %d, %v; want %d", owner, n, err, want)
		}
	}
	count("", 0)
	count("alice", 0)
	a := e.create("alice", "one", e.at(-time.Hour))
	e.create("alice", "two", e.at(-time.Hour))
	e.mustCreate(e.newToken("alice", "expired", e.at(-2*day), e.at(-day)), 0)
	e.create("bob", "one", e.at(-time.Hour))
	e.create("al", "prefix of alice", e.at(-time.Hour))
	e.mustImport([]token.Token{e.legacyToken("carol", "legacy")}, "admin", e.at(-time.Hour))
	count("", 6)
	count("alice", 3)
	count("al", 1)
	count("bob", 1)
	count("carol", 1)
	count("nobody", 0)
	e.mustRevoke(a.ID, "", "carol", e.at(0))
	count("", 5)
	count("alice", 2)
}
