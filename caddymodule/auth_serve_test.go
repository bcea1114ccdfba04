package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/token"
)

// TestServeHTTPOutcomes maps every way tokengate_auth's ServeHTTP ends to
// its status, headers and counted outcome, in process: a real bolt store
// and token.Validator, the handler set up as Provision does. Refusals never
// reach the next handler; 401 carries the Basic challenge, 405 Allow, 503
// Retry-After, 403 a short plain body; a pass sets exactly tokengate's
// identity headers upstream. Restricted tokens' refusals are recorded for
// their owners (ip_not_allowed, out_of_scope) with the client IP.
func TestServeHTTPOutcomes(t *testing.T) {
	f := newAuthFixture(t)
	ctx := context.Background()
	junk := f.alice.Secret[:len(f.alice.Secret)-1] + "!"
	unknown, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	expired := f.createExpired(t, "erin")
	revoked := f.create(t, "rob", "")
	if _, err := f.svc.Revoke(ctx, "rob", revoked.Token.ID); err != nil {
		t.Fatal(err)
	}
	uncached := f.create(t, "una", "")
	for _, owner := range []string{"alice", "vera", "wendy"} {
		if _, err := f.svc.SetVaultSecret(ctx, owner, "jira", "jira-secret-of-"+owner); err != nil {
			t.Fatal(err)
		}
	}
	vera, wendy := f.create(t, "vera", ""), f.create(t, "wendy", "")
	// httptest requests come from 192.0.2.1.
	farAway := f.createRestricted(t, "fay", token.CreateRequest{AllowedIPs: []string{"10.9.9.0/24", "2001:db8::/48"}})
	nearby := f.createRestricted(t, "nia", token.CreateRequest{AllowedIPs: []string{"192.0.2.0/24"}})
	issues := f.createRestricted(t, "ida", token.CreateRequest{Scopes: []string{"issues"}})
	both := f.createRestricted(t, "bo", token.CreateRequest{Scopes: []string{"issues", "worklogs"}})
	undefined := f.createRestricted(t, "una2", token.CreateRequest{Scopes: []string{"elsewhere"}})
	scoped := f.handler(t, &Auth{Realm: "test", ScopeAlways: []string{"/odata/", "/odata/$metadata"}, Scopes: map[string][]string{
		"issues": {"/odata/Issues*", "/odata/Sprints*"}, "worklogs": {"/odata/Worklogs*"},
	}}, f.sealer)

	strict := f.handler(t, &Auth{Realm: "test", MatchUsername: true}, f.sealer)
	post := f.handler(t, &Auth{Realm: "test", Methods: []string{"GET", "HEAD", "POST"}}, f.sealer)
	inject := []VaultInjection{{Kind: "jira", Header: "x-jira-api-token"}}
	vault := f.handler(t, &Auth{Realm: "test", InjectVault: inject}, f.sealer)
	other, err := token.NewSealer(make([]byte, token.VaultKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := f.handler(t, &Auth{Realm: "test", InjectVault: inject}, other)
	noStore := &Auth{Realm: "test"}
	if err := noStore.setup(f.h.logger, testApp{}); err != nil {
		t.Fatal(err)
	}

	const challenge = `Basic realm="test", charset="UTF-8"`
	type want struct {
		status  int
		outcome string
		headers map[string]string // response headers; "" = absent
		user    string            // X-Authenticated-User upstream (status 200)
		vault   string            // X-Jira-Api-Token upstream (status 200)
		body    string            // the response body, when not ""
		// owner, when set, must have a rejection recorded with reason,
		// from the request's IP.
		owner  string
		reason token.RejectReason
	}
	refused401 := func(outcome string) want {
		return want{status: 401, outcome: outcome, headers: map[string]string{"WWW-Authenticate": challenge, "Retry-After": "", "Allow": ""}}
	}
	refused405 := want{status: 405, outcome: "method_not_allowed", headers: map[string]string{"Allow": "GET, HEAD", "WWW-Authenticate": "", "Retry-After": ""}}
	refused503 := want{status: 503, outcome: "unavailable", headers: map[string]string{"Retry-After": RetryAfterSeconds, "WWW-Authenticate": ""}}
	passed := func(user string) want {
		return want{status: 200, outcome: "valid", user: user, headers: map[string]string{"WWW-Authenticate": "", "Retry-After": ""}}
	}
	ipRefused := func(owner string) want {
		w := refused401(string(token.RejectIPNotAllowed))
		w.owner, w.reason = owner, token.RejectIPNotAllowed
		return w
	}
	outOfScope := func(owner string) want {
		return want{status: 403, outcome: string(token.RejectOutOfScope), body: outOfScopeBody, owner: owner, reason: token.RejectOutOfScope,
			headers: map[string]string{"Content-Type": "text/plain; charset=utf-8", "WWW-Authenticate": "", "Retry-After": ""}}
	}
	withVault := passed("alice")
	withVault.vault = "jira-secret-of-alice"

	for _, c := range []struct {
		name   string
		h      *Auth
		method string
		path   string       // default /odata/Issues
		client string       // Caddy's client_ip (trusted proxies); "" the connection's, 192.0.2.1
		authz  string       // Authorization; "" none
		down   *atomic.Bool // switched on for the case
		want   want
	}{
		{name: "no credential", authz: "", want: refused401("missing")},
		{name: "not Basic", authz: "Bearer " + f.alice.Secret, want: refused401("malformed")},
		{name: "bad checksum", authz: basicauth.Header("alice", junk), want: refused401("malformed")},
		{name: "unknown token", authz: basicauth.Header("alice", unknown), want: refused401("unknown")},
		{name: "expired token", authz: basicauth.Header("erin", expired.Secret), want: refused401("expired")},
		{name: "revoked token", authz: basicauth.Header("rob", revoked.Secret), want: refused401("revoked")},
		{name: "user name mismatch, match_username on", h: strict, authz: basicauth.Header("bob", f.alice.Secret), want: refused401("username_mismatch")},
		{name: "user name mismatch, match_username off", authz: basicauth.Header("bob", f.alice.Secret), want: passed("alice")},
		{name: "valid token", authz: basicauth.Header("alice", f.alice.Secret), want: passed("alice")},
		{name: "HEAD", method: http.MethodHead, authz: basicauth.Header("alice", f.alice.Secret), want: passed("alice")},
		{name: "POST with a valid token", method: http.MethodPost, authz: basicauth.Header("alice", f.alice.Secret), want: refused405},
		{name: "TRACE without a credential", method: http.MethodTrace, want: refused405},
		{name: "lower-case get", method: "get", authz: basicauth.Header("alice", f.alice.Secret), want: refused405},
		{name: "POST allowed by methods", h: post, method: http.MethodPost, authz: basicauth.Header("alice", f.alice.Secret), want: passed("alice")},
		{name: "no open store", h: noStore, authz: basicauth.Header("alice", f.alice.Secret), want: refused503},
		{name: "store unreachable", down: &f.store.tokensDown, authz: basicauth.Header("una", uncached.Secret), want: refused503},
		{name: "store unreachable, token cached", down: &f.store.tokensDown, authz: basicauth.Header("alice", f.alice.Secret), want: passed("alice")},
		{name: "vault injected", h: vault, authz: basicauth.Header("alice", f.alice.Secret), want: withVault},
		{name: "vault unreachable", h: vault, down: &f.store.vaultDown, authz: basicauth.Header("vera", vera.Secret), want: refused503},
		{name: "vault secret undecryptable", h: wrongKey, authz: basicauth.Header("wendy", wendy.Secret),
			want: want{status: 500, outcome: "valid", headers: map[string]string{"WWW-Authenticate": "", "Retry-After": ""}}},
		{name: "IP outside the allow-list", authz: basicauth.Header("fay", farAway.Secret), want: ipRefused("fay")},
		{name: "IP outside the allow-list, wrong user name too", h: strict, authz: basicauth.Header("bob", farAway.Secret), want: ipRefused("fay")},
		{name: "IP inside the allow-list", authz: basicauth.Header("nia", nearby.Secret), want: passed("nia")},
		{name: "client_ip inside the allow-list", client: "10.9.9.7", authz: basicauth.Header("fay", farAway.Secret), want: passed("fay")},
		{name: "client_ip outside the allow-list", client: "2001:db9::1", authz: basicauth.Header("nia", nearby.Secret), want: ipRefused("nia")},
		{name: "scoped token in its scope", h: scoped, path: "/odata/Sprints(7)", authz: basicauth.Header("ida", issues.Secret), want: passed("ida")},
		{name: "scoped token, any case", h: scoped, path: "/ODATA/issues", authz: basicauth.Header("ida", issues.Secret), want: passed("ida")},
		{name: "scoped token, scope_always", h: scoped, path: "/odata/$metadata", authz: basicauth.Header("ida", issues.Secret), want: passed("ida")},
		{name: "scoped token out of scope", h: scoped, path: "/odata/Worklogs", authz: basicauth.Header("ida", issues.Secret), want: outOfScope("ida")},
		{name: "scoped token, dot segments", h: scoped, path: "/odata/Issues/../Worklogs", authz: basicauth.Header("ida", issues.Secret), want: outOfScope("ida")},
		{name: "scoped token out of scope, HEAD", h: scoped, method: http.MethodHead, path: "/odata/Users", authz: basicauth.Header("ida", issues.Secret), want: outOfScope("ida")},
		{name: "two scopes, the second", h: scoped, path: "/odata/Worklogs", authz: basicauth.Header("bo", both.Secret), want: passed("bo")},
		{name: "scope the handler does not define, scope_always", h: scoped, path: "/odata/", authz: basicauth.Header("una2", undefined.Secret), want: passed("una2")},
		{name: "scope the handler does not define", h: scoped, authz: basicauth.Header("una2", undefined.Secret), want: outOfScope("una2")},
		{name: "scoped token, handler without scopes", authz: basicauth.Header("bo", both.Secret), want: outOfScope("bo")},
		{name: "unrestricted token, scoped handler", h: scoped, path: "/odata/Worklogs", authz: basicauth.Header("alice", f.alice.Secret), want: passed("alice")},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.h
			if h == nil {
				h = f.h
			}
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			if c.down != nil {
				c.down.Store(true)
				defer c.down.Store(false)
			}
			counted := metricsOutcome(c.want.outcome)
			before := counterValue(t, counted)

			path := c.path
			if path == "" {
				path = "/odata/Issues"
			}
			req := httptest.NewRequest(method, path, nil)
			if c.authz != "" {
				req.Header.Set("Authorization", c.authz)
			}
			req.Header.Set(HeaderUser, "mallory") // a client-sent identity
			req.Header.Set("X-Jira-Api-Token", "forged")
			req.Header.Set("X-Forwarded-Prefix", "/elsewhere")
			ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
			if c.client != "" {
				ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: c.client})
			}
			req = req.WithContext(ctx)
			w := httptest.NewRecorder()
			var upstream http.Header
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				upstream = r.Header.Clone()
				w.WriteHeader(http.StatusOK)
				return nil
			})
			status := http.StatusOK
			if err := h.ServeHTTP(w, req, next); err == nil {
				status = w.Code // written by the handler (403) or by next
			} else {
				var he caddyhttp.HandlerError
				if !errors.As(err, &he) {
					t.Fatalf("error %v is not a caddyhttp.HandlerError", err)
				}
				status = he.StatusCode
			}

			if status != c.want.status {
				t.Errorf("status %d, want %d", status, c.want.status)
			}
			if got := counterValue(t, counted) - before; got != 1 {
				t.Errorf("outcome %s counted %v times, want once", c.want.outcome, got)
			}
			for name, v := range c.want.headers {
				if got := w.Header().Get(name); got != v {
					t.Errorf("response header %s = %q, want %q", name, got, v)
				}
			}
			if c.want.body != "" && method != http.MethodHead && w.Body.String() != c.want.body {
				t.Errorf("body %q, want %q", w.Body.String(), c.want.body)
			}
			if c.want.owner != "" {
				ip := c.client
				if ip == "" {
					ip = "192.0.2.1"
				}
				checkRejection(t, f, c.want.owner, c.want.reason, ip)
			}
			if c.want.status != http.StatusOK {
				if upstream != nil {
					t.Errorf("refused request reached the next handler")
				}
				return
			}
			if upstream == nil {
				t.Fatal("the next handler was not called")
			}
			if got := upstream.Values(HeaderUser); len(got) != 1 || got[0] != c.want.user {
				t.Errorf("upstream %s = %q, want exactly [%s]", HeaderUser, got, c.want.user)
			}
			if got := upstream.Values(HeaderTokenID); len(got) != 1 || got[0] == "" {
				t.Errorf("upstream %s = %q, want the token id", HeaderTokenID, got)
			}
			for _, name := range []string{"Authorization", "X-Forwarded-Prefix"} {
				if upstream.Get(name) != "" {
					t.Errorf("the client's %s reached the upstream", name)
				}
			}
			if got := upstream.Get("X-Jira-Api-Token"); h.inject != nil && got != c.want.vault {
				t.Errorf("upstream X-Jira-Api-Token = %q, want %q", got, c.want.vault)
			}
			repl := req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			if id, _ := repl.GetString("http.auth.user.id"); id != c.want.user {
				t.Errorf("{http.auth.user.id} = %q, want %q", id, c.want.user)
			}
		})
	}
}

// checkRejection fails t unless owner's latest recorded rejection has
// reason and ip (written behind: flushed first).
func checkRejection(t *testing.T, f *authFixture, owner string, reason token.RejectReason, ip string) {
	t.Helper()
	ctx := context.Background()
	if err := f.v.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := f.store.Rejections(ctx, owner, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Reason != reason || rs[0].IP != ip {
		t.Errorf("latest rejection of %s = %+v, want %s from %s", owner, rs, reason, ip)
	}
}

// metricsOutcome returns the request counter of outcome.
func metricsOutcome(outcome string) prometheus.Counter {
	initMetrics()
	return metrics.requests.WithLabelValues(outcome)
}

// counterValue reads c.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
