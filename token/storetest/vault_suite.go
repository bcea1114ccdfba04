package storetest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/token"
)

// sealer returns a Sealer with a fresh random key: the suite stores real
// ciphertexts, so that it can check they come back intact.
func (e *env) sealer() *token.Sealer {
	e.t.Helper()
	key := make([]byte, token.VaultKeyLen)
	if _, err := rand.Read(key); err != nil {
		e.t.Fatalf("reading a vault key: %v", err)
	}
	s, err := token.NewSealer(key)
	if err != nil {
		e.t.Fatalf("NewSealer: %v", err)
	}
	return s
}

// sealed returns the VaultSecret of (owner, kind) holding plaintext.
func sealed(s *token.Sealer, owner, kind, plaintext string, at time.Time) (token.VaultSecret, error) {
	ct, err := s.Seal(owner, kind, plaintext)
	if err != nil {
		return token.VaultSecret{}, fmt.Errorf("Seal(%s, %s): %w", owner, kind, err)
	}
	return token.VaultSecret{Owner: owner, Kind: kind, Ciphertext: ct, Hint: token.HintOf(plaintext), UpdatedAt: at}, nil
}

func (e *env) mustPutVault(s *token.Sealer, owner, kind, plaintext, actor string, at time.Time) token.VaultSecret {
	e.t.Helper()
	v, err := sealed(s, owner, kind, plaintext, at)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.PutVaultSecret(e.ctx, v, actor); err != nil {
		e.t.Fatalf("PutVaultSecret(%s, %s): %v", owner, kind, err)
	}
	return v
}

func (e *env) vaultSecrets(owner string) []token.VaultSecret {
	e.t.Helper()
	vs, err := e.s.VaultSecrets(e.ctx, owner)
	if err != nil {
		e.t.Fatalf("VaultSecrets(%q): %v", owner, err)
	}
	return vs
}

// checkVault compares every field of got with want (times with Equal).
func checkVault(e *env, what string, got, want token.VaultSecret) {
	e.t.Helper()
	if got.Owner != want.Owner || got.Kind != want.Kind || got.Hint != want.Hint ||
		!bytes.Equal(got.Ciphertext, want.Ciphertext) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		e.t.Errorf("%s = {%s %s hint %q %d bytes %v},\nwant {%s %s hint %q %d bytes %v}", what,
			got.Owner, got.Kind, got.Hint, len(got.Ciphertext), got.UpdatedAt,
			want.Owner, want.Kind, want.Hint, len(want.Ciphertext), want.UpdatedAt)
	}
}

func kinds(vs []token.VaultSecret) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Kind
	}
	return out
}

func testVaultRoundTrip(e *env) {
	t := e.t
	s := e.sealer()
	const plain = "ATATT3xFfGF0-jira-api-token-1234"
	// A time with sub-second microseconds: stores keep microseconds.
	at := e.at(-90*time.Minute + 123456*time.Microsecond)
	want := e.mustPutVault(s, "alice", "jira", plain, "alice", at)
	got, err := e.s.VaultSecret(e.ctx, "alice", "jira")
	if err != nil {
		t.Fatalf("VaultSecret(alice, jira): %v", err)
	}
	checkVault(e, "VaultSecret(alice, jira)", got, want)
	if pt, err := s.Open("alice", "jira", got.Ciphertext); err != nil || pt != plain {
		t.Errorf("opening the stored ciphertext: %v (plaintext matches: %v)", err, pt == plain)
	}
	// The returned bytes are the caller's: changing them changes nothing stored.
	got.Ciphertext[0] ^= 0xff
	again, err := e.s.VaultSecret(e.ctx, "alice", "jira")
	if err != nil {
		t.Fatalf("VaultSecret(alice, jira) again: %v", err)
	}
	checkVault(e, "VaultSecret after changing a returned copy", again, want)
	list := e.vaultSecrets("alice")
	if len(list) != 1 {
		t.Fatalf("VaultSecrets(alice) returned %d, want 1", len(list))
	}
	checkVault(e, "VaultSecrets(alice)[0]", list[0], want)
	_, err = e.s.VaultSecret(e.ctx, "alice", "other")
	wantErr(t, "VaultSecret(alice, other)", err, token.ErrNotFound)
}

