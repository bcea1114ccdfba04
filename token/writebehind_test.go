package token_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/token"
)

// stored reads a token back from the real store.
func (e *env) stored(id string) token.Token {
	e.t.Helper()
	ts, err := e.store.List(e.ctx, "")
	if err != nil {
		e.t.Fatalf("listing tokens: %v", err)
	}
	for _, t := range ts {
		if t.ID == id {
			return t
		}
	}
	e.t.Fatalf("token %s not in the store", id)
	return token.Token{}
}

func TestLastUsedCoalesced(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	s1, t1 := e.create("alice", time.Time{})
	s2, t2 := e.create("bob", time.Time{})
	r1 := e.validate(s1)
	r2 := e.validate(s2)
	for i := 0; i < 5; i++ {
		e.clock.Advance(time.Second)
		e.v.RecordUse(r1, "10.0.0.1", "PowerBI/1")
	}
	e.v.RecordUse(r1, "10.0.0.9", "PowerBI/2") // same instant: the newest call wins
	last := e.clock.Now()
	e.v.RecordUse(r2, "10.0.0.2", "Excel")
	if n := e.store.touches.Load(); n != 0 {
		t.Fatalf("RecordUse wrote to the store %d times before a flush", n)
	}
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n := e.store.touches.Load(); n != 1 {
		t.Fatalf("TouchLastUsed calls = %d, want 1", n)
	}
	e.store.mu.Lock()
	batch := e.store.touched[0]
	e.store.mu.Unlock()
	if len(batch) != 2 {
		t.Fatalf("flushed %d records, want 2 (one per token): %+v", len(batch), batch)
	}
	got := e.stored(t1.ID)
	if !got.LastUsedAt.Equal(last) || got.LastUsedIP != "10.0.0.9" || got.LastUsedAgent != "PowerBI/2" {
		t.Errorf("stored last use of t1 = %v %q %q, want %v 10.0.0.9 PowerBI/2",
			got.LastUsedAt, got.LastUsedIP, got.LastUsedAgent, last)
	}
	if got := e.stored(t2.ID); got.LastUsedIP != "10.0.0.2" || got.LastUsedAgent != "Excel" {
		t.Errorf("stored last use of t2 = %q %q", got.LastUsedIP, got.LastUsedAgent)
	}
	// Nothing new: the next flush writes nothing.
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.store.touches.Load(); n != 1 {
		t.Errorf("an empty flush called TouchLastUsed (%d calls)", n)
	}
}

func TestLastUsedNeverForRejected(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	expSecret, exp := e.create("alice", e.clock.Now().Add(time.Minute))
	revSecret, rev := e.create("bob", time.Time{})
	e.revoke(rev)
	e.clock.Advance(time.Hour)
	unknown, _ := token.Generate()
	results := []token.Result{
		e.validate(expSecret), e.validate(revSecret), e.validate(unknown),
		e.validate("tgp_junk"), {Outcome: token.OutcomeUnavailable},
	}
	want := []token.Outcome{token.OutcomeExpired, token.OutcomeRevoked, token.OutcomeUnknown,
		token.OutcomeMalformed, token.OutcomeUnavailable}
	for i, r := range results {
		if r.Outcome != want[i] {
			t.Fatalf("result %d = %v, want %v", i, r.Outcome, want[i])
		}
		e.v.RecordUse(r, "10.0.0.1", "PowerBI")
	}
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.store.touches.Load(); n != 0 {
		t.Errorf("rejected requests caused %d TouchLastUsed calls", n)
	}
	if got := e.stored(exp.ID); !got.LastUsedAt.IsZero() {
		t.Errorf("expired token got a last use: %v", got.LastUsedAt)
	}
}

func TestRejectionsFlushed(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	expSecret, exp := e.create("alice", e.clock.Now().Add(time.Minute))
	e.clock.Advance(time.Hour)
	r := e.validate(expSecret)
	unknown, _ := token.Generate()
	for i := 0; i < 4; i++ { // a retrying schedule: coalesced into one
		e.clock.Advance(time.Second)
		e.v.RecordRejection(r, token.RejectExpired, "10.0.0.1", "PowerBI")
	}
	newest := e.clock.Now()
	e.v.RecordRejection(r, token.RejectExpired, "10.0.0.2", "PowerBI")
	e.v.RecordRejection(e.validate(unknown), token.RejectExpired, "10.0.0.3", "x") // not a known token
	if n := e.store.rejectWrites.Load(); n != 0 {
		t.Fatalf("rejections written before a flush: %d", n)
	}
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Rejections(e.ctx, "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("stored %d rejections, want 2: %+v", len(got), got)
	}
	byIP := map[string]token.Rejection{got[0].IP: got[0], got[1].IP: got[1]}
	first := byIP["10.0.0.1"]
	if first.TokenID != exp.ID || first.Reason != token.RejectExpired || !first.At.Equal(newest) ||
		first.Label != exp.Label || first.Agent != "PowerBI" || first.Count != 4 {
		t.Errorf("coalesced rejection = %+v, want token %s, expired, at %v, count 4", first, exp.ID, newest)
	}
	if other, ok := byIP["10.0.0.2"]; !ok || other.Count != 1 {
		t.Errorf("rejection from 10.0.0.2 missing or not counted once: %+v", got)
	}
	if n := e.store.rejectWrites.Load(); n != 1 {
		t.Errorf("AddRejections calls = %d, want 1", n)
	}
}

