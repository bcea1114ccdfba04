package token_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// prefixes parses CIDR ranges for a test's expectations.
func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// wantInputErr fails unless err is an *InputError of kind ErrInvalidInput
// (the portal answers those with 400) whose message contains every one of
// parts.
func wantInputErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	var ie *token.InputError
	if !errors.As(err, &ie) || !errors.Is(err, token.ErrInvalidInput) {
		t.Errorf("%s: error = %v, want an InputError of kind ErrInvalidInput", what, err)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}

func TestParseAllowedIPs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []netip.Prefix
		display []string // FormatAllowedIPs of want
	}{
		{"none", nil, nil, []string{}},
		{"only blanks", []string{"", "  ", "\t"}, nil, []string{}},
		{"IPv4 range", []string{"203.0.113.0/24"}, prefixes("203.0.113.0/24"), []string{"203.0.113.0/24"}},
		{"IPv6 range", []string{"2001:db8::/48"}, prefixes("2001:db8::/48"), []string{"2001:db8::/48"}},
		{"single IPv4", []string{"198.51.100.7"}, prefixes("198.51.100.7/32"), []string{"198.51.100.7"}},
		{"single IPv6", []string{"2001:db8::1"}, prefixes("2001:db8::1/128"), []string{"2001:db8::1"}},
		{"single as /32", []string{"198.51.100.7/32"}, prefixes("198.51.100.7/32"), []string{"198.51.100.7"}},
		{"IPv4 host bits masked", []string{"10.1.2.3/8"}, prefixes("10.0.0.0/8"), []string{"10.0.0.0/8"}},
		{"IPv6 host bits masked", []string{"2001:db8:aaaa::1/32"}, prefixes("2001:db8::/32"), []string{"2001:db8::/32"}},
		{"everywhere", []string{"0.0.0.0/0", "::/0"}, prefixes("0.0.0.0/0", "::/0"), []string{"0.0.0.0/0", "::/0"}},
		{"IPv4-mapped address", []string{"::ffff:192.0.2.1"}, prefixes("192.0.2.1/32"), []string{"192.0.2.1"}},
		{"IPv4-mapped range", []string{"::ffff:192.0.2.77/120"}, prefixes("192.0.2.0/24"), []string{"192.0.2.0/24"}},
		{"IPv4-mapped /96", []string{"::ffff:0:0/96"}, prefixes("0.0.0.0/0"), []string{"0.0.0.0/0"}},
		{"blanks skipped, spaces trimmed", []string{"", " 198.51.100.7 ", "   ", "\t2001:db8::/48\n"},
			prefixes("198.51.100.7/32", "2001:db8::/48"), []string{"198.51.100.7", "2001:db8::/48"}},
		{"duplicates dropped, order kept", []string{"203.0.113.0/24", "10.0.0.1", "203.0.113.9/24", "10.0.0.1/32", "::ffff:10.0.0.1", "10.0.0.0/8"},
			prefixes("203.0.113.0/24", "10.0.0.1/32", "10.0.0.0/8"), []string{"203.0.113.0/24", "10.0.0.1", "10.0.0.0/8"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := token.ParseAllowedIPs(tc.in)
			if err != nil {
				t.Fatalf("ParseAllowedIPs(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("ParseAllowedIPs(%q) = %#v, want %v", tc.in, got, tc.want)
			}
			if d := token.FormatAllowedIPs(got); !slices.Equal(d, tc.display) {
				t.Errorf("FormatAllowedIPs = %q, want %q", d, tc.display)
			}
			// What FormatAllowedIPs shows parses back to the same list.
			if again, err := token.ParseAllowedIPs(token.FormatAllowedIPs(got)); err != nil || !slices.Equal(again, got) {
				t.Errorf("ParseAllowedIPs(FormatAllowedIPs(%v)) = %v, %v", got, again, err)
			}
		})
	}
}

