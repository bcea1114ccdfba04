package bolt

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Stored values of tokens, events and rejections begin with their format:
// '{' is the JSON of the first format (still read: a file is migrated in
// batches, see migrate.go), binaryV1 the compact binary form below.
const binaryV1 = 1

// The binary form is built from a few field encodings:
//   - a string: uvarint(len<<1 | hexFlag), then the bytes; when hexFlag is
//     set the string was lowercase hex of even length and the bytes are its
//     decoded form (token ids, 20 hex characters, take 11 bytes instead of 21);
//   - a time: uvarint 0 for the zero time, else uvarint(zigzag(unix
//     seconds)<<1 | hasNanos + 1), then uvarint(nanoseconds) if hasNanos; read
//     back in UTC (every year fits, unlike UnixNano);
//   - a count, uvarint.
//
// encoder appends to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }

func (e *encoder) str(s string) {
	if isHex(s) {
		e.uvarint(uint64(len(s)/2)<<1 | 1)
		e.b, _ = hex.AppendDecode(e.b, []byte(s)) // valid: isHex
		return
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.uvarint(0)
		return
	}
	sec, nsec := t.Unix(), t.Nanosecond()
	x := uint64(sec<<1^sec>>63) << 1 // zigzag, then the nanoseconds flag
	if nsec != 0 {
		x |= 1
	}
	e.uvarint(x + 1)
	if nsec != 0 {
		e.uvarint(uint64(nsec))
	}
}

// isHex reports whether s is non-empty lowercase hex of even length (so it
// decodes to bytes and encodes back to itself).
func isHex(s string) bool {
	if s == "" || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// errShort is a value that ends in the middle of a field.
var errShort = errors.New("value ends early")

// decoder reads what encoder wrote; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(fmt.Errorf("bad varint: %w", errShort))
		return 0
	}
	d.b = d.b[n:]
	return x
}

// bytes returns the next n bytes (aliasing the value: copy before the
// transaction ends).
func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// count reads a number of items, each taking at least one byte.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("count %d exceeds the value: %w", n, errShort))
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	x := d.uvarint()
	b := d.bytes(x >> 1)
	if x&1 == 1 {
		return hex.EncodeToString(b)
	}
	return string(b)
}

func (d *decoder) time() time.Time {
	x := d.uvarint()
	if x == 0 {
		return time.Time{}
	}
	x--
	z := x >> 1
	sec := int64(z>>1) ^ -int64(z&1)
	var nsec uint64
	if x&1 == 1 {
		if nsec = d.uvarint(); nsec >= uint64(time.Second) {
			d.fail(fmt.Errorf("nanoseconds %d out of range", nsec))
		}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// done returns the first error, or an error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	return d.err
}

// timeKey encodes t so that byte order is time order (12 bytes).
func timeKey(t time.Time) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(k, uint32(t.Nanosecond()))
}

// parseTimeKey is timeKey's inverse (in UTC); k must be 12 bytes.
func parseTimeKey(k []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(k[8:]))).UTC()
}

// ownerKey is a prefix-free encoding of owner: its length, then its bytes.
func ownerKey(owner string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(owner))), owner...)
}

// parseOwnerKey splits k into the owner its ownerKey prefix names and the rest.
func parseOwnerKey(k []byte) (string, []byte, error) {
	n, w := binary.Uvarint(k)
	if w <= 0 || n > uint64(len(k)-w) {
		return "", nil, fmt.Errorf("malformed owner key of %d bytes", len(k))
	}
	return string(k[w : w+int(n)]), k[w+int(n):], nil
}
