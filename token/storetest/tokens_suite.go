package storetest

import (
	"time"

	"github.com/tokengate/tokengate/token"
)

const day = 24 * time.Hour

func testCreateAndByDigest(e *env) {
	t := e.t
	full := e.newToken("alice", "Power BI – Sales ✓ \"quoted\"", e.at(-time.Hour), e.at(10*day))
	never := e.newToken("alice", "no expiry", e.at(-2*time.Hour), time.Time{})
	e.mustCreate(full, 25)
	e.mustCreate(never, 25)

	checkToken(t, "token with expiry", e.byDigest(full.Digest), full)
	got := e.byDigest(never.Digest)
	checkToken(t, "token without expiry", got, never)
	if got.Legacy() || got.Revoked() || got.ExpiredAt(e.at(1000*day)) {
		t.Errorf("token without expiry: Legacy %v Revoked %v ExpiredAt(+1000d) %v, want all false",
			got.Legacy(), got.Revoked(), got.ExpiredAt(e.at(1000*day)))
	}
	e.wantNotFound("unknown digest", token.DigestOf("tgp_unknown"))

	// The revocation and last-use fields are not the caller's to set.
	sneaky := e.newToken("alice", "sneaky", e.at(-time.Minute), e.at(day))
	sneaky.RevokedAt, sneaky.RevokedBy = e.at(-time.Second), "mallory"
	sneaky.LastUsedAt, sneaky.LastUsedIP, sneaky.LastUsedAgent = e.at(-time.Second), "192.0.2.1", "x"
	e.mustCreate(sneaky, 0)
	if got := e.byDigest(sneaky.Digest); got.Revoked() || !got.LastUsedAt.IsZero() {
		t.Errorf("Create kept RevokedAt %v / LastUsedAt %v the caller set, want both zero", got.RevokedAt, got.LastUsedAt)
	}
}

func testCreateDuplicate(e *env) {
	t := e.t
	orig := e.create("alice", "original", e.at(-time.Hour))
	dup := e.newToken("bob", "copy", e.at(0), time.Time{})
	dup.Digest = orig.Digest
	wantErr(t, "Create with an existing digest", e.s.Create(e.ctx, dup, 0), token.ErrDuplicate)

	checkToken(t, "original after duplicate", e.byDigest(orig.Digest), orig)
	if ts := e.list("bob"); len(ts) != 0 {
		t.Errorf("duplicate Create left %d tokens for bob, want 0", len(ts))
	}
	if evs := e.history("", 100); len(evs) != 1 {
		t.Errorf("history has %d events after one create and one duplicate, want 1", len(evs))
	}
}

func testCreateLimit(e *env) {
	t := e.t
	const limit = 3
	var alice []token.Token
	for i := range limit {
		tok := e.newToken("alice", "t", e.at(time.Duration(i)*time.Minute), time.Time{})
		e.mustCreate(tok, limit)
		alice = append(alice, tok)
	}
	over := e.newToken("alice", "one too many", e.at(time.Hour), time.Time{})
	wantErr(t, "Create beyond the limit", e.s.Create(e.ctx, over, limit), token.ErrLimitReached)
	e.wantNotFound("token refused by the limit", over.Digest)
	if n := len(e.history("alice", 100)); n != limit {
		t.Errorf("history has %d events for alice, want %d (nothing written on ErrLimitReached)", n, limit)
	}

	// The limit is per owner.
	e.mustCreate(e.newToken("bob", "bob's", e.at(0), time.Time{}), limit)

	// Limit 0 means unlimited.
	unlimited := e.newToken("alice", "unlimited", e.at(2*time.Hour), time.Time{})
	e.mustCreate(unlimited, 0)

	// Revoked tokens do not count: alice has 4 unrevoked; revoke 2 → 2 < 3.
	e.mustRevoke(alice[0].ID, "alice", "alice", e.at(3*time.Hour))
	wantErr(t, "Create with 3 unrevoked of limit 3", e.s.Create(e.ctx, over, limit), token.ErrLimitReached)
	e.mustRevoke(alice[1].ID, "alice", "alice", e.at(3*time.Hour))
	e.mustCreate(over, limit)

	// Expired but unrevoked tokens count.
	expired := e.newToken("carol", "expired", e.at(-10*day), e.at(-day))
	e.mustCreate(expired, 2)
	e.mustCreate(e.newToken("carol", "fresh", e.at(0), time.Time{}), 2)
	wantErr(t, "Create with an expired token at the limit",
		e.s.Create(e.ctx, e.newToken("carol", "third", e.at(time.Minute), time.Time{}), 2), token.ErrLimitReached)

	// Unrevoked legacy tokens count too.
	e.mustImport([]token.Token{e.legacyToken("dave", "old")}, "admin", e.at(0))
	wantErr(t, "Create with a legacy token at limit 1",
		e.s.Create(e.ctx, e.newToken("dave", "new", e.at(0), time.Time{}), 1), token.ErrLimitReached)
}

