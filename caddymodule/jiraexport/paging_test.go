package jiraexport

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

type keyOnly struct{ Key string }

func keysOf(rows []keyOnly) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Key
	}
	return out
}

func TestPagingFollowsEveryNextLink(t *testing.T) {
	const pageSize = 300
	svc, srv := newTestService(t, Config{Issues: 5000, PageSize: pageSize})
	_, big := newTestService(t, Config{Issues: 5000, PageSize: 10000})
	counts := map[string]int{}
	for _, user := range []string{"alice", "bob", "carol"} {
		want := svc.VisibleIssueCount(user)
		url := srv.URL + "/Issues?$select=Key"
		var got []string
		pages := 0
		for url != "" {
			p := getPage[keyOnly](t, url, user)
			pages++
			if p.NextLink != "" && len(p.Value) != pageSize {
				t.Fatalf("%s: page %d has %d rows, want %d before the last page", user, pages, len(p.Value), pageSize)
			}
			if p.NextLink != "" && !strings.HasPrefix(p.NextLink, srv.URL+"/Issues?$select=Key&$skiptoken=") {
				t.Fatalf("%s: nextLink %q does not keep the query and point at the service", user, p.NextLink)
			}
			got = append(got, keysOf(p.Value)...)
			url = p.NextLink
		}
		if len(got) != want {
			t.Fatalf("%s: %d rows over %d pages, VisibleIssueCount %d", user, len(got), pages, want)
		}
		if wantPages := (want + pageSize - 1) / pageSize; pages != wantPages {
			t.Errorf("%s: %d pages, want %d", user, pages, wantPages)
		}
		// Same rows, same order as one big page.
		if one := keysOf(getPage[keyOnly](t, big.URL+"/Issues", user).Value); !slices.Equal(got, one) {
			t.Fatalf("%s: paged sequence differs from the unpaged one", user)
		}
		counts[user] = len(got)
	}
	if counts["alice"] == counts["bob"] {
		t.Fatalf("alice and bob both see %d issues", counts["alice"])
	}
	if counts["carol"] != 5000 {
		t.Fatalf("carol sees %d of 5000 issues", counts["carol"])
	}
}

func TestPagingWithQueryOptions(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 3000, PageSize: 170})
	_, big := newTestService(t, Config{Issues: 3000, PageSize: 100000})
	for _, q := range []string{
		"$filter=Status%20eq%20'Done'",
		"$orderby=Created%20desc",
		"$orderby=Key&$filter=StoryPoints%20ge%203",
		"$skip=100&$top=1234",
		"$orderby=Updated&$skip=7&$top=500",
		"$filter=Type%20ne%20'Bug'&$skip=33&$top=341",
		"$top=170",
		"$top=0",
		"$skip=100000",
	} {
		paged, pages := getAll[keyOnly](t, srv.URL+"/Issues?"+q, "alice")
		whole := getPage[keyOnly](t, big.URL+"/Issues?"+q, "alice")
		if whole.NextLink != "" {
			t.Fatalf("%s: unexpected nextLink on the big page", q)
		}
		if !slices.Equal(keysOf(paged), keysOf(whole.Value)) {
			t.Fatalf("%s: %d paged rows over %d pages differ from %d unpaged rows", q, len(paged), pages, len(whole.Value))
		}
		if want := max(1, (len(whole.Value)+169)/170); pages != want {
			t.Errorf("%s: %d pages, want %d", q, pages, want)
		}
	}
	// $count on every page is the full filtered count.
	url := srv.URL + "/Issues?$count=true&$filter=Priority%20eq%20'High'"
	total := -1
	n := 0
	for url != "" {
		p := getPage[keyOnly](t, url, "bob")
		if p.Count == nil || (total >= 0 && *p.Count != total) {
			t.Fatalf("page %d: @odata.count %v, earlier %d", n, p.Count, total)
		}
		total = *p.Count
		n += len(p.Value)
		url = p.NextLink
	}
	if n != total {
		t.Fatalf("@odata.count %d, but %d rows delivered", total, n)
	}
}

