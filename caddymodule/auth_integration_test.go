package caddymodule_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/token"
)

// TestAuthInsideCaddy runs every tokengate_auth behaviour through the real
// binary in front of a real upstream, once per store.
func TestAuthInsideCaddy(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var kind storeKind
			if name == "bolt" {
				kind = boltKind(t, dir)
			} else {
				kind = postgresKind(t)
			}
			// Seed before start: bolt is locked while Caddy runs.
			st := kind.open(t)
			ctx := context.Background()
			valid := seed(t, st, "alice", "Power BI")
			revoked := seed(t, st, "alice", "old laptop")
			if _, err := st.Revoke(ctx, revoked.Token.ID, "alice", "alice", time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			expiredSecret, err := token.Generate()
			if err != nil {
				t.Fatal(err)
			}
			past := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
			if err := st.Create(ctx, token.Token{ID: "expired000000000001", Owner: "bob", Label: "expired",
				Digest: token.DigestOf(expiredSecret), Hint: token.HintOf(expiredSecret),
				CreatedAt: past.Add(-48 * time.Hour), ExpiresAt: past}, 0); err != nil {
				t.Fatal(err)
			}
			st.Close()

			up := newEchoUpstream(t)
			inst, base := startGate(t, kind, dir, up.URL, "")
			feed := base + "/odata/Issues"
			unknown, _ := token.Generate()
			junk := valid.Secret[:len(valid.Secret)-1] + flip(valid.Secret[len(valid.Secret)-1])

			cases := []struct {
				name, authz string
			}{
				{"no credentials", ""},
				{"not basic", "Bearer " + valid.Secret},
				{"bad base64", "Basic !!!not-base64"},
				{"missing colon", "Basic " + b64("alice"+valid.Secret)},
				{"empty password", basicauth.Header("u1", "")},
				{"junk checksum", basicauth.Header("u2", junk)},
				{"unknown token", basicauth.Header("u3", unknown)},
				{"expired token", basicauth.Header("u4", expiredSecret)},
				{"revoked token", basicauth.Header("u5", revoked.Secret)},
				{"legacy-looking junk", basicauth.Header("u6", "hunter2hunter2hunter2")},
			}
			for _, c := range cases {
				resp, body := get(t, feed, c.authz, nil)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401", c.name, resp.StatusCode)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="Jira export", charset="UTF-8"` {
					t.Errorf("%s: WWW-Authenticate %q", c.name, got)
				}
				if strings.Contains(body, "expired") || strings.Contains(body, "revoked") || strings.Contains(body, "unknown") {
					t.Errorf("%s: body reveals the reason: %q", c.name, body)
				}
			}

			// Success: identity set, Authorization and spoofed identity headers gone.
			resp, body := get(t, feed, basicauth.Header("alice", valid.Secret), map[string]string{
				"X-Authenticated-User": "mallory",
				"X-Access-Token-Id":    "forged",
				"X_Authenticated_User": "mallory", // CGI/WSGI backends read _ as -
				"x-access-token_id":    "forged",
			})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("valid token: status %d body %s", resp.StatusCode, body)
			}
			h := up.lastHeaders()
			if got := h.Values("X-Authenticated-User"); len(got) != 1 || got[0] != "alice" {
				t.Errorf("upstream X-Authenticated-User = %q, want exactly [alice]", got)
			}
			if got := h.Values("X-Access-Token-Id"); len(got) != 1 || got[0] != valid.Token.ID {
				t.Errorf("upstream X-Access-Token-Id = %q, want [%s]", got, valid.Token.ID)
			}
			if h.Get("Authorization") != "" {
				t.Errorf("upstream got the client's Authorization header")
			}
			for k, v := range h {
				if n := strings.ToLower(strings.ReplaceAll(k, "_", "-")); (n == "x-authenticated-user" || n == "x-access-token-id") && k != "X-Authenticated-User" && k != "X-Access-Token-Id" {
					t.Errorf("upstream got a client-sent identity header %s: %q", k, v)
				}
			}

			// The user name is not part of the credential by default.
			// A token pasted into the user name field too (with a stray
			// space): accepted, and the mismatch log must not carry it.
			if s := status(t, feed, basicauth.Header(" "+valid.Secret, valid.Secret)); s != http.StatusOK {
				t.Errorf("token as user name and password: %d, want 200", s)
			}
			if s := status(t, feed, basicauth.Header("somebody-else", valid.Secret)); s != http.StatusOK {
				t.Errorf("user name mismatch with match_username off: %d, want 200", s)
			}

			// Failures never lock a valid token out (TestHostileFloods has the floods).
			for i := 0; i < 5; i++ {
				if s := status(t, feed, basicauth.Header("alice", unknown)); s != http.StatusUnauthorized {
					t.Fatalf("failure %d: status %d, want 401", i, s)
				}
			}
			if s := status(t, feed, basicauth.Header("alice", valid.Secret)); s != http.StatusOK {
				t.Errorf("valid token after failures under its owner's name: %d, want 200", s)
			}

			// Logs: token id and outcomes present; no secret, ever; user id in the access log.
			time.Sleep(300 * time.Millisecond) // let the last-used flush and access logs land
			inst.Stop()
			logs := inst.Logs.String()
			for _, secret := range []string{valid.Secret, revoked.Secret, expiredSecret, unknown, junk} {
				if strings.Contains(logs, secret) {
					t.Fatalf("a token appears in the logs")
				}
			}
			for _, want := range []string{`"outcome":"revoked"`, `"outcome":"expired"`, `"outcome":"unknown"`, `"outcome":"malformed"`,
				`"token_id":"` + revoked.Token.ID + `"`, `"user_id":"alice"`} {
				if !strings.Contains(logs, want) {
					t.Errorf("logs lack %s", want)
				}
			}

			// Last use was written behind, with IP and agent; rejections recorded for the owner.
			st = kind.open(t)
			defer st.Close()
			got, err := st.ByDigest(ctx, valid.Token.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if got.LastUsedAt.IsZero() || got.LastUsedIP != "127.0.0.1" || !strings.HasPrefix(got.LastUsedAgent, "Go-http-client") {
				t.Errorf("last used not recorded: %+v", got)
			}
			rs, err := st.Rejections(ctx, "alice", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 0 || rs[0].Reason != token.RejectRevoked || rs[0].TokenID != revoked.Token.ID {
				t.Errorf("rejections of alice = %+v, want the revoked attempt", rs)
			}
		})
	}
}

// TestMatchUsernameOn refuses a token presented under another user name.
func TestMatchUsernameOn(t *testing.T) {
	kind, dir, c := seededBolt(t, "alice")
	up := newEchoUpstream(t)
	_, base := startGate(t, kind, dir, up.URL, "match_username on")
	if s := status(t, base+"/odata/x", basicauth.Header("bob", c.Secret)); s != http.StatusUnauthorized {
		t.Errorf("mismatch: %d, want 401", s)
	}
	if s := status(t, base+"/odata/x", basicauth.Header("alice", c.Secret)); s != http.StatusOK {
		t.Errorf("match: %d, want 200", s)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
