package portal

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAdminRoutesRefuseNonAdmins(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		b := e.create("bob", "bob's", "")
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/admin/tokens", ""},
			{"DELETE", "/api/admin/tokens/" + b.ID, ""},
			{"DELETE", "/api/admin/users/bob/tokens", ""},
			{"GET", "/api/admin/history", ""},
			{"POST", "/api/admin/cap", `{"max_lifetime":"1d"}`},
		} {
			r := e.do(c.method, c.path, "alice", c.body)
			if r.status != http.StatusForbidden || !strings.Contains(r.errMsg(t), "administrators") {
				t.Errorf("%s %s as alice: %d %s, want 403", c.method, c.path, r.status, r.body)
			}
		}
		if ts := e.list("bob"); len(ts) != 1 || ts[0].ExpiresAt != nil {
			t.Fatalf("bob's token changed by refused requests: %+v", ts)
		}
		if page := string(e.do("GET", "/", "alice", "").body); strings.Contains(page, "Administration") {
			t.Errorf("non-admin page shows the admin view")
		}
	})
}

func TestAdminListRevokeHistory(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		a := e.create("alice", "alice one", "")
		b1 := e.create("bob", "bob one", "")
		b2 := e.create("bob", "bob two", "2026-04-01")

		var list struct {
			Tokens []apiToken `json:"tokens"`
			Total  *int       `json:"total"`
		}
		r := e.do("GET", "/api/admin/tokens", "carol", "")
		r.json(t, &list)
		if r.status != 200 || len(list.Tokens) != 3 || r.header.Get("Cache-Control") != "no-store" || list.Total == nil || *list.Total != 3 {
			t.Fatalf("admin list: %d %s", r.status, r.body)
		}
		for _, s := range []string{a.Token, b1.Token, b2.Token} {
			if strings.Contains(string(r.body), s) {
				t.Fatalf("admin list contains a secret")
			}
		}
		r = e.do("GET", "/api/admin/tokens?owner=bob", "carol", "")
		r.json(t, &list)
		if len(list.Tokens) != 2 || list.Tokens[0].Owner != "bob" || list.Tokens[1].Owner != "bob" || *list.Total != 2 {
			t.Fatalf("admin list owner=bob: %s", r.body)
		}
		if r := e.do("GET", "/api/admin/tokens?owner="+strings.Repeat("x", 300), "carol", ""); r.status != 400 || !strings.HasPrefix(r.errMsg(t), "owner:") {
			t.Errorf("overlong owner filter: %d %s", r.status, r.body)
		}

		// Revoke one of alice's tokens as an administrator.
		if r := e.do("DELETE", "/api/admin/tokens/"+a.ID, "carol", ""); r.status != 204 {
			t.Fatalf("admin revoke: %d %s", r.status, r.body)
		}
		if r := e.do("DELETE", "/api/admin/tokens/"+a.ID, "carol", ""); r.status != 404 {
			t.Errorf("admin revoke twice: %d, want 404", r.status)
		}
		if ts := e.list("alice"); len(ts) != 0 {
			t.Errorf("alice still has %+v", ts)
		}

		// Off-boarding bob.
		r = e.do("DELETE", "/api/admin/users/bob/tokens", "carol", "")
		var rv struct {
			Revoked int `json:"revoked"`
		}
		r.json(t, &rv)
		if r.status != 200 || rv.Revoked != 2 {
			t.Fatalf("revoke all of bob: %d %s", r.status, r.body)
		}
		if ts := e.list("bob"); len(ts) != 0 {
			t.Errorf("bob still has %+v", ts)
		}
		r = e.do("DELETE", "/api/admin/users/bob/tokens", "carol", "")
		r.json(t, &rv)
		if r.status != 200 || rv.Revoked != 0 {
			t.Errorf("revoke all of bob again: %d %s", r.status, r.body)
		}

		// History: 3 creates, 3 revokes by carol, never a secret.
		r = e.do("GET", "/api/admin/history", "carol", "")
		var h struct {
			Events []apiEvent `json:"events"`
		}
		r.json(t, &h)
		kinds := map[string]int{}
		for _, ev := range h.Events {
			kinds[ev.Kind]++
			if ev.Kind == "revoke" && ev.Actor != "carol" {
				t.Errorf("revoke event by %q, want carol", ev.Actor)
			}
		}
		if kinds["create"] != 3 || kinds["revoke"] != 3 {
			t.Errorf("history kinds %v, want 3 create and 3 revoke: %s", kinds, r.body)
		}
		r = e.do("GET", "/api/admin/history?owner=alice&limit=1", "carol", "")
		r.json(t, &h)
		if len(h.Events) != 1 || h.Events[0].Owner != "alice" || h.Events[0].Kind != "revoke" {
			t.Errorf("alice's newest event: %s", r.body)
		}
		for _, bad := range []string{"0", "1001", "x"} {
			if r := e.do("GET", "/api/admin/history?limit="+bad, "carol", ""); r.status != 400 || !strings.Contains(r.errMsg(t), "limit") {
				t.Errorf("limit=%s: %d %s", bad, r.status, r.body)
			}
		}
		// Admin page: history and owner filter rendered.
		page := string(e.do("GET", "/?owner=bob", "carol", "").body)
		for _, want := range []string{"Administration", `value="bob"`, "All tokens of bob", "Tokens history of bob", "bob two"} {
			if !strings.Contains(page, want) {
				t.Errorf("admin page lacks %q", want)
			}
		}
		if strings.Contains(page, "alice one") {
			t.Errorf("filtered admin page shows alice")
		}
	})
}

