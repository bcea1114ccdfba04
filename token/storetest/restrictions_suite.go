package storetest

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tokengate/tokengate/token"
)

// restrictedIPs is an allow-list in an order no store would sort into:
// ranges and single addresses, IPv4 and IPv6.
var restrictedIPs = []netip.Prefix{
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/48"),
	netip.MustParsePrefix("198.51.100.7/32"),
	netip.MustParsePrefix("2001:db8:1::5/128"),
	netip.MustParsePrefix("10.0.0.0/8"),
}

// restricted returns a new token of owner (created at created, expiring in
// 30 days) with an allow-list and scopes, each a copy of its own.
func (e *env) restricted(owner, label string, created time.Time) token.Token {
	tok := e.newToken(owner, label, created, created.Add(30*day))
	tok.AllowedIPs = slices.Clone(restrictedIPs)
	tok.Scopes = []string{"worklogs", "issues"} // as given: the Service sorts, the store does not
	return tok
}

// createEvent returns the EventCreate of tok in the history.
func (e *env) createEvent(tok token.Token) (token.Event, bool) {
	for _, ev := range e.history(tok.Owner, 1000) {
		if ev.Kind == token.EventCreate && ev.TokenID == tok.ID {
			return ev, true
		}
	}
	return token.Event{}, false
}

func testRestrictions(e *env) {
	t := e.t
	full := e.restricted("alice", "gateway only", e.at(-time.Hour))
	ipsOnly := e.newToken("alice", "from the office", e.at(-2*time.Hour), time.Time{})
	ipsOnly.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}
	scopesOnly := e.newToken("alice", "issues only", e.at(-3*time.Hour), time.Time{})
	scopesOnly.Scopes = []string{"issues"}
	empty := e.newToken("alice", "empty, not nil", e.at(-4*time.Hour), time.Time{})
	empty.AllowedIPs, empty.Scopes = []netip.Prefix{}, []string{}
	none := e.newToken("alice", "nil", e.at(-5*time.Hour), time.Time{})
	for _, tok := range []token.Token{full, ipsOnly, scopesOnly, empty, none} {
		e.mustCreate(tok, 25)
	}
	// The caller's slices are not the store's: changing them afterwards
	// changes nothing stored.
	full.AllowedIPs[0] = netip.MustParsePrefix("0.0.0.0/0")
	full.AllowedIPs = slices.Clone(restrictedIPs)

	all := []token.Token{full, ipsOnly, scopesOnly, empty, none}
	for _, tok := range all {
		got := e.byDigest(tok.Digest)
		checkToken(t, "ByDigest of "+tok.Label, got, tok)
		if got.Restricted() != tok.Restricted() {
			t.Errorf("ByDigest of %s: Restricted() = %v, want %v", tok.Label, got.Restricted(), tok.Restricted())
		}
	}
	if got := e.byDigest(empty.Digest); got.AllowedIPs != nil || got.Scopes != nil {
		t.Errorf("token created with empty restrictions reads back as %#v, %#v; want nil, nil", got.AllowedIPs, got.Scopes)
	}

	for _, owner := range []string{"alice", ""} {
		list := e.list(owner)
		checkIDs(t, "List("+owner+")", list, ids(all))
		for i := range min(len(list), len(all)) {
			checkToken(t, "List("+owner+") "+all[i].Label, list[i], all[i])
		}
	}

	// The create event names the restrictions; an unrestricted token's has
	// no detail, as before restrictions existed.
	wantDetail := map[string]string{
		full.ID:       "allowed IPs: 203.0.113.0/24, 2001:db8::/48, 198.51.100.7, 2001:db8:1::5, 10.0.0.0/8; scopes: worklogs, issues",
		ipsOnly.ID:    "allowed IPs: 192.0.2.1",
		scopesOnly.ID: "scopes: issues",
		empty.ID:      "",
		none.ID:       "",
	}
	for _, tok := range all {
		ev, ok := e.createEvent(tok)
		if !ok {
			t.Errorf("no create event for %s", tok.Label)
			continue
		}
		if want := wantDetail[tok.ID]; ev.Detail != want || ev.Detail != token.RestrictionsDetail(tok) {
			t.Errorf("create event of %s: Detail %q, want %q", tok.Label, ev.Detail, want)
		}
	}

	// Ranges are stored masked, as ParseAllowedIPs returns them: anything
	// else is the caller's mistake.
	for _, p := range []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), {}} {
		bad := e.newToken("alice", "unmasked", e.at(0), time.Time{})
		bad.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), p}
		wantErr(t, fmt.Sprintf("Create with allowed IP %q", p), e.s.Create(e.ctx, bad, 0), token.ErrInvalidInput)
		e.wantNotFound("token with an unmasked range", bad.Digest)
	}

	// Revoking keeps the restrictions, in the result and in the store.
	at := e.at(0)
	got := e.mustRevoke(full.ID, "alice", "alice", at)
	checkToken(t, "Revoke result of a restricted token", got, revoked(full, "alice", at))
	checkToken(t, "ByDigest of a revoked restricted token", e.byDigest(full.Digest), revoked(full, "alice", at))
	got = e.mustRevoke(none.ID, "", "carol", at)
	checkToken(t, "Revoke result of an unrestricted token", got, revoked(none, "carol", at))
	checkIDs(t, "List(alice) after revokes", e.list("alice"), ids(all[1:4]))
}

