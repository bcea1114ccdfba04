package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/jiraexport"
)

// TestPowerQueryShapes replays, through the real proxy, the request shapes
// Power Query sends when it folds filters, expands related tables and pages
// (issue 11): each URL answers the expected status, and the rows and
// @odata.count that arrive through tokengate are exactly what the backend
// itself answers for the same person — the proxy neither loses nor alters
// a row.
func TestPowerQueryShapes(t *testing.T) {
	s := startStack(t, storeFor(t, "bolt"), flowConfig)
	svc, err := jiraexport.New(flowConfig)
	if err != nil {
		t.Fatal(err)
	}
	alice := s.createToken(t, "alice", "Power Query shapes")
	shapes := []struct {
		path    string
		prefer  string
		status  int
		minRows int // at least this many rows (0: any, e.g. an error)
	}{
		{path: "Issues?$filter=Status eq 'Done' or Status eq 'In Progress'&$top=50", status: 200, minRows: 1},
		{path: "Issues?$filter=contains(Summary,'a') and not (Priority eq 'Low')&$top=50", status: 200, minRows: 1},
		{path: "Issues?$filter=startswith(Key,'P') or endswith(Key,'7')&$top=50", status: 200, minRows: 1},
		{path: "Issues?$filter=tolower(Status) eq 'done'&$select=Key,Status&$top=20", status: 200, minRows: 1},
		{path: "Issues?$filter=Priority in ('High','Highest')&$count=true&$top=10", status: 200, minRows: 1},
		{path: "Issues?$filter=year(Created) ge 2000 and month(Created) le 12&$top=20", status: 200, minRows: 1},
		{path: "Issues?$filter=Created ge 2000-01-01&$top=20", status: 200, minRows: 1},
		{path: "Issues?$filter=Assignee eq null&$top=20", status: 200, minRows: 1},
		{path: "Issues?$filter=Labels/any(l:l ne '')&$top=20", status: 200, minRows: 1},
		{path: "Issues?$filter=length(Summary) gt 3&$orderby=Key desc&$top=20", status: 200, minRows: 1},
		{path: "Issues?$expand=Project&$select=Key,Project&$top=20", status: 200, minRows: 1},
		{path: "Issues?$top=5&$count=true", prefer: "odata.maxpagesize=0", status: 200, minRows: 5},
		{path: "Worklogs?$expand=Issue($select=Key)&$top=10", status: 200, minRows: 1},
		{path: "Issues?$filter=StoryPoints add 1 gt 3", status: 501},
		{path: "Issues?$filter=Status eq", status: 400},
	}
	for _, c := range shapes {
		t.Run(c.path, func(t *testing.T) {
			u := s.base + "/odata/" + escapeQuery(c.path)
			req, err := http.NewRequest(http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range powerBIHeaders {
				req.Header.Set(k, v)
			}
			if c.prefer != "" {
				req.Header.Set("Prefer", c.prefer)
			}
			req.SetBasicAuth("alice", alice.Token)
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := decodeBody(t, u, resp)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, c.status, got)
			}

			// The backend itself, asked directly for the same person.
			direct := httptest.NewRequest(http.MethodGet, "http://backend/odata/"+escapeQuery(c.path), nil)
			direct.Header.Set(jiraexport.UserHeader, "alice")
			if c.prefer != "" {
				direct.Header.Set("Prefer", c.prefer)
			}
			rec := httptest.NewRecorder()
			svc.ServeHTTP(rec, direct)
			if rec.Code != c.status {
				t.Fatalf("the backend itself answers %d, want %d", rec.Code, c.status)
			}
			if c.status != http.StatusOK {
				if !strings.Contains(string(got), `"error"`) {
					t.Errorf("a %d without an OData error body: %.200s", c.status, got)
				}
				return
			}
			var viaProxy, want struct {
				Count *int64            `json:"@odata.count"`
				Value []json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(got, &viaProxy); err != nil {
				t.Fatalf("decoding the proxied body: %v", err)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &want); err != nil {
				t.Fatalf("decoding the backend's body: %v", err)
			}
			if len(viaProxy.Value) < c.minRows {
				t.Errorf("%d rows, want at least %d", len(viaProxy.Value), c.minRows)
			}
			if !reflect.DeepEqual(viaProxy.Value, want.Value) || !reflect.DeepEqual(viaProxy.Count, want.Count) {
				t.Errorf("through the proxy: %d rows (count %v); the backend: %d rows (count %v)",
					len(viaProxy.Value), deref(viaProxy.Count), len(want.Value), deref(want.Count))
			}
		})
	}
}

// escapeQuery percent-encodes the query of a readable path (spaces, quotes).
func escapeQuery(p string) string {
	path, q, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return path + "?" + strings.Join(parts, "&")
}

// deref shows a count or "none".
func deref(p *int64) any {
	if p == nil {
		return "none"
	}
	return *p
}
