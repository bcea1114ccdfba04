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

// TestExpandEveryNavigationProperty expands each navigation property of
// each set and checks the expanded entities against the referential
// constraints $metadata declares: a single-valued one is the entity whose
// referenced property equals the row's (null exactly when the row's is), a
// collection holds the entities whose partner constraint points at the row,
// as many as the target set has for it.
func TestExpandEveryNavigationProperty(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 1500, PageSize: 5000})
	m := model(t, srv.URL)
	for _, set := range allSets {
		e := m[set]
		for name, n := range e.navs {
			t.Run(set+"/"+name, func(t *testing.T) {
				target := m[e.bindings[name]]
				u := srv.URL + "/" + set + "?$top=60&$expand=" + name
				if set == "Issues" {
					// Issues with a parent, sprints and changes come later in the span.
					u += "&$skip=700"
				}
				rows := getPage[row](t, u, "carol", jiraToken).Value
				if len(rows) == 0 {
					t.Fatalf("%s: no rows", u)
				}
				nonEmpty := 0
				for _, r := range rows {
					raw, ok := r[name]
					if !ok {
						t.Fatalf("%s: row %s lacks %s", u, r[e.key], name)
					}
					if strings.HasPrefix(n.Type, "Collection(") {
						nonEmpty += checkExpandedMany(t, srv.URL, e, target, n, r, raw)
						continue
					}
					if string(raw) != "null" {
						nonEmpty++
					}
					for _, c := range n.Refs {
						if string(raw) == "null" {
							if string(r[c.Property]) != "null" {
								t.Fatalf("%s %s: %s is null but %s = %s", set, r[e.key], name, c.Property, r[c.Property])
							}
							continue
						}
						var got row
						if err := json.Unmarshal(raw, &got); err != nil {
							t.Fatalf("%s %s: %s = %s: %v", set, r[e.key], name, raw, err)
						}
						if string(got[c.Referenced]) != string(r[c.Property]) || len(got) != len(target.props) {
							t.Fatalf("%s %s: %s %s ≠ %s %s", set, r[e.key], name, got[c.Referenced], c.Property, r[c.Property])
						}
					}
				}
				if nonEmpty == 0 {
					t.Errorf("%s: every expanded %s is empty", u, name)
				}
			})
		}
	}
}

// checkExpandedMany checks one expanded collection and returns 1 if it is
// not empty.
func checkExpandedMany(t *testing.T, base string, e, target *entityModel, n csdlNav, r row, raw json.RawMessage) int {
	t.Helper()
	var got []row
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s %s: %s = %s: %v", e.set, r[e.key], n.Name, raw, err)
	}
	var key string
	_ = json.Unmarshal(r[e.key], &key)
	var filter string
	if back := target.navs[n.Partner]; n.Partner != "" && len(back.Refs) == 1 {
		c := back.Refs[0]
		for _, g := range got {
			if string(g[c.Property]) != string(r[c.Referenced]) {
				t.Fatalf("%s %s: %s holds %s with %s %s", e.set, key, n.Name, g[target.key], c.Property, g[c.Property])
			}
		}
		filter = c.Property + " eq " + string(r[c.Referenced])
	} else { // many-to-many: Issues.Sprints and Sprints.Issues, through the bridge
		mine, theirs := "IssueKey", "SprintId"
		if e.set == "Sprints" {
			mine, theirs = theirs, mine
		}
		links := getPage[row](t, base+"/IssueSprints?$filter="+url.QueryEscape(mine+" eq "+strings.ReplaceAll(string(r[e.key]), `"`, `'`)), "carol").Value
		var want, have []string
		for _, l := range links {
			want = append(want, string(l[theirs]))
		}
		for _, g := range got {
			have = append(have, string(g[target.key]))
		}
		if !slices.Equal(want, have) {
			t.Fatalf("%s %s: %s %v, IssueSprints %v", e.set, r[e.key], n.Name, have, want)
		}
		return min(len(got), 1)
	}
	filter = strings.ReplaceAll(filter, `"`, `'`)
	_, body := do(t, http.MethodGet, base+"/"+target.set+"/$count?$filter="+url.QueryEscape(filter), "carol")
	if string(body) != strconv.Itoa(len(got)) {
		t.Fatalf("%s %s: %d expanded %s, but %s/$count?$filter=%s is %s", e.set, key, len(got), n.Name, target.set, filter, body)
	}
	return min(len(got), 1)
}