func TestAdminCap(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		never := e.create("alice", "never", "")
		far := e.create("bob", "far", "2027-01-01")
		near := e.create("bob", "near", "2026-03-20")

		for _, c := range []struct{ body, want string }{
			{`{"max_lifetime":""}`, "required"},
			{`{"max_lifetime":"abc"}`, "not a lifetime"},
			{`{"max_lifetime":"0d"}`, "positive"},
			{`{"max_lifetime":"-5h"}`, "positive"},
			{`{"max_lifetime":"99999d"}`, "too long"},
			{`{"max_lifetime":90}`, `"max_lifetime" must be a string`},
			{`{"limit":"90d"}`, `unknown field "limit"`},
		} {
			r := e.do("POST", "/api/admin/cap", "carol", c.body)
			if r.status != 400 || !strings.Contains(r.errMsg(t), c.want) {
				t.Errorf("cap %s: %d %s, want 400 with %q", c.body, r.status, r.body, c.want)
			}
		}
		if r := e.do("POST", "/api/admin/cap", "carol", `{"max_lifetime":"30d"}`, "Content-Type: text/plain"); r.status != 415 {
			t.Errorf("cap as text/plain: %d", r.status)
		}

		r := e.do("POST", "/api/admin/cap", "carol", `{"max_lifetime":"30d"}`)
		var out struct {
			Changed   int    `json:"changed"`
			ExpiresBy string `json:"expires_by"`
		}
		r.json(t, &out)
		limit := startTime.Add(30 * 24 * time.Hour).Format(time.RFC3339)
		if r.status != 200 || out.Changed != 2 || out.ExpiresBy != limit {
			t.Fatalf("cap 30d: %d %s, want 2 changed, expires_by %s", r.status, r.body, limit)
		}
		expires := map[string]string{}
		for _, who := range []string{"alice", "bob"} {
			for _, tk := range e.list(who) {
				if tk.ExpiresAt != nil {
					expires[tk.ID] = *tk.ExpiresAt
				}
			}
		}
		if expires[never.ID] != limit || expires[far.ID] != limit || expires[near.ID] != "2026-03-21T00:00:00Z" {
			t.Errorf("after cap: %v, want never and far at %s, near unchanged", expires, limit)
		}
		// Raising the limit lengthens nothing.
		r = e.do("POST", "/api/admin/cap", "carol", `{"max_lifetime":"365d"}`)
		r.json(t, &out)
		if out.Changed != 0 {
			t.Errorf("cap 365d after 30d changed %d", out.Changed)
		}
		// A Go duration works too.
		r = e.do("POST", "/api/admin/cap", "carol", `{"max_lifetime":"48h"}`)
		r.json(t, &out)
		if r.status != 200 || out.Changed != 3 {
			t.Errorf("cap 48h: %d %s, want 3 changed", r.status, r.body)
		}
	})
}

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, " 1d ": 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseLifetime(in); err != nil || got != want {
			t.Errorf("ParseLifetime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-1d", "0h", "1y", "9999999d", "876001h"} {
		if got, err := ParseLifetime(in); err == nil {
			t.Errorf("ParseLifetime(%q) = %v, want an error", in, got)
		}
	}
}
