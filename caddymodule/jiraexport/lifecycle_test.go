package jiraexport

import (
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"
)

type testSprint struct {
	Id                 int
	ProjectKey         string
	StartDate, EndDate time.Time
	State              string
}

type testLink struct {
	Id       int
	IssueKey string
	SprintId int
}

type testChange struct {
	Id                   int
	IssueKey             string
	FromStatus, ToStatus string
	ChangedAt            time.Time
	Author               string
}

// TestIssueSprintsBridge: an issue is in consecutive sprints of its own
// project, from the one it was created in; a resolved issue's last sprint is
// the one it was resolved in, and SprintId is the last sprint (null exactly
// when the issue is in none).
func TestIssueSprintsBridge(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 3000, PageSize: 100000})
	issues := getPage[testIssue](t, srv.URL+"/Issues", "carol").Value
	sprints := map[int]testSprint{}
	for _, s := range getPage[testSprint](t, srv.URL+"/Sprints", "carol").Value {
		sprints[s.Id] = s
	}
	links := map[string][]int{}
	lastID := 0
	for _, l := range getPage[testLink](t, srv.URL+"/IssueSprints", "carol").Value {
		if l.Id != lastID+1 {
			t.Fatalf("IssueSprints ids not dense: %d after %d", l.Id, lastID)
		}
		lastID = l.Id
		links[l.IssueKey] = append(links[l.IssueKey], l.SprintId)
	}
	several := 0
	for _, it := range issues {
		ls := links[it.Key]
		if len(ls) == 0 {
			if it.SprintId != nil {
				t.Fatalf("%s: SprintId %d but in no sprint", it.Key, *it.SprintId)
			}
			continue
		}
		if len(ls) > 1 {
			several++
		}
		if it.SprintId == nil || *it.SprintId != ls[len(ls)-1] {
			t.Fatalf("%s: SprintId %v, sprints %v", it.Key, it.SprintId, ls)
		}
		first, last := sprints[ls[0]], sprints[ls[len(ls)-1]]
		for k, id := range ls {
			if id != ls[0]+k || sprints[id].ProjectKey != it.ProjectKey {
				t.Fatalf("%s of %s: sprints %v are not consecutive sprints of its project", it.Key, it.ProjectKey, ls)
			}
		}
		if it.Created.Before(first.StartDate) || (!it.Created.Before(first.EndDate) && first.State != "active") {
			t.Fatalf("%s created %v, first sprint %d runs %v–%v", it.Key, it.Created, first.Id, first.StartDate, first.EndDate)
		}
		if it.Resolved != nil && (it.Resolved.Before(last.StartDate) || !it.Resolved.Before(last.EndDate)) {
			t.Fatalf("%s resolved %v, last sprint %d runs %v–%v", it.Key, it.Resolved, last.Id, last.StartDate, last.EndDate)
		}
		if it.Type == "Epic" {
			t.Fatalf("epic %s is in sprints", it.Key)
		}
	}
	if several < len(issues)/20 {
		t.Errorf("only %d of %d issues are in several sprints", several, len(issues))
	}
}

// TestStatusChangesMatchIssues: each issue's changelog is a walk of the
// workflow from To Do, in time order, between its creation and its last
// update; the last change leads to the current status and, for resolved
// issues, happens at the resolution.
func TestStatusChangesMatchIssues(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 3000, PageSize: 100000})
	changes := map[string][]testChange{}
	for _, c := range getPage[testChange](t, srv.URL+"/IssueStatusChanges", "carol").Value {
		changes[c.IssueKey] = append(changes[c.IssueKey], c)
	}
	users := map[string]bool{}
	for _, u := range getPage[struct{ Id string }](t, srv.URL+"/Users", "carol").Value {
		users[u.Id] = true
	}
	next := map[string][]string{"To Do": {"In Progress"}, "In Progress": {"In Review"}, "In Review": {"Done", "In Progress"}}
	bounced := 0
	for _, it := range getPage[testIssue](t, srv.URL+"/Issues", "carol").Value {
		cs := changes[it.Key]
		if len(cs) == 0 {
			if it.Status != "To Do" {
				t.Fatalf("%s is %s without a status change", it.Key, it.Status)
			}
			continue
		}
		if cs[0].FromStatus != "To Do" {
			t.Fatalf("%s: first change from %s", it.Key, cs[0].FromStatus)
		}
		prev := it.Created
		for k, c := range cs {
			ok := false
			for _, n := range next[c.FromStatus] {
				ok = ok || n == c.ToStatus
			}
			if !ok || (k > 0 && c.FromStatus != cs[k-1].ToStatus) || !c.ChangedAt.After(prev) || !users[c.Author] {
				t.Fatalf("%s: change %d %+v does not follow %v", it.Key, k, c, cs[:k])
			}
			if c.FromStatus == "In Review" && c.ToStatus == "In Progress" {
				bounced++
			}
			prev = c.ChangedAt
		}
		last := cs[len(cs)-1]
		if last.ToStatus != it.Status || last.ChangedAt.After(it.Updated) {
			t.Fatalf("%s is %s (updated %v), last change %+v", it.Key, it.Status, it.Updated, last)
		}
		if it.Resolved != nil && !last.ChangedAt.Equal(*it.Resolved) {
			t.Fatalf("%s resolved %v, moved to Done %v", it.Key, it.Resolved, last.ChangedAt)
		}
	}
	if bounced == 0 {
		t.Error("no issue ever went back from review")
	}
}

