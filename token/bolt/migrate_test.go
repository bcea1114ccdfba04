package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/token"
)

// downgrades rewrite values as the first format wrote them: JSON tokens,
// events and rejections (through the JSON names of record, eventRecord and
// rejectionRecord, which are that format) and ids as they are in digests.
// The first error goes to *errp.
func downgrades(errp *error) []conversion {
	mustJSON := func(v any, err error) ([]byte, bool) {
		b, jerr := json.Marshal(v)
		if err = errors.Join(err, jerr); err != nil && *errp == nil {
			*errp = err
		}
		return b, err == nil
	}
	return []conversion{
		{bTokens, func(_ *bbolt.Tx, k, v []byte) ([]byte, bool) {
			r, err := decodeRecord(k, v)
			return mustJSON(r, err)
		}},
		{bEvents, func(tx *bbolt.Tx, k, v []byte) ([]byte, bool) {
			e, err := decodeEvent(tx, k, v)
			return mustJSON(toEventRecord(e), err)
		}},
		{bRejections, func(_ *bbolt.Tx, k, v []byte) ([]byte, bool) {
			r, err := decodeRejection(k, v)
			return mustJSON(toRejectionRecord(r), err)
		}},
		{bDigests, func(_ *bbolt.Tx, _, v []byte) ([]byte, bool) { return []byte(idOfValue(v)), true }},
	}
}

// downgrade rewrites the file at path in the first format (downgrades, and
// no meta bucket), 10,000 values per transaction.
func downgrade(tb testing.TB, path string) {
	tb.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var convErr error
	if err := errors.Join(convertAll(db, downgrades(&convErr), 10_000), convErr); err != nil {
		tb.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error { // the count of legacy tokens back into their bucket
		return errors.Join(tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(k, v)
			if err == nil && r.CreatedAt.IsZero() && r.RevokedAt.IsZero() {
				err = tx.Bucket(bLegacy).Put(k, []byte{})
			}
			return err
		}), tx.DeleteBucket(bMeta))
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// dump returns every key and value of every bucket of the file at path.
func dump(tb testing.TB, db *bbolt.DB) map[string]map[string]string {
	tb.Helper()
	out := map[string]map[string]string{}
	err := db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			m := map[string]string{}
			out[string(name)] = m
			return b.ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil })
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// storeState is everything a Store answers about a file.
type storeState struct {
	Tokens     map[string]token.Token // by digest, revoked ones too
	Pages      map[string][]token.Token
	History    map[string][]token.Event
	Rejections map[string][]token.Rejection
	Vault      map[string][]token.VaultSecret
	Digests    []token.Digest
	HasLegacy  bool
}

func stateOf(tb testing.TB, s *Store, owners []string, digests []token.Digest) storeState {
	tb.Helper()
	ctx := context.Background()
	st := storeState{Tokens: map[string]token.Token{}, Pages: map[string][]token.Token{}, History: map[string][]token.Event{},
		Rejections: map[string][]token.Rejection{}, Vault: map[string][]token.VaultSecret{}}
	check := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	for _, d := range digests {
		t, err := s.ByDigest(ctx, d)
		check(err)
		st.Tokens[string(d[:])] = t
	}
	for _, o := range append([]string{""}, owners...) {
		var err error
		st.Pages[o], _, err = s.ListPage(ctx, o, 1000, "")
		check(err)
		st.History[o], err = s.History(ctx, o, 1000)
		check(err)
		if o != "" {
			st.Rejections[o], err = s.Rejections(ctx, o, 1000)
			check(err)
			st.Vault[o], err = s.VaultSecrets(ctx, o)
			check(err)
		}
	}
	_, err := s.Digests(ctx, "", func(d token.Digest) { st.Digests = append(st.Digests, d) })
	check(err)
	st.HasLegacy, err = s.HasLegacy(ctx)
	check(err)
	return st
}

