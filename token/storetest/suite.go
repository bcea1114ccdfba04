// Package storetest holds the conformance suite that every token.Store
// implementation must pass, and helpers that give tests real back ends.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// Timeout bounds every store call a subtest makes.
const Timeout = 60 * time.Second

// Run runs the conformance suite against the stores open returns. open is
// called once per subtest and must return a fresh, empty store, closing it
// itself when the subtest ends (t.Cleanup). The suite uses only the
// token.Store interface, and token.Watcher when the store implements it.
//
// Beyond the doc comments of token.Store the suite pins these choices: ties
// in List are broken by ascending ID; the EventCreate of a token is dated
// t.CreatedAt; times are compared at microsecond precision; VaultSecrets
// orders kinds bytewise; input checks refuse with an InputError of kind
// token.ErrInvalidInput. Restrictions: AllowedIPs keep their order and
// Scopes are kept as given (the Service sorts them); a token without them
// reads back with nil slices, however it was created; the EventCreate
// Detail is token.RestrictionsDetail of the token ("" when unrestricted);
// Import refuses a legacy token with restrictions, and Create a range with
// host bits set (ParseAllowedIPs masks them).
func Run(t *testing.T, open func(t *testing.T) token.Store) {
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"CreateAndByDigest", testCreateAndByDigest},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateLimit", testCreateLimit},
		{"Restrictions", testRestrictions},
		{"RestrictionsLifecycle", testRestrictionsLifecycle},
		{"List", testList},
		{"RevokeByOwner", testRevokeByOwner},
		{"RevokeAdmin", testRevokeAdmin},
		{"RevokeOwner", testRevokeOwner},
		{"CapExpiry", testCapExpiry},
		{"CapBatches", testCapBatches}, {"CapInterrupted", testCapInterrupted}, {"CapInput", testCapInput}, {"CountTokens", testCountTokens},
		{"Import", testImport},
		{"HasLegacy", testHasLegacy},
		{"Digests", testDigests},
		{"TouchLastUsed", testTouchLastUsed},
		{"Rejections", testRejections},
		{"RejectionsCap", testRejectionsCap}, {"RejectionCount", testRejectionCount},
		{"History", testHistory},
		{"HistoryTies", testHistoryTies},
		{"ListPage", testListPage},
		{"ListPageConcurrent", testListPageConcurrent},
		{"HistoryPage", testHistoryPage},
		{"PageInput", testPageInput},
		{"Concurrency", testConcurrency},
		{"VaultRoundTrip", testVaultRoundTrip},
		{"VaultReplace", testVaultReplace},
		{"VaultOwners", testVaultOwners},
		{"VaultOrder", testVaultOrder},
		{"VaultDelete", testVaultDelete},
		{"VaultEvents", testVaultEvents},
		{"VaultInput", testVaultInput},
		{"VaultConcurrency", testVaultConcurrency},
		{"VaultInvalidation", testVaultInvalidation},
		{"NoticeClaim", testNoticeClaim}, {"NoticeRelease", testNoticeRelease}, {"NoticeConcurrent", testNoticeConcurrent}, {"NoticeInput", testNoticeInput}, {"ExpiringPage", testExpiringPage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			ctx, cancel := context.WithTimeout(t.Context(), Timeout)
			defer cancel()
			e := &env{t: t, s: s, ctx: ctx, now: time.Now().UTC().Truncate(time.Microsecond)}
			if ts, err := s.List(ctx, ""); err != nil || len(ts) != 0 {
				t.Fatalf("open must return an empty store: List(\"\") = %d tokens, %v", len(ts), err)
			}
			tc.fn(e)
		})
	}
}

// env is what a subtest works with: the store, a context with timeout, a
// base time (UTC, whole microseconds) and the secrets handed out so far.
type env struct {
	t   *testing.T
	s   token.Store
	ctx context.Context
	now time.Time

	mu      sync.Mutex
	secrets []string
}

// at returns the base time shifted by d.
func (e *env) at(d time.Duration) time.Time { return e.now.Add(d) }

// newID returns a random UUID (version 4): the form that fits any id column.
func newID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (e *env) remember(secret string) {
	e.mu.Lock()
	e.secrets = append(e.secrets, secret)
	e.mu.Unlock()
}

// newToken returns a token of owner with a fresh secret (created must not be
// zero; a zero expires means "never").
func (e *env) newToken(owner, label string, created, expires time.Time) token.Token {
	secret, err := token.Generate()
	if err != nil {
		e.t.Fatalf("generating a token: %v", err)
	}
	e.remember(secret)
	return token.Token{ID: newID(e.t), Owner: owner, Label: label, Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret), CreatedAt: created, ExpiresAt: expires}
}

// legacyToken returns an importable legacy token of owner (no prefix, no dates).
func (e *env) legacyToken(owner, label string) token.Token {
	secret := "legacy-" + newID(e.t)
	e.remember(secret)
	return token.Token{ID: newID(e.t), Owner: owner, Label: label, Digest: token.DigestOf(secret),
		Hint: token.HintOf(secret)}
}

