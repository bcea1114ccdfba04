package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// TestRejectionCountEncoding: a rejection of one attempt (Count 1, or 0
// from an old caller) is stored in binaryV1 exactly as earlier builds wrote
// it; one of several attempts in binaryV2 with its count; a binaryV2 value
// with a count out of range, or a binaryV1 value with a count appended, is
// an error.
func TestRejectionCountEncoding(t *testing.T) {
	r := token.Rejection{TokenID: "0123456789abcdef0123", Owner: "alice", Label: "laptop",
		At: edgeTimes[3], IP: "203.0.113.7", Agent: "curl", Reason: token.RejectRevoked}
	k := binary.BigEndian.AppendUint64(append(ownerKey(r.Owner), timeKey(r.At)...), 1)
	// The value format 2 wrote: binaryV1, reason 2 (revoked), then the id
	// (hex: 10 bytes), label, IP and agent, each after its length.
	v1, err := hex.DecodeString("01" + "02" + "15" + "0123456789abcdef0123" + "0c" + hex.EncodeToString([]byte("laptop")) +
		"16" + hex.EncodeToString([]byte("203.0.113.7")) + "08" + hex.EncodeToString([]byte("curl")))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, -5} {
		r.Count = n
		if got := encodeRejection(r); !bytes.Equal(got, v1) {
			t.Errorf("Count %d stored as %x, want the format-2 value %x", n, got, v1)
		}
	}
	if got, err := decodeRejection(k, v1); err != nil || got.Count != 1 {
		t.Errorf("format-2 value decoded as %+v, %v; want Count 1", got, err)
	}
	for _, n := range []int{2, 127, 128, token.MaxRejectionCount, token.MaxRejectionCount + 1} {
		r.Count = n
		v := encodeRejection(r)
		want := min(n, token.MaxRejectionCount)
		if v[0] != binaryV2 || !bytes.Equal(v[1:len(v1)], v1[1:]) {
			t.Errorf("Count %d stored as %x, want binaryV2, the format-2 fields, then the count", n, v)
		}
		if got, err := decodeRejection(k, v); err != nil || got.Count != want {
			t.Errorf("Count %d decoded as %+v, %v; want Count %d", n, got, err, want)
		}
	}
	for _, bad := range [][]byte{
		append(append([]byte{binaryV2}, v1[1:]...), 0),                      // count 0
		append(append([]byte{binaryV2}, v1[1:]...), 1),                      // count 1: binaryV1's
		binary.AppendUvarint(append([]byte{binaryV2}, v1[1:]...), 1<<31),    // beyond MaxRejectionCount
		append([]byte{binaryV2}, v1[1:]...),                                 // no count
		append(bytes.Clone(v1), 3),                                          // binaryV1 with a count
		binary.AppendUvarint(append([]byte{binaryV2}, v1[1:]...), 1<<63+17), // beyond int64
	} {
		if got, err := decodeRejection(k, bad); err == nil {
			t.Errorf("decodeRejection(%x) = %+v, want an error", bad, got)
		}
	}
}

// TestFormatBeforeCountsOpens: a file of format 2 (written before
// rejections carried counts) opens without a rewrite, is then recorded as
// format 3, and reads its rejections with Count 1 beside new counted ones.
func TestFormatBeforeCountsOpens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tokengate.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	old := token.Rejection{TokenID: "t1", Owner: "alice", Label: "laptop", At: at, IP: "192.0.2.1", Reason: token.RejectExpired}
	if err := s.AddRejections(ctx, []token.Rejection{old}); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bMeta).Put(metaFormat, []byte{formatBeforeCounts}) })
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, s.db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path); err != nil {
		t.Fatalf("Open of a format-2 file: %v", err)
	}
	defer s.Close()
	after := dump(t, s.db)
	if got := after["meta"]["format"]; got != string([]byte{fileFormat}) || fileFormat != 3 {
		t.Errorf("format after Open = %q, want %d (3)", got, fileFormat)
	}
	after["meta"]["format"] = before["meta"]["format"]
	if !reflect.DeepEqual(before, after) {
		t.Error("Open of a format-2 file rewrote values")
	}
	counted := old
	counted.At, counted.Count = at.Add(time.Minute), 4
	if err := s.AddRejections(ctx, []token.Rejection{counted}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rejections(ctx, "alice", 10)
	if err != nil || len(got) != 2 || got[0].Count != 4 || got[1].Count != 1 {
		t.Errorf("Rejections = %+v, %v; want the counted one (4), then the old one (1)", got, err)
	}
}