func TestLinksHonourForwardedHeaders(t *testing.T) {
	svc, srv := newTestService(t, Config{Issues: 1000, PageSize: 100})
	fwd := []string{"X-Forwarded-Proto: https", "X-Forwarded-Host: gateway.example.com, internal:9090", "X-Forwarded-Prefix: /odata"}
	const root = "https://gateway.example.com/odata"
	p := getPage[keyOnly](t, srv.URL+"/Issues?$top=250", "alice", fwd...)
	if p.Context != root+"/$metadata#Issues" {
		t.Fatalf("context %q", p.Context)
	}
	n := len(p.Value)
	for p.NextLink != "" {
		if !strings.HasPrefix(p.NextLink, root+"/Issues?$top=250&$skiptoken=") || strings.Contains(p.NextLink, srv.Listener.Addr().String()) {
			t.Fatalf("nextLink %q does not point back through the proxy", p.NextLink)
		}
		// Follow it as the proxy would: strip the public prefix.
		p = getPage[keyOnly](t, srv.URL+strings.TrimPrefix(p.NextLink, root), "alice", fwd...)
		n += len(p.Value)
	}
	if n != 250 {
		t.Fatalf("%d rows, want 250", n)
	}
	// Without forwarding headers the links use the request's own address.
	p = getPage[keyOnly](t, srv.URL+"/Issues", "alice")
	if !strings.HasPrefix(p.NextLink, srv.URL+"/Issues?$skiptoken=") {
		t.Fatalf("nextLink %q, want the request's own host", p.NextLink)
	}
	_ = svc
	expectError(t, srv.URL+"/Issues", "alice", http.StatusBadRequest, "X-Forwarded-Proto", "X-Forwarded-Proto: gopher")
	expectError(t, srv.URL+"/Issues", "alice", http.StatusBadRequest, "host", "X-Forwarded-Host: evil.example/path")
	expectError(t, srv.URL+"/Issues", "alice", http.StatusBadRequest, "X-Forwarded-Prefix", "X-Forwarded-Prefix: no-slash")
}

func TestBasePath(t *testing.T) {
	svc, srv := newTestService(t, Config{Issues: 600, PageSize: 100, BasePath: "/odata/"})
	if got := svc.Config().BasePath; got != "/odata" {
		t.Fatalf("normalized base path %q", got)
	}
	rows, pages := getAll[keyOnly](t, srv.URL+"/odata/Issues", "bob")
	if len(rows) != svc.VisibleIssueCount("bob") || pages < 2 {
		t.Fatalf("%d rows over %d pages, want %d", len(rows), pages, svc.VisibleIssueCount("bob"))
	}
	p := getPage[keyOnly](t, srv.URL+"/odata/Issues", "bob")
	if !strings.HasPrefix(p.NextLink, srv.URL+"/odata/Issues?") || p.Context != srv.URL+"/odata/$metadata#Issues" {
		t.Fatalf("links %q %q miss the base path", p.NextLink, p.Context)
	}
	p = getPage[keyOnly](t, srv.URL+"/odata/Issues", "bob", "X-Forwarded-Prefix: /api", "X-Forwarded-Host: gw")
	if !strings.HasPrefix(p.NextLink, "http://gw/api/odata/Issues?") {
		t.Fatalf("nextLink %q, want prefix then base path", p.NextLink)
	}
	for _, u := range []string{"/odata", "/odata/", "/odata/$metadata"} {
		if resp, body := do(t, http.MethodGet, srv.URL+u, "bob"); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", u, resp.StatusCode, body)
		}
	}
	for _, u := range []string{"/Issues", "/odataX/Issues", "/"} {
		expectError(t, srv.URL+u, "bob", http.StatusNotFound, "/odata")
	}
}

func TestPreferMaxPageSize(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 500, PageSize: 1000})
	resp, _ := do(t, http.MethodGet, srv.URL+"/Issues", "carol", "Prefer: odata.maxpagesize=40")
	if got := resp.Header.Get("Preference-Applied"); got != "odata.maxpagesize=40" {
		t.Fatalf("Preference-Applied %q", got)
	}
	rows, pages := getAll[keyOnly](t, srv.URL+"/Issues", "carol", "Prefer: odata.maxpagesize=40")
	if len(rows) != 500 || pages != 13 {
		t.Fatalf("%d rows over %d pages, want 500 over 13", len(rows), pages)
	}
	// Preferences are hints: values the service cannot honour are ignored,
	// not refused, and not reported as applied.
	for _, pref := range []string{"odata.maxpagesize=0", "odata.maxpagesize=-3", "odata.maxpagesize=lots", "odata.maxpagesize=99999999999"} {
		resp, body := do(t, http.MethodGet, srv.URL+"/Issues?$top=5", "carol", "Prefer: "+pref)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Preference-Applied") != "" {
			t.Fatalf("Prefer: %s: status %d, Preference-Applied %q; body %s", pref, resp.StatusCode, resp.Header.Get("Preference-Applied"), truncate(body))
		}
		if rows, pages := getAll[keyOnly](t, srv.URL+"/Issues", "carol", "Prefer: "+pref); len(rows) != 500 || pages != 1 {
			t.Fatalf("Prefer: %s: %d rows over %d pages, want the server's page size", pref, len(rows), pages)
		}
	}
}

func TestBadSkipToken(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	for _, tok := range []string{"x", "-1", "5.x", "5.999999", "1.2.3"} {
		expectError(t, srv.URL+"/Issues?$skiptoken="+tok, "carol", http.StatusBadRequest, "$skiptoken")
	}
	expectError(t, srv.URL+"/Issues?$skiptoken=1&$skiptoken=2", "carol", http.StatusBadRequest, "$skiptoken")
}
