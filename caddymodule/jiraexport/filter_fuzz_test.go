package jiraexport

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzFilter: any $filter expression on Issues answers 200, 400 BadRequest
// or 501 NotImplemented with an OData error body — never a panic or another
// status — and quickly, however deep or long the input.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{
		"Status eq 'Done' or Type eq 'Bug' and not (Priority eq 'High')",
		"Status in ('Done','To Do') and StoryPoints in (1, 2.5, null)",
		"contains(tolower(Summary),'vpn') or startswith(Key,'JRA') or endswith(toupper(Summary),'MOBILE')",
		"length(trim(Summary)) gt 10 and indexof(Summary,'x') ge 0 and substring(Summary,1,3) eq 'ix'",
		"year(Created) eq 2024 and month(Created) le 6 and day(Created) ne 1 and hour(Updated) lt 12 and minute(Updated) eq 0",
		"date(Created) eq 2024-05-01 or Created gt 2024-05-01T10:00:00Z or Resolved lt 2024-05-01T10:00+02:00",
		"Resolved eq null and null ne StoryPoints",
		"Labels/any(l:l eq 'backend') and Labels/all(l:startswith(l,'b')) and Labels/any()",
		"Labels/any(a:Labels/any(b:a eq b))",
		"StoryPoints add 1 eq 2",
		"cast(StoryPoints,'Edm.Int32') eq 1",
		"((((Status eq 'Done'))))",
		"not not not true",
		"Summary eq 'it''s'",
		"'backend' in Labels",
		"-StoryPoints eq -3.5e2",
		"Labels/$count eq 1",
		"(((((((((((((((((((((((((((((((((((((((((((((((((((((x",
	} {
		f.Add(seed)
	}
	svc, err := New(Config{Issues: 200, PageSize: 50})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		u := &url.URL{Path: "/Issues", RawQuery: "$count=true&$filter=" + url.QueryEscape(filter)}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		req.Header.Set(UserHeader, "carol")
		w := httptest.NewRecorder()
		start := time.Now()
		svc.ServeHTTP(w, req)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("$filter=%q took %v", filter, d)
		}
		want := map[int]string{http.StatusBadRequest: "BadRequest", http.StatusNotImplemented: "NotImplemented"}
		switch w.Code {
		case http.StatusOK:
			return
		case http.StatusBadRequest, http.StatusNotImplemented:
			var e odataError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != want[w.Code] || e.Error.Message == "" {
				t.Fatalf("$filter=%q: %d with body %s", filter, w.Code, w.Body.String())
			}
		default:
			t.Fatalf("$filter=%q: status %d %s", filter, w.Code, w.Body.String())
		}
	})
}
