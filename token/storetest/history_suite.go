package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tokengate/tokengate/token"
)

func (e *env) rejections(owner string, limit int) []token.Rejection {
	e.t.Helper()
	rs, err := e.s.Rejections(e.ctx, owner, limit)
	if err != nil {
		e.t.Fatalf("Rejections(%q, %d): %v", owner, limit, err)
	}
	return rs
}

// rejection returns the n-th refused attempt with the stored token tok; its
// Agent tells it apart. It stands for n%4 attempts (0: unset, read as 1).
func rejection(tok token.Token, at time.Time, n int) token.Rejection {
	reasons := []token.RejectReason{token.RejectExpired, token.RejectRevoked, token.RejectUsernameMismatch}
	return token.Rejection{TokenID: tok.ID, Owner: tok.Owner, Label: tok.Label, At: at,
		IP: fmt.Sprintf("192.0.2.%d", n%250), Agent: fmt.Sprintf("agent %d", n), Reason: reasons[n%len(reasons)],
		Count: n % 4}
}

// checkRejection compares got with want as stored: a Count of 0 (or less)
// reads back as 1.
func checkRejection(e *env, what string, got, want token.Rejection) {
	e.t.Helper()
	g, w := got, want
	g.At, w.At, w.Count = time.Time{}, time.Time{}, want.Times()
	if g != w || !got.At.Equal(want.At) {
		e.t.Errorf("%s = %+v, want %+v", what, got, w)
	}
}

// testRejectionCount: the number of attempts a rejection stands for is
// stored and read back; unset or negative reads as 1, one beyond
// MaxRejectionCount as MaxRejectionCount.
func testRejectionCount(e *env) {
	tok := e.create("alice", "a", e.at(-day))
	counts := []int{0, -3, 1, 2, 1000, token.MaxRejectionCount, token.MaxRejectionCount + 1}
	rs := make([]token.Rejection, len(counts))
	for i, n := range counts {
		rs[i] = rejection(tok, e.at(time.Duration(i)*time.Second), i)
		rs[i].Count = n
	}
	if err := e.s.AddRejections(e.ctx, rs); err != nil {
		e.t.Fatalf("AddRejections: %v", err)
	}
	got := e.rejections("alice", 10)
	if len(got) != len(rs) {
		e.t.Fatalf("Rejections(alice) returned %d, want %d", len(got), len(rs))
	}
	for i, r := range got {
		want := rs[len(rs)-1-i]
		checkRejection(e, fmt.Sprintf("Rejections(alice)[%d] of Count %d", i, want.Count), r, want)
	}
	if n := got[0].Count; n != token.MaxRejectionCount {
		e.t.Errorf("a Count beyond the maximum reads back as %d, want %d", n, token.MaxRejectionCount)
	}
}

func testRejections(e *env) {
	t := e.t
	ta, tb := e.create("alice", "a", e.at(-day)), e.create("bob", "b", e.at(-day))
	var alice []token.Rejection
	for i := range 5 {
		alice = append(alice, rejection(ta, e.at(time.Duration(i)*time.Second), i))
	}
	// Stored out of order, in two batches, with bob's in between.
	if err := e.s.AddRejections(e.ctx, []token.Rejection{alice[3], alice[0], rejection(tb, e.at(time.Hour), 9)}); err != nil {
		t.Fatalf("AddRejections: %v", err)
	}
	if err := e.s.AddRejections(e.ctx, []token.Rejection{alice[4], alice[1], alice[2]}); err != nil {
		t.Fatalf("AddRejections: %v", err)
	}
	got := e.rejections("alice", 10)
	if len(got) != 5 {
		t.Fatalf("Rejections(alice, 10) returned %d, want 5", len(got))
	}
	for i, r := range got {
		checkRejection(e, fmt.Sprintf("Rejections(alice)[%d]", i), r, alice[4-i])
	}
	if got := e.rejections("alice", 2); len(got) != 2 || got[0].Agent != alice[4].Agent || got[1].Agent != alice[3].Agent {
		t.Errorf("Rejections(alice, 2) = %+v, want the 2 newest", got)
	}
	if got := e.rejections("bob", 10); len(got) != 1 {
		t.Errorf("Rejections(bob) returned %d, want 1", len(got))
	} else {
		checkRejection(e, "Rejections(bob)[0]", got[0], rejection(tb, e.at(time.Hour), 9))
	}
	if got := e.rejections("nobody", 10); len(got) != 0 {
		t.Errorf("Rejections(nobody) returned %d, want 0", len(got))
	}
	if err := e.s.AddRejections(e.ctx, nil); err != nil {
		t.Errorf("AddRejections(nil): %v", err)
	}
}

