package jiraexport

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// issueSet returns every issue user may see, in default order, from one
// unfiltered page.
func issueSet(t *testing.T, base, user string) []testIssue {
	t.Helper()
	p := getPage[testIssue](t, base+"/Issues", user)
	if p.NextLink != "" {
		t.Fatal("reference set spans pages; raise PageSize")
	}
	return p.Value
}

func TestFilterMatchesBruteForce(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 4000, PageSize: 100000, Seed: 3})
	all := issueSet(t, srv.URL, "alice")
	var apostrophe, quoted string
	for _, it := range all {
		if strings.Contains(it.Summary, "'") && apostrophe == "" {
			apostrophe = it.Summary
		}
		if strings.Contains(it.Summary, `"`) && quoted == "" {
			quoted = it.Summary
		}
	}
	if apostrophe == "" || quoted == "" {
		t.Fatal("test data lacks summaries with quotes")
	}
	pts := func(it testIssue) float64 { return *it.StoryPoints }
	cases := []struct {
		filter   string
		pred     func(testIssue) bool
		nonEmpty bool
	}{
		{"Status eq 'Done'", func(it testIssue) bool { return it.Status == "Done" }, true},
		{"Status ne 'Done' and Type eq 'Bug'", func(it testIssue) bool { return it.Status != "Done" && it.Type == "Bug" }, true},
		{"Created ge 2024-01-01T00:00:00Z and Created lt 2024-02-01T00:00:00Z", func(it testIssue) bool {
			return !it.Created.Before(ts("2024-01-01T00:00:00Z")) && it.Created.Before(ts("2024-02-01T00:00:00Z"))
		}, true},
		{"Resolved eq null", func(it testIssue) bool { return it.Resolved == nil }, true},
		{"Resolved ne null and StoryPoints gt 3", func(it testIssue) bool { return it.Resolved != nil && it.StoryPoints != nil && pts(it) > 3 }, true},
		{"StoryPoints eq 0.5", func(it testIssue) bool { return it.StoryPoints != nil && pts(it) == 0.5 }, true},
		{"StoryPoints ne 5", func(it testIssue) bool { return it.StoryPoints == nil || pts(it) != 5 }, true},
		{"3 lt StoryPoints", func(it testIssue) bool { return it.StoryPoints != nil && pts(it) > 3 }, true},
		{"SprintId eq null", func(it testIssue) bool { return it.SprintId == nil }, true},
		{"SprintId le 100", func(it testIssue) bool { return it.SprintId != nil && *it.SprintId <= 100 }, true},
		{"(Priority eq 'High') and (ProjectKey eq 'JRA' and Assignee ne 'alice')", func(it testIssue) bool {
			return it.Priority == "High" && it.ProjectKey == "JRA" && it.Assignee != "alice"
		}, true},
		{"Summary eq '" + strings.ReplaceAll(apostrophe, "'", "''") + "'", func(it testIssue) bool { return it.Summary == apostrophe }, true},
		{"Summary eq '" + quoted + "'", func(it testIssue) bool { return it.Summary == quoted }, true},
		{"Key gt 'PAY'", func(it testIssue) bool { return it.Key > "PAY" }, true},
		{"Created gt 2024-06-01T12:00:00+02:00", func(it testIssue) bool { return it.Created.After(ts("2024-06-01T10:00:00Z")) }, true},
		{"Updated le 2023-03-01T00:00Z", func(it testIssue) bool { return !it.Updated.After(ts("2023-03-01T00:00:00Z")) }, true},
		{"Created gt 2023-06-01T00:00:00.5Z", func(it testIssue) bool { return it.Created.After(ts("2023-06-01T00:00:00.5Z")) }, true},
		{"Reporter eq 'nobody'", func(testIssue) bool { return false }, false},
	}
	for _, c := range cases {
		u := srv.URL + "/Issues?$count=true&$filter=" + url.QueryEscape(c.filter)
		p := getPage[testIssue](t, u, "alice")
		var want []string
		for _, it := range all {
			if c.pred(it) {
				want = append(want, it.Key)
			}
		}
		var got []string
		for _, it := range p.Value {
			if !c.pred(it) {
				t.Errorf("%s: returned %s, which does not satisfy it", c.filter, it.Key)
			}
			got = append(got, it.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, brute force over the unfiltered set gives %d", c.filter, len(got), len(want))
		}
		if c.nonEmpty && len(want) == 0 {
			t.Errorf("%s: matches nothing; the case cannot fail", c.filter)
		}
		if p.Count == nil || *p.Count != len(want) {
			t.Errorf("%s: @odata.count %v, want %d", c.filter, p.Count, len(want))
		}
		_, body := do(t, http.MethodGet, srv.URL+"/Issues/$count?$filter="+url.QueryEscape(c.filter), "alice")
		if string(body) != strconv.Itoa(len(want)) {
			t.Errorf("%s: /$count says %q, want %d", c.filter, body, len(want))
		}
	}
}