func testList(e *env) {
	t := e.t
	n1 := e.create("alice", "newest", e.at(-time.Hour))
	n2a := e.create("alice", "tie a", e.at(-2*time.Hour))
	n2b := e.create("alice", "tie b", e.at(-2*time.Hour))
	exp := e.newToken("alice", "expired", e.at(-3*time.Hour), e.at(-time.Minute))
	e.mustCreate(exp, 0)
	rev := e.create("alice", "revoked", e.at(-30*time.Minute))
	e.mustRevoke(rev.ID, "alice", "alice", e.at(-time.Minute))
	l1, l2, bl := e.legacyToken("alice", "legacy 1"), e.legacyToken("alice", "legacy 2"), e.legacyToken("bob", "bob legacy")
	e.mustImport([]token.Token{l1, l2, bl}, "admin", e.at(-4*time.Hour))
	ax := e.create("alicex", "other owner, same prefix", e.at(0))
	al := e.create("ali", "other owner, shorter", e.at(-10*time.Minute))
	bob := e.create("bob", "bob's", e.at(-90*time.Minute))

	want := append([]string{n1.ID}, sortedIDs(n2a, n2b)...)
	want = append(append(want, exp.ID), sortedIDs(l1, l2)...)
	got := e.list("alice")
	checkIDs(t, "List(alice)", got, want)
	if len(got) == len(want) {
		checkToken(t, "List(alice)[0]", got[0], n1)
		checkToken(t, "List(alice) expired token", got[3], exp)
		if !got[3].ExpiredAt(e.at(0)) {
			t.Errorf("expired token listed as not expired: ExpiresAt %v", got[3].ExpiresAt)
		}
		checkToken(t, "List(alice) legacy token", got[4], map[string]token.Token{l1.ID: l1, l2.ID: l2}[got[4].ID])
	}

	wantAll := []string{ax.ID, al.ID, n1.ID, bob.ID}
	wantAll = append(wantAll, sortedIDs(n2a, n2b)...)
	wantAll = append(append(wantAll, exp.ID), sortedIDs(l1, l2, bl)...)
	checkIDs(t, `List("")`, e.list(""), wantAll)
	checkIDs(t, "List(bob)", e.list("bob"), []string{bob.ID, bl.ID})
	checkIDs(t, "List(nobody)", e.list("nobody"), []string{})
}

func testRevokeByOwner(e *env) {
	t := e.t
	a := e.create("alice", "alice's", e.at(-time.Hour))
	b := e.create("bob", "bob's", e.at(-time.Hour))
	at := e.at(0)

	_, err := e.s.Revoke(e.ctx, b.ID, "alice", "alice", at)
	wantErr(t, "alice revoking bob's token", err, token.ErrNotFound)
	checkToken(t, "bob's token after alice's attempt", e.byDigest(b.Digest), b)
	_, err = e.s.Revoke(e.ctx, newID(t), "alice", "alice", at)
	wantErr(t, "revoking an unknown id", err, token.ErrNotFound)

	got := e.mustRevoke(a.ID, "alice", "alice", at)
	checkToken(t, "Revoke result", got, revoked(a, "alice", at))
	if !got.Revoked() {
		t.Errorf("Revoke result: Revoked() = false")
	}
	checkToken(t, "ByDigest of a revoked token", e.byDigest(a.Digest), revoked(a, "alice", at))
	checkIDs(t, "List(alice) after revoke", e.list("alice"), []string{})

	_, err = e.s.Revoke(e.ctx, a.ID, "alice", "alice", e.at(time.Minute))
	wantErr(t, "revoking an already revoked token", err, token.ErrNotFound)
	checkToken(t, "token revoked twice keeps the first revocation", e.byDigest(a.Digest), revoked(a, "alice", at))

	evs := e.history("alice", 10)
	if len(evs) != 2 || evs[0].Kind != token.EventRevoke || evs[0].Actor != "alice" || evs[0].TokenID != a.ID {
		t.Errorf("alice's history = %+v, want a revoke by alice of %s then the create", evs, a.ID)
	}
}