func testRejectionsCap(e *env) {
	t := e.t
	ta, tb := e.create("alice", "a", e.at(-day)), e.create("bob", "b", e.at(-day))
	const extra = 10
	n := token.MaxRejectionsPerOwner + extra
	all := make([]token.Rejection, n)
	for i := range all {
		all[i] = rejection(ta, e.at(time.Duration(i)*time.Second), i)
	}
	// Oldest batch first, then the newest batch in reverse, then the middle.
	var b1, b2, b3 []token.Rejection
	third := n / 3
	b1 = append(b1, all[:third]...)
	for i := n - 1; i >= n-third; i-- {
		b2 = append(b2, all[i])
	}
	b3 = append(b3, all[third:n-third]...)
	for i, b := range [][]token.Rejection{b1, b2, b3} {
		if i == 1 {
			b = append(b, rejection(tb, e.at(-time.Hour), 999))
		}
		if err := e.s.AddRejections(e.ctx, b); err != nil {
			t.Fatalf("AddRejections(batch %d): %v", i+1, err)
		}
	}
	got := e.rejections("alice", 10*n)
	if len(got) != token.MaxRejectionsPerOwner {
		t.Fatalf("Rejections(alice) after %d kept %d, want %d", n, len(got), token.MaxRejectionsPerOwner)
	}
	for i, r := range got {
		if want := all[n-1-i]; r.Agent != want.Agent || !r.At.Equal(want.At) {
			t.Errorf("Rejections(alice)[%d] = %s at %v, want %s at %v (newest kept, newest first)",
				i, r.Agent, r.At, want.Agent, want.At)
		}
	}
	if got := e.rejections("bob", 10); len(got) != 1 {
		t.Errorf("Rejections(bob) returned %d, want 1: the cap is per owner", len(got))
	}
}

// wantEvent is the part of an Event a test predicts.
type wantEvent struct {
	kind         token.EventKind
	actor, owner string
	tok          token.Token
	at           time.Time
}

func checkEvents(e *env, what string, got []token.Event, want []wantEvent) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Errorf("%s: %d events, want %d: %+v", what, len(got), len(want), got)
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Actor != w.actor || g.Owner != w.owner || g.TokenID != w.tok.ID ||
			g.Label != w.tok.Label || !g.At.Equal(w.at) {
			e.t.Errorf("%s[%d] = %+v,\nwant kind %s actor %s owner %s token %s label %q at %v",
				what, i, g, w.kind, w.actor, w.owner, w.tok.ID, w.tok.Label, w.at)
		}
	}
}

// checkOrder fails unless evs are newest first by At, then by ID.
func checkOrder(e *env, what string, evs []token.Event) {
	e.t.Helper()
	seen := map[int64]bool{}
	for i, ev := range evs {
		if seen[ev.ID] {
			e.t.Errorf("%s: event id %d appears twice", what, ev.ID)
		}
		seen[ev.ID] = true
		if i == 0 {
			continue
		}
		prev := evs[i-1]
		if prev.At.Before(ev.At) || (prev.At.Equal(ev.At) && prev.ID < ev.ID) {
			e.t.Errorf("%s: event %d (%v, id %d) listed before event %d (%v, id %d)",
				what, i-1, prev.At, prev.ID, i, ev.At, ev.ID)
		}
	}
}

