package jiraexport

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// filterIssue is the part of an Issue the filter tests look at.
type filterIssue struct {
	Key, Summary, Status, Type, Priority string
	Created                              time.Time
	Resolved                             *time.Time
	StoryPoints                          *float64
	Labels                               []string
}

func (it filterIssue) has(label string) bool { return slices.Contains(it.Labels, label) }

// filterCase is a $filter expression and the rows it must return.
type filterCase struct {
	filter string
	pred   func(filterIssue) bool
}

// checkFilters runs each case through the handler (page and /$count) and
// compares the rows with the predicate applied to the unfiltered set.
func checkFilters(t *testing.T, base string, all []filterIssue, cases []filterCase) {
	t.Helper()
	for _, c := range cases {
		p := getPage[filterIssue](t, base+"/Issues?$count=true&$filter="+url.QueryEscape(c.filter), "carol")
		var want, got []string
		for _, it := range all {
			if c.pred(it) {
				want = append(want, it.Key)
			}
		}
		for _, it := range p.Value {
			got = append(got, it.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, want %d", c.filter, len(got), len(want))
		}
		if len(want) == 0 || len(want) == len(all) {
			t.Errorf("%s: matches %d of %d rows; the case cannot tell", c.filter, len(want), len(all))
		}
		if p.Count == nil || *p.Count != len(want) {
			t.Errorf("%s: @odata.count %v, want %d", c.filter, p.Count, len(want))
		}
		_, body := do(t, http.MethodGet, base+"/Issues/$count?$filter="+url.QueryEscape(c.filter), "carol")
		if string(body) != strconv.Itoa(len(want)) {
			t.Errorf("%s: /$count says %q, want %d", c.filter, body, len(want))
		}
	}
}

func filterTestService(t *testing.T) (string, []filterIssue) {
	t.Helper()
	_, srv := newTestService(t, Config{Issues: 3000, PageSize: 100000, Seed: 5})
	p := getPage[filterIssue](t, srv.URL+"/Issues", "carol")
	if p.NextLink != "" {
		t.Fatal("reference set spans pages")
	}
	return srv.URL, p.Value
}

// TestFilterPowerQueryShapes replays the shapes Power Query folds.
func TestFilterPowerQueryShapes(t *testing.T) {
	base, all := filterTestService(t)
	pts := func(it filterIssue) float64 { return *it.StoryPoints }
	day := func(s string) time.Time { return ts(s + "T00:00:00Z") }
	checkFilters(t, base, all, []filterCase{
		{"Status eq 'Done' or Status eq 'To Do'", func(it filterIssue) bool { return it.Status == "Done" || it.Status == "To Do" }},
		{"Status in ('Done','In Review')", func(it filterIssue) bool { return it.Status == "Done" || it.Status == "In Review" }},
		{"Type in ('Bug')", func(it filterIssue) bool { return it.Type == "Bug" }},
		{"not (Status eq 'Done')", func(it filterIssue) bool { return it.Status != "Done" }},
		{"not contains(Summary,'login')", func(it filterIssue) bool { return !strings.Contains(it.Summary, "login") }},
		{"contains(Summary,'login')", func(it filterIssue) bool { return strings.Contains(it.Summary, "login") }},
		{"contains(Summary,'''')", func(it filterIssue) bool { return strings.Contains(it.Summary, "'") }},
		{"startswith(Summary,'Fix')", func(it filterIssue) bool { return strings.HasPrefix(it.Summary, "Fix") }},
		{"endswith(Summary,'mobile')", func(it filterIssue) bool { return strings.HasSuffix(it.Summary, "mobile") }},
		{"tolower(Status) eq 'in review'", func(it filterIssue) bool { return it.Status == "In Review" }},
		{"contains(toupper(Summary),'ZÜRICH')", func(it filterIssue) bool { return strings.Contains(it.Summary, "Zürich") }},
		{"length(Summary) gt 30", func(it filterIssue) bool { return utf8.RuneCountInString(it.Summary) > 30 }},
		{"indexof(Summary,'VPN') eq 21", func(it filterIssue) bool {
			i := strings.Index(it.Summary, "VPN")
			return i >= 0 && utf8.RuneCountInString(it.Summary[:i]) == 21
		}},
		{"substring(Key,0,4) eq 'JRA-'", func(it filterIssue) bool { return strings.HasPrefix(it.Key, "JRA-") }},
		{"substring(Summary,4) eq 'login page'", func(it filterIssue) bool { return len(it.Summary) > 4 && it.Summary[4:] == "login page" }},
		{"trim(Summary) eq Summary and Type eq 'Task'", func(it filterIssue) bool { return it.Type == "Task" }},
		{"year(Created) eq 2024", func(it filterIssue) bool { return it.Created.Year() == 2024 }},
		{"year(Created) eq 2024 and month(Created) eq 5", func(it filterIssue) bool { return it.Created.Year() == 2024 && it.Created.Month() == 5 }},
		{"day(Created) eq 1", func(it filterIssue) bool { return it.Created.Day() == 1 }},
		{"hour(Created) lt 6 and minute(Created) ge 30", func(it filterIssue) bool { return it.Created.Hour() < 6 && it.Created.Minute() >= 30 }},
		{"date(Created) eq 2024-05-02", func(it filterIssue) bool { return it.Created.Format(time.DateOnly) == "2024-05-02" }},
		{"date(Created) ge 2024-05-01 and date(Created) le 2024-05-31", func(it filterIssue) bool {
			return it.Created.Format(time.DateOnly) >= "2024-05-01" && it.Created.Format(time.DateOnly) <= "2024-05-31"
		}},
		{"year(date(Resolved)) eq 2024", func(it filterIssue) bool { return it.Resolved != nil && it.Resolved.Year() == 2024 }},
		{"Created ge 2024-05-01 and Created lt 2024-06-01T00:00:00Z", func(it filterIssue) bool {
			return !it.Created.Before(day("2024-05-01")) && it.Created.Before(day("2024-06-01"))
		}},
		{"Resolved eq null", func(it filterIssue) bool { return it.Resolved == nil }},
		{"Resolved ne null and StoryPoints eq null", func(it filterIssue) bool { return it.Resolved != nil && it.StoryPoints == nil }},
		{"StoryPoints in (1, 2, null)", func(it filterIssue) bool { return it.StoryPoints == nil || pts(it) == 1 || pts(it) == 2 }},
		{"Labels/any(l:l eq 'backend')", func(it filterIssue) bool { return it.has("backend") }},
		{"Labels/any(l: l eq 'backend' or l eq 'security')", func(it filterIssue) bool { return it.has("backend") || it.has("security") }},
		{"Labels/any(l:startswith(l,'tech'))", func(it filterIssue) bool { return it.has("tech-debt") }},
		{"Labels/all(l:l ne 'backend')", func(it filterIssue) bool { return !it.has("backend") }},
		{"Labels/all(l:l eq 'customer') and Labels/any()", func(it filterIssue) bool {
			return len(it.Labels) > 0 && !slices.ContainsFunc(it.Labels, func(l string) bool { return l != "customer" })
		}},
		{"Labels/any()", func(it filterIssue) bool { return len(it.Labels) > 0 }},
		{"not Labels/any()", func(it filterIssue) bool { return len(it.Labels) == 0 }},
		{"Labels/any(a:Labels/any(b:a eq 'backend' and b eq 'security'))", func(it filterIssue) bool { return it.has("backend") && it.has("security") }},
		{"Labels/any(l:l in ('customer','regression')) and Status eq 'Done'", func(it filterIssue) bool {
			return (it.has("customer") || it.has("regression")) && it.Status == "Done"
		}},
		{"StoryPoints gt 3 eq true", func(it filterIssue) bool { return it.StoryPoints != nil && pts(it) > 3 }},
	})
}

// TestFilterPrecedence checks not > and > or, parentheses, and that every
// case differs from its misreading.
func TestFilterPrecedence(t *testing.T) {
	base, all := filterTestService(t)
	done := func(it filterIssue) bool { return it.Status == "Done" }
	bug := func(it filterIssue) bool { return it.Type == "Bug" }
	high := func(it filterIssue) bool { return it.Priority == "High" }
	cases := []struct {
		filterCase
		misread func(filterIssue) bool
	}{
		{filterCase{"Status eq 'Done' or Type eq 'Bug' and Priority eq 'High'", func(it filterIssue) bool { return done(it) || bug(it) && high(it) }},
			func(it filterIssue) bool { return (done(it) || bug(it)) && high(it) }},
		{filterCase{"(Status eq 'Done' or Type eq 'Bug') and Priority eq 'High'", func(it filterIssue) bool { return (done(it) || bug(it)) && high(it) }},
			func(it filterIssue) bool { return done(it) || bug(it) && high(it) }},
		{filterCase{"Type eq 'Bug' and Priority eq 'High' or Status eq 'Done'", func(it filterIssue) bool { return bug(it) && high(it) || done(it) }},
			func(it filterIssue) bool { return bug(it) && (high(it) || done(it)) }},
		{filterCase{"not (Status eq 'Done') and Type eq 'Bug'", func(it filterIssue) bool { return !done(it) && bug(it) }},
			func(it filterIssue) bool { return !(done(it) && bug(it)) }},
		{filterCase{"not (Status eq 'Done' and Type eq 'Bug')", func(it filterIssue) bool { return !(done(it) && bug(it)) }},
			func(it filterIssue) bool { return !done(it) && bug(it) }},
		{filterCase{"not not (Status eq 'Done') or ((((Type eq 'Bug'))))", func(it filterIssue) bool { return done(it) || bug(it) }},
			func(it filterIssue) bool { return done(it) && bug(it) }},
	}
	var fcs []filterCase
	for _, c := range cases {
		differs := false
		for _, it := range all {
			differs = differs || c.pred(it) != c.misread(it)
		}
		if !differs {
			t.Errorf("%s: the misreading selects the same rows; the case cannot tell", c.filter)
		}
		fcs = append(fcs, c.filterCase)
	}
	checkFilters(t, base, all, fcs)
}

func TestFilterNotImplemented(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	for q, want := range map[string]string{ // $filter → text the 501 message must contain
		"StoryPoints add 1 eq 2":                           "'add'",
		"StoryPoints mul 2 gt 3":                           "'mul'",
		"Status has 'x'":                                   "'has'",
		"cast(StoryPoints,'Edm.Int32') eq 1":               "'cast'",
		"isof(Summary,'Edm.String')":                       "'isof'",
		"concat(Summary,'x') eq 'y'":                       "'concat'",
		"round(StoryPoints) eq 3":                          "'round'",
		"now() gt Created":                                 "'now'",
		"second(Created) eq 0":                             "'second'",
		"Created gt duration'P1D'":                         "typed literal",
		"-StoryPoints eq -3":                               "negation",
		"$it/Key eq 'x'":                                   "$it",
		"Labels/$count eq 2":                               "Labels/$count",
		"Labels/any(a:Labels/any(b:Labels/any(c:a eq c)))": "nested more than 2",
		"Summary/Length eq 2":                              "Summary/Length",
		"Project/Name eq 'x'":                              "navigation property 'Project'",
		"Sprints/any(s:s/Id eq 3)":                         "navigation property 'Sprints'",
		"'backend' in Labels":                              "'in'",
		"Status eq 'Done' or contains(Key,'x') and StoryPoints div 2 eq 1": "'div'",
	} {
		expectError(t, srv.URL+"/Issues?$filter="+url.QueryEscape(q), "carol", http.StatusNotImplemented, want)
		_, body := do(t, http.MethodGet, srv.URL+"/Issues/$count?$filter="+url.QueryEscape(q), "carol")
		if !strings.Contains(string(body), `"code":"NotImplemented"`) {
			t.Errorf("/$count?$filter=%s: %s, want a NotImplemented error", q, body)
		}
	}
	_, body := do(t, http.MethodGet, srv.URL+"/Issues?$filter="+url.QueryEscape("isof(Summary,'Edm.String')"), "carol")
	if !strings.HasPrefix(string(body), `{"error":{"code":"NotImplemented","message":"$filter: function 'isof' is not implemented`) {
		t.Errorf("501 body %s", body)
	}
}

func TestFilterBadRequest(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	for q, want := range map[string]string{ // $filter → text the 400 message must contain
		"Status eq 'Done' and":                     "unexpected end of expression",
		"(Status eq 'Done'":                        "missing ')' at position 17",
		"Status eq 'Done')":                        "unexpected ')' at position 16",
		"Status eq 'Done' xor Type eq 'Bug'":       "unexpected 'xor' at position 17",
		"contains(Summary)":                        "contains takes 2 argument(s), got 1",
		"substring(Summary,1,2,3) eq 'x'":          "substring takes 2 or 3 arguments",
		"contains(Summary,1)":                      "argument 2 of contains must be Edm.String",
		"year(Summary) eq 2024":                    "argument 1 of year",
		"hour(2024-05-01) eq 0":                    "argument 1 of hour",
		"contains(Labels,'x')":                     "Labels",
		"Labels/any(l l eq 'x')":                   "':' after the lambda variable",
		"Labels/any(l:)":                           "unexpected ')'",
		"Labels/any(l:l)":                          "any() expects Edm.Boolean",
		"Labels/all()":                             "all() needs a lambda",
		"Labels/any(l:Labels/any(l:l eq 'x'))":     "'l' is already in use",
		"Summary/any(l:l eq 'x')":                  "not a collection",
		"any(l:l eq 'x')":                          "needs a collection-valued property",
		"Status in ()":                             "unexpected ')'",
		"Status in 'Done'":                         "expected '(' after 'in'",
		"Status in ('Done', 3)":                    "cannot compare Status",
		"not Status eq 'Done'":                     "not expects Edm.Boolean",
		"Status eq 'a' eq 'b'":                     "cannot compare",
		"Status":                                   "must be a boolean condition",
		"Status eq eq":                             "got operator 'eq'",
		"Status eq 'Done' # x":                     "unexpected character '#' at position 17",
		"StoryPoints gt 1e999":                     "out of range",
		"Created gt 2024-13-01":                    "invalid date",
		"Created gt 2024-05-01T25:00:00Z":          "invalid DateTimeOffset",
		"Created gt 12:00":                         "unsupported literal",
		"Resolved gt null":                         "null can only be compared with eq or ne",
		"contains(Summary,'x') gt true":            "Edm.Boolean",
		"Nope eq 1 or Status eq 'Done'":            "unknown property 'Nope' of Issues at position 0",
		"Summary eq '" + strings.Repeat("x", 9000): "longer than 8000 bytes",
	} {
		expectError(t, srv.URL+"/Issues?$filter="+url.QueryEscape(q), "carol", http.StatusBadRequest, want)
	}
}

// TestFilterNesting: nesting up to the limit works; deeper is refused with
// a 400, whatever the construct.
func TestFilterNesting(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	ok := strings.Repeat("(", maxFilterDepth-2) + "Status eq 'Done'" + strings.Repeat(")", maxFilterDepth-2)
	getPage[keyOnly](t, srv.URL+"/Issues?$filter="+url.QueryEscape(ok), "carol")
	for _, q := range []string{
		strings.Repeat("(", 1000) + "Status eq 'Done'" + strings.Repeat(")", 1000),
		strings.Repeat("(", 4000),
		strings.Repeat("not ", 1000) + "(Status eq 'Done')",
		strings.Repeat("contains(tolower(", 200) + "Summary",
		strings.Repeat("Labels/any(l:", 100) + "true" + strings.Repeat(")", 100),
		strings.Repeat("Labels/any(l:", 10) + strings.Repeat("(", 45) + "true",
		"Status in (" + strings.Repeat("(", 100) + "'a'" + strings.Repeat(")", 100) + ")",
	} {
		start := time.Now()
		expectError(t, srv.URL+"/Issues?$filter="+url.QueryEscape(q), "carol", http.StatusBadRequest, "nested deeper than 50 levels")
		if d := time.Since(start); d > time.Second {
			t.Errorf("%.30s…: refused after %v", q, d)
		}
	}
}

// TestFilterLongChains: the longest accepted chains of or and of in items
// are evaluated without trouble.
func TestFilterLongChains(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 2000})
	var ors, ins []string
	for i := 1; len(strings.Join(ors, " or "))+40 < maxFilterLen; i++ {
		ors = append(ors, "Key eq 'JRA-"+strconv.Itoa(i)+"'")
		ins = append(ins, "'JRA-"+strconv.Itoa(i)+"'")
	}
	for _, q := range []string{strings.Join(ors, " or "), "Key in (" + strings.Join(ins, ",") + ")"} {
		p := getPage[keyOnly](t, srv.URL+"/Issues?$count=true&$filter="+url.QueryEscape(q), "carol")
		if p.Count == nil || *p.Count == 0 {
			t.Errorf("%.40s…: count %v", q, p.Count)
		}
	}
}