func TestFilterOtherSets(t *testing.T) {
	svc, srv := newTestService(t, Config{Issues: 2000, PageSize: 100000})
	users := getPage[struct {
		Id     string
		Active bool
	}](t, srv.URL+"/Users", "bob").Value
	active := getPage[struct{ Id string }](t, srv.URL+"/Users?$filter=Active%20eq%20true", "bob").Value
	n := 0
	for _, u := range users {
		if u.Active {
			n++
		}
	}
	if len(active) != n || n == 0 || n == len(users) {
		t.Fatalf("%d active users of %d listed, filter returned %d", n, len(users), len(active))
	}
	sprints := getPage[struct{ ProjectKey, State string }](t, srv.URL+"/Sprints?$filter=State%20eq%20'active'", "bob").Value
	if len(sprints) != len(svc.ProjectsOf("bob")) {
		t.Fatalf("bob sees %d active sprints, want one per project (%d)", len(sprints), len(svc.ProjectsOf("bob")))
	}
	wl := getPage[struct {
		Id               int64
		TimeSpentSeconds int
	}](t, srv.URL+"/Worklogs?$filter=TimeSpentSeconds%20ge%203600%20and%20Id%20lt%20500", "bob").Value
	allWl := getPage[struct {
		Id               int64
		TimeSpentSeconds int
	}](t, srv.URL+"/Worklogs", "bob").Value
	want := 0
	for _, w := range allWl {
		if w.TimeSpentSeconds >= 3600 && w.Id < 500 {
			want++
		}
	}
	if len(wl) != want || want == 0 {
		t.Fatalf("worklog filter returned %d, brute force %d", len(wl), want)
	}
}

func TestSelect(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 300})
	resp, body := do(t, http.MethodGet, srv.URL+"/Issues?$select=Status,Key,Labels&$top=5", "carol")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var p page[map[string]json.RawMessage]
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Context != srv.URL+"/$metadata#Issues(Key,Status,Labels)" {
		t.Errorf("context %q", p.Context)
	}
	if len(p.Value) != 5 {
		t.Fatalf("%d rows", len(p.Value))
	}
	for _, row := range p.Value {
		var names []string
		for k := range row {
			names = append(names, k)
		}
		sort.Strings(names)
		if !slices.Equal(names, []string{"Key", "Labels", "Status"}) {
			t.Fatalf("row has properties %v", names)
		}
	}
	full := getPage[map[string]json.RawMessage](t, srv.URL+"/Issues?$select=*&$top=1", "carol")
	if len(full.Value[0]) != 15 || full.Context != srv.URL+"/$metadata#Issues" {
		t.Fatalf("$select=* gave %d properties, context %q", len(full.Value[0]), full.Context)
	}
}

func TestTopSkip(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 800, PageSize: 100000})
	all := keysOf(getPage[keyOnly](t, srv.URL+"/Issues", "carol").Value)
	for _, c := range []struct{ skip, top int }{{0, 10}, {15, 20}, {790, 50}, {900, 5}, {0, 0}} {
		got := keysOf(getPage[keyOnly](t, srv.URL+"/Issues?$skip="+strconv.Itoa(c.skip)+"&$top="+strconv.Itoa(c.top), "carol").Value)
		want := all[min(c.skip, len(all)):min(c.skip+c.top, len(all))]
		if !slices.Equal(got, want) {
			t.Errorf("$skip=%d&$top=%d: got %d rows %v..., want %d", c.skip, c.top, len(got), got[:min(3, len(got))], len(want))
		}
	}
}