func TestParseAllowedIPsRefuses(t *testing.T) {
	tests := []struct {
		name  string
		in    []string
		parts []string // what the message must name
	}{
		{"garbage", []string{"203.0.113.0/24", "not-an-ip"}, []string{"allowed IP 2", `"not-an-ip"`}},
		{"bad IPv4", []string{"300.1.2.3"}, []string{"allowed IP 1", `"300.1.2.3"`}},
		{"prefix too long", []string{"10.0.0.0/33"}, []string{`"10.0.0.0/33"`, "IP range"}},
		{"IPv6 prefix too long", []string{"2001:db8::/129"}, []string{`"2001:db8::/129"`}},
		{"no bits", []string{"10.0.0.0/"}, []string{`"10.0.0.0/"`}},
		{"a host name", []string{"gateway.example.com"}, []string{`"gateway.example.com"`}},
		{"a port", []string{"198.51.100.7:443"}, []string{`"198.51.100.7:443"`}},
		{"brackets", []string{"[2001:db8::1]"}, []string{`"[2001:db8::1]"`}},
		{"a range of addresses", []string{"10.0.0.1-10.0.0.9"}, []string{`"10.0.0.1-10.0.0.9"`}},
		{"zone", []string{"fe80::1%eth0"}, []string{`"fe80::1%eth0"`, "zones"}},
		{"zone in a range", []string{"fe80::%eth0/64"}, []string{`"fe80::%eth0/64"`}},
		{"IPv4-mapped range wider than IPv4", []string{"::ffff:0:0/95"}, []string{`"::ffff:0:0/95"`, "/96"}},
		{"blank entries still counted in the position", []string{"", " ", "nope"}, []string{"allowed IP 3", `"nope"`}},
		{"long garbage clipped", []string{strings.Repeat("x", 500)}, []string{"allowed IP 1", "…"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := token.ParseAllowedIPs(tc.in)
			if got != nil {
				t.Errorf("ParseAllowedIPs(%q) returned %v beside the error", tc.in, got)
			}
			wantInputErr(t, fmt.Sprintf("ParseAllowedIPs(%q)", tc.in), err, tc.parts...)
			if len(err.Error()) > 200 {
				t.Errorf("error message is %d bytes long: %q", len(err.Error()), err)
			}
		})
	}
}

func TestParseAllowedIPsLimit(t *testing.T) {
	entries := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("192.0.2.%d", i+1)
		}
		return out
	}
	if got, err := token.ParseAllowedIPs(entries(token.MaxAllowedIPs)); err != nil || len(got) != token.MaxAllowedIPs {
		t.Errorf("%d entries: %d, %v; want all accepted", token.MaxAllowedIPs, len(got), err)
	}
	_, err := token.ParseAllowedIPs(entries(token.MaxAllowedIPs + 1))
	wantInputErr(t, fmt.Sprintf("%d entries", token.MaxAllowedIPs+1), err, fmt.Sprint(token.MaxAllowedIPs), "use ranges")

	// The limit counts distinct ranges: blanks and duplicates are free.
	padded := append(entries(token.MaxAllowedIPs), "", "192.0.2.1", "192.0.2.1/32", " ")
	if got, err := token.ParseAllowedIPs(padded); err != nil || len(got) != token.MaxAllowedIPs {
		t.Errorf("%d distinct entries among %d: %d, %v; want %d", token.MaxAllowedIPs, len(padded), len(got), err, token.MaxAllowedIPs)
	}
	// A huge list is refused without reading all of it (the duplicate check
	// is quadratic): what follows the first distinct entry too many is not
	// looked at.
	huge := append(entries(token.MaxAllowedIPs+1), "garbage")
	huge = append(huge, entries(100_000)...)
	_, err = token.ParseAllowedIPs(huge)
	wantInputErr(t, "a huge list", err, "at most")
	if strings.Contains(err.Error(), "garbage") {
		t.Errorf("a huge list: error %q; want the list cut short at entry %d", err, token.MaxAllowedIPs+1)
	}
}

