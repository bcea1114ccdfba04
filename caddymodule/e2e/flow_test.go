package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule"
	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/jiraexport"
)

// flowConfig is the backend of the flow tests: small pages so that a feed
// takes several nextLinks.
var flowConfig = jiraexport.Config{Issues: 5000, PageSize: 400, Seed: 7, BasePath: "/odata"}

// TestPowerBIFlow is what a Power BI user does, through the real proxy, on
// each store: create a token on the token page, let Power BI probe
// anonymously (401 with a Basic challenge), then read the service document,
// $metadata and every page of Issues with the token as the password; the
// feed URL works without its slash; a Jira API token stored on the token
// page opens SprintReports and Velocity.
func TestPowerBIFlow(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			s := startStack(t, storeFor(t, name), flowConfig)
			svc, err := jiraexport.New(flowConfig)
			if err != nil {
				t.Fatal(err)
			}
			alice := s.createToken(t, "alice", "Power BI Desktop")
			feed := s.base + "/odata/"

			t.Run("anonymous probe gets a Basic challenge", func(t *testing.T) {
				for _, u := range []string{feed, feed + "$metadata", feed + "Issues"} {
					resp, body := s.odataGet(t, u, "", "")
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("GET %s without credentials: status %d, want 401", u, resp.StatusCode)
					}
					if got, want := resp.Header.Get("WWW-Authenticate"), `Basic realm="Jira export", charset="UTF-8"`; got != want {
						t.Errorf("GET %s: WWW-Authenticate %q, want %q", u, got, want)
					}
					if bytes.Contains(body, []byte("Issue")) || resp.Header.Get("OData-Version") != "" {
						t.Errorf("GET %s: the 401 leaked backend content (OData-Version %q, body %.200s)", u, resp.Header.Get("OData-Version"), body)
					}
				}
				// A wrong password is no better than none.
				resp, _ := s.odataGet(t, feed, "alice", "alice-demo")
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("portal password as the token: status %d, want 401", resp.StatusCode)
				}
			})

			t.Run("service document", func(t *testing.T) {
				resp, body := s.odataGet(t, feed, "alice", alice.Token)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, body %.300s", resp.StatusCode, body)
				}
				checkPassThrough(t, feed, resp, body)
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q, want JSON", ct)
				}
				var doc struct {
					Context string `json:"@odata.context"`
					Value   []struct{ Name, Kind, URL string }
				}
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Fatalf("service document: %v", err)
				}
				s.checkLink(t, doc.Context)
				if doc.Context != feed+"$metadata" {
					t.Errorf("@odata.context %q, want %q", doc.Context, feed+"$metadata")
				}
				var names []string
				for _, v := range doc.Value {
					names = append(names, v.Name)
				}
				if !strings.Contains(","+strings.Join(names, ",")+",", ",Issues,") {
					t.Errorf("entity sets %v lack Issues", names)
				}
			})

			t.Run("metadata is XML", func(t *testing.T) {
				u := feed + "$metadata"
				resp, body := s.odataGet(t, u, "alice", alice.Token)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, body %.300s", resp.StatusCode, body)
				}
				checkPassThrough(t, u, resp, body)
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
					t.Errorf("Content-Type %q, want application/xml", ct)
				}
				var doc struct {
					XMLName xml.Name
					Version string `xml:"Version,attr"`
					Sets    []struct {
						Name string `xml:"Name,attr"`
					} `xml:"DataServices>Schema>EntityContainer>EntitySet"`
				}
				if err := xml.Unmarshal(body, &doc); err != nil {
					t.Fatalf("$metadata does not parse as XML: %v", err)
				}
				if doc.XMLName.Local != "Edmx" || doc.Version != "4.0" || len(doc.Sets) == 0 {
					t.Errorf("$metadata: root %q version %q with %d entity sets", doc.XMLName.Local, doc.Version, len(doc.Sets))
				}
			})

			t.Run("metadata is byte-identical to the backend's", func(t *testing.T) {
				// The CSDL names no host (links live in the JSON payloads
				// only), so the backend answers the same bytes whatever the
				// forwarded headers say, and a direct compare is exact.
				direct := httptest.NewServer(svc)
				defer direct.Close()
				req, err := http.NewRequest(http.MethodGet, direct.URL+"/odata/$metadata", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set(jiraexport.UserHeader, "alice")
				req.Header.Set("X-Forwarded-Host", strings.TrimPrefix(s.base, "http://"))
				req.Header.Set("X-Forwarded-Proto", "http")
				dresp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				want, err := io.ReadAll(dresp.Body)
				dresp.Body.Close()
				if err != nil || dresp.StatusCode != http.StatusOK {
					t.Fatalf("direct $metadata: status %d, %v", dresp.StatusCode, err)
				}
				if bytes.Contains(want, []byte(strings.TrimPrefix(s.base, "http://"))) {
					t.Fatalf("direct $metadata names the host; a byte compare would not be meaningful")
				}
				_, got := s.odataGet(t, feed+"$metadata", "alice", alice.Token)
				if !bytes.Equal(got, want) {
					t.Fatalf("proxied $metadata (%d bytes) differs from the backend's (%d bytes)", len(got), len(want))
				}
			})

			counts := map[string]int{}
			t.Run("alice pages through every Issue", func(t *testing.T) {
				res := s.followPages(t, feed+"Issues", "alice", alice.Token)
				want := svc.VisibleIssueCount("alice")
				if res.rows != want {
					t.Fatalf("alice read %d issues over %d pages, VisibleIssueCount %d", res.rows, res.pages, want)
				}
				if wantPages := (want + flowConfig.PageSize - 1) / flowConfig.PageSize; res.pages != wantPages || res.pages < 2 {
					t.Errorf("alice: %d pages, want %d (and at least 2)", res.pages, wantPages)
				}
				counts["alice"] = res.rows
				t.Logf("alice: %d issues over %d pages", res.rows, res.pages)
			})

			t.Run("bob gets his own count", func(t *testing.T) {
				bob := s.createToken(t, "bob", "Power BI Service")
				res := s.followPages(t, feed+"Issues", "bob", bob.Token)
				want := svc.VisibleIssueCount("bob")
				if res.rows != want {
					t.Fatalf("bob read %d issues over %d pages, VisibleIssueCount %d", res.rows, res.pages, want)
				}
				if counts["alice"] != 0 && res.rows == counts["alice"] {
					t.Fatalf("bob and alice both read %d issues", res.rows)
				}
				t.Logf("bob: %d issues over %d pages", res.rows, res.pages)
			})

			t.Run("feed URL without the slash, unknown paths 404", func(t *testing.T) {
				s.checkFeedURL(t, "alice", alice.Token)
			})

			t.Run("other tokens: a stored Jira API token reads SprintReports", func(t *testing.T) {
				s.checkOtherTokens(t, alice, s.createToken(t, "bob", "Power BI reports"))
				keyFile := filepath.Join(s.inst.Dir, "data", "tokengate.db"+caddymodule.VaultKeyFileSuffix)
				if name == "bolt" {
					checkVaultKeyFile(t, s.inst.Dir, s.inst.Logs.String())
				} else if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
					t.Errorf("with Postgres and vault_key, a key file exists (%v)", err)
				}
			})

			t.Run("client-sent forwarding headers do not steer links", func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, feed+"Issues", nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range powerBIHeaders {
					req.Header.Set(k, v)
				}
				req.Header.Set("Authorization", basicauth.Header("alice", alice.Token))
				req.Header.Set("X-Forwarded-Host", "evil.example")
				req.Header.Set("X-Forwarded-Proto", "https")
				resp, err := s.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := decodeBody(t, feed+"Issues", resp)
				resp.Body.Close()
				var p page
				if err := json.Unmarshal(body, &p); err != nil || p.NextLink == "" {
					t.Fatalf("status %d, nextLink %q, err %v", resp.StatusCode, p.NextLink, err)
				}
				s.checkLink(t, p.Context)
				s.checkLink(t, p.NextLink)
			})

			t.Run("revoked mid-paging", func(t *testing.T) {
				tok := s.createToken(t, "alice", "to be revoked")
				resp, body := s.odataGet(t, feed+"Issues", "alice", tok.Token)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("first page: status %d", resp.StatusCode)
				}
				var first page
				if err := json.Unmarshal(body, &first); err != nil || first.NextLink == "" {
					t.Fatalf("first page: nextLink %q, err %v", first.NextLink, err)
				}
				// The second page still works: the token is good and cached.
				resp, body = s.odataGet(t, first.NextLink, "alice", tok.Token)
				var second page
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &second) != nil || second.NextLink == "" {
					t.Fatalf("second page: status %d, nextLink %q", resp.StatusCode, second.NextLink)
				}
				s.revokeToken(t, "alice", tok.ID)
				resp, _ = s.odataGet(t, second.NextLink, "alice", tok.Token)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("next page after revocation: status %d, want 401", resp.StatusCode)
				}
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="Jira export"`) {
					t.Errorf("after revocation: WWW-Authenticate %q", got)
				}
				// Alice's other token is untouched.
				if resp, _ := s.odataGet(t, second.NextLink, "alice", alice.Token); resp.StatusCode != http.StatusOK {
					t.Errorf("alice's other token after revoking one: status %d, want 200", resp.StatusCode)
				}
			})
		})
	}
}
