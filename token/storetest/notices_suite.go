package storetest

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokengate/tokengate/token"
)

// Notification claims (token.NoticeStore).

const (
	noticeLease = 5 * time.Minute
	kind7d      = "expiring:7d"
)

// claim calls ClaimNotice and fails the test on error.
func (e *env) claim(id, kind, holder string, at time.Time, repeatAfter time.Duration) bool {
	e.t.Helper()
	ok, err := e.s.ClaimNotice(e.ctx, id, kind, holder, at, noticeLease, repeatAfter)
	if err != nil {
		e.t.Fatalf("ClaimNotice(%s, %s, %s, %v): %v", id, kind, holder, at, err)
	}
	return ok
}

func (e *env) wantClaim(what, id, kind, holder string, at time.Time, repeatAfter time.Duration, want bool) {
	e.t.Helper()
	if got := e.claim(id, kind, holder, at, repeatAfter); got != want {
		e.t.Errorf("%s: ClaimNotice(%s by %s at +%v) = %v, want %v", what, kind, holder, at.Sub(e.now), got, want)
	}
}

func (e *env) sent(id, kind string, at time.Time) {
	e.t.Helper()
	if err := e.s.NoticeSent(e.ctx, id, kind, at); err != nil {
		e.t.Fatalf("NoticeSent(%s, %s): %v", id, kind, err)
	}
}

func (e *env) release(id, kind, holder string) {
	e.t.Helper()
	if err := e.s.ReleaseNotice(e.ctx, id, kind, holder); err != nil {
		e.t.Fatalf("ReleaseNotice(%s, %s, %s): %v", id, kind, holder, err)
	}
}

// testNoticeClaim: once per (token, kind); a stale unsent claim is taken
// over after the lease; a sent one only with repeatAfter, after it.
func testNoticeClaim(e *env) {
	id := newID(e.t)
	e.wantClaim("first", id, kind7d, "a", e.now, 0, true)
	e.wantClaim("held", id, kind7d, "b", e.at(time.Minute), 0, false)
	e.wantClaim("held at the lease", id, kind7d, "b", e.at(noticeLease), 0, false)
	e.wantClaim("other kind", id, "expiring:1d", "b", e.at(time.Minute), 0, true)
	e.wantClaim("other token", newID(e.t), kind7d, "b", e.at(time.Minute), 0, true)
	takeover := e.at(noticeLease + time.Second)
	e.wantClaim("stale, holder died", id, kind7d, "b", takeover, 0, true)
	e.wantClaim("taken over: held again", id, kind7d, "c", takeover.Add(time.Minute), 0, false)
	e.sent(id, kind7d, takeover.Add(time.Second))
	e.wantClaim("sent", id, kind7d, "c", e.at(30*24*time.Hour), 0, false)

	// repeatAfter: one per window, counted from the claim.
	const window = time.Hour
	e.wantClaim("sent, within the window", id, kind7d, "c", takeover.Add(window-time.Second), window, false)
	e.wantClaim("sent, window over", id, kind7d, "c", takeover.Add(window+time.Second), window, true)
	e.wantClaim("repeat claim held", id, kind7d, "d", takeover.Add(window+2*time.Second), window, false)

	err := e.s.NoticeSent(e.ctx, newID(e.t), kind7d, e.now)
	wantErr(e.t, "NoticeSent of an unclaimed notice", err, token.ErrNotFound)
}

// testNoticeRelease: only the holder's unsent claim goes.
func testNoticeRelease(e *env) {
	id := newID(e.t)
	e.claim(id, token.NoticeExpired, "a", e.now, 0)
	e.release(id, token.NoticeExpired, "b")
	e.wantClaim("released by another holder", id, token.NoticeExpired, "c", e.at(time.Second), 0, false)
	e.release(id, token.NoticeExpired, "a")
	e.wantClaim("released by its holder", id, token.NoticeExpired, "c", e.at(2*time.Second), 0, true)
	e.sent(id, token.NoticeExpired, e.at(3*time.Second))
	e.release(id, token.NoticeExpired, "c")
	e.wantClaim("released after sent", id, token.NoticeExpired, "d", e.at(time.Hour), 0, false)
	e.release(newID(e.t), token.NoticeExpired, "a") // nothing to release: no error
}

