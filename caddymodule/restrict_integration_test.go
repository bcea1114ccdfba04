package caddymodule_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/token"
)

// restrictScopes are the tokengate_auth options of TestRestrictions: the
// quickstart's scopes.
const restrictScopes = `scope issues   /odata/Issues* /odata/Sprints* /odata/Projects*
			scope worklogs /odata/Worklogs* /odata/Users*
			scope_always   /odata/ /odata/$metadata`

// TestRestrictions (issue 9): in the real binary, on both stores, a token
// limited to 10.9.9.0/24 gets 401 with the challenge from 127.0.0.1 and its
// owner sees an ip_not_allowed rejection with that IP on the token page; one
// limited to 127.0.0.0/8 gets 200; a token scoped to issues reaches the
// issue entity sets, the service document and $metadata, and gets 403 (a
// short plain body) on Worklogs, recorded as out_of_scope; an unrestricted
// token reaches everything. Refused requests never reach the upstream. The
// token page creates scoped tokens with the scope names the handler
// defines and refuses others.
func TestRestrictions(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := postgresKind(t)
			if name == "bolt" {
				kind = boltKind(t, dir)
			}
			st := kind.open(t)
			svc := token.NewService(st, token.Policy{KnownScopes: func() []string { return []string{"issues", "worklogs"} }}, nil, nil)
			create := func(owner string, req token.CreateRequest) token.Created {
				t.Helper()
				req.Label = "restricted"
				c, err := svc.CreateWith(context.Background(), owner, req)
				if err != nil {
					t.Fatalf("seed %s: %v", owner, err)
				}
				return c
			}
			far := create("fay", token.CreateRequest{AllowedIPs: []string{"10.9.9.0/24"}})
			near := create("nia", token.CreateRequest{AllowedIPs: []string{"127.0.0.0/8", "2001:db8::/48"}})
			issues := create("ida", token.CreateRequest{Scopes: []string{"issues"}})
			plain := create("alice", token.CreateRequest{})
			st.Close() // the bolt file is locked while the gate runs

			up := newEchoUpstream(t)
			var mu sync.Mutex
			seen := map[string]int{} // upstream requests by path
			echo := up.Config.Handler
			up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen[r.URL.Path]++
				mu.Unlock()
				echo.ServeHTTP(w, r)
			})
			inst, base := startGate(t, kind, dir, up.URL, restrictScopes)

			resp, _ := get(t, base+"/odata/Issues", basicauth.Header("fay", far.Secret), nil)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="Jira export", charset="UTF-8"` {
				t.Errorf("token limited to 10.9.9.0/24 from 127.0.0.1: %d %q, want 401 with the challenge",
					resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			if s := status(t, base+"/odata/Issues", basicauth.Header("nia", near.Secret)); s != http.StatusOK {
				t.Errorf("token limited to 127.0.0.0/8 from 127.0.0.1: %d, want 200", s)
			}
			for _, p := range []string{"/odata/Issues", "/odata/Projects('P1')", "/odata/", "/odata/$metadata"} {
				if s := status(t, base+p, basicauth.Header("ida", issues.Secret)); s != http.StatusOK {
					t.Errorf("token scoped to issues on %s: %d, want 200", p, s)
				}
			}
			resp, body := get(t, base+"/odata/Worklogs", basicauth.Header("ida", issues.Secret), nil)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "scopes do not include this path") ||
				strings.Contains(body, issues.Secret) || resp.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("token scoped to issues on /odata/Worklogs: %d %q (challenge %q), want 403 with a short body",
					resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
			for _, p := range []string{"/odata/Issues", "/odata/Worklogs", "/odata/Users", "/odata/$metadata"} {
				if s := status(t, base+p, basicauth.Header("alice", plain.Secret)); s != http.StatusOK {
					t.Errorf("unrestricted token on %s: %d, want 200", p, s)
				}
			}
			mu.Lock()
			if n := seen["/odata/Worklogs"]; n != 1 { // alice's only
				t.Errorf("the upstream saw /odata/Worklogs %d times, want once (the scoped token's request refused)", n)
			}
			mu.Unlock()
			for outcome, want := range map[string]float64{"ip_not_allowed": 1, "out_of_scope": 1} {
				if got := metricValue(t, inst, `caddy_tokengate_auth_requests_total{outcome="`+outcome+`"}`); got != want {
					t.Errorf("outcome %s counted %v times, want %v", outcome, got, want)
				}
			}

			// The owners see why: reason and IP on the token page.
			waitRejection(t, base, "fay", far.Token.ID, token.RejectIPNotAllowed)
			waitRejection(t, base, "ida", issues.Token.ID, token.RejectOutOfScope)

			// The token page creates tokens with the handler's scopes.
			c := portalCreate(t, base, "ida", `{"label":"worklogs only","scopes":["worklogs"]}`, http.StatusCreated)
			if s := status(t, base+"/odata/Users", basicauth.Header("ida", c)); s != http.StatusOK {
				t.Errorf("token created on the page with scope worklogs on /odata/Users: %d, want 200", s)
			}
			if s := status(t, base+"/odata/Issues", basicauth.Header("ida", c)); s != http.StatusForbidden {
				t.Errorf("token created on the page with scope worklogs on /odata/Issues: %d, want 403", s)
			}
			portalCreate(t, base, "ida", `{"label":"unknown","scopes":["sprints"]}`, http.StatusBadRequest)
		})
	}
}

// waitRejection waits (the write-behind flushes every 200 ms) until owner's
// token page lists a rejection of tokenID with reason from 127.0.0.1.
func waitRejection(t *testing.T, base, owner, tokenID string, reason token.RejectReason) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, body := get(t, base+"/tokens/api/rejections", "", map[string]string{"X-Test-User": owner})
		last = body
		var out struct {
			Rejections []struct {
				TokenID string `json:"token_id"`
				IP      string `json:"ip"`
				Reason  string `json:"reason"`
			} `json:"rejections"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			continue
		}
		for _, r := range out.Rejections {
			if r.TokenID == tokenID && r.Reason == string(reason) && r.IP == "127.0.0.1" {
				return
			}
		}
	}
	t.Errorf("%s's token page lists no %s rejection of %s from 127.0.0.1; last answer %s", owner, reason, tokenID, last)
}

// portalCreate posts body to the token page API as owner, wants status,
// and returns the new secret ("" unless 201).
func portalCreate(t *testing.T, base, owner, body string, want int) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/tokens/api/tokens", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-User", owner)
	req.Header.Set("Origin", base)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("create %s as %s: %d %s, want %d", body, owner, resp.StatusCode, raw, want)
	}
	var out struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(raw, &out)
	return out.Token
}
