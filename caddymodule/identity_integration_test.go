package caddymodule_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/token"
)

// received is what trailerUpstream saw of one request.
type received struct {
	Method  string      `json:"method"`
	Header  http.Header `json:"header"`
	Trailer http.Header `json:"trailer"`
	Body    string      `json:"body"`
}

// trailerUpstream is a real HTTP upstream that reads each request body to
// the end (so net/http has parsed any trailers), then records and answers
// with the method, headers, trailers and body it got, by request path.
type trailerUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]received
}

// newTrailerUpstream starts a trailerUpstream, closed when the test ends.
func newTrailerUpstream(t testing.TB) *trailerUpstream {
	t.Helper()
	u := &trailerUpstream{seen: map[string]received{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec := received{Method: r.Method, Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), Body: string(body)}
		u.mu.Lock()
		u.seen[r.URL.Path] = rec
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rec)
	}))
	t.Cleanup(u.Close)
	return u
}

// request returns what the upstream received for path, and whether it got one.
func (u *trailerUpstream) request(path string) (received, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	rec, ok := u.seen[path]
	return rec, ok
}

// rawRequest sends raw (an HTTP/1.1 request, written byte for byte) to the
// instance at base on a new connection and returns the response status.
func rawRequest(t testing.TB, base, raw string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// headerKeys returns the keys of h that equal name ignoring case and
// with '_' == '-' (every spelling an upstream could read as name).
func headerKeys(h http.Header, name string) []string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	var keys []string
	for k := range h {
		if norm(k) == norm(name) {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestIdentityReachesUpstreamExactly (issue 8, point 6): whatever a client
// with a valid token sends — identity, vault or Authorization headers named
// in Connection (which reverse_proxy treats as hop-by-hop and deletes),
// trailers with those names after a chunked body (declared or not), an
// X-Forwarded-Prefix — the upstream receives exactly the identity and vault
// headers tokengate set, no Authorization, no client trailer and no
// X-Forwarded-Prefix. On both stores, in the real binary.
func TestIdentityReachesUpstreamExactly(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := postgresKind(t)
			if name == "bolt" {
				kind = boltKind(t, dir)
			}
			keyB64, sealer := newVaultKey(t)
			const jiraSecret = "ATATT3xFfGF0-alice-jira-api-token-identity"
			st := kind.open(t)
			svc := token.NewService(st, token.Policy{}, nil, nil)
			svc.EnableVault(sealer, nil)
			alice := seed(t, st, "alice", "Power BI")
			if _, err := svc.SetVaultSecret(context.Background(), "alice", "jira", jiraSecret); err != nil {
				t.Fatal(err)
			}
			st.Close()
			kind.directive += "\n\t\tvault_key {env.TG_VAULT_KEY}"
			kind.env = append(kind.env, "TG_VAULT_KEY="+keyB64)

			up := newTrailerUpstream(t)
			_, base := startGate(t, kind, dir, up.URL, "inject_vault jira X-Jira-Api-Token")
			host := strings.TrimPrefix(base, "http://")
			authz := basicauth.Header("alice", alice.Secret)

			// exact checks what the upstream received for path: exactly
			// tokengate's identity and vault headers, and nothing forged.
			exact := func(t *testing.T, path string) received {
				t.Helper()
				rec, ok := up.request(path)
				if !ok {
					t.Fatalf("%s did not reach the upstream", path)
				}
				for _, c := range []struct{ name, want string }{
					{"X-Authenticated-User", "alice"},
					{"X-Access-Token-Id", alice.Token.ID},
					{"X-Jira-Api-Token", jiraSecret},
				} {
					keys := headerKeys(rec.Header, c.name)
					if len(keys) != 1 || keys[0] != c.name || len(rec.Header[c.name]) != 1 || rec.Header[c.name][0] != c.want {
						t.Errorf("%s: upstream %s = %v (keys %q), want exactly [%s]", path, c.name, rec.Header[c.name], keys, c.want)
					}
				}
				for _, forbidden := range []string{"Authorization", "X-Forwarded-Prefix", "Trailer"} {
					if keys := headerKeys(rec.Header, forbidden); len(keys) != 0 {
						t.Errorf("%s: upstream got header %s = %v", path, forbidden, rec.Header[keys[0]])
					}
				}
				if len(rec.Trailer) != 0 {
					t.Errorf("%s: upstream got trailers %v, want none", path, rec.Trailer)
				}
				return rec
			}

			t.Run("Connection names the identity", func(t *testing.T) {
				const path = "/odata/connection"
				s := rawRequest(t, base, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n"+
					"Authorization: "+authz+"\r\n"+
					"X-Authenticated-User: mallory\r\nX-Access-Token-Id: forged\r\nX-Jira-Api-Token: forged\r\n"+
					"Connection: close, X-Authenticated-User, X-Access-Token-Id\r\n"+
					"Connection: x-jira-api-token, AUTHORIZATION\r\n\r\n")
				if s != http.StatusOK {
					t.Fatalf("status %d, want 200", s)
				}
				exact(t, path)
			})

			for _, c := range []struct{ name, method, declare string }{
				{"declared trailers", http.MethodGet, "Trailer: X-Authenticated-User, X-Access-Token-Id, Authorization, X-Jira-Api-Token\r\n"},
				{"undeclared trailers", http.MethodGet, ""},
				{"declared trailers on POST", http.MethodPost, "Trailer: X-Authenticated-User, X-Access-Token-Id, Authorization, X-Jira-Api-Token\r\n"},
			} {
				t.Run(c.name, func(t *testing.T) {
					path := "/odata/trailers-" + strings.ReplaceAll(c.name, " ", "-")
					s := rawRequest(t, base, c.method+" "+path+" HTTP/1.1\r\nHost: "+host+"\r\n"+
						"Authorization: "+authz+"\r\n"+
						"Transfer-Encoding: chunked\r\n"+c.declare+"Connection: close\r\n\r\n"+
						"5\r\nhello\r\n6\r\n world\r\n0\r\n"+
						"X-Authenticated-User: mallory\r\nX-Access-Token-Id: forged\r\n"+
						"Authorization: Basic Zm9yZ2Vk\r\nX-Jira-Api-Token: forged\r\n\r\n")
					if c.method == http.MethodPost && s == http.StatusMethodNotAllowed {
						// methods (default GET HEAD) refuses it: then it must not have gone anywhere.
						if _, ok := up.request(path); ok {
							t.Fatal("a POST answered 405 reached the upstream")
						}
						return
					}
					if s != http.StatusOK {
						t.Fatalf("status %d, want 200", s)
					}
					if rec := exact(t, path); rec.Body != "hello world" || rec.Method != c.method {
						t.Errorf("upstream got %s with body %q, want %s with %q", rec.Method, rec.Body, c.method, "hello world")
					}
				})
			}

			t.Run("X-Forwarded-Prefix", func(t *testing.T) {
				const path = "/odata/prefix"
				resp, body := get(t, base+path, authz, map[string]string{"X-Forwarded-Prefix": "/evil"})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				exact(t, path)
				if strings.Contains(body, "/evil") {
					t.Errorf("the upstream's answer mentions /evil: %s", body)
				}
			})

			t.Run("plain request", func(t *testing.T) {
				const path = "/odata/plain"
				if s := rawRequest(t, base, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", path, host, authz)); s != http.StatusOK {
					t.Fatalf("status %d, want 200", s)
				}
				exact(t, path)
			})
		})
	}
}
