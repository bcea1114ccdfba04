package bolt

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// appendFill is the FillPercent of buckets whose keys are appended in
// ascending order (events: time then sequence; added: sequence): bbolt's
// default 0.5 splits a full node in half, and the left half is never
// written again when keys only grow, so half of every page stayed empty.
const appendFill = 1.0

// eventKinds are the kinds a binary event stores as one byte, its index;
// 0 means the kind follows as a string.
var eventKinds = []token.EventKind{"", token.EventCreate, token.EventRevoke, token.EventCap, token.EventImport, token.EventVault}

// Flags of a binary event.
const (
	evActorIsOwner = 1 << iota // the actor is not stored: it is the owner
	evDetail                   // a detail follows
	evOfToken                  // owner and label are not stored: they are the token's
)

// ofToken reports whether e names a token whose owner and label in tx are
// e's.
func ofToken(tx *bbolt.Tx, e token.Event) bool {
	if e.TokenID == "" {
		return false
	}
	owner, label, ok := ownerLabel(tx, e.TokenID)
	return ok && owner == e.Owner && label == e.Label
}

// encodeEvent returns the stored form of e (binaryV1): its time and ID are
// the key's (timeKey + sequence), so the value holds the rest. The owner
// and label of a token's event are the token's (they never change, and a
// token is never deleted): when fromToken (see ofToken) they are not stored.
func encodeEvent(e token.Event, fromToken bool) []byte {
	flags := flagIf(e.Actor == e.Owner, evActorIsOwner) | flagIf(e.Detail != "", evDetail) | flagIf(fromToken, evOfToken)
	x := encoder{b: make([]byte, 0, 64)}
	x.b = append(x.b, binaryV1)
	x.uvarint(flags)
	writeKind(&x, string(e.Kind), eventKinds)
	x.str(e.TokenID)
	if flags&evOfToken == 0 {
		x.str(e.Owner)
		x.str(e.Label)
	}
	if flags&evActorIsOwner == 0 {
		x.str(e.Actor)
	}
	ifSet(flags&evDetail, x.str, e.Detail)
	return x.b
}

// ownerLabel returns the owner and label of the token id, reading no more
// of a binary record than those.
func ownerLabel(tx *bbolt.Tx, id string) (owner, label string, ok bool) {
	v := tx.Bucket(bTokens).Get([]byte(id))
	if len(v) > 0 && v[0] == binaryV1 {
		d := decoder{b: v[1:]}
		d.uvarint()
		owner, label = d.str(), d.str()
		return owner, label, d.err == nil
	}
	r, err := decodeRecord([]byte(id), v)
	return r.Owner, r.Label, v != nil && err == nil
}

// decodeEvent decodes the value v of the event with key k (timeKey +
// sequence), JSON or binary, reading its token in tx when the value does
// not hold the owner and label.
func decodeEvent(tx *bbolt.Tx, k, v []byte) (token.Event, error) {
	if len(v) > 0 && v[0] == '{' {
		var r eventRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return token.Event{}, fmt.Errorf("decoding event: %w", err)
		}
		return r.event(), nil
	}
	if len(k) != eventKeyLen {
		return token.Event{}, fmt.Errorf("decoding event: key of %d bytes, want %d", len(k), eventKeyLen)
	}
	if len(v) == 0 || v[0] != binaryV1 {
		return token.Event{}, fmt.Errorf("decoding event: unknown format %s", formatOf(v))
	}
	e := token.Event{At: parseTimeKey(k[:12]), ID: int64(binary.BigEndian.Uint64(k[12:]))}
	d := decoder{b: v[1:]}
	flags := d.uvarint()
	e.Kind = token.EventKind(readKind(&d, eventKinds))
	e.TokenID = d.str()
	if flags&evOfToken == 0 {
		e.Owner, e.Label = d.str(), d.str()
	}
	e.Actor = e.Owner
	if flags&evActorIsOwner == 0 {
		e.Actor = d.str()
	}
	e.Detail = optional(flags&evDetail, d.str)
	if err := d.done(); err != nil {
		return token.Event{}, fmt.Errorf("decoding event %d: %w", e.ID, err)
	}
	if flags&evOfToken != 0 {
		var ok bool
		if e.Owner, e.Label, ok = ownerLabel(tx, e.TokenID); !ok {
			return token.Event{}, fmt.Errorf("decoding event %d: its token %s is missing", e.ID, e.TokenID)
		}
		if flags&evActorIsOwner != 0 {
			e.Actor = e.Owner
		}
	}
	return e, nil
}

// rejectReasons are the reasons a binary rejection stores as one byte, its
// index; 0 means the reason follows as a string.
var rejectReasons = []token.RejectReason{"", token.RejectExpired, token.RejectRevoked,
	token.RejectUsernameMismatch, token.RejectIPNotAllowed, token.RejectOutOfScope}

// binaryV2 is the binary form of a rejection that stands for several
// attempts: binaryV1's fields, then the count (uvarint, 2 or more). A
// rejection of one attempt stays binaryV1, as earlier builds wrote it.
const binaryV2 = 2