// TestFilterCapabilities: $metadata declares what $filter implements.
func TestFilterCapabilities(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 100})
	_, body := do(t, http.MethodGet, srv.URL+"/$metadata", "carol")
	doc := string(body)
	for _, want := range []string{
		`<edmx:Reference Uri="` + capabilitiesVocabulary + `"><edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/></edmx:Reference><edmx:DataServices>`,
		`<Annotations Target="JiraExport.Container"><Annotation Term="Org.OData.Capabilities.V1.FilterFunctions"><Collection><String>eq</String>`,
		`<String>contains</String>`, `<String>any</String>`, `<String>in</String>`, `<String>date</String>`, `<String>substring</String>`,
		`<Annotations Target="JiraExport.Container/Issues"><Annotation Term="Org.OData.Capabilities.V1.FilterRestrictions"><Record><PropertyValue Property="Filterable" Bool="true"/>`,
		`<PropertyValue Property="NonFilterableProperties"><Collection><PropertyPath>Project</PropertyPath>`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("$metadata lacks %s", want)
		}
	}
	for _, unwanted := range []string{`<String>add</String>`, `<String>cast</String>`, `<String>isof</String>`, `<String>concat</String>`} {
		if strings.Contains(doc, unwanted) {
			t.Errorf("$metadata declares %s, which is not implemented", unwanted)
		}
	}
	// Every declared function is implemented: a call of each compiles.
	for _, f := range filterCapabilities() {
		if _, ok := filterFunctions[f]; !ok && !strings.Contains(supportedOperators, f) {
			t.Errorf("FilterFunctions lists %s, which is neither a function nor an operator", f)
		}
	}
}