func TestAllowsIP(t *testing.T) {
	list := prefixes("203.0.113.0/24", "198.51.100.7/32", "2001:db8::/48")
	tests := []struct {
		allowed []netip.Prefix
		ip      string
		want    bool
	}{
		{nil, "192.0.2.1", true},
		{nil, "garbage", true}, // no list: nothing to check
		{[]netip.Prefix{}, "2001:db8::1", true},
		{list, "203.0.113.0", true},
		{list, "203.0.113.255", true},
		{list, "203.0.114.0", false},
		{list, "198.51.100.7", true},
		{list, "198.51.100.8", false},
		{list, "2001:db8:0:ffff::1", true},
		{list, "2001:db9::1", false},
		{list, "::ffff:203.0.113.9", true}, // IPv4-mapped client address (dual-stack listener)
		{list, "::ffff:198.51.100.8", false},
		{list, "2001:db8::1%eth0", true}, // a zone does not matter
		{list, "", false},
		{list, "not an ip", false},
		{list, "203.0.113.9:443", false},
		{prefixes("10.9.9.0/24"), "127.0.0.1", false},
		{prefixes("127.0.0.0/8"), "127.0.0.1", true},
		{prefixes("::1/128"), "::1", true},
		{prefixes("::1/128"), "127.0.0.1", false},
		{prefixes("0.0.0.0/0"), "::1", false}, // IPv4 everywhere is not IPv6
		{prefixes("0.0.0.0/0"), "::ffff:8.8.8.8", true},
	}
	for _, tc := range tests {
		if got := token.AllowsIP(tc.allowed, tc.ip); got != tc.want {
			t.Errorf("AllowsIP(%v, %q) = %v, want %v", tc.allowed, tc.ip, got, tc.want)
		}
	}
	if a := testing.AllocsPerRun(100, func() { token.AllowsIP(list, "2001:db8::1") }); a != 0 {
		t.Errorf("AllowsIP allocates %.0f times, want 0", a)
	}
}

func TestValidScopeName(t *testing.T) {
	for _, name := range []string{"issues", "a", "work-logs", "sprint_reports2", strings.Repeat("a", token.MaxScopeNameLen)} {
		if !token.ValidScopeName(name) {
			t.Errorf("ValidScopeName(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"", "Issues", "1issues", "-x", "_x", "is sues", "issues*", "é", strings.Repeat("a", token.MaxScopeNameLen+1)} {
		if token.ValidScopeName(name) {
			t.Errorf("ValidScopeName(%q) = true, want false", name)
		}
	}
}

func TestNormalizeScopes(t *testing.T) {
	known := []string{"worklogs", "issues", "sprints"}
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{}, nil},
		{[]string{"", " "}, nil},
		{[]string{"issues"}, []string{"issues"}},
		{[]string{"worklogs", "issues", "worklogs", " issues "}, []string{"issues", "worklogs"}},
		{[]string{"sprints", "worklogs", "issues"}, []string{"issues", "sprints", "worklogs"}},
	}
	for _, tc := range tests {
		got, err := token.NormalizeScopes(tc.in, known)
		if err != nil || !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("NormalizeScopes(%q) = %#v, %v; want %q", tc.in, got, err, tc.want)
		}
	}

	got, err := token.NormalizeScopes([]string{"issues", "secrets"}, known)
	if got != nil {
		t.Errorf("NormalizeScopes with an unknown name returned %q", got)
	}
	wantInputErr(t, "unknown scope", err, `"secrets"`, "worklogs", "issues", "sprints")
	_, err = token.NormalizeScopes([]string{"Issues"}, known)
	wantInputErr(t, "scope names are case-sensitive", err, `"Issues"`)

	for _, none := range [][]string{nil, {}} {
		_, err = token.NormalizeScopes([]string{"issues"}, none)
		wantInputErr(t, "a scope when none are configured", err, `"issues"`, "no scopes are configured")
		if got, err := token.NormalizeScopes(nil, none); err != nil || got != nil {
			t.Errorf("NormalizeScopes(nil, none) = %q, %v; want nil, nil", got, err)
		}
	}
}

func TestRestrictionsDetail(t *testing.T) {
	tests := []struct {
		tok        token.Token
		want       string
		restricted bool
	}{
		{token.Token{}, "", false},
		{token.Token{AllowedIPs: []netip.Prefix{}, Scopes: []string{}}, "", false},
		{token.Token{AllowedIPs: prefixes("203.0.113.0/24", "198.51.100.7/32")}, "allowed IPs: 203.0.113.0/24, 198.51.100.7", true},
		{token.Token{Scopes: []string{"issues", "worklogs"}}, "scopes: issues, worklogs", true},
		{token.Token{AllowedIPs: prefixes("2001:db8::/48"), Scopes: []string{"issues"}}, "allowed IPs: 2001:db8::/48; scopes: issues", true},
	}
	for _, tc := range tests {
		if got := token.RestrictionsDetail(tc.tok); got != tc.want {
			t.Errorf("RestrictionsDetail(%v, %q) = %q, want %q", tc.tok.AllowedIPs, tc.tok.Scopes, got, tc.want)
		}
		if got := tc.tok.Restricted(); got != tc.restricted {
			t.Errorf("Restricted(%v, %q) = %v, want %v", tc.tok.AllowedIPs, tc.tok.Scopes, got, tc.restricted)
		}
	}
}

