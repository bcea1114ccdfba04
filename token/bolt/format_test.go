package bolt_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// oldFile is a token file as the build before the private event and
// rejection records wrote it (captured from that build, which stored
// token.Event and token.Rejection through their own JSON tags): tokens t1
// (alice), t2 (bob, revoked) and the legacy L1 (alice), a cap by carol, and
// three rejections. Keys are hex; values are the stored bytes (hex for the
// digests in "added").
var oldFile = []struct {
	bucket string
	seq    uint64
	kvs    [][2]string
}{
	{"added", 3, [][2]string{
		{"0000000000000001", "ea77193cc4e6f18656f3130e296203880c4b9b3772afc855211b82fdd46e9185"},
		{"0000000000000002", "cebdf378f2d2bd60d3e3693349e8f20f329daf11a276f849996f0a6377e2155b"},
		{"0000000000000003", "21e6dac85606f676b382ee76edfdc3a75969e3bfd5db61cddcf2f21afafd9f3e"},
	}},
	{"digests", 0, [][2]string{
		{"21e6dac85606f676b382ee76edfdc3a75969e3bfd5db61cddcf2f21afafd9f3e", "L1"},
		{"cebdf378f2d2bd60d3e3693349e8f20f329daf11a276f849996f0a6377e2155b", "t2"},
		{"ea77193cc4e6f18656f3130e296203880c4b9b3772afc855211b82fdd46e9185", "t1"},
	}},
	{"events", 7, [][2]string{
		{"8000000065e1ca75075bcd150000000000000001", `{"id":1,"at":"2024-03-01T12:30:45.123456789Z","kind":"create","actor":"alice","owner":"alice","token_id":"t1","label":"Power BI ✓ laptop"}`},
		{"8000000065e1cab1075bcd150000000000000002", `{"id":2,"at":"2024-03-01T12:31:45.123456789Z","kind":"create","actor":"bob","owner":"bob","token_id":"t2","label":"report"}`},
		{"8000000065e1caed075bcd150000000000000003", `{"id":3,"at":"2024-03-01T12:32:45.123456789Z","kind":"import","actor":"importer","owner":"alice","token_id":"L1","label":"legacy"}`},
		{"8000000065e1d885075bcd150000000000000004", `{"id":4,"at":"2024-03-01T13:30:45.123456789Z","kind":"cap","actor":"carol","owner":"alice","token_id":"L1","label":"legacy","detail":"expires_at 2024-09-01T00:00:00Z, was never"}`},
		{"8000000065e1d885075bcd150000000000000005", `{"id":5,"at":"2024-03-01T13:30:45.123456789Z","kind":"cap","actor":"carol","owner":"alice","token_id":"t1","label":"Power BI ✓ laptop","detail":"expires_at 2024-09-01T00:00:00Z, was 2025-03-02T00:00:00Z"}`},
		{"8000000065e1d885075bcd150000000000000006", `{"id":6,"at":"2024-03-01T13:30:45.123456789Z","kind":"cap","actor":"carol","owner":"bob","token_id":"t2","label":"report","detail":"expires_at 2024-09-01T00:00:00Z, was never"}`},
		{"8000000065e1e695075bcd150000000000000007", `{"id":7,"at":"2024-03-01T14:30:45.123456789Z","kind":"revoke","actor":"carol","owner":"bob","token_id":"t2","label":"report"}`},
	}},
	{"legacy", 0, [][2]string{{"4c31", ""}}},
	{"owners", 0, [][2]string{{"05616c6963654c31", ""}, {"05616c6963657431", ""}}},
	{"rejections", 3, [][2]string{
		{"03626f628000000065e202b5075bcd150000000000000002", `{"token_id":"t2","owner":"bob","label":"report","at":"2024-03-01T16:30:45.123456789Z","ip":"2001:db8::1","agent":"","reason":"revoked"}`},
		{"05616c6963658000000065e1f4a5075bcd150000000000000001", `{"token_id":"t1","owner":"alice","label":"Power BI ✓ laptop","at":"2024-03-01T15:30:45.123456789Z","ip":"203.0.113.7","agent":"Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)","reason":"expired"}`},
		{"05616c6963658000000065e210c5075bcd150000000000000003", `{"token_id":"t1","owner":"alice","label":"Power BI ✓ laptop","at":"2024-03-01T17:30:45.123456789Z","ip":"198.51.100.2","agent":"curl/8.5.0","reason":"ip_not_allowed"}`},
	}},
	{"tokens", 0, [][2]string{
		{"4c31", `{"id":"L1","owner":"alice","label":"legacy","digest":"IebayFYG9nazgu527f3Dp1lp47/V22HN3PLyGvr9nz4=","hint":"0001","expires_at":"2024-09-01T00:00:00Z"}`},
		{"7431", `{"id":"t1","owner":"alice","label":"Power BI ✓ laptop","digest":"6ncZPMTm8YZW8xMOKWIDiAxLmzdyr8hVIRuC/dRukYU=","hint":"wxyz","created_at":"2024-03-01T12:30:45.123456789Z","expires_at":"2024-09-01T00:00:00Z"}`},
		{"7432", `{"id":"t2","owner":"bob","label":"report","digest":"zr3zePLSvWDT42kzSejyDzKdrxGidvhJmW8KY3fiFVs=","hint":"abcd","created_at":"2024-03-01T12:31:45.123456789Z","expires_at":"2024-09-01T00:00:00Z","revoked_at":"2024-03-01T14:30:45.123456789Z","revoked_by":"carol"}`},
	}},
	{"vault", 0, nil},
}

