package portal

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
)

type adminTokenPage struct {
	Tokens []apiToken `json:"tokens"`
	Next   string     `json:"next_cursor"`
}

// TestAdminAPIPages: the admin token list and history come in pages
// (limit, cursor, next_cursor "" on the last) that cover every item once,
// with or without an owner filter; bad limits and cursors are 400.
func TestAdminAPIPages(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		for i := range 5 {
			e.create([]string{"alice", "bob"}[i%2], fmt.Sprintf("token %d", i), "")
		}
		pages := func(query string) (owners []string, n int) {
			t.Helper()
			seen := map[string]bool{}
			cursor := ""
			for {
				var p adminTokenPage
				r := e.do("GET", "/api/admin/tokens?limit=2"+query+"&cursor="+cursor, "carol", "")
				r.json(t, &p)
				if r.status != 200 || len(p.Tokens) > 2 {
					t.Fatalf("page %q: %d %s", cursor, r.status, r.body)
				}
				for _, tk := range p.Tokens {
					if seen[tk.ID] {
						t.Fatalf("token %s on two pages", tk.ID)
					}
					seen[tk.ID] = true
					owners = append(owners, tk.Owner)
				}
				n++
				if p.Next == "" {
					return owners, n
				}
				cursor = p.Next
			}
		}
		if owners, n := pages(""); len(owners) != 5 || n != 3 {
			t.Errorf("all tokens: %v in %d pages, want 5 in 3", owners, n)
		}
		if owners, n := pages("&owner=alice"); len(owners) != 3 || n != 2 || strings.Count(strings.Join(owners, " "), "alice") != 3 {
			t.Errorf("alice's tokens: %v in %d pages, want 3 of alice in 2", owners, n)
		}
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=" + strings.Repeat("z", 300)} {
			if r := e.do("GET", "/api/admin/tokens?"+q, "carol", ""); r.status != 400 {
				t.Errorf("tokens?%s: %d %s, want 400", q, r.status, r.body)
			}
		}

		var h struct {
			Events []apiEvent `json:"events"`
			Next   string     `json:"next_cursor"`
		}
		r := e.do("GET", "/api/admin/history?owner=alice&limit=2", "carol", "")
		r.json(t, &h)
		if r.status != 200 || len(h.Events) != 2 || h.Next == "" {
			t.Fatalf("history page 1: %s", r.body)
		}
		first := h.Events[0].ID
		e.do("GET", "/api/admin/history?owner=alice&limit=2&cursor="+h.Next, "carol", "").json(t, &h)
		if len(h.Events) != 1 || h.Next != "" || h.Events[0].ID == first || h.Events[0].Owner != "alice" {
			t.Errorf("history page 2: %+v next %q", h.Events, h.Next)
		}
		if r := e.do("GET", "/api/admin/history?cursor=bad", "carol", ""); r.status != 400 {
			t.Errorf("history with a bad cursor: %d %s", r.status, r.body)
		}
	})
}

var nextLink = regexp.MustCompile(`id="admin-next" href="([^"]+)"`)

// TestAdminPagePages: the admin view shows one page of tokens (limit at
// most MaxAdminRows) with a "Next page" link that keeps the owner filter,
// has no list of every owner, and shows the first page for a bad cursor.
func TestAdminPagePages(t *testing.T) {
	forEachStore(t, envOptions{admins: []string{"carol"}}, func(t *testing.T, e *env) {
		for i := range 5 {
			e.create([]string{"alice", "bob"}[i%2], fmt.Sprintf("token %d", i), "")
		}
		rows := func(page string) int { return strings.Count(page, "data-admin-token-id=") }
		page := string(e.do("GET", "/?limit=2", "carol", "").body)
		if strings.Contains(page, "<datalist") || rows(page) != 2 {
			t.Fatalf("first page: %d rows (datalist %v)", rows(page), strings.Contains(page, "<datalist"))
		}
		total := 0
		for range 5 {
			total += rows(page)
			m := nextLink.FindStringSubmatch(page)
			if m == nil {
				break
			}
			next := html.UnescapeString(m[1])
			if !strings.Contains(next, "limit=2") || !strings.Contains(next, "cursor=") {
				t.Fatalf("next link %q", next)
			}
			page = string(e.do("GET", "/"+next, "carol", "").body)
			if !strings.Contains(page, `id="admin-first"`) {
				t.Errorf("a later page has no link to the first")
			}
		}
		if total != 5 {
			t.Errorf("pages showed %d tokens, want 5", total)
		}

		page = string(e.do("GET", "/?owner=bob&limit=1", "carol", "").body)
		m := nextLink.FindStringSubmatch(page)
		if rows(page) != 1 || m == nil || !strings.Contains(html.UnescapeString(m[1]), "owner=bob") || strings.Contains(page, "token 0") {
			t.Fatalf("bob's first page: next %v\n%s", m, page)
		}
		page = string(e.do("GET", "/?cursor=%20bad&before=bad", "carol", "").body)
		if rows(page) != 5 || !strings.Contains(page, "showing the") {
			t.Errorf("bad cursors: %d rows, no message", rows(page))
		}
		if page := string(e.do("GET", "/?limit=1000", "carol", "").body); rows(page) != 5 || strings.Contains(page, "limit must") {
			t.Errorf("limit above MaxAdminRows: %d rows", rows(page))
		}
	})
}
