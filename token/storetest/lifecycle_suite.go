package storetest

import (
	"time"

	"github.com/tokengate/tokengate/token"
)

func testCapExpiry(e *env) {
	t := e.t
	limit := e.at(30 * day)
	never := e.newToken("alice", "never", e.at(-time.Hour), time.Time{})
	longer := e.newToken("alice", "longer", e.at(-time.Hour), e.at(100*day))
	shorter := e.newToken("bob", "shorter", e.at(-time.Hour), e.at(10*day))
	exact := e.newToken("bob", "exactly the limit", e.at(-time.Hour), limit)
	expired := e.newToken("bob", "expired", e.at(-2*day), e.at(-day))
	revokedNever := e.newToken("bob", "revoked", e.at(-time.Hour), time.Time{})
	for _, tok := range []token.Token{never, longer, shorter, exact, expired, revokedNever} {
		e.mustCreate(tok, 0)
	}
	revokedAt := e.at(-time.Minute)
	e.mustRevoke(revokedNever.ID, "", "carol", revokedAt)
	legacy := e.legacyToken("dave", "legacy")
	e.mustImport([]token.Token{legacy}, "admin", e.at(-time.Hour))

	at := e.at(0)
	got, err := e.capAll(limit, "carol", at)
	if err != nil {
		t.Fatalf("CapExpiry: %v", err)
	}
	checkSameSet(t, "CapExpiry result", got, []string{never.ID, longer.ID, legacy.ID})
	capped := func(tok token.Token) token.Token { tok.ExpiresAt = limit; return tok }
	want := map[string]token.Token{never.ID: capped(never), longer.ID: capped(longer), legacy.ID: capped(legacy)}
	for _, g := range got {
		checkToken(t, "CapExpiry result", g, want[g.ID])
	}
	for _, w := range want {
		checkToken(t, "capped token", e.byDigest(w.Digest), w)
	}
	checkToken(t, "shorter-lived token", e.byDigest(shorter.Digest), shorter)
	checkToken(t, "token expiring exactly at the limit", e.byDigest(exact.Digest), exact)
	checkToken(t, "expired token", e.byDigest(expired.Digest), expired)
	checkToken(t, "revoked token", e.byDigest(revokedNever.Digest), revoked(revokedNever, "carol", revokedAt))

	caps := map[string]bool{}
	for _, ev := range e.history("", 100) {
		if ev.Kind != token.EventCap {
			continue
		}
		if ev.Actor != "carol" || !ev.At.Equal(at) || want[ev.TokenID].Owner != ev.Owner || ev.Label != want[ev.TokenID].Label {
			t.Errorf("cap event %+v, want actor carol at %v with the capped token's owner and label", ev, at)
		}
		was := "never"
		if ev.TokenID == longer.ID {
			was = longer.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if wantDetail := "expires_at " + limit.UTC().Format(time.RFC3339) + ", was " + was; ev.Detail != wantDetail {
			t.Errorf("cap event detail %q, want %q", ev.Detail, wantDetail)
		}
		caps[ev.TokenID] = true
	}
	if len(caps) != 3 {
		t.Errorf("cap events for %d distinct tokens, want 3 (never, longer, legacy)", len(caps))
	}

	// Raising the limit later lengthens nothing.
	before := len(e.history("", 100))
	got, err = e.capAll(e.at(60*day), "carol", e.at(time.Minute))
	if err != nil || len(got) != 0 {
		t.Errorf("second CapExpiry with a later limit = %d tokens, %v; want none, nil", len(got), err)
	}
	for _, w := range want {
		checkToken(t, "token after the later cap", e.byDigest(w.Digest), w)
	}
	if after := len(e.history("", 100)); after != before {
		t.Errorf("a cap that changed nothing added %d events", after-before)
	}

	// A shorter limit caps again, now also the formerly shorter-lived token.
	got, err = e.capAll(e.at(5*day), "carol", e.at(2*time.Minute))
	if err != nil {
		t.Fatalf("CapExpiry(+5d): %v", err)
	}
	checkSameSet(t, "CapExpiry(+5d) result", got, []string{never.ID, longer.ID, legacy.ID, shorter.ID, exact.ID})
}

func testImport(e *env) {
	t := e.t
	if e.hasLegacy() {
		t.Errorf("HasLegacy on an empty store = true")
	}
	l1, l2, l3 := e.legacyToken("alice", "old 1"), e.legacyToken("alice", "old 2"), e.legacyToken("bob", "old 3")
	at := e.at(-time.Hour)
	e.mustImport([]token.Token{l1, l2, l3}, "importer", at)
	for _, l := range []token.Token{l1, l2, l3} {
		got := e.byDigest(l.Digest)
		checkToken(t, "imported token", got, l)
		if !got.Legacy() || got.ExpiredAt(e.at(100*365*day)) {
			t.Errorf("imported token: Legacy %v, ExpiredAt(+100y) %v; want true, false", got.Legacy(), got.ExpiredAt(e.at(100*365*day)))
		}
	}
	if !e.hasLegacy() {
		t.Errorf("HasLegacy after import = false")
	}
	evs := e.history("", 100)
	if len(evs) != 3 {
		t.Fatalf("history after importing 3 tokens has %d events, want 3", len(evs))
	}
	byID := map[string]token.Token{l1.ID: l1, l2.ID: l2, l3.ID: l3}
	for _, ev := range evs {
		l, ok := byID[ev.TokenID]
		if !ok || ev.Kind != token.EventImport || ev.Actor != "importer" || !ev.At.Equal(at) ||
			ev.Owner != l.Owner || ev.Label != l.Label {
			t.Errorf("import event %+v, want kind import, actor importer, at %v, the token's owner and label", ev, at)
		}
		delete(byID, ev.TokenID)
	}

	// All or nothing: a digest already in the store…
	fresh := e.legacyToken("carol", "fresh")
	dup := e.legacyToken("carol", "dup")
	dup.Digest = l2.Digest
	wantErr(t, "Import with a digest in the store", e.s.Import(e.ctx, []token.Token{fresh, dup}, "importer", at), token.ErrDuplicate)
	e.wantNotFound("token imported beside a duplicate", fresh.Digest)
	// …or twice in the batch.
	twin := e.legacyToken("carol", "twin")
	twin.Digest = fresh.Digest
	wantErr(t, "Import with a digest twice", e.s.Import(e.ctx, []token.Token{fresh, twin}, "importer", at), token.ErrDuplicate)
	e.wantNotFound("token imported beside its twin", fresh.Digest)
	// A digest of a normal token.
	normal := e.create("carol", "normal", e.at(0))
	clash := e.legacyToken("carol", "clash")
	clash.Digest = normal.Digest
	wantErr(t, "Import with a created token's digest", e.s.Import(e.ctx, []token.Token{clash}, "importer", at), token.ErrDuplicate)
	if n := len(e.history("", 100)); n != 4 {
		t.Errorf("history has %d events, want 4: failed imports must record nothing", n)
	}
	checkIDs(t, "List(carol) after failed imports", e.list("carol"), []string{normal.ID})
}

func testHasLegacy(e *env) {
	t := e.t
	e.create("alice", "normal", e.at(0))
	if e.hasLegacy() {
		t.Errorf("HasLegacy with only a normal token = true")
	}
	l1, l2 := e.legacyToken("alice", "old 1"), e.legacyToken("bob", "old 2")
	e.mustImport([]token.Token{l1, l2}, "importer", e.at(0))
	if !e.hasLegacy() {
		t.Errorf("HasLegacy after import = false")
	}
	e.mustRevoke(l1.ID, "alice", "alice", e.at(time.Minute))
	if !e.hasLegacy() {
		t.Errorf("HasLegacy with one of two legacy tokens revoked = false")
	}
	if _, err := e.s.RevokeOwner(e.ctx, "bob", "admin", e.at(time.Minute)); err != nil {
		t.Fatalf("RevokeOwner(bob): %v", err)
	}
	if e.hasLegacy() {
		t.Errorf("HasLegacy with every legacy token revoked = true")
	}
}

func testTouchLastUsed(e *env) {
	t := e.t
	a := e.create("alice", "a", e.at(-time.Hour))
	b := e.create("bob", "b", e.at(-time.Hour))
	t1 := e.at(-30 * time.Minute)
	err := e.s.TouchLastUsed(e.ctx, []token.LastUse{
		{TokenID: a.ID, At: t1, IP: "192.0.2.10", Agent: "Microsoft.Data.Mashup"},
		{TokenID: newID(t), At: t1, IP: "192.0.2.99", Agent: "ghost"},
		{TokenID: b.ID, At: t1.Add(time.Second), IP: "2001:db8::1", Agent: "PowerBI"},
	})
	if err != nil {
		t.Fatalf("TouchLastUsed with an unknown id: %v", err)
	}
	used := func(tok token.Token, at time.Time, ip, agent string) token.Token {
		tok.LastUsedAt, tok.LastUsedIP, tok.LastUsedAgent = at, ip, agent
		return tok
	}
	wantA := used(a, t1, "192.0.2.10", "Microsoft.Data.Mashup")
	checkToken(t, "a after first use", e.byDigest(a.Digest), wantA)
	checkToken(t, "b after first use", e.byDigest(b.Digest), used(b, t1.Add(time.Second), "2001:db8::1", "PowerBI"))

	// An older record does not overwrite a newer one.
	if err := e.s.TouchLastUsed(e.ctx, []token.LastUse{{TokenID: a.ID, At: t1.Add(-time.Minute), IP: "198.51.100.1", Agent: "old"}}); err != nil {
		t.Fatalf("TouchLastUsed(older): %v", err)
	}
	checkToken(t, "a after an older record", e.byDigest(a.Digest), wantA)

	// Within one batch, the newest wins whatever the order.
	t2, t3 := e.at(-10*time.Minute), e.at(-5*time.Minute)
	err = e.s.TouchLastUsed(e.ctx, []token.LastUse{
		{TokenID: a.ID, At: t3, IP: "203.0.113.3", Agent: "newest"},
		{TokenID: a.ID, At: t2, IP: "203.0.113.2", Agent: "middle"},
	})
	if err != nil {
		t.Fatalf("TouchLastUsed(batch): %v", err)
	}
	checkToken(t, "a after a batch", e.byDigest(a.Digest), used(a, t3, "203.0.113.3", "newest"))
	if err := e.s.TouchLastUsed(e.ctx, nil); err != nil {
		t.Errorf("TouchLastUsed(nil): %v", err)
	}
	got := e.list("alice")
	if len(got) == 1 {
		checkToken(t, "List shows last use", got[0], used(a, t3, "203.0.113.3", "newest"))
	}
}