func writeOldFile(t *testing.T, path string) {
	t.Helper()
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		return b
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, bk := range oldFile {
			b, err := tx.CreateBucket([]byte(bk.bucket))
			if err != nil {
				return err
			}
			for _, kv := range bk.kvs {
				v := []byte(kv[1])
				if bk.bucket == "added" {
					v = unhex(kv[1])
				}
				if err := b.Put(unhex(kv[0]), v); err != nil {
					return err
				}
			}
			if err := b.SetSequence(bk.seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("writing the old file: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("closing the old file: %v", err)
	}
}

// TestOldFileFormat opens a file written by the first format version (JSON
// values, byte for byte) and reads its history, rejections and tokens
// unchanged; Open migrated every value to the binary format and recorded
// the format version, and new writes continue the sequences.
func TestOldFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	writeOldFile(t, path)
	s := open(t, path)
	ctx := context.Background()

	t0 := time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC)
	capAt, capped := t0.Add(time.Hour), "expires_at 2024-09-01T00:00:00Z, was "
	const laptop = "Power BI ✓ laptop"
	wantEvents := []token.Event{
		{ID: 7, At: t0.Add(2 * time.Hour), Kind: token.EventRevoke, Actor: "carol", Owner: "bob", TokenID: "t2", Label: "report"},
		{ID: 6, At: capAt, Kind: token.EventCap, Actor: "carol", Owner: "bob", TokenID: "t2", Label: "report", Detail: capped + "never"},
		{ID: 5, At: capAt, Kind: token.EventCap, Actor: "carol", Owner: "alice", TokenID: "t1", Label: laptop, Detail: capped + "2025-03-02T00:00:00Z"},
		{ID: 4, At: capAt, Kind: token.EventCap, Actor: "carol", Owner: "alice", TokenID: "L1", Label: "legacy", Detail: capped + "never"},
		{ID: 3, At: t0.Add(2 * time.Minute), Kind: token.EventImport, Actor: "importer", Owner: "alice", TokenID: "L1", Label: "legacy"},
		{ID: 2, At: t0.Add(time.Minute), Kind: token.EventCreate, Actor: "bob", Owner: "bob", TokenID: "t2", Label: "report"},
		{ID: 1, At: t0, Kind: token.EventCreate, Actor: "alice", Owner: "alice", TokenID: "t1", Label: laptop},
	}
	if got, err := s.History(ctx, "", 100); err != nil || !reflect.DeepEqual(got, wantEvents) {
		t.Errorf("History of the old file = %+v, %v\nwant %+v", got, err, wantEvents)
	}
	if got, err := s.History(ctx, "bob", 100); err != nil || !reflect.DeepEqual(got, []token.Event{wantEvents[0], wantEvents[1], wantEvents[5]}) {
		t.Errorf("History(bob) of the old file = %+v, %v", got, err)
	}

	wantAlice := []token.Rejection{
		{TokenID: "t1", Owner: "alice", Label: laptop, At: t0.Add(5 * time.Hour), IP: "198.51.100.2", Agent: "curl/8.5.0", Reason: "ip_not_allowed", Count: 1},
		{TokenID: "t1", Owner: "alice", Label: laptop, At: t0.Add(3 * time.Hour), IP: "203.0.113.7",
			Agent: "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)", Reason: token.RejectExpired, Count: 1},
	}
	if got, err := s.Rejections(ctx, "alice", 10); err != nil || !reflect.DeepEqual(got, wantAlice) {
		t.Errorf("Rejections(alice) of the old file = %+v, %v\nwant %+v", got, err, wantAlice)
	}
	wantBob := []token.Rejection{{TokenID: "t2", Owner: "bob", Label: "report", At: t0.Add(4 * time.Hour), IP: "2001:db8::1", Reason: token.RejectRevoked, Count: 1}}
	if got, err := s.Rejections(ctx, "bob", 10); err != nil || !reflect.DeepEqual(got, wantBob) {
		t.Errorf("Rejections(bob) of the old file = %+v, %v\nwant %+v", got, err, wantBob)
	}

	if list, err := s.List(ctx, ""); err != nil || len(list) != 2 || list[0].ID != "t1" || list[1].ID != "L1" {
		t.Errorf("List of the old file = %+v, %v; want t1 then L1", list, err)
	}
	t1, err := s.ByDigest(ctx, token.DigestOf("secret-one"))
	if err != nil || t1.ID != "t1" || t1.Label != laptop || t1.Hint != "wxyz" || !t1.CreatedAt.Equal(t0) ||
		!t1.ExpiresAt.Equal(time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ByDigest(t1) of the old file = %+v, %v", t1, err)
	}

	// New writes continue the sequences, in the same encoding.
	if _, err := s.Revoke(ctx, "t1", "", "alice", t0.Add(6*time.Hour)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	rej := token.Rejection{TokenID: "t1", Owner: "alice", Label: laptop, At: t0.Add(7 * time.Hour), IP: "192.0.2.9", Agent: "Power BI", Reason: token.RejectRevoked}
	if err := s.AddRejections(ctx, []token.Rejection{rej}); err != nil {
		t.Fatalf("AddRejections: %v", err)
	}
	if got, err := s.History(ctx, "", 1); err != nil || len(got) != 1 || got[0].ID != 8 {
		t.Errorf("History after a revoke = %+v, %v; want the new event with id 8", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	defer db.Close()
	_ = db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("format")); !bytes.Equal(v, []byte{3}) {
			t.Errorf("format version of the migrated file = %x, want 03", v)
		}
		for _, name := range []string{"tokens", "events", "rejections"} {
			n := 0
			_ = tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
				if n++; v[0] != 1 {
					t.Errorf("%s %x is stored as %q, want the binary format (first byte 1)", name, k, v)
				}
				return nil
			})
			if n == 0 {
				t.Errorf("bucket %s is empty", name)
			}
		}
		return nil
	})
}
