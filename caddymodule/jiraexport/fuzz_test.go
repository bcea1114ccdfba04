package jiraexport

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzQuery: any query string on any entity set answers 200, a 4xx OData
// error or 501 NotImplemented — never a panic or another 5xx.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		"$filter=Status eq 'Done' and StoryPoints ge 3",
		"$filter=(Created gt 2024-01-01T00:00:00Z) and Resolved eq null",
		"$orderby=Created desc&$top=5&$skip=2&$select=Key,Summary&$count=true",
		"$filter=Summary eq 'it''s'",
		"$filter=",
		"$filter=((((",
		"$skiptoken=999999999999.1",
		"$top=-1",
		"$expand=Project",
		"$filter=Labels eq 'x'",
		"$filter=Labels/any(l:l eq 'backend') or not contains(Summary,'x')",
		"$filter=year(Created) eq 2024 and Status in ('Done','To Do')",
		"$filter=StoryPoints add 1 eq 2",
	} {
		f.Add("Issues", seed)
	}
	f.Add("Sprints", "$filter=Id eq 7")
	f.Add("Worklogs", "$orderby=Started")
	svc, err := New(Config{Issues: 200, PageSize: 50})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, set, query string) {
		u := &url.URL{Path: "/" + set, RawQuery: query}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		req.Header.Set(UserHeader, "alice")
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("GET %s?%s: %d %s", set, query, w.Code, w.Body.String())
		}
	})
}