func testRevokeAdmin(e *env) {
	t := e.t
	b := e.create("bob", "bob's", e.at(-time.Hour))
	at := e.at(0)
	got := e.mustRevoke(b.ID, "", "carol", at)
	checkToken(t, "admin Revoke result", got, revoked(b, "carol", at))
	checkToken(t, "ByDigest after admin revoke", e.byDigest(b.Digest), revoked(b, "carol", at))
	_, err := e.s.Revoke(e.ctx, b.ID, "", "carol", at)
	wantErr(t, "admin revoking a revoked token", err, token.ErrNotFound)
	_, err = e.s.Revoke(e.ctx, newID(t), "", "carol", at)
	wantErr(t, "admin revoking an unknown id", err, token.ErrNotFound)
	evs := e.history("bob", 10)
	if len(evs) != 2 || evs[0].Kind != token.EventRevoke || evs[0].Actor != "carol" || evs[0].Owner != "bob" {
		t.Errorf("bob's history = %+v, want a revoke by carol then the create", evs)
	}
}

func testRevokeOwner(e *env) {
	t := e.t
	a1 := e.create("alice", "one", e.at(-3*time.Hour))
	a2 := e.newToken("alice", "expired", e.at(-2*time.Hour), e.at(-time.Hour))
	e.mustCreate(a2, 0)
	a3 := e.create("alice", "already revoked", e.at(-time.Hour))
	e.mustRevoke(a3.ID, "alice", "alice", e.at(-time.Minute))
	al := e.legacyToken("alice", "legacy")
	e.mustImport([]token.Token{al}, "admin", e.at(-4*time.Hour))
	b := e.create("bob", "bob's", e.at(-time.Hour))
	ax := e.create("alicex", "same prefix", e.at(-time.Hour))

	at := e.at(0)
	got, err := e.s.RevokeOwner(e.ctx, "alice", "carol", at)
	if err != nil {
		t.Fatalf("RevokeOwner(alice): %v", err)
	}
	checkSameSet(t, "RevokeOwner(alice) result", got, []string{a1.ID, a2.ID, al.ID})
	want := map[string]token.Token{a1.ID: a1, a2.ID: a2, al.ID: al}
	for _, g := range got {
		checkToken(t, "RevokeOwner result", g, revoked(want[g.ID], "carol", at))
		checkToken(t, "ByDigest after RevokeOwner", e.byDigest(g.Digest), revoked(want[g.ID], "carol", at))
	}
	checkToken(t, "previously revoked token", e.byDigest(a3.Digest), revoked(a3, "alice", e.at(-time.Minute)))
	checkToken(t, "bob's token", e.byDigest(b.Digest), b)
	checkToken(t, "alicex's token", e.byDigest(ax.Digest), ax)
	checkIDs(t, "List(alice) after RevokeOwner", e.list("alice"), []string{})

	revokes := 0
	for _, ev := range e.history("", 100) {
		if ev.Kind == token.EventRevoke && ev.Actor == "carol" {
			revokes++
		}
	}
	if revokes != 3 {
		t.Errorf("RevokeOwner recorded %d revoke events by carol, want 3", revokes)
	}

	for _, owner := range []string{"alice", "nobody"} {
		got, err := e.s.RevokeOwner(e.ctx, owner, "carol", e.at(time.Minute))
		if err != nil || len(got) != 0 {
			t.Errorf("RevokeOwner(%s) with nothing to revoke = %d tokens, %v; want none, nil", owner, len(got), err)
		}
	}
}