func testVaultReplace(e *env) {
	t := e.t
	s := e.sealer()
	first := e.mustPutVault(s, "alice", "jira", "first-secret-aaaa", "alice", e.at(-time.Hour))
	second := e.mustPutVault(s, "alice", "jira", "second-secret-bbbb", "alice", e.at(-time.Minute))
	if bytes.Equal(first.Ciphertext, second.Ciphertext) {
		t.Fatal("two seals gave the same ciphertext")
	}
	got, err := e.s.VaultSecret(e.ctx, "alice", "jira")
	if err != nil {
		t.Fatalf("VaultSecret after replace: %v", err)
	}
	checkVault(e, "VaultSecret after replace", got, second)
	list := e.vaultSecrets("alice")
	if len(list) != 1 {
		t.Fatalf("VaultSecrets(alice) after replace returned %d rows, want 1", len(list))
	}
	checkVault(e, "VaultSecrets(alice)[0] after replace", list[0], second)
}

func testVaultOwners(e *env) {
	t := e.t
	s := e.sealer()
	a := e.mustPutVault(s, "alice", "jira", "alice-secret-1111", "alice", e.at(-time.Hour))
	// "alic"+"ejira" would collide with "alice"+"jira" under naive concatenation.
	b := e.mustPutVault(s, "alic", "ejira", "alic-secret-2222", "alic", e.at(-time.Minute))
	_, err := e.s.VaultSecret(e.ctx, "bob", "jira")
	wantErr(t, "VaultSecret(bob, jira) with only alice's stored", err, token.ErrNotFound)
	if got := e.vaultSecrets("bob"); len(got) != 0 {
		t.Errorf("VaultSecrets(bob) = %v, want none", kinds(got))
	}
	err = e.s.DeleteVaultSecret(e.ctx, "bob", "jira", "bob", e.at(0))
	wantErr(t, "DeleteVaultSecret(bob, jira)", err, token.ErrNotFound)
	if got, err := e.s.VaultSecret(e.ctx, "alice", "jira"); err != nil {
		t.Errorf("alice's secret after bob's delete: %v", err)
	} else {
		checkVault(e, "alice's secret after bob's delete", got, a)
	}
	if got := e.vaultSecrets("alice"); len(got) != 1 {
		t.Errorf("VaultSecrets(alice) = %v, want [jira]", kinds(got))
	} else {
		checkVault(e, "VaultSecrets(alice)[0]", got[0], a)
	}
	if got := e.vaultSecrets("alic"); len(got) != 1 {
		t.Errorf("VaultSecrets(alic) = %v, want [ejira]", kinds(got))
	} else {
		checkVault(e, "VaultSecrets(alic)[0]", got[0], b)
	}
	_, err = e.s.VaultSecret(e.ctx, "alic", "jira")
	wantErr(t, "VaultSecret(alic, jira)", err, token.ErrNotFound)
}

func testVaultOrder(e *env) {
	t := e.t
	s := e.sealer()
	// Byte order differs from a locale's order for these.
	stored := []string{"zeta", "app_a", "jira", "app-z", "appb", "app2", "alpha"}
	for i, k := range stored {
		e.mustPutVault(s, "alice", k, "secret-of-"+k, "alice", e.at(time.Duration(i)*time.Second))
	}
	e.mustPutVault(s, "bob", "bee", "bob-secret-0000", "bob", e.at(0))
	want := slices.Clone(stored)
	slices.Sort(want)
	if got := kinds(e.vaultSecrets("alice")); !slices.Equal(got, want) {
		t.Errorf("VaultSecrets(alice) kinds\n got %v\nwant %v (byte order)", got, want)
	}
	if got := kinds(e.vaultSecrets("bob")); !slices.Equal(got, []string{"bee"}) {
		t.Errorf("VaultSecrets(bob) kinds = %v, want [bee]", got)
	}
}