// fillFile writes tokens (restricted, plain, legacy, revoked, used),
// events, rejections and vault secrets through the store.
func fillFile(t *testing.T, s *Store) (owners []string, digests []token.Digest) {
	ctx := context.Background()
	t0 := time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC)
	owners = []string{"alice", "bob@example.com", "carol"}
	ips := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8::/48")}
	var legacy []token.Token
	for i := range 30 {
		id, err := token.NewID()
		if err != nil {
			t.Fatal(err)
		}
		secret := fmt.Sprintf("secret-%d", i)
		tok := token.Token{ID: id, Owner: owners[i%3], Label: fmt.Sprintf("label ✓ %d", i), Digest: token.DigestOf(secret),
			Hint: token.HintOf(secret), CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		switch i % 5 {
		case 0:
			tok.AllowedIPs, tok.Scopes = ips[:1+i%3], []string{"issues", "worklogs"}
		case 1:
			tok.ExpiresAt = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
		case 2:
			tok.ID = fmt.Sprintf("T-%d", i) // not hex: stored as it is
		case 3:
			tok.CreatedAt = time.Time{}
			legacy = append(legacy, tok)
			digests = append(digests, tok.Digest)
			continue
		}
		if err := s.Create(ctx, tok, 0); err != nil {
			t.Fatalf("Create: %v", err)
		}
		digests = append(digests, tok.Digest)
	}
	if err := s.Import(ctx, legacy, "importer", t0.Add(time.Hour)); err != nil {
		t.Fatalf("Import: %v", err)
	}
	page, _, err := s.ListPage(ctx, "", 100, "")
	if err != nil || len(page) < 6 {
		t.Fatalf("ListPage = %d tokens, %v", len(page), err)
	}
	if _, err := s.Revoke(ctx, page[0].ID, "", "carol", t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	uses := []token.LastUse{{TokenID: page[1].ID, At: t0.Add(3 * time.Hour), IP: "2001:db8::7", Agent: "Microsoft.Data.Mashup"},
		{TokenID: page[2].ID, At: t0.Add(3 * time.Hour), IP: "192.0.2.1"}}
	if err := s.TouchLastUsed(ctx, uses); err != nil {
		t.Fatalf("TouchLastUsed: %v", err)
	}
	var rs []token.Rejection
	for i, reason := range []token.RejectReason{token.RejectExpired, token.RejectRevoked, token.RejectIPNotAllowed, "some_new_reason"} {
		rs = append(rs, token.Rejection{TokenID: page[i].ID, Owner: page[i].Owner, Label: page[i].Label,
			At: t0.Add(time.Duration(4+i) * time.Hour), IP: "198.51.100.2", Agent: "curl/8.5.0", Reason: reason})
	}
	if err := s.AddRejections(ctx, rs); err != nil {
		t.Fatalf("AddRejections: %v", err)
	}
	for i, kind := range []string{"jira", "tempo"} {
		v := token.VaultSecret{Owner: owners[i], Kind: kind, Ciphertext: []byte{0, 1, 2, byte(i)}, Hint: "abcd", UpdatedAt: t0.Add(5 * time.Hour)}
		if err := s.PutVaultSecret(ctx, v, owners[i]); err != nil {
			t.Fatalf("PutVaultSecret: %v", err)
		}
	}
	return owners, digests
}

// TestMigrateFirstFormat writes a file, rewrites it in the first format
// (JSON values, as earlier builds wrote them), and opens it: every token,
// index, event, rejection, vault secret and restriction reads back as
// before, every value is in the new format, the format is recorded, and
// opening the file again changes nothing.
func TestMigrateFirstFormat(t *testing.T) {
	path, owners, digests, want := firstFormatFile(t)
	if n := countFormats(t, path); n['{'] == 0 || n[binaryV1] != 0 {
		t.Fatalf("the downgraded file holds %v values by first byte; want JSON only", n)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open of the first-format file: %v", err)
	}
	if got := stateOf(t, s, owners, digests); !reflect.DeepEqual(got, want) {
		t.Errorf("after migration the file reads\n%+v\nwant\n%+v", got, want)
	}
	before := dump(t, s.db)
	if got := before["meta"]["format"]; got != string([]byte{fileFormat}) {
		t.Errorf("format version = %q, want %d", got, fileFormat)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countFormats(t, path); n['{'] != 0 || n[binaryV1] == 0 {
		t.Errorf("the migrated file holds %v values by first byte; want binary only", n)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := dump(t, s.db); !reflect.DeepEqual(after, before) {
		t.Error("opening the migrated file again changed it")
	}
}

// TestMigrateResumes stops a migration after one small batch per bucket (a
// crash): the mixed file reads back whole, and the next Open finishes it.
func TestMigrateResumes(t *testing.T) {
	path, owners, digests, want := firstFormatFile(t)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error { // as Open would, stopped after a batch of each
		if _, err := checkFormat(tx, false); err != nil {
			return err
		}
		for _, c := range conversions {
			if _, _, err := migrateBatchOf(tx, c, nil, 3); err != nil {
				return err
			}
		}
		_, err := drainLegacyBatch(tx, 3)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mixed := &Store{db: db}
	if got := stateOf(t, mixed, owners, digests); !reflect.DeepEqual(got, want) {
		t.Errorf("the half-migrated file reads\n%+v\nwant\n%+v", got, want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countFormats(t, path); n['{'] == 0 || n[binaryV1] == 0 {
		t.Fatalf("the half-migrated file holds %v values by first byte; want both forms", n)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open of the half-migrated file: %v", err)
	}
	if got := stateOf(t, s, owners, digests); !reflect.DeepEqual(got, want) {
		t.Errorf("after the migration resumed the file reads\n%+v\nwant\n%+v", got, want)
	}
	revokeLegacy(t, s, want)
	_ = s.Close()
	if n := countFormats(t, path); n['{'] != 0 {
		t.Errorf("after the migration resumed the file holds %v values by first byte; want binary only", n)
	}
}

// countFormats counts the token, event and rejection values of the file at
// path by their first byte.
func countFormats(t *testing.T, path string) map[byte]int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := map[byte]int{}
	for name, m := range dump(t, db) {
		if name == "tokens" || name == "events" || name == "rejections" {
			for _, v := range m {
				n[v[0]]++
			}
		}
	}
	return n
}