// testNoticeConcurrent: of many claimants at once, exactly one wins.
func testNoticeConcurrent(e *env) {
	const n = 16
	for round := range 3 {
		id := newID(e.t)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			won  []string
			errs []error
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				holder := "h" + string(rune('a'+i))
				ok, err := e.s.ClaimNotice(e.ctx, id, token.NoticeRejected, holder, e.at(time.Duration(round)*time.Hour), noticeLease, time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else if ok {
					won = append(won, holder)
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 || len(won) != 1 {
			e.t.Fatalf("round %d: %d concurrent claims: winners %v, errors %v; want exactly one winner", round, n, won, errs)
		}
	}
}

// testNoticeInput: bad arguments are ErrInvalidInput.
func testNoticeInput(e *env) {
	id := newID(e.t)
	bad := []struct {
		what     string
		id, kind string
		lease    time.Duration
		repeat   time.Duration
	}{
		{"empty token id", "", kind7d, noticeLease, 0},
		{"empty kind", id, "", noticeLease, 0},
		{"kind too long", id, strings.Repeat("k", token.MaxNoticeKindLen+1), noticeLease, 0},
		{"zero lease", id, kind7d, 0, 0},
		{"negative repeat", id, kind7d, noticeLease, -time.Second},
	}
	for _, b := range bad {
		_, err := e.s.ClaimNotice(e.ctx, b.id, b.kind, "a", e.now, b.lease, b.repeat)
		wantErr(e.t, "ClaimNotice with "+b.what, err, token.ErrInvalidInput)
	}
	wantErr(e.t, "NoticeSent with an empty kind", e.s.NoticeSent(e.ctx, id, "", e.now), token.ErrInvalidInput)
	wantErr(e.t, "ReleaseNotice with an empty id", e.s.ReleaseNotice(e.ctx, "", kind7d, "a"), token.ErrInvalidInput)
	_, _, err := e.s.ExpiringPage(e.ctx, e.now, e.at(time.Hour), 0, "")
	wantErr(e.t, "ExpiringPage with limit 0", err, token.ErrInvalidInput)
	_, _, err = e.s.ExpiringPage(e.ctx, e.now, e.at(time.Hour), 5, "bad\x00cursor")
	wantErr(e.t, "ExpiringPage with a bad cursor", err, token.ErrInvalidInput)
}

// testExpiringPage: from < ExpiresAt <= until, unrevoked only, by ID, in
// pages that cover each token once.
func testExpiringPage(e *env) {
	from, until := e.at(-7*24*time.Hour), e.at(7*24*time.Hour)
	mk := func(label string, expires time.Time) token.Token {
		tk := e.newToken("alice", label, e.at(-30*24*time.Hour), expires)
		e.mustCreate(tk, 0)
		return tk
	}
	var want []string
	for i, d := range []time.Duration{-7*24*time.Hour + time.Microsecond, -time.Hour, 0, time.Hour, 6 * 24 * time.Hour, 7 * 24 * time.Hour} {
		want = append(want, mk("in "+string(rune('a'+i)), e.at(d)).ID)
	}
	mk("expired long ago", from.Add(-time.Hour))
	mk("at the lower bound", from)
	mk("after the window", until.Add(time.Microsecond))
	mk("never expires", time.Time{})
	gone := mk("revoked in the window", e.at(time.Hour))
	e.mustRevoke(gone.ID, "", "admin", e.now)
	other := e.newToken("bob", "bob's", e.at(-time.Hour), e.at(2*time.Hour))
	e.mustCreate(other, 0)
	want = append(want, other.ID)
	slices.Sort(want)

	for _, limit := range []int{1, 2, 3, 100} {
		var got []token.Token
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				e.t.Fatalf("limit %d: ExpiringPage does not end", limit)
			}
			ts, next, err := e.s.ExpiringPage(e.ctx, from, until, limit, after)
			if err != nil {
				e.t.Fatalf("ExpiringPage(limit %d, after %q): %v", limit, after, err)
			}
			if len(ts) > limit || (next != "" && (len(ts) != limit || next != ts[len(ts)-1].ID)) {
				e.t.Fatalf("limit %d: page of %d, next %q: want a full page ending at next", limit, len(ts), next)
			}
			got = append(got, ts...)
			if next == "" {
				break
			}
			after = next
		}
		checkIDs(e.t, "ExpiringPage pages", got, want)
	}
	ts, next, err := e.s.ExpiringPage(e.ctx, until.Add(time.Hour), until.Add(2*time.Hour), 10, "")
	if err != nil || len(ts) != 0 || next != "" || ts == nil {
		e.t.Errorf("empty window: %v, %q, %v; want an empty (non-nil) page", ids(ts), next, err)
	}
}