// TestCountIgnoresTopAndSkip: /$count and $count=true count every match.
func TestCountIgnoresTopAndSkip(t *testing.T) {
	svc, srv := newTestService(t, Config{Issues: 700, PageSize: 100})
	want := strconv.Itoa(svc.VisibleIssueCount("alice"))
	for _, q := range []string{"", "?$top=5", "?$skip=3&$top=5", "?$top=0", "?$orderby=Created&$select=Key&$top=1", "?$expand=Project&$skip=1000"} {
		resp, body := do(t, http.MethodGet, srv.URL+"/Issues/$count"+q, "alice")
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("/Issues/$count%s: %d %s, want %s", q, resp.StatusCode, body, want)
		}
	}
	for _, q := range []string{"$top=5", "$skip=2&$top=5", "$orderby=Key&$top=5"} {
		p := getPage[keyOnly](t, srv.URL+"/Issues?$count=true&"+q, "alice")
		if p.Count == nil || strconv.Itoa(*p.Count) != want || len(p.Value) != 5 {
			t.Fatalf("%s: @odata.count %v with %d rows, want %s with 5", q, p.Count, len(p.Value), want)
		}
	}
	expectError(t, srv.URL+"/Issues/$count?$top=x", "alice", http.StatusBadRequest, "$top")
}

type testReport struct {
	SprintId                                             int
	ProjectKey, State                                    string
	CommittedIssues, CompletedIssues, NotCompletedIssues int
	CommittedPoints, CompletedPoints                     float64
}

type testVelocity struct {
	SprintId                               int
	Commitment, Completed, AverageVelocity float64
	EndDate                                time.Time
}

// TestJiraTokenSets: SprintReports and Velocity answer 403 with an OData
// error that says what to do without the injected Jira API token, and with
// it figures consistent with the issues' estimates and sprints.
func TestJiraTokenSets(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 3000, PageSize: 100000})
	for _, u := range []string{"/SprintReports", "/Velocity", "/SprintReports/$count", "/Velocity(3)", "/SprintReports?$top=1"} {
		for _, h := range [][]string{nil, {JiraTokenHeader + ": "}} {
			expectError(t, srv.URL+u, "alice", http.StatusForbidden, "Jira API token", h...)
			expectError(t, srv.URL+u, "alice", http.StatusForbidden, `token page under "Other tokens"`, h...)
		}
		if resp, body := do(t, http.MethodGet, srv.URL+u, "alice", jiraToken); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s with a Jira API token: %d %s", u, resp.StatusCode, body)
		}
	}
	issues := getPage[testIssue](t, srv.URL+"/Issues", "alice").Value
	links := getPage[testLink](t, srv.URL+"/IssueSprints", "alice").Value
	pts := map[string]float64{}
	done := map[string]bool{}
	last := map[string]int{}
	for _, it := range issues {
		if it.StoryPoints != nil {
			pts[it.Key] = *it.StoryPoints
		}
		done[it.Key] = it.Status == "Done"
		if it.SprintId != nil {
			last[it.Key] = *it.SprintId
		}
	}
	want := map[int]*testReport{}
	for _, l := range links {
		r := want[l.SprintId]
		if r == nil {
			r = &testReport{}
			want[l.SprintId] = r
		}
		r.CommittedIssues++
		r.CommittedPoints += pts[l.IssueKey]
		if done[l.IssueKey] && last[l.IssueKey] == l.SprintId {
			r.CompletedIssues++
			r.CompletedPoints += pts[l.IssueKey]
		}
	}
	reports := getPage[testReport](t, srv.URL+"/SprintReports", "alice", jiraToken).Value
	if len(reports) != 5*startedSprints { // alice is in 5 projects
		t.Fatalf("%d sprint reports, want %d", len(reports), 5*startedSprints)
	}
	completed := map[int]float64{}
	for _, r := range reports {
		w := want[r.SprintId]
		if w == nil {
			w = &testReport{}
		}
		if r.CommittedIssues != w.CommittedIssues || r.CompletedIssues != w.CompletedIssues || r.NotCompletedIssues != r.CommittedIssues-r.CompletedIssues ||
			math.Abs(r.CommittedPoints-w.CommittedPoints) > 1e-9 || math.Abs(r.CompletedPoints-w.CompletedPoints) > 1e-9 {
			t.Fatalf("sprint %d: report %+v, from the issues %+v", r.SprintId, r, *w)
		}
		completed[r.SprintId] = r.CompletedPoints
	}
	vel := getPage[testVelocity](t, srv.URL+"/Velocity", "alice", jiraToken).Value
	if len(vel) != 5*closedSprints {
		t.Fatalf("%d velocity rows, want %d", len(vel), 5*closedSprints)
	}
	for k, v := range vel {
		first := v.SprintId - min(k%closedSprints, 2) // this and up to two earlier sprints of the project
		sum := 0.0
		for id := first; id <= v.SprintId; id++ {
			sum += completed[id]
		}
		if v.Completed != completed[v.SprintId] || v.Commitment != want[v.SprintId].committedOrZero() ||
			math.Abs(v.AverageVelocity-sum/float64(v.SprintId-first+1)) > 1e-9 || v.EndDate.After(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("velocity %+v, completed %v", v, completed[v.SprintId])
		}
	}
}

func (r *testReport) committedOrZero() float64 {
	if r == nil {
		return 0
	}
	return r.CommittedPoints
}
