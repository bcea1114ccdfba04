package bolt_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// TestRestrictionsFormat pins how restrictions are stored in the binary
// format: allowed IPs in the token's order and scopes as given, both left
// out (one flag bit) for an unrestricted token; the create event's detail
// names them. A record written by hand in the first (JSON) form reads back.
func TestRestrictionsFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "restricted.db")
	s := open(t, path)
	ctx := context.Background()
	t0 := time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC)
	restricted := token.Token{ID: "r1", Owner: "alice", Label: "gateway", Digest: token.DigestOf("secret-r1"), Hint: "r1r1",
		CreatedAt: t0, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.7/32"),
			netip.MustParsePrefix("2001:db8::/48")}, Scopes: []string{"issues", "worklogs"}}
	plain := token.Token{ID: "p1", Owner: "alice", Label: "plain", Digest: token.DigestOf("secret-p1"), Hint: "p1p1",
		CreatedAt: t0, AllowedIPs: []netip.Prefix{}, Scopes: []string{}}
	for _, tok := range []token.Token{restricted, plain} {
		if err := s.Create(ctx, tok, 0); err != nil {
			t.Fatalf("Create(%s): %v", tok.ID, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	// Binary format 1 (codec.go): version, flags, owner, label, digest,
	// hint, created_at; r1 then its allowed IPs (count, then length and
	// netip.Prefix binary each) and scopes (count, strings).
	want := map[string]string{
		"r1": "0181030a616c6963650e676174657761" + "7959755a4e2252895608f778a157919a9aac8ef959491a12d2939f898616cb08bc" +
			"0872317231d6d39cbc19959aef3a" + "0305cb0071001805c6336407201120010db800000000000000000000000030" + "020c69737375657310776f726b6c6f6773",
		"p1": "01010a616c6963650a706c61696e" + "433b56723a195a0c1468fdaf693eb17be32672b44430a48cafb341b6084f2a36" +
			"0870317031d6d39cbc19959aef3a",
	}
	var events []string
	err = db.Update(func(tx *bbolt.Tx) error {
		for id, w := range want {
			if got := hex.EncodeToString(tx.Bucket([]byte("tokens")).Get([]byte(id))); got != w {
				t.Errorf("stored token %s:\n got %s\nwant %s", id, got, w)
			}
		}
		_ = tx.Bucket([]byte("events")).ForEach(func(_, v []byte) error { events = append(events, hex.EncodeToString(v)); return nil })
		// A record written by hand: a range of IPv6 and a single IPv6 address.
		d := token.DigestOf("secret-h1")
		h := `{"id":"h1","owner":"bob","label":"by hand","digest":"` + b64(d) + `","hint":"h1h1","created_at":"2024-03-01T12:30:45.123456789Z","allowed_ips":["2001:db8:1::/64","2001:db8::5/128"],"scopes":["issues"]}`
		if err := tx.Bucket([]byte("tokens")).Put([]byte("h1"), []byte(h)); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("digests")).Put(d[:], []byte("h1")); err != nil {
			return err
		}
		return tx.Bucket([]byte("owners")).Put([]byte("\x03bobh1"), []byte{})
	})
	if err != nil {
		t.Fatalf("reading and writing the file: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("closing: %v", err)
	}
	// version, flags (actor is owner, detail, owner and label are the
	// token's), kind create, token id, detail; the time and id are the key's.
	wantEvents := []string{
		"010701047231a401" + hex.EncodeToString([]byte("allowed IPs: 203.0.113.0/24, 198.51.100.7, 2001:db8::/48; scopes: issues, worklogs")),
		"010501047031",
	}
	if !slices.Equal(events, wantEvents) {
		t.Errorf("stored events\n got %q\nwant %q", events, wantEvents)
	}

	s = open(t, path)
	got, err := s.ByDigest(ctx, token.DigestOf("secret-h1"))
	wantIPs := []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8::5/128")}
	if err != nil || !slices.Equal(got.AllowedIPs, wantIPs) || !slices.Equal(got.Scopes, []string{"issues"}) {
		t.Errorf("ByDigest of the hand-written record = %+v, %v; want allowed IPs %v, scopes [issues]", got, err, wantIPs)
	}
	if list, err := s.List(ctx, "bob"); err != nil || len(list) != 1 || !slices.Equal(list[0].AllowedIPs, wantIPs) {
		t.Errorf("List(bob) = %+v, %v; want the hand-written token with its allowed IPs", list, err)
	}
	if got, err := s.ByDigest(ctx, plain.Digest); err != nil || got.AllowedIPs != nil || got.Scopes != nil {
		t.Errorf("ByDigest of the unrestricted token = %#v, %#v, %v; want nil, nil", got.AllowedIPs, got.Scopes, err)
	}
}

// b64 is the standard base64 of d, as encoding/json writes a []byte.
func b64(d token.Digest) string { return base64.StdEncoding.EncodeToString(d[:]) }