func TestOrderBy(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 1500, PageSize: 100000})
	get := func(q string) []testIssue { return getPage[testIssue](t, srv.URL+"/Issues?"+q, "alice").Value }
	base := get("")
	check := func(q string, less func(a, b testIssue) int) {
		t.Helper()
		got := get(q)
		if len(got) != len(base) {
			t.Fatalf("%s: %d rows, want %d", q, len(got), len(base))
		}
		want := slices.Clone(base)
		slices.SortStableFunc(want, less)
		for i := range got {
			if got[i].Key != want[i].Key {
				t.Fatalf("%s: row %d is %s, want %s", q, i, got[i].Key, want[i].Key)
			}
		}
	}
	timeCmp := func(a, b *time.Time) int { // nulls first
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		case b == nil:
			return 1
		}
		return a.Compare(*b)
	}
	check("$orderby=Key", func(a, b testIssue) int { return strings.Compare(a.Key, b.Key) })
	check("$orderby=Key%20desc", func(a, b testIssue) int { return strings.Compare(b.Key, a.Key) })
	check("$orderby=Created%20desc", func(a, b testIssue) int { return b.Created.Compare(a.Created) })
	check("$orderby=Resolved", func(a, b testIssue) int { return timeCmp(a.Resolved, b.Resolved) })
	check("$orderby=Resolved%20desc", func(a, b testIssue) int { return timeCmp(b.Resolved, a.Resolved) })
	check("$orderby=Status,Updated%20desc", func(a, b testIssue) int {
		if c := strings.Compare(a.Status, b.Status); c != 0 {
			return c
		}
		return b.Updated.Compare(a.Updated)
	})
}

func TestUnsupportedIsRejected(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	cases := map[string]string{ // query → text the error must contain
		"$expand=Sprint":                  "$expand",
		"$search=foo":                     "$search",
		"$apply=groupby((Status))":        "$apply",
		"$TOP=1":                          "$TOP",
		"@p=1":                            "@p",
		"$top=-1":                         "$top",
		"$top=abc":                        "$top",
		"$skip=x":                         "$skip",
		"$count=yes":                      "$count",
		"$format=xml":                     "$format",
		"$top=1&$top=2":                   "$top",
		"$select=Nope":                    "Nope",
		"$select=Key/Foo":                 "Key/Foo",
		"$orderby=Nope":                   "Nope",
		"$orderby=Labels":                 "Labels",
		"$orderby=Key%20sideways":         "$orderby",
		"$filter=Labels%20eq%20'x'":       "Labels",
		"$filter=Unknown%20eq%201":        "Unknown",
		"$filter=Created%20gt%20'2024'":   "Created",
		"$filter=StoryPoints%20gt%20null": "null",
		"$filter=Summary%20eq%20'open":    "unterminated",
		"$filter=Sprint/Name%20eq%20'x'":  "Sprint",
		"$filter=Status%20eq":             "end of expression",
		"$filter=Status%20eq%20'a')":      "')'",
		"$filter=":                        "empty",
		"$filter=Status%20is%20'a'":       "'is'",
	}
	for q, want := range cases {
		expectError(t, srv.URL+"/Issues?"+q, "carol", http.StatusBadRequest, want)
	}
	expectError(t, srv.URL+"/$metadata?$top=1", "carol", http.StatusBadRequest, "$top")
	expectError(t, srv.URL+"/?$filter=x", "carol", http.StatusBadRequest, "$filter")
	expectError(t, srv.URL+"/Issues", "carol", http.StatusBadRequest, "OData-MaxVersion", "OData-MaxVersion: 3.0")
	expectError(t, srv.URL+"/Nope", "carol", http.StatusNotFound, "Nope")
	// Custom (non-$) options are allowed, and $format=json is accepted.
	getPage[keyOnly](t, srv.URL+"/Issues?cachebust=1&$format=json", "carol")
}
