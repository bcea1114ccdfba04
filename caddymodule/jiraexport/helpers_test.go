package jiraexport

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testIssue mirrors the JSON of an Issue.
type testIssue struct {
	Key         string
	Summary     string
	Status      string
	Type        string
	Priority    string
	ProjectKey  string
	Assignee    string
	Reporter    string
	Created     time.Time
	Updated     time.Time
	Resolved    *time.Time
	StoryPoints *float64
	SprintId    *int
	Labels      []string
}

type page[T any] struct {
	Context  string `json:"@odata.context"`
	Count    *int   `json:"@odata.count"`
	NextLink string `json:"@odata.nextLink"`
	Value    []T    `json:"value"`
}

type odataError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func newTestService(t testing.TB, cfg Config) (*Service, *httptest.Server) {
	t.Helper()
	svc, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return svc, srv
}

// do sends a request with the given identity (none if user is "") and extra
// headers ("Name: value"), returning the response and its body.
func do(t testing.TB, method, url, user string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("new request %s: %v", url, err)
	}
	if user != "" {
		req.Header.Set(UserHeader, user)
	}
	for _, h := range headers {
		name, val, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(val))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s: %v", url, err)
	}
	return resp, body
}

// getPage fetches one page and checks the success invariants.
func getPage[T any](t testing.TB, url, user string, headers ...string) page[T] {
	t.Helper()
	resp, body := do(t, http.MethodGet, url, user, headers...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", url, resp.StatusCode, body)
	}
	checkODataVersion(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != ContentTypeJSON {
		t.Fatalf("GET %s: Content-Type %q, want %q", url, ct, ContentTypeJSON)
	}
	var p page[T]
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET %s: decode %q: %v", url, truncate(body), err)
	}
	return p
}

// getAll follows every nextLink and returns all rows and the page count.
func getAll[T any](t testing.TB, url, user string, headers ...string) ([]T, int) {
	t.Helper()
	var all []T
	pages := 0
	for url != "" {
		p := getPage[T](t, url, user, headers...)
		all = append(all, p.Value...)
		pages++
		if pages > 100000 {
			t.Fatalf("more than 100000 pages; nextLink loop at %s", url)
		}
		url = p.NextLink
	}
	return all, pages
}

// expectError checks an OData error response naming want.
func expectError(t testing.TB, url, user string, status int, want string, headers ...string) {
	t.Helper()
	resp, body := do(t, http.MethodGet, url, user, headers...)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d; body %s", url, resp.StatusCode, status, body)
	}
	checkODataVersion(t, resp)
	var e odataError
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("GET %s: not an OData error body: %s (%v)", url, body, err)
	}
	if !strings.Contains(e.Error.Message, want) {
		t.Fatalf("GET %s: error message %q does not mention %q", url, e.Error.Message, want)
	}
}

func checkODataVersion(t testing.TB, resp *http.Response) {
	t.Helper()
	if v := resp.Header.Values("OData-Version"); len(v) != 1 || v[0] != "4.0" {
		t.Fatalf("%s %s: OData-Version headers %q, want exactly one 4.0", resp.Request.Method, resp.Request.URL, v)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
