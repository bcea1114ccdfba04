package storetest

import (
	"errors"

	"github.com/tokengate/tokengate/token"
)

// digests reads Digests(cursor) into a set and returns it with the next cursor.
func (e *env) digests(cursor string) (map[token.Digest]bool, string) {
	e.t.Helper()
	got := map[token.Digest]bool{}
	next, err := e.s.Digests(e.ctx, cursor, func(d token.Digest) { got[d] = true })
	if err != nil {
		e.t.Fatalf("Digests(%q): %v", cursor, err)
	}
	if next == "" {
		e.t.Fatalf("Digests(%q) returned an empty cursor", cursor)
	}
	return got, next
}

// testDigests: every token is listed by a full read, revoked and legacy ones
// included; an incremental read from a cursor finds every token added since,
// whichever way it was added; a broken cursor is refused.
func testDigests(e *env) {
	all, c0 := e.digests("")
	if len(all) != 0 {
		e.t.Fatalf("empty store: Digests(\"\") = %d digests", len(all))
	}
	a := e.create("alice", "a", e.at(0))
	b := e.create("bob", "b", e.at(0))
	since, c1 := e.digests(c0)
	if !since[a.Digest] || !since[b.Digest] {
		e.t.Errorf("Digests(cursor before) misses a created token: %d digests", len(since))
	}

	e.mustRevoke(a.ID, "", "admin", e.at(1))
	legacy := e.legacyToken("carol", "old")
	e.mustImport([]token.Token{legacy}, "admin", e.at(2))
	since, c2 := e.digests(c1)
	if !since[legacy.Digest] {
		e.t.Errorf("Digests(cursor before import) misses the imported token")
	}
	if _, err := e.capAll(e.at(3), "admin", e.at(3)); err != nil {
		e.t.Fatalf("CapExpiry: %v", err)
	}

	all, _ = e.digests("")
	for _, tok := range []token.Token{a, b, legacy} {
		if !all[tok.Digest] {
			e.t.Errorf("Digests(\"\") misses token %s (%s)", tok.ID, tok.Label)
		}
	}
	if len(all) != 3 {
		e.t.Errorf("Digests(\"\") = %d digests, want 3", len(all))
	}
	// Nothing added since c2: whatever it repeats, it invents nothing.
	again, _ := e.digests(c2)
	for d := range again {
		if !all[d] {
			e.t.Errorf("Digests(%q) delivered a digest the store does not hold", c2)
		}
	}

	for _, bad := range []string{"not a cursor", "-1", "1e9"} {
		_, err := e.s.Digests(e.ctx, bad, func(token.Digest) {})
		if !errors.Is(err, token.ErrInvalidInput) {
			e.t.Errorf("Digests(%q) = %v, want ErrInvalidInput", bad, err)
		}
	}
}