func testVaultDelete(e *env) {
	t := e.t
	s := e.sealer()
	e.mustPutVault(s, "alice", "jira", "jira-secret-1111", "alice", e.at(-time.Hour))
	app := e.mustPutVault(s, "alice", "app", "app-secret-2222", "alice", e.at(-time.Hour))
	if err := e.s.DeleteVaultSecret(e.ctx, "alice", "jira", "alice", e.at(0)); err != nil {
		t.Fatalf("DeleteVaultSecret(alice, jira): %v", err)
	}
	_, err := e.s.VaultSecret(e.ctx, "alice", "jira")
	wantErr(t, "VaultSecret after delete", err, token.ErrNotFound)
	err = e.s.DeleteVaultSecret(e.ctx, "alice", "jira", "alice", e.at(time.Second))
	wantErr(t, "second DeleteVaultSecret", err, token.ErrNotFound)
	if got := e.vaultSecrets("alice"); len(got) != 1 {
		t.Errorf("VaultSecrets(alice) after delete = %v, want [app]", kinds(got))
	} else {
		checkVault(e, "the other kind after delete", got[0], app)
	}
	// Stored again after a delete.
	again := e.mustPutVault(s, "alice", "jira", "jira-secret-3333", "alice", e.at(2*time.Second))
	if got, err := e.s.VaultSecret(e.ctx, "alice", "jira"); err != nil {
		t.Errorf("VaultSecret after storing again: %v", err)
	} else {
		checkVault(e, "VaultSecret after storing again", got, again)
	}
}

// vaultEvent is the part of a vault Event a test predicts.
type vaultEvent struct {
	actor, owner, kind, detail string
	at                         time.Time
}

func checkVaultEvents(e *env, what string, got []token.Event, want []vaultEvent) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Errorf("%s: %d events, want %d: %+v", what, len(got), len(want), got)
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != token.EventVault || g.Actor != w.actor || g.Owner != w.owner || g.Label != w.kind ||
			g.Detail != w.detail || g.TokenID != "" || !g.At.Equal(w.at) {
			e.t.Errorf("%s[%d] = %+v,\nwant a vault event by %s for %s, label %s, detail %q, no token id, at %v",
				what, i, g, w.actor, w.owner, w.kind, w.detail, w.at)
		}
	}
}

func testVaultEvents(e *env) {
	t := e.t
	s := e.sealer()
	const plainA, plainB = "very-secret-jira-token-AAAA", "very-secret-app-token-BBBB"
	v1 := e.mustPutVault(s, "alice", "jira", plainA, "alice", e.at(-4*time.Hour))
	v2 := e.mustPutVault(s, "alice", "jira", plainA+"2", "alice", e.at(-3*time.Hour))
	v3 := e.mustPutVault(s, "alice", "app", plainB, "alice", e.at(-2*time.Hour))
	if err := e.s.DeleteVaultSecret(e.ctx, "alice", "jira", "carol", e.at(-time.Hour)); err != nil {
		t.Fatalf("DeleteVaultSecret: %v", err)
	}
	// Refused changes record nothing.
	err := e.s.DeleteVaultSecret(e.ctx, "alice", "jira", "carol", e.at(0))
	wantErr(t, "DeleteVaultSecret of a deleted secret", err, token.ErrNotFound)
	err = e.s.PutVaultSecret(e.ctx, token.VaultSecret{Owner: "alice", Kind: "", Ciphertext: v1.Ciphertext, UpdatedAt: e.at(0)}, "alice")
	wantErr(t, "PutVaultSecret without a kind", err, token.ErrInvalidInput)

	want := []vaultEvent{
		{"carol", "alice", "jira", "deleted", e.at(-time.Hour)},
		{"alice", "alice", "app", "set", e.at(-2 * time.Hour)},
		{"alice", "alice", "jira", "set", e.at(-3 * time.Hour)},
		{"alice", "alice", "jira", "set", e.at(-4 * time.Hour)},
	}
	all := e.history("", 100)
	checkVaultEvents(e, `History("")`, all, want)
	checkOrder(e, `History("")`, all)
	checkVaultEvents(e, "History(alice)", e.history("alice", 100), want)
	checkVaultEvents(e, "History(carol)", e.history("carol", 100), nil)

	data, err := json.Marshal(all)
	if err != nil {
		t.Fatalf("marshalling events: %v", err)
	}
	for _, v := range []token.VaultSecret{v1, v2, v3} {
		for _, form := range []string{string(v.Ciphertext), base64.StdEncoding.EncodeToString(v.Ciphertext),
			base64.RawURLEncoding.EncodeToString(v.Ciphertext), hex.EncodeToString(v.Ciphertext)} {
			if strings.Contains(string(data), form) {
				t.Errorf("history JSON contains the ciphertext of %s/%s", v.Owner, v.Kind)
			}
		}
	}
	for _, p := range []string{plainA, plainB} {
		if strings.Contains(string(data), p) {
			t.Errorf("history JSON contains a vault plaintext")
		}
	}
}