func TestExpandShapes(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 800, PageSize: 5000})
	type expanded struct {
		Context  string `json:"@odata.context"`
		Key      string
		Summary  *string
		Project  *struct{ Key, Name string }
		Worklogs []struct {
			Id       int
			IssueKey string
			Comment  *string
		}
	}
	p := getPage[expanded](t, srv.URL+"/Issues?$select=Key,Project,Worklogs&$expand=Project($select=Key,Name),Worklogs($select=Id,IssueKey)&$top=50", "alice")
	if want := srv.URL + "/$metadata#Issues(Key,Project(Key,Name),Worklogs(Id,IssueKey))"; p.Context != want {
		t.Errorf("context %q, want %q", p.Context, want)
	}
	wl := 0
	for _, it := range p.Value {
		if it.Summary != nil || it.Project == nil || !strings.HasPrefix(it.Key, it.Project.Key+"-") || it.Project.Name == "" {
			t.Fatalf("%+v: want Key and the expanded Project only", it)
		}
		for _, w := range it.Worklogs {
			if w.IssueKey != it.Key || w.Comment != nil {
				t.Fatalf("%s: worklog %+v", it.Key, w)
			}
			wl++
		}
	}
	if wl == 0 {
		t.Fatal("no worklogs expanded")
	}
	// A single entity expands too.
	var one struct {
		Key           string
		StatusChanges []struct{ ToStatus string }
		Status        string
	}
	key := p.Value[len(p.Value)-1].Key
	resp, body := do(t, http.MethodGet, srv.URL+"/Issues('"+key+"')?$expand=StatusChanges,Project", "alice")
	if err := json.Unmarshal(body, &one); resp.StatusCode != http.StatusOK || err != nil || one.Key != key {
		t.Fatalf("single entity with $expand: %d %s", resp.StatusCode, body)
	}
	if n := len(one.StatusChanges); n > 0 && one.StatusChanges[n-1].ToStatus != one.Status {
		t.Fatalf("%s: last change to %s, status %s", key, one.StatusChanges[n-1].ToStatus, one.Status)
	}
	for _, q := range []string{"$expand=Nope", "$expand=Project(", "$expand=Project,Project", "$expand=Project($select=Nope)",
		"$expand=", "$expand=Project)x", "$expand=Summary", "$expand=Project($bogus=1)"} {
		expectError(t, srv.URL+"/Issues?"+q, "alice", http.StatusBadRequest, "$expand")
	}
	// Valid OData the demo does not implement: 501 NotImplemented.
	for _, q := range []string{"$expand=*", "$expand=Project/LeadUser", "$expand=Project($top=1)", "$expand=Project($expand=LeadUser)", "$expand=Parent($levels=2)"} {
		expectError(t, srv.URL+"/Issues?"+q, "alice", http.StatusNotImplemented, "$expand")
	}
}

// TestPagingWithFilterSelectExpand pages through a filtered, projected,
// expanded feed: the rows are those of one big page, and @odata.count on
// every page is the number of rows delivered.
func TestPagingWithFilterSelectExpand(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 3000, PageSize: 70})
	_, big := newTestService(t, Config{Issues: 3000, PageSize: 100000})
	q := "/Issues?$count=true&$filter=" + url.QueryEscape("Status ne 'Done' and StoryPoints ge 2") +
		"&$select=Key,Status&$expand=Sprints($select=Id),Worklogs"
	for _, extra := range []string{"", "&$orderby=Created%20desc", "&$skip=10&$top=150"} {
		whole := getPage[json.RawMessage](t, big.URL+q+extra, "bob")
		total := -1
		var paged []json.RawMessage
		for u := srv.URL + q + extra; u != ""; {
			p := getPage[json.RawMessage](t, u, "bob")
			if p.Count == nil || (total >= 0 && *p.Count != total) || *p.Count != *whole.Count {
				t.Fatalf("%s: @odata.count %v, earlier %d, unpaged %d", extra, p.Count, total, *whole.Count)
			}
			total = *p.Count
			paged = append(paged, p.Value...)
			u = p.NextLink
		}
		if len(paged) != len(whole.Value) || len(paged) < 2*70 {
			t.Fatalf("%s: %d paged rows, %d unpaged", extra, len(paged), len(whole.Value))
		}
		for i := range paged {
			if string(paged[i]) != string(whole.Value[i]) {
				t.Fatalf("%s: row %d differs: %s vs %s", extra, i, paged[i], whole.Value[i])
			}
		}
		if extra == "" && total != len(paged) {
			t.Fatalf("@odata.count %d, %d rows delivered", total, len(paged))
		}
	}
}

// FuzzExpand: any $expand (with any $select) on Issues answers 200 or an
// OData error in 4xx/501 — never a panic or another 5xx.
func FuzzExpand(f *testing.F) {
	for _, seed := range []string{"Project", "Project($select=Name),Worklogs", "Sprints($select=Id;$select=Name)", "((", "Parent(", ")",
		"StatusChanges($select=ToStatus),AssigneeUser,ReporterUser,SprintLinks", "*", "Project/LeadUser", "Worklogs($top=1)", ",", "Project,"} {
		f.Add(seed, "Key,Project")
	}
	_, srv := newTestService(f, Config{Issues: 200})
	f.Fuzz(func(t *testing.T, expand, sel string) {
		u := srv.URL + "/Issues?$top=3&$expand=" + url.QueryEscape(expand) + "&$select=" + url.QueryEscape(sel)
		resp, body := do(t, http.MethodGet, u, "carol")
		switch {
		case resp.StatusCode == http.StatusOK:
			if !json.Valid(body) {
				t.Fatalf("%s: invalid JSON %s", u, truncate(body))
			}
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented, resp.StatusCode < 400:
			t.Fatalf("%s: status %d %s", u, resp.StatusCode, truncate(body))
		}
	})
}
