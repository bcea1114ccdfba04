package jiraexport

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestServiceDocument(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 200})
	resp, body := do(t, http.MethodGet, srv.URL+"/", "alice")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	checkODataVersion(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != ContentTypeJSON {
		t.Fatalf("Content-Type %q", ct)
	}
	var doc struct {
		Context string `json:"@odata.context"`
		Value   []struct{ Name, Kind, URL string }
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if doc.Context != srv.URL+"/$metadata" {
		t.Errorf("context %q, want %q", doc.Context, srv.URL+"/$metadata")
	}
	var names []string
	for _, e := range doc.Value {
		if e.Kind != "EntitySet" || e.URL != e.Name {
			t.Errorf("entry %+v: want kind EntitySet and url = name", e)
		}
		names = append(names, e.Name)
	}
	if !slices.Equal(names, allSets) {
		t.Errorf("entity sets %v, want %v", names, allSets)
	}
	// Every advertised set answers (the reports with a Jira API token).
	for _, n := range names {
		p := getPage[json.RawMessage](t, srv.URL+"/"+n, "alice", jiraToken)
		if p.Context != srv.URL+"/$metadata#"+n {
			t.Errorf("%s: context %q", n, p.Context)
		}
	}
}

// csdl is the part of the CSDL the test checks.
type csdl struct {
	XMLName      xml.Name `xml:"http://docs.oasis-open.org/odata/ns/edmx Edmx"`
	Version      string   `xml:"Version,attr"`
	DataServices struct {
		Schemas []struct {
			Namespace   string `xml:"Namespace,attr"`
			EntityTypes []struct {
				Name string `xml:"Name,attr"`
				Key  struct {
					Refs []struct {
						Name string `xml:"Name,attr"`
					} `xml:"PropertyRef"`
				} `xml:"Key"`
				Properties []struct {
					Name     string `xml:"Name,attr"`
					Type     string `xml:"Type,attr"`
					Nullable string `xml:"Nullable,attr"`
				} `xml:"Property"`
			} `xml:"http://docs.oasis-open.org/odata/ns/edm EntityType"`
			Container struct {
				Sets []struct {
					Name       string `xml:"Name,attr"`
					EntityType string `xml:"EntityType,attr"`
				} `xml:"EntitySet"`
			} `xml:"http://docs.oasis-open.org/odata/ns/edm EntityContainer"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edm Schema"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edmx DataServices"`
}

func TestMetadataIsWellFormedCSDL(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 200})
	resp, body := do(t, http.MethodGet, srv.URL+"/$metadata", "bob")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	checkODataVersion(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "application/xml" {
		t.Fatalf("Content-Type %q, want application/xml", ct)
	}
	// Well-formed: the whole token stream decodes.
	dec := xml.NewDecoder(strings.NewReader(string(body)))
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("metadata is not well-formed XML: %v", err)
			}
			break
		}
	}
	var doc csdl
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("unmarshal CSDL: %v", err)
	}
	if doc.Version != "4.0" || len(doc.DataServices.Schemas) != 1 {
		t.Fatalf("Edmx version %q, %d schemas", doc.Version, len(doc.DataServices.Schemas))
	}
	schema := doc.DataServices.Schemas[0]
	types := map[string]map[string]string{} // type → property → EDM type
	for _, et := range schema.EntityTypes {
		props := map[string]string{}
		for _, p := range et.Properties {
			props[p.Name] = p.Type
		}
		if len(et.Key.Refs) != 1 || props[et.Key.Refs[0].Name] == "" {
			t.Errorf("entity type %s: key %+v does not name one of its properties", et.Name, et.Key.Refs)
		}
		types[schema.Namespace+"."+et.Name] = props
	}
	var sets []string
	for _, s := range schema.Container.Sets {
		if types[s.EntityType] == nil {
			t.Errorf("entity set %s has undeclared type %s", s.Name, s.EntityType)
		}
		sets = append(sets, s.Name)
	}
	if !slices.Equal(sets, allSets) {
		t.Fatalf("entity sets %v, want %v", sets, allSets)
	}
	issue := types["JiraExport.Issue"]
	for prop, typ := range map[string]string{
		"Key": "Edm.String", "Created": "Edm.DateTimeOffset", "Resolved": "Edm.DateTimeOffset",
		"StoryPoints": "Edm.Double", "SprintId": "Edm.Int32", "Labels": "Collection(Edm.String)",
	} {
		if issue[prop] != typ {
			t.Errorf("Issue.%s has type %q, want %q", prop, issue[prop], typ)
		}
	}
}