// newRestrictEnv returns a Service with policy over a fresh bbolt file.
func newRestrictEnv(t *testing.T, policy token.Policy) (*token.Service, token.Store) {
	t.Helper()
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatalf("opening bolt store: %v", err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	return token.NewService(bs, policy, nil, newFakeClock().Now), bs
}

// staticScopes is a Policy.KnownScopes that returns names.
func staticScopes(names ...string) func() []string { return func() []string { return names } }

func TestCreateWithRestrictions(t *testing.T) {
	ctx := context.Background()
	svc, store := newRestrictEnv(t, token.Policy{KnownScopes: staticScopes("worklogs", "issues", "sprints", "issues")})
	if got := svc.KnownScopes(); !slices.Equal(got, []string{"issues", "sprints", "worklogs"}) {
		t.Errorf("KnownScopes = %q, want sorted without duplicates", got)
	}
	if svc.RequiresAllowedIPs() {
		t.Errorf("RequiresAllowedIPs = true with the default policy")
	}

	c, err := svc.CreateWith(ctx, "alice", token.CreateRequest{Label: "gateway", ExpiresOn: "2030-02-01",
		AllowedIPs: []string{" 203.0.113.7/24", "2001:db8::1", "", "203.0.113.0/24"}, Scopes: []string{"worklogs", "issues", "worklogs"}})
	if err != nil {
		t.Fatalf("CreateWith: %v", err)
	}
	wantIPs, wantScopes := prefixes("203.0.113.0/24", "2001:db8::1/128"), []string{"issues", "worklogs"}
	if !slices.Equal(c.Token.AllowedIPs, wantIPs) || !slices.Equal(c.Token.Scopes, wantScopes) {
		t.Errorf("created token: %v, %q; want %v, %q", c.Token.AllowedIPs, c.Token.Scopes, wantIPs, wantScopes)
	}
	stored, err := store.ByDigest(ctx, token.DigestOf(c.Secret))
	if err != nil || !slices.Equal(stored.AllowedIPs, wantIPs) || !slices.Equal(stored.Scopes, wantScopes) {
		t.Errorf("stored token: %v, %q, %v; want %v, %q", stored.AllowedIPs, stored.Scopes, err, wantIPs, wantScopes)
	}
	if list, err := svc.List(ctx, "alice"); err != nil || len(list) != 1 || !slices.Equal(list[0].AllowedIPs, wantIPs) || !slices.Equal(list[0].Scopes, wantScopes) {
		t.Errorf("List(alice) = %+v, %v; want the token with its restrictions", list, err)
	}
	evs, err := svc.History(ctx, token.Operator("admin"), "alice", 10)
	wantDetail := "allowed IPs: 203.0.113.0/24, 2001:db8::1; scopes: issues, worklogs"
	if err != nil || len(evs) != 1 || evs[0].Kind != token.EventCreate || evs[0].Detail != wantDetail {
		t.Errorf("History(alice) = %+v, %v; want one create with detail %q", evs, err, wantDetail)
	}

	// Unrestricted, as before: nil slices, no detail.
	plain, err := svc.Create(ctx, "alice", "plain", "")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got, err := store.ByDigest(ctx, token.DigestOf(plain.Secret)); err != nil || got.AllowedIPs != nil || got.Scopes != nil || plain.Token.Restricted() {
		t.Errorf("unrestricted token = %#v, %#v, %v; want nil, nil", got.AllowedIPs, got.Scopes, err)
	}
	if evs, _ := svc.History(ctx, token.Operator("admin"), "alice", 1); len(evs) != 1 || evs[0].Detail != "" {
		t.Errorf("create event of an unrestricted token = %+v, want no detail", evs)
	}

	// Refused requests store nothing.
	refused := []struct {
		what  string
		req   token.CreateRequest
		parts []string
	}{
		{"invalid range", token.CreateRequest{Label: "x", AllowedIPs: []string{"10.0.0.0/8", "10.0.0.0/99"}}, []string{`"10.0.0.0/99"`}},
		{"unknown scope", token.CreateRequest{Label: "x", Scopes: []string{"issues", "everything"}}, []string{`"everything"`, "issues, sprints, worklogs"}},
		{"too many ranges", token.CreateRequest{Label: "x", AllowedIPs: strings.Fields(strings.Repeat("192.0.2.0/24 ", 3) +
			"10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7 10.0.0.8 10.0.0.9 10.0.0.10 10.0.0.11 10.0.0.12 10.0.0.13 10.0.0.14 10.0.0.15 10.0.0.16 10.0.0.17")},
			[]string{"at most 16"}},
	}
	for _, r := range refused {
		_, err := svc.CreateWith(ctx, "alice", r.req)
		wantInputErr(t, r.what, err, r.parts...)
	}
	if list, _ := svc.List(ctx, "alice"); len(list) != 2 {
		t.Errorf("alice has %d tokens after refused requests, want 2", len(list))
	}
	if evs, _ := svc.History(ctx, token.Operator("admin"), "", 100); len(evs) != 2 {
		t.Errorf("history has %d events after refused requests, want 2", len(evs))
	}
}

func TestCreateWithRequireAllowedIPs(t *testing.T) {
	ctx := context.Background()
	svc, _ := newRestrictEnv(t, token.Policy{RequireAllowedIPs: true})
	if !svc.RequiresAllowedIPs() {
		t.Errorf("RequiresAllowedIPs = false with RequireAllowedIPs on")
	}
	for _, ips := range [][]string{nil, {}, {"", "  "}} {
		_, err := svc.CreateWith(ctx, "alice", token.CreateRequest{Label: "anywhere", AllowedIPs: ips})
		wantInputErr(t, fmt.Sprintf("no list (%q)", ips), err, "allowed IPs are required")
	}
	_, err := svc.Create(ctx, "alice", "the old way", "")
	wantInputErr(t, "Create without restrictions", err, "allowed IPs are required")
	c, err := svc.CreateWith(ctx, "alice", token.CreateRequest{Label: "gateway", AllowedIPs: []string{"198.51.100.7"}})
	if err != nil || !slices.Equal(c.Token.AllowedIPs, prefixes("198.51.100.7/32")) {
		t.Fatalf("CreateWith with a list = %v, %v; want it created", c.Token.AllowedIPs, err)
	}
	if list, _ := svc.List(ctx, "alice"); len(list) != 1 {
		t.Errorf("alice has %d tokens, want 1", len(list))
	}
}

func TestCreateWithoutKnownScopes(t *testing.T) {
	ctx := context.Background()
	for name, policy := range map[string]token.Policy{
		"nil func":    {},
		"nil result":  {KnownScopes: staticScopes()},
		"empty slice": {KnownScopes: func() []string { return []string{} }},
	} {
		t.Run(name, func(t *testing.T) {
			svc, _ := newRestrictEnv(t, policy)
			if got := svc.KnownScopes(); len(got) != 0 {
				t.Errorf("KnownScopes = %q, want none", got)
			}
			_, err := svc.CreateWith(ctx, "alice", token.CreateRequest{Label: "x", Scopes: []string{"issues"}})
			wantInputErr(t, "a scope on a server without scopes", err, `"issues"`, "no scopes are configured")
			c, err := svc.CreateWith(ctx, "alice", token.CreateRequest{Label: "x", Scopes: []string{""}})
			if err != nil || c.Token.Scopes != nil {
				t.Errorf("CreateWith without scopes = %q, %v; want nil, nil", c.Token.Scopes, err)
			}
		})
	}
	// Scopes defined after the Service was made count (KnownScopes is asked on every create).
	var defined []string
	svc, _ := newRestrictEnv(t, token.Policy{KnownScopes: func() []string { return defined }})
	if svc.KnownScopes() != nil {
		t.Errorf("KnownScopes before any is defined = %q, want nil", svc.KnownScopes())
	}
	defined = []string{"issues"}
	if c, err := svc.CreateWith(ctx, "alice", token.CreateRequest{Label: "x", Scopes: []string{"issues"}}); err != nil || !slices.Equal(c.Token.Scopes, defined) {
		t.Errorf("CreateWith after the scope was defined = %q, %v", c.Token.Scopes, err)
	}
}