// TestRejectionCount: three identical refusals within a flush are one
// record with Count 3; held back by a failed flush, the record keeps
// counting the identical refusals that follow (and keeps the newest time),
// while a refusal differing in one field is a record of its own.
func TestRejectionCount(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secret, tok := e.create("alice", time.Time{})
	r := e.validate(secret)
	e.revoke(tok)
	refuse := func(n int, agent string) {
		for range n {
			e.clock.Advance(time.Second)
			e.v.RecordRejection(r, token.RejectRevoked, "203.0.113.7", agent)
		}
	}
	stored := func() []token.Rejection { // newest first
		t.Helper()
		rs, err := e.store.Rejections(e.ctx, "alice", 10)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	refuse(3, "PowerBI")
	first := e.clock.Now()
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); len(got) != 1 || got[0].Count != 3 || !got[0].At.Equal(first) {
		t.Fatalf("after 3 identical refusals: %+v, want one record with Count 3 at %v", got, first)
	}

	refuse(2, "PowerBI")
	e.store.down.Store(true)
	if err := e.v.Flush(e.ctx); !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Flush with the store down: %v, want ErrUnavailable", err)
	}
	e.store.down.Store(false)
	refuse(4, "PowerBI")
	newest := e.clock.Now()
	refuse(1, "Excel")
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := stored()
	if len(got) != 3 || got[0].Agent != "Excel" || got[0].Count != 1 ||
		got[1].Agent != "PowerBI" || got[1].Count != 6 || !got[1].At.Equal(newest) || got[2].Count != 3 {
		t.Errorf("after 2 refusals held back by a failed flush, 4 more and 1 of another agent: %+v; want "+
			"Excel 1, then PowerBI 6 at %v, then the first PowerBI 3", got, newest)
	}
}

func TestFlushFailureKeepsPending(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secret, tok := e.create("alice", time.Time{})
	r := e.validate(secret)
	e.v.RecordUse(r, "10.0.0.1", "PowerBI")
	e.v.RecordRejection(r, token.RejectUsernameMismatch, "10.0.0.1", "PowerBI")
	e.store.down.Store(true)
	if err := e.v.Flush(e.ctx); !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Flush with the store down: %v, want ErrUnavailable", err)
	}
	e.store.down.Store(false)
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatalf("Flush after recovery: %v", err)
	}
	if got := e.stored(tok.ID); got.LastUsedIP != "10.0.0.1" {
		t.Errorf("last use lost by a failed flush: %+v", got)
	}
	rs, err := e.store.Rejections(e.ctx, "alice", 10)
	if err != nil || len(rs) != 1 || rs[0].Reason != token.RejectUsernameMismatch {
		t.Errorf("rejections after recovery = %+v, %v; want one username_mismatch", rs, err)
	}
}

func TestFlushLoopAndClose(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{LastUsedFlush: 20 * time.Millisecond})
	secret, tok := e.create("alice", time.Time{})
	e.v.Start()
	r := e.validate(secret)
	e.v.RecordUse(r, "10.0.0.1", "loop")
	waitFor(t, func() bool { return e.stored(tok.ID).LastUsedAgent == "loop" })

	// Close writes what is still pending.
	e.clock.Advance(time.Second)
	e.v.RecordUse(r, "10.0.0.1", "close")
	if err := e.v.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := e.stored(tok.ID).LastUsedAgent; got != "close" {
		t.Errorf("after Close, agent = %q, want close", got)
	}

	// A request validated before Close may record after the final flush
	// took its batch: such records are written through, not lost.
	e.clock.Advance(time.Second)
	e.v.RecordUse(r, "10.0.0.2", "late")
	if got := e.stored(tok.ID).LastUsedAgent; got != "late" {
		t.Errorf("a use recorded after Close: agent = %q, want late", got)
	}
	e.v.RecordRejection(r, token.RejectUsernameMismatch, "10.0.0.2", "late")
	rs, err := e.store.Rejections(e.ctx, "alice", 10)
	if err != nil || len(rs) != 1 || rs[0].Agent != "late" {
		t.Errorf("a rejection recorded after Close: %+v, %v; want it stored", rs, err)
	}
}

func TestRecordedFieldsAreBounded(t *testing.T) {
	e := newEnv(t, token.ValidatorConfig{})
	secret, tok := e.create("alice", time.Time{})
	agent := strings.Repeat("é", 1000) // 2000 bytes of 2-byte runes
	e.v.RecordUse(e.validate(secret), strings.Repeat("1", 100), agent)
	if err := e.v.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := e.stored(tok.ID)
	if len(got.LastUsedAgent) > 512 || len(got.LastUsedAgent) < 500 || !utf8.ValidString(got.LastUsedAgent) {
		t.Errorf("agent kept %d bytes (valid UTF-8: %v), want ≤ 512 valid", len(got.LastUsedAgent),
			utf8.ValidString(got.LastUsedAgent))
	}
	if len(got.LastUsedIP) > 64 {
		t.Errorf("ip kept %d bytes, want ≤ 64", len(got.LastUsedIP))
	}
}