func TestODataVersionExactlyOnceEverywhere(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 300, PageSize: 50})
	urls := []string{
		"/", "/$metadata", "/Issues", "/Issues?$top=3&$count=true", "/Issues('JRA-1')", "/Issues/$count",
		"/Projects", "/Nope", "/Issues?$expand=Sprint", "/Issues('NOPE-1')",
	}
	for _, u := range urls {
		for _, user := range []string{"carol", ""} {
			resp, _ := do(t, http.MethodGet, srv.URL+u, user)
			checkODataVersion(t, resp)
		}
	}
	resp, _ := do(t, http.MethodPost, srv.URL+"/Issues", "carol")
	checkODataVersion(t, resp)
}

func TestNoIdentityIsForbidden(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	for _, u := range []string{"/", "/$metadata", "/Issues", "/Projects('JRA')"} {
		expectError(t, srv.URL+u, "", http.StatusForbidden, UserHeader)
	}
	expectError(t, srv.URL+"/Issues", "", http.StatusForbidden, UserHeader, UserHeader+": ")
}

func TestOnlyGetAndHead(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		resp, body := do(t, m, srv.URL+"/Issues", "carol")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("%s: status %d, want 405", m, resp.StatusCode)
		}
		if a := resp.Header.Get("Allow"); a != "GET, HEAD" {
			t.Errorf("%s: Allow %q", m, a)
		}
		var e odataError
		if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error.Message, m) {
			t.Errorf("%s: body %s does not name the method", m, body)
		}
	}
	resp, body := do(t, http.MethodHead, srv.URL+"/Issues", "carol")
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != ContentTypeJSON {
		t.Fatalf("HEAD: status %d, %d body bytes, Content-Type %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
	checkODataVersion(t, resp)
}

func TestVisibility(t *testing.T) {
	svc, srv := newTestService(t, Config{Issues: 2000, PageSize: 5000})
	a, b := svc.VisibleIssueCount("alice"), svc.VisibleIssueCount("bob")
	if a == b || a == 0 || b == 0 {
		t.Fatalf("alice sees %d issues, bob %d: want different, non-zero counts", a, b)
	}
	if c := svc.VisibleIssueCount("carol"); c != 2000 {
		t.Fatalf("carol sees %d issues, want all 2000", c)
	}
	for _, user := range []string{"alice", "bob", "someone.new@example.com"} {
		projects := svc.ProjectsOf(user)
		if len(projects) < 2 {
			t.Fatalf("%s belongs to %v, want at least two projects", user, projects)
		}
		issues := getPage[testIssue](t, srv.URL+"/Issues", user).Value
		if len(issues) != svc.VisibleIssueCount(user) {
			t.Errorf("%s: %d issues listed, VisibleIssueCount says %d", user, len(issues), svc.VisibleIssueCount(user))
		}
		for _, it := range issues {
			if !slices.Contains(projects, it.ProjectKey) || !strings.HasPrefix(it.Key, it.ProjectKey+"-") {
				t.Fatalf("%s sees %s of project %s, not one of %v", user, it.Key, it.ProjectKey, projects)
			}
		}
		var listed []string
		for _, p := range getPage[struct{ Key string }](t, srv.URL+"/Projects", user).Value {
			listed = append(listed, p.Key)
		}
		if !slices.Equal(listed, projects) {
			t.Errorf("%s: Projects lists %v, want %v", user, listed, projects)
		}
		wls := getPage[struct{ IssueKey string }](t, srv.URL+"/Worklogs", user).Value
		if len(wls) != svc.VisibleWorklogCount(user) || len(wls) == 0 {
			t.Errorf("%s: %d worklogs, VisibleWorklogCount %d", user, len(wls), svc.VisibleWorklogCount(user))
		}
		for _, w := range wls {
			proj, _, _ := strings.Cut(w.IssueKey, "-")
			if !slices.Contains(projects, proj) {
				t.Fatalf("%s sees a worklog of %s", user, w.IssueKey)
			}
		}
	}
	// Another person's issue is not found, not forbidden: existence is not revealed.
	bobOnly := getPage[testIssue](t, srv.URL+"/Issues?$filter=ProjectKey%20eq%20'OPS'&$top=1", "bob").Value
	if len(bobOnly) != 1 {
		t.Fatalf("bob has no OPS issue")
	}
	expectError(t, srv.URL+"/Issues('"+bobOnly[0].Key+"')", "alice", http.StatusNotFound, "not found")
}

func TestSingleEntity(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 500})
	all := getPage[testIssue](t, srv.URL+"/Issues", "carol").Value
	want := all[123]
	for _, u := range []string{"/Issues('" + want.Key + "')", "/Issues(Key='" + want.Key + "')"} {
		resp, body := do(t, http.MethodGet, srv.URL+u, "carol")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", u, resp.StatusCode, body)
		}
		var got struct {
			Context string `json:"@odata.context"`
			testIssue
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if got.Context != srv.URL+"/$metadata#Issues/$entity" || got.Key != want.Key || got.Summary != want.Summary || !got.Created.Equal(want.Created) {
			t.Fatalf("%s: got %+v, want %+v", u, got, want)
		}
	}
	var sprint struct{ Id int }
	_, body := do(t, http.MethodGet, srv.URL+"/Sprints(7)", "carol")
	if err := json.Unmarshal(body, &sprint); err != nil || sprint.Id != 7 {
		t.Fatalf("Sprints(7): %s", body)
	}
	expectError(t, srv.URL+"/Issues(JRA-1)", "carol", http.StatusBadRequest, "quoted string")
	expectError(t, srv.URL+"/Issues('JRA-999999')", "carol", http.StatusNotFound, "not found")
	expectError(t, srv.URL+"/Issues('JRA-1')?$top=1", "carol", http.StatusBadRequest, "$top")
	expectError(t, srv.URL+"/Issues('JRA-1')/Summary", "carol", http.StatusNotFound, "Summary")
}