func testRestrictionsLifecycle(e *env) {
	t := e.t
	a := e.restricted("alice", "restricted", e.at(-2*time.Hour))
	a.ExpiresAt = time.Time{} // capped below
	b := e.create("alice", "unrestricted", e.at(-time.Hour))
	e.mustCreate(a, 0)

	// CapExpiry returns and keeps the restrictions.
	limit := e.at(5 * day)
	changed, err := e.capAll(limit, "carol", e.at(0))
	if err != nil {
		t.Fatalf("CapExpiry: %v", err)
	}
	checkSameSet(t, "CapExpiry result", changed, []string{a.ID, b.ID})
	a.ExpiresAt, b.ExpiresAt = limit, limit
	for _, g := range changed {
		checkToken(t, "CapExpiry result", g, map[string]token.Token{a.ID: a, b.ID: b}[g.ID])
	}
	checkToken(t, "ByDigest after CapExpiry", e.byDigest(a.Digest), a)

	// RevokeOwner returns them too.
	at := e.at(time.Minute)
	gone, err := e.s.RevokeOwner(e.ctx, "alice", "carol", at)
	if err != nil {
		t.Fatalf("RevokeOwner: %v", err)
	}
	checkSameSet(t, "RevokeOwner result", gone, []string{a.ID, b.ID})
	for _, g := range gone {
		checkToken(t, "RevokeOwner result", g, revoked(map[string]token.Token{a.ID: a, b.ID: b}[g.ID], "carol", at))
	}

	// Legacy tokens are unrestricted: an import that says otherwise is
	// refused, all of it.
	l := e.legacyToken("dave", "legacy")
	bad := e.legacyToken("dave", "legacy with scopes")
	bad.Scopes = []string{"issues"}
	wantErr(t, "Import of a legacy token with scopes", e.s.Import(e.ctx, []token.Token{l, bad}, "importer", e.at(0)), token.ErrInvalidInput)
	bad.Scopes, bad.AllowedIPs = nil, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	wantErr(t, "Import of a legacy token with allowed IPs", e.s.Import(e.ctx, []token.Token{l, bad}, "importer", e.at(0)), token.ErrInvalidInput)
	e.wantNotFound("legacy token imported beside a restricted one", l.Digest)
	e.mustImport([]token.Token{l}, "importer", e.at(0))
	checkToken(t, "imported legacy token", e.byDigest(l.Digest), l)
}