func testHistory(e *env) {
	t := e.t
	a := e.create("alice", "laptop", e.at(-5*time.Hour))
	b := e.create("bob", "report", e.at(-4*time.Hour))
	c := e.newToken("alice", "forever", e.at(-210*time.Minute), time.Time{})
	e.mustCreate(c, 0)
	e.mustRevoke(a.ID, "alice", "alice", e.at(-3*time.Hour))
	e.mustRevoke(b.ID, "", "carol", e.at(-2*time.Hour))
	if _, err := e.capAll(e.at(30*day), "carol", e.at(-time.Hour)); err != nil {
		t.Fatalf("CapExpiry: %v", err)
	}
	// Recorded last but dated first: History orders by At, not by insertion.
	l := e.legacyToken("dave", "old")
	e.mustImport([]token.Token{l}, "importer", e.at(-6*time.Hour))
	d := e.create("alice", "late", e.at(-30*time.Minute))

	want := []wantEvent{
		{token.EventCreate, "alice", "alice", d, d.CreatedAt},
		{token.EventCap, "carol", "alice", c, e.at(-time.Hour)},
		{token.EventRevoke, "carol", "bob", b, e.at(-2 * time.Hour)},
		{token.EventRevoke, "alice", "alice", a, e.at(-3 * time.Hour)},
		{token.EventCreate, "alice", "alice", c, c.CreatedAt},
		{token.EventCreate, "bob", "bob", b, b.CreatedAt},
		{token.EventCreate, "alice", "alice", a, a.CreatedAt},
		{token.EventImport, "importer", "dave", l, e.at(-6 * time.Hour)},
	}
	all := e.history("", 100)
	checkEvents(e, `History("")`, all, want)
	checkOrder(e, `History("")`, all)
	checkEvents(e, `History("", 3)`, e.history("", 3), want[:3])
	checkEvents(e, "History(alice)", e.history("alice", 100), []wantEvent{want[0], want[1], want[3], want[4], want[6]})
	checkEvents(e, "History(alice, 2)", e.history("alice", 2), []wantEvent{want[0], want[1]})
	checkEvents(e, "History(dave)", e.history("dave", 100), want[7:])
	checkEvents(e, "History(nobody)", e.history("nobody", 10), nil)

	// No secret ever appears in the history.
	data, err := json.Marshal(all)
	if err != nil {
		t.Fatalf("marshalling events: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.secrets) != 5 {
		t.Fatalf("test handed out %d secrets, want 5", len(e.secrets))
	}
	for _, secret := range e.secrets {
		if strings.Contains(string(data), secret) {
			t.Errorf("history JSON contains a token secret")
		}
	}
}

func testHistoryTies(e *env) {
	t := e.t
	x := e.create("erin", "x", e.at(-time.Hour))
	y := e.create("erin", "y", e.at(-time.Hour))
	at := e.at(0)
	got, err := e.s.RevokeOwner(e.ctx, "erin", "carol", at)
	if err != nil || len(got) != 2 {
		t.Fatalf("RevokeOwner(erin) = %d tokens, %v; want 2", len(got), err)
	}
	evs := e.history("erin", 10)
	checkOrder(e, "History(erin)", evs)
	if len(evs) != 4 {
		t.Fatalf("History(erin) has %d events, want 4", len(evs))
	}
	for i, ev := range evs {
		kind, when := token.EventRevoke, at
		if i >= 2 {
			kind, when = token.EventCreate, x.CreatedAt
		}
		if ev.Kind != kind || !ev.At.Equal(when) || (ev.TokenID != x.ID && ev.TokenID != y.ID) {
			t.Errorf("History(erin)[%d] = %+v, want a %s of x or y at %v", i, ev, kind, when)
		}
	}
	if evs[0].TokenID == evs[1].TokenID || evs[2].TokenID == evs[3].TokenID {
		t.Errorf("History(erin) = %+v, want one revoke and one create per token", evs)
	}
}