func TestDeterministicAcrossInstances(t *testing.T) {
	_, a := newTestService(t, Config{Issues: 400, Seed: 7})
	_, b := newTestService(t, Config{Issues: 400, Seed: 7})
	_, c := newTestService(t, Config{Issues: 400, Seed: 8})
	bodyOf := func(base string) string {
		_, body := do(t, http.MethodGet, base+"/Issues?$select=Key,Summary,Created,Labels", "alice")
		return strings.ReplaceAll(string(body), base, "")
	}
	if bodyOf(a.URL) != bodyOf(b.URL) {
		t.Fatal("equal seeds gave different data")
	}
	if bodyOf(a.URL) == bodyOf(c.URL) {
		t.Fatal("different seeds gave identical data")
	}
}

func TestGeneratedValuesAreConsistent(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 3000, PageSize: 5000})
	issues := getPage[testIssue](t, srv.URL+"/Issues", "carol").Value
	epoch := time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for _, it := range issues {
		if seen[it.Key] {
			t.Fatalf("duplicate key %s", it.Key)
		}
		seen[it.Key] = true
		if it.Created.Before(epoch) || it.Updated.Before(it.Created) {
			t.Fatalf("%s: created %v updated %v", it.Key, it.Created, it.Updated)
		}
		if (it.Status == "Done") != (it.Resolved != nil) {
			t.Fatalf("%s: status %s, resolved %v", it.Key, it.Status, it.Resolved)
		}
		if it.Resolved != nil && it.Resolved.Before(it.Created) {
			t.Fatalf("%s resolved before created", it.Key)
		}
		if it.Labels == nil {
			t.Fatalf("%s: Labels is null, want []", it.Key)
		}
	}
	if len(seen) != 3000 {
		t.Fatalf("%d issues, want 3000", len(seen))
	}
}