// encodeRejection returns the stored form of r (binaryV1, or binaryV2 when
// r.Times() > 1): its owner and time are the key's (ownerKey + timeKey +
// sequence).
func encodeRejection(r token.Rejection) []byte {
	n, format := r.Times(), byte(binaryV1)
	if n > 1 {
		format = binaryV2
	}
	x := encoder{b: make([]byte, 0, 64)}
	x.b = append(x.b, format)
	writeKind(&x, string(r.Reason), rejectReasons)
	x.str(r.TokenID)
	x.str(r.Label)
	x.str(r.IP)
	x.str(r.Agent)
	if n > 1 {
		x.uvarint(uint64(n))
	}
	return x.b
}

// decodeRejection decodes the value v of the rejection with key k, JSON or binary.
func decodeRejection(k, v []byte) (token.Rejection, error) {
	if len(v) > 0 && v[0] == '{' {
		var r rejectionRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return token.Rejection{}, fmt.Errorf("decoding rejection: %w", err)
		}
		return r.rejection(), nil
	}
	owner, rest, err := parseOwnerKey(k)
	if err == nil && len(rest) != eventKeyLen {
		err = fmt.Errorf("key of %d bytes after the owner, want %d", len(rest), eventKeyLen)
	}
	if err == nil && (len(v) == 0 || v[0] != binaryV1 && v[0] != binaryV2) {
		err = fmt.Errorf("unknown format %s", formatOf(v))
	}
	if err != nil {
		return token.Rejection{}, fmt.Errorf("decoding rejection: %w", err)
	}
	r := token.Rejection{Owner: owner, At: parseTimeKey(rest[:12]), Count: 1}
	d := decoder{b: v[1:]}
	r.Reason = token.RejectReason(readKind(&d, rejectReasons))
	r.TokenID, r.Label, r.IP, r.Agent = d.str(), d.str(), d.str(), d.str()
	if v[0] == binaryV2 {
		if n := d.uvarint(); n < 2 || n > token.MaxRejectionCount {
			d.fail(fmt.Errorf("count %d out of range", n))
		} else {
			r.Count = int(n)
		}
	}
	if err := d.done(); err != nil {
		return token.Rejection{}, fmt.Errorf("decoding rejection of %q: %w", owner, err)
	}
	return r, nil
}

// writeKind writes s as its index in known (from 1), or 0 and the string.
func writeKind[S ~string](x *encoder, s string, known []S) {
	for i, k := range known[1:] {
		if string(k) == s {
			x.b = append(x.b, byte(i+1))
			return
		}
	}
	x.b = append(x.b, 0)
	x.str(s)
}

// readKind reads what writeKind wrote.
func readKind[S ~string](d *decoder, known []S) string {
	i := int(d.byte())
	switch {
	case i == 0:
		return d.str()
	case i < len(known):
		return string(known[i])
	default:
		d.fail(fmt.Errorf("unknown kind code %d", i))
		return ""
	}
}

// eventRecord is the stored form of a token.Event. Its JSON names are the
// file format: never rename them.
type eventRecord struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"`
	Owner   string    `json:"owner"`
	TokenID string    `json:"token_id"`
	Label   string    `json:"label"`
	Detail  string    `json:"detail,omitempty"`
}

func toEventRecord(e token.Event) eventRecord {
	return eventRecord{ID: e.ID, At: e.At, Kind: string(e.Kind), Actor: e.Actor, Owner: e.Owner,
		TokenID: e.TokenID, Label: e.Label, Detail: e.Detail}
}

func (r eventRecord) event() token.Event {
	return token.Event{ID: r.ID, At: r.At, Kind: token.EventKind(r.Kind), Actor: r.Actor, Owner: r.Owner,
		TokenID: r.TokenID, Label: r.Label, Detail: r.Detail}
}

// rejectionRecord is the stored form of a token.Rejection. Its JSON names
// are the file format: never rename them.
type rejectionRecord struct {
	TokenID string    `json:"token_id"`
	Owner   string    `json:"owner"`
	Label   string    `json:"label"`
	At      time.Time `json:"at"`
	IP      string    `json:"ip"`
	Agent   string    `json:"agent"`
	Reason  string    `json:"reason"`
	Count   int       `json:"count,omitempty"` // not in the first format: absent reads as 1
}

func toRejectionRecord(r token.Rejection) rejectionRecord {
	x := rejectionRecord{TokenID: r.TokenID, Owner: r.Owner, Label: r.Label, At: r.At, IP: r.IP,
		Agent: r.Agent, Reason: string(r.Reason)}
	if n := r.Times(); n > 1 {
		x.Count = n
	}
	return x
}

func (r rejectionRecord) rejection() token.Rejection {
	x := token.Rejection{TokenID: r.TokenID, Owner: r.Owner, Label: r.Label, At: r.At, IP: r.IP,
		Agent: r.Agent, Reason: token.RejectReason(r.Reason), Count: r.Count}
	x.Count = x.Times()
	return x
}