// create stores a new token of owner that expires in 30 days.
func (e *env) create(owner, label string, created time.Time) token.Token {
	e.t.Helper()
	tok := e.newToken(owner, label, created, created.Add(30*24*time.Hour))
	e.mustCreate(tok, 0)
	return tok
}

func (e *env) mustCreate(tok token.Token, limit int) {
	e.t.Helper()
	if err := e.s.Create(e.ctx, tok, limit); err != nil {
		e.t.Fatalf("Create(%s of %s, limit %d): %v", tok.ID, tok.Owner, limit, err)
	}
}

func (e *env) mustImport(ts []token.Token, by string, at time.Time) {
	e.t.Helper()
	if err := e.s.Import(e.ctx, ts, by, at); err != nil {
		e.t.Fatalf("Import(%d tokens): %v", len(ts), err)
	}
}

func (e *env) mustRevoke(id, owner, by string, at time.Time) token.Token {
	e.t.Helper()
	got, err := e.s.Revoke(e.ctx, id, owner, by, at)
	if err != nil {
		e.t.Fatalf("Revoke(%s, owner %q, by %q): %v", id, owner, by, err)
	}
	return got
}

func (e *env) byDigest(d token.Digest) token.Token {
	e.t.Helper()
	got, err := e.s.ByDigest(e.ctx, d)
	if err != nil {
		e.t.Fatalf("ByDigest(%s): %v", d, err)
	}
	return got
}

func (e *env) list(owner string) []token.Token {
	e.t.Helper()
	ts, err := e.s.List(e.ctx, owner)
	if err != nil {
		e.t.Fatalf("List(%q): %v", owner, err)
	}
	return ts
}

func (e *env) history(owner string, limit int) []token.Event {
	e.t.Helper()
	evs, err := e.s.History(e.ctx, owner, limit)
	if err != nil {
		e.t.Fatalf("History(%q, %d): %v", owner, limit, err)
	}
	return evs
}

func (e *env) hasLegacy() bool {
	e.t.Helper()
	has, err := e.s.HasLegacy(e.ctx)
	if err != nil {
		e.t.Fatalf("HasLegacy: %v", err)
	}
	return has
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want one wrapping %q", what, err, target)
	}
}

// wantNotFound fails unless ByDigest(d) reports ErrNotFound.
func (e *env) wantNotFound(what string, d token.Digest) {
	e.t.Helper()
	got, err := e.s.ByDigest(e.ctx, d)
	if !errors.Is(err, token.ErrNotFound) {
		e.t.Errorf("%s: ByDigest = (%s, %v), want ErrNotFound", what, got.ID, err)
	}
}

// checkToken compares every field of got with want (times with Equal). An
// empty restriction in want must read back as nil.
func checkToken(t *testing.T, what string, got, want token.Token) {
	t.Helper()
	var diffs []string
	str := func(field, g, w string) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", field, g, w))
		}
	}
	tm := func(field string, g, w time.Time) {
		if !g.Equal(w) || g.IsZero() != w.IsZero() {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("Owner", got.Owner, want.Owner)
	str("Label", got.Label, want.Label)
	str("Digest", got.Digest.String(), want.Digest.String())
	str("Hint", got.Hint, want.Hint)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	tm("RevokedAt", got.RevokedAt, want.RevokedAt)
	str("RevokedBy", got.RevokedBy, want.RevokedBy)
	tm("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	str("LastUsedIP", got.LastUsedIP, want.LastUsedIP)
	str("LastUsedAgent", got.LastUsedAgent, want.LastUsedAgent)
	if !slices.Equal(got.AllowedIPs, want.AllowedIPs) || (got.AllowedIPs == nil) != (len(want.AllowedIPs) == 0) {
		diffs = append(diffs, fmt.Sprintf("AllowedIPs = %#v, want %v (nil when none)", got.AllowedIPs, want.AllowedIPs))
	}
	if !slices.Equal(got.Scopes, want.Scopes) || (got.Scopes == nil) != (len(want.Scopes) == 0) {
		diffs = append(diffs, fmt.Sprintf("Scopes = %#v, want %q (nil when none)", got.Scopes, want.Scopes))
	}
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}

// revoked returns tok as revoked by by at at.
func revoked(tok token.Token, by string, at time.Time) token.Token {
	tok.RevokedAt, tok.RevokedBy = at, by
	return tok
}

func ids(ts []token.Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// sortedIDs returns the ids of ts in ascending order.
func sortedIDs(ts ...token.Token) []string {
	out := ids(ts)
	slices.Sort(out)
	return out
}

// checkIDs fails unless got holds exactly the ids want, in that order.
func checkIDs(t *testing.T, what string, got []token.Token, want []string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Errorf("%s: ids\n got %v\nwant %v", what, g, want)
	}
}

// checkSameSet fails unless got and want hold the same ids in any order.
func checkSameSet(t *testing.T, what string, got []token.Token, want []string) {
	t.Helper()
	g := ids(got)
	slices.Sort(g)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: ids\n got %v\nwant %v (any order)", what, g, w)
	}
}
