package jiraexport

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// allSets are the entity sets in the order of the service document.
var allSets = []string{"Issues", "Projects", "Sprints", "Worklogs", "Users",
	"IssueSprints", "IssueStatusChanges", "SprintReports", "Velocity"}

// jiraToken is the header the proxy injects from the person's vault.
const jiraToken = JiraTokenHeader + ": jira-api-token-of-the-person"

// row is one entity as JSON, property by property.
type row = map[string]json.RawMessage

// csdlModel is the part of $metadata the model tests read: properties,
// navigation properties and bindings.
type csdlModel struct {
	Schemas []struct {
		Namespace string `xml:"Namespace,attr"`
		Types     []struct {
			Name string `xml:"Name,attr"`
			Key  []struct {
				Name string `xml:"Name,attr"`
			} `xml:"Key>PropertyRef"`
			Props []struct {
				Name     string `xml:"Name,attr"`
				Type     string `xml:"Type,attr"`
				Nullable string `xml:"Nullable,attr"`
			} `xml:"Property"`
			Navs []csdlNav `xml:"NavigationProperty"`
		} `xml:"EntityType"`
		Sets []struct {
			Name       string `xml:"Name,attr"`
			EntityType string `xml:"EntityType,attr"`
			Bindings   []struct {
				Path   string `xml:"Path,attr"`
				Target string `xml:"Target,attr"`
			} `xml:"NavigationPropertyBinding"`
		} `xml:"EntityContainer>EntitySet"`
	} `xml:"DataServices>Schema"`
}

type csdlNav struct {
	Name     string `xml:"Name,attr"`
	Type     string `xml:"Type,attr"`
	Nullable string `xml:"Nullable,attr"`
	Partner  string `xml:"Partner,attr"`
	Refs     []struct {
		Property   string `xml:"Property,attr"`
		Referenced string `xml:"ReferencedProperty,attr"`
	} `xml:"ReferentialConstraint"`
}

// entityModel is one entity set as $metadata declares it.
type entityModel struct {
	set, typ string
	key      string
	props    map[string]struct{ typ, nullable string }
	order    []string
	navs     map[string]csdlNav
	bindings map[string]string // navigation property → target set
}

// model fetches and indexes $metadata by entity set.
func model(t *testing.T, base string) map[string]*entityModel {
	t.Helper()
	resp, body := do(t, http.MethodGet, base+"/$metadata", "carol")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("$metadata: %d", resp.StatusCode)
	}
	var doc csdlModel
	if err := xml.Unmarshal(body, &doc); err != nil || len(doc.Schemas) != 1 {
		t.Fatalf("$metadata: %v (%d schemas)", err, len(doc.Schemas))
	}
	sc := doc.Schemas[0]
	out := map[string]*entityModel{}
	for _, s := range sc.Sets {
		m := &entityModel{set: s.Name, typ: s.EntityType, props: map[string]struct{ typ, nullable string }{},
			navs: map[string]csdlNav{}, bindings: map[string]string{}}
		for _, et := range sc.Types {
			if sc.Namespace+"."+et.Name != s.EntityType {
				continue
			}
			if len(et.Key) == 1 {
				m.key = et.Key[0].Name
			}
			for _, p := range et.Props {
				m.props[p.Name] = struct{ typ, nullable string }{p.Type, p.Nullable}
				m.order = append(m.order, p.Name)
			}
			for _, n := range et.Navs {
				m.navs[n.Name] = n
			}
		}
		for _, b := range s.Bindings {
			m.bindings[b.Path] = b.Target
		}
		out[s.Name] = m
	}
	return out
}