func testVaultInput(e *env) {
	t := e.t
	s := e.sealer()
	good := e.mustPutVault(s, "alice", "jira", "jira-secret-1111", "alice", e.at(0))
	check := func(what string, err error) {
		t.Helper()
		var ie *token.InputError
		if !errors.Is(err, token.ErrInvalidInput) || !errors.As(err, &ie) {
			t.Errorf("%s: error = %v, want an InputError of kind ErrInvalidInput", what, err)
		}
	}
	with := func(f func(v *token.VaultSecret)) token.VaultSecret {
		v := good
		f(&v)
		return v
	}
	check("Put without owner", e.s.PutVaultSecret(e.ctx, with(func(v *token.VaultSecret) { v.Owner = "" }), "alice"))
	check("Put without kind", e.s.PutVaultSecret(e.ctx, with(func(v *token.VaultSecret) { v.Kind = "" }), "alice"))
	check("Put without ciphertext", e.s.PutVaultSecret(e.ctx, with(func(v *token.VaultSecret) { v.Ciphertext = nil }), "alice"))
	check("Put without time", e.s.PutVaultSecret(e.ctx, with(func(v *token.VaultSecret) { v.UpdatedAt = time.Time{} }), "alice"))
	check("Put without actor", e.s.PutVaultSecret(e.ctx, good, ""))
	_, err := e.s.VaultSecret(e.ctx, "", "jira")
	check("VaultSecret without owner", err)
	_, err = e.s.VaultSecret(e.ctx, "alice", "")
	check("VaultSecret without kind", err)
	_, err = e.s.VaultSecrets(e.ctx, "")
	check("VaultSecrets without owner", err)
	check("Delete without owner", e.s.DeleteVaultSecret(e.ctx, "", "jira", "alice", e.at(0)))
	check("Delete without kind", e.s.DeleteVaultSecret(e.ctx, "alice", "", "alice", e.at(0)))
	check("Delete without actor", e.s.DeleteVaultSecret(e.ctx, "alice", "jira", "", e.at(0)))
	check("Delete without time", e.s.DeleteVaultSecret(e.ctx, "alice", "jira", "alice", time.Time{}))
	// Nothing refused changed anything.
	if got, err := e.s.VaultSecret(e.ctx, "alice", "jira"); err != nil {
		t.Errorf("VaultSecret after refused calls: %v", err)
	} else {
		checkVault(e, "VaultSecret after refused calls", got, good)
	}
	if n := len(e.history("", 100)); n != 1 {
		t.Errorf("History has %d events after one change and refused calls, want 1", n)
	}
}
