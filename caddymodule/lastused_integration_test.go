package caddymodule_test

import (
	"context"
	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLastUsedSurvivesOddAgents: a client whose User-Agent is not valid
// UTF-8 must not stop last-used data (of anybody) from being written to
// Postgres, which refuses invalid UTF-8 in text columns.
func TestLastUsedSurvivesOddAgents(t *testing.T) {
	kind := postgresKind(t)
	st := kind.open(t)
	defer st.Close()
	alice := seed(t, st, "alice", "odd client")
	bob := seed(t, st, "bob", "normal client")
	up := newEchoUpstream(t)
	_, base := startGate(t, kind, t.TempDir(), up.URL, "")
	for _, c := range []struct{ user, secret, agent string }{
		{"alice", alice.Secret, "PowerBI \xff\xfe odd"},
		{"bob", bob.Secret, "Microsoft.Data.Mashup"},
	} {
		resp, _ := get(t, base+"/odata/x", basicauth.Header(c.user, c.secret), map[string]string{"User-Agent": c.agent})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", c.user, resp.StatusCode)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, errA := st.ByDigest(context.Background(), alice.Token.Digest)
		b, errB := st.ByDigest(context.Background(), bob.Token.Digest)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !a.LastUsedAt.IsZero() && !b.LastUsedAt.IsZero() {
			if b.LastUsedAgent != "Microsoft.Data.Mashup" || !strings.HasPrefix(a.LastUsedAgent, "PowerBI ") {
				t.Errorf("agents stored: alice %q, bob %q", a.LastUsedAgent, b.LastUsedAgent)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("last used not written 5 s later: alice %v, bob %v", a.LastUsedAt, b.LastUsedAt)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