// TestMetadataNavigationIsConsistent checks the CSDL rules of navigation
// properties that the OASIS schemas and the specification demand: every
// navigation property is bound to a set of its type, its referential
// constraints name existing properties of matching types, partners point
// back, and nullability agrees with the dependent properties.
func TestMetadataNavigationIsConsistent(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 200})
	m := model(t, srv.URL)
	byType := map[string]*entityModel{}
	for _, e := range m {
		byType[e.typ] = e
	}
	navs := 0
	for _, e := range m {
		if e.key == "" || e.props[e.key].nullable != "false" {
			t.Errorf("%s: key %q is not a non-nullable property", e.set, e.key)
		}
		for name, n := range e.navs {
			navs++
			if _, clash := e.props[name]; clash {
				t.Errorf("%s.%s is both a property and a navigation property", e.typ, name)
			}
			targetType, many := strings.CutPrefix(n.Type, "Collection(")
			targetType = strings.TrimSuffix(targetType, ")")
			target := byType[targetType]
			if target == nil {
				t.Errorf("%s.%s: type %s is not an entity type of a set", e.typ, name, n.Type)
				continue
			}
			if b := e.bindings[name]; m[b] == nil || m[b].typ != targetType {
				t.Errorf("%s.%s: binding to %q, want a set of %s", e.set, name, b, targetType)
			}
			if many && n.Nullable != "" {
				t.Errorf("%s.%s: a collection declares Nullable", e.typ, name)
			}
			for _, r := range n.Refs {
				dep, ok1 := e.props[r.Property]
				prin, ok2 := target.props[r.Referenced]
				if !ok1 || !ok2 || dep.typ != prin.typ {
					t.Errorf("%s.%s: constraint %s → %s.%s does not join properties of one type", e.typ, name, r.Property, targetType, r.Referenced)
				}
				if !many && (dep.nullable != "false") != (n.Nullable != "false") {
					t.Errorf("%s.%s: Nullable %q but %s Nullable %q", e.typ, name, n.Nullable, r.Property, dep.nullable)
				}
			}
			if n.Partner != "" {
				back, ok := target.navs[n.Partner]
				if !ok || back.Partner != name || !strings.Contains(back.Type, e.typ) {
					t.Errorf("%s.%s: partner %s.%s does not point back", e.typ, name, targetType, n.Partner)
				}
			}
		}
	}
	if navs < 15 {
		t.Errorf("%d navigation properties, want the relations of every set", navs)
	}
	for _, want := range []string{"Issues.Project", "Issues.Parent", "Issues.Sprints", "Issues.Worklogs", "Issues.StatusChanges",
		"Issues.AssigneeUser", "Sprints.Issues", "Worklogs.AuthorUser", "Worklogs.Issue", "IssueSprints.Issue", "IssueSprints.Sprint", "SprintReports.Sprint"} {
		set, nav, _ := strings.Cut(want, ".")
		if _, ok := m[set].navs[nav]; !ok {
			t.Errorf("no navigation property %s", want)
		}
	}
}

// TestEveryValueMatchesItsDeclaredType walks every entity set as carol
// (who sees everything) and checks each value against the type and
// nullability $metadata declares, and that the nullable columns Jira leaves
// empty really are null for some rows.
func TestEveryValueMatchesItsDeclaredType(t *testing.T) {
	_, srv := newTestService(t, Config{Issues: 2500, PageSize: 900})
	m := model(t, srv.URL)
	nulls := map[string]int{}
	for _, set := range allSets {
		e := m[set]
		rows, _ := getAll[row](t, srv.URL+"/"+set, "carol", jiraToken)
		if len(rows) == 0 {
			t.Errorf("%s is empty", set)
		}
		for _, r := range rows {
			if len(r) != len(e.props) {
				t.Fatalf("%s: row %s has %d properties, $metadata declares %d", set, r[e.key], len(r), len(e.props))
			}
			for name, p := range e.props {
				raw, ok := r[name]
				if !ok {
					t.Fatalf("%s %s: property %s missing", set, r[e.key], name)
				}
				if string(raw) == "null" {
					nulls[set+"."+name]++
					if p.nullable == "false" {
						t.Fatalf("%s %s: %s is null but declared Nullable=\"false\"", set, r[e.key], name)
					}
					continue
				}
				if err := checkEdmValue(p.typ, raw); err != nil {
					t.Fatalf("%s %s: %s = %s: %v", set, r[e.key], name, raw, err)
				}
			}
		}
	}
	for _, col := range []string{"Issues.Assignee", "Issues.StoryPoints", "Issues.Resolved", "Issues.ParentKey", "Issues.SprintId"} {
		if nulls[col] == 0 {
			t.Errorf("%s is never null; Jira leaves it empty for some issues", col)
		}
	}
}

// TestMetadataValidatesAgainstOASISSchemas validates $metadata with xmllint
// against the OASIS CSDL XML schemas (edmx.xsd, which imports edm.xsd from
// the same folder) in the folder named by TOKENGATE_CSDL_XSD_DIR. The
// schemas are not shipped with this repository: the test is skipped without
// them or without xmllint.
func TestMetadataValidatesAgainstOASISSchemas(t *testing.T) {
	dir := os.Getenv("TOKENGATE_CSDL_XSD_DIR")
	xmllint, err := exec.LookPath("xmllint")
	if dir == "" || err != nil {
		t.Skip("set TOKENGATE_CSDL_XSD_DIR to a folder with the OASIS edmx.xsd and edm.xsd, and install xmllint")
	}
	_, srv := newTestService(t, Config{Issues: 200})
	_, body := do(t, http.MethodGet, srv.URL+"/$metadata", "carol")
	doc := filepath.Join(t.TempDir(), "metadata.xml")
	if err := os.WriteFile(doc, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join(dir, "edmx.xsd"), doc).CombinedOutput()
	if err != nil {
		t.Fatalf("$metadata does not validate against the OASIS schemas: %v\n%s", err, out)
	}
}
