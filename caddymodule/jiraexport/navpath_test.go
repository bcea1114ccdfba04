package jiraexport

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestNavigationPaths: Set(key)/Nav answers what $expand would embed — a
// collection paged like any other, its $count, or the single entity (204
// when it is null) — and never reveals an entity the person cannot see.
func TestNavigationPaths(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 2000, PageSize: 5000})
	type issueNavs struct {
		Key, ProjectKey string
		ParentKey       *string
		Worklogs        []struct{ Id int }
		Sprints         []struct{ Id int }
	}
	issues := getPage[issueNavs](t, srv.URL+"/Issues?$expand=Worklogs($select=Id),Sprints($select=Id)&$skip=1000", "alice").Value
	var withWorklogs, withParent, orphan *issueNavs
	for k := range issues {
		it := &issues[k]
		switch {
		case withWorklogs == nil && len(it.Worklogs) >= 2:
			withWorklogs = it
		case withParent == nil && it.ParentKey != nil:
			withParent = it
		case orphan == nil && it.ParentKey == nil:
			orphan = it
		}
	}
	if withWorklogs == nil || withParent == nil || orphan == nil {
		t.Fatal("sample lacks an issue with worklogs, one with a parent, or one without")
	}
	base := srv.URL + "/Issues('" + withWorklogs.Key + "')"

	p := getPage[struct{ Id int }](t, base+"/Worklogs", "alice")
	if p.Context != srv.URL+"/$metadata#Worklogs" || len(p.Value) != len(withWorklogs.Worklogs) {
		t.Fatalf("%s/Worklogs: context %q, %d rows, $expand gave %d", withWorklogs.Key, p.Context, len(p.Value), len(withWorklogs.Worklogs))
	}
	for k, w := range p.Value {
		if w.Id != withWorklogs.Worklogs[k].Id {
			t.Fatalf("%s/Worklogs: %v, $expand gave %v", withWorklogs.Key, p.Value, withWorklogs.Worklogs)
		}
	}
	// Paged, with options, and counted.
	rows, pages := getAll[struct{ Id int }](t, base+"/Worklogs?$select=Id&$count=true", "alice", "Prefer: odata.maxpagesize=1")
	if len(rows) != len(withWorklogs.Worklogs) || pages != len(rows) {
		t.Fatalf("paged %s/Worklogs: %d rows over %d pages", withWorklogs.Key, len(rows), pages)
	}
	if _, body := do(t, http.MethodGet, base+"/Worklogs/$count", "alice"); string(body) != strconv.Itoa(len(withWorklogs.Worklogs)) {
		t.Fatalf("%s/Worklogs/$count: %s", withWorklogs.Key, body)
	}
	// Single-valued: the entity, or 204 when null.
	var proj struct {
		Context string `json:"@odata.context"`
		Key     string
	}
	resp, body := do(t, http.MethodGet, base+"/Project?$select=Key", "alice")
	if err := json.Unmarshal(body, &proj); resp.StatusCode != http.StatusOK || err != nil || proj.Key != withWorklogs.ProjectKey ||
		proj.Context != srv.URL+"/$metadata#Projects(Key)/$entity" {
		t.Fatalf("%s/Project: %d %s", withWorklogs.Key, resp.StatusCode, body)
	}
	var parent struct{ Key, Type string }
	_, body = do(t, http.MethodGet, srv.URL+"/Issues('"+withParent.Key+"')/Parent", "alice")
	if err := json.Unmarshal(body, &parent); err != nil || parent.Key != *withParent.ParentKey || parent.Type != "Epic" {
		t.Fatalf("%s/Parent: %s, want epic %s", withParent.Key, body, *withParent.ParentKey)
	}
	if resp, body := do(t, http.MethodGet, srv.URL+"/Issues('"+orphan.Key+"')/Parent", "alice"); resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("%s/Parent without a parent: %d %q, want 204", orphan.Key, resp.StatusCode, body)
	}
	// Many-to-many both ways agree with the bridge.
	for _, it := range issues {
		if len(it.Sprints) == 0 {
			continue
		}
		sp := it.Sprints[0].Id
		keys := keysOf(getPage[keyOnly](t, srv.URL+"/Sprints("+strconv.Itoa(sp)+")/Issues?$select=Key", "alice").Value)
		bridge := getPage[struct{ IssueKey string }](t, srv.URL+"/IssueSprints?$filter="+url.QueryEscape("SprintId eq "+strconv.Itoa(sp)), "alice").Value
		var want []string
		for _, b := range bridge {
			want = append(want, b.IssueKey)
		}
		if !slices.Contains(keys, it.Key) || !slices.Equal(keys, want) {
			t.Fatalf("Sprints(%d)/Issues %v, bridge %v (%s)", sp, keys, want, it.Key)
		}
		break
	}
	// Errors: unknown property, unknown entity, $count of a single value,
	// somebody else's entity, and the Jira-token sets stay closed.
	expectError(t, base+"/Nope", "alice", http.StatusNotFound, "Nope")
	expectError(t, base+"/Project/$count", "alice", http.StatusNotFound, "single-valued")
	expectError(t, base+"/Worklogs/x", "alice", http.StatusNotFound, "Worklogs/x")
	expectError(t, srv.URL+"/Issues('NOPE-1')/Worklogs", "alice", http.StatusNotFound, "not found")
	expectError(t, base+"/Worklogs?$top=x", "alice", http.StatusBadRequest, "$top")
	bobs := getPage[keyOnly](t, srv.URL+"/Issues?$filter="+url.QueryEscape("ProjectKey eq 'OPS'")+"&$top=1", "bob").Value
	if len(bobs) != 1 || !strings.HasPrefix(bobs[0].Key, "OPS-") {
		t.Fatal("bob has no OPS issue")
	}
	expectError(t, srv.URL+"/Issues('"+bobs[0].Key+"')/Worklogs", "alice", http.StatusNotFound, "not found")
	expectError(t, srv.URL+"/SprintReports(3)/Sprint", "alice", http.StatusForbidden, "Jira API token")
	if resp, body := do(t, http.MethodGet, srv.URL+"/SprintReports(3)/Sprint", "alice", jiraToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("SprintReports(3)/Sprint with a token: %d %s", resp.StatusCode, body)
	}
}
