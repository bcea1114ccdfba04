package bolt

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// edgeTimes are times the binary form must carry exactly.
var edgeTimes = []time.Time{
	{},
	time.Unix(0, 0).UTC(),
	time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC),
	time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
}

// TestRecordRoundTrip encodes records with every optional field set or
// not, edge times, restrictions of both families and ids of every shape,
// and decodes them back identically.
func TestRecordRoundTrip(t *testing.T) {
	d := token.DigestOf("x")
	ids := []string{"0123456789abcdef0123", "T-1", "ABCDEF", "abc", "ab", "✓ ünïcode", strings.Repeat("f", 200)}
	for i, at := range edgeTimes {
		r := record{ID: ids[i%len(ids)], Owner: ids[(i+1)%len(ids)], Label: "label " + ids[i%len(ids)], Digest: d[:], Hint: "wxyz",
			CreatedAt: at, ExpiresAt: edgeTimes[(i+1)%len(edgeTimes)], RevokedAt: edgeTimes[(i+2)%len(edgeTimes)],
			LastUsedAt: edgeTimes[(i+3)%len(edgeTimes)]}
		if i%2 == 0 {
			r.RevokedBy, r.LastUsedIP, r.LastUsedAgent = "carol", "2001:db8::1", "Microsoft.Data.Mashup"
			r.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/48"),
				netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("::ffff:192.0.2.0/120")}
			r.Scopes = []string{"issues", "", "worklogs"}
		}
		v, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("encodeRecord(%+v): %v", r, err)
		}
		got, err := decodeRecord([]byte(r.ID), v)
		if err != nil {
			t.Fatalf("decodeRecord of %+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
		for n := 1; n < len(v); n++ { // every truncation is an error, never a panic
			if _, err := decodeRecord([]byte(r.ID), v[:n]); err == nil {
				t.Errorf("decodeRecord of the first %d of %d bytes succeeded", n, len(v))
			}
		}
		if _, err := decodeRecord([]byte(r.ID), append(v, 0)); err == nil {
			t.Error("decodeRecord with a byte too many succeeded")
		}
	}
	if _, err := encodeRecord(record{ID: "short", Digest: []byte{1, 2}}); err == nil {
		t.Error("encodeRecord of a 2-byte digest succeeded")
	}
	for _, v := range [][]byte{nil, {}, {2, 0}, {0xff}} {
		if _, err := decodeRecord([]byte("k"), v); err == nil || !strings.Contains(err.Error(), "unknown format") {
			t.Errorf("decodeRecord(%x) = %v, want an unknown format", v, err)
		}
	}
}

// TestEventAndRejectionRoundTrip encodes events (of a token, whose owner
// and label come from its record, or not) and rejections with known and
// unknown kinds and reasons, and decodes them back from their keys.
func TestEventAndRejectionRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir() + "/tokengate.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	d := token.DigestOf("x")
	if err := putRecord(tx, record{ID: "0123456789abcdef0123", Owner: "alice", Label: "laptop", Digest: d[:]}); err != nil {
		t.Fatal(err)
	}
	for i, at := range edgeTimes[1:] {
		for _, e := range []token.Event{
			{Kind: token.EventCreate, Actor: "alice", Owner: "alice", TokenID: "0123456789abcdef0123", Label: "laptop"},
			{Kind: token.EventRevoke, Actor: "carol", Owner: "alice", TokenID: "0123456789abcdef0123", Label: "laptop"},
			{Kind: token.EventCap, Actor: "carol", Owner: "bob", TokenID: "0123456789abcdef0123", Label: "other", Detail: "x"},
			{Kind: token.EventVault, Actor: "", Owner: "bob", Label: "jira", Detail: "set"},
			{Kind: "renamed", Actor: "a", Owner: "", TokenID: "missing"},
		} {
			e.At, e.ID = at, int64(i)<<40+7
			k := binary.BigEndian.AppendUint64(timeKey(e.At), uint64(e.ID))
			got, err := decodeEvent(tx, k, encodeEvent(e, ofToken(tx, e)))
			if err != nil || !reflect.DeepEqual(got, e) {
				t.Errorf("event round trip: got %+v, %v\nwant %+v", got, err, e)
			}
		}
		r := token.Rejection{TokenID: "0123456789abcdef0123", Owner: "ålice", Label: "laptop", At: at, IP: "203.0.113.7",
			Agent: "curl", Reason: []token.RejectReason{token.RejectExpired, "new_reason", token.RejectOutOfScope}[i%3],
			Count: []int{1, 3, 300, token.MaxRejectionCount}[i%4]}
		k := binary.BigEndian.AppendUint64(append(ownerKey(r.Owner), timeKey(r.At)...), 9)
		v := encodeRejection(r)
		if got, err := decodeRejection(k, v); err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("rejection round trip: got %+v, %v\nwant %+v", got, err, r)
		}
		for n := 1; n < len(v); n++ {
			if _, err := decodeRejection(k, v[:n]); err == nil {
				t.Errorf("decodeRejection of the first %d of %d bytes succeeded", n, len(v))
			}
		}
	}
	// An event of a token whose record is gone cannot name its owner.
	e := token.Event{At: edgeTimes[3], ID: 1, Kind: token.EventCreate, Actor: "alice", Owner: "alice", TokenID: "0123456789abcdef0123", Label: "laptop"}
	k := binary.BigEndian.AppendUint64(timeKey(e.At), 1)
	v := encodeEvent(e, ofToken(tx, e))
	if err := tx.Bucket(bTokens).Delete([]byte(e.TokenID)); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeEvent(tx, k, v); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("decodeEvent of an event whose token is gone = %v, want an error naming the missing token", err)
	}
}

// FuzzDecode feeds arbitrary values to the decoders: an error or a value,
// never a panic.
func FuzzDecode(f *testing.F) {
	d := token.DigestOf("x")
	v, _ := encodeRecord(record{ID: "k", Owner: "o", Digest: d[:], CreatedAt: edgeTimes[3], Scopes: []string{"a"},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	f.Add(v)
	f.Add(encodeRejection(token.Rejection{Reason: "x", IP: "1"}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte(`{"id":"k"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		_, _ = decodeRecord([]byte("k"), v)
		_, _ = decodeRejection(append(ownerKey("o"), make([]byte, eventKeyLen)...), v)
	})
}
