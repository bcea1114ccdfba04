package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/caddymodule/jiraexport"
	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/storetest"
)

// people are the portal's demo logins (the quickstart's basic_auth block).
var people = map[string]string{"alice": "alice-demo", "bob": "bob-demo", "carol": "carol-demo"}

// powerBIHeaders are the headers Power BI Desktop's OData connector sends.
var powerBIHeaders = map[string]string{
	"User-Agent":            "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)",
	"OData-MaxVersion":      "4.0",
	"MaxDataServiceVersion": "3.0",
	"Accept-Encoding":       "gzip, deflate",
	"Accept":                "application/json;odata.metadata=minimal;q=1.0,application/json;odata=minimalmetadata;q=0.9,application/atomsvc+xml;q=0.8,application/atom+xml;q=0.8,application/xml;q=0.7,text/plain;q=0.7",
}

// storeSetup is one of the two token stores a stack runs on.
type storeSetup struct {
	name      string
	directive string   // the Caddyfile "store" line
	env       []string // environment of the Caddy process
}

// storeFor returns the bolt or the Postgres setup; Postgres gets a fresh
// database for t and a vault_key, bolt the generated key file.
func storeFor(t *testing.T, name string) storeSetup {
	t.Helper()
	switch name {
	case "bolt":
		return storeSetup{name: name, directive: "store bolt ./data/tokengate.db"}
	case "postgres":
		// The vault needs vault_key with Postgres (bolt generates a key file).
		return storeSetup{name: name, directive: "store postgres {env.TG_E2E_DSN}\n\t\tvault_key {env.TG_E2E_VAULT_KEY}",
			env: []string{"TG_E2E_DSN=" + storetest.PostgresDSN(t), "TG_E2E_VAULT_KEY=" + randomVaultKey(t)}}
	}
	t.Fatalf("unknown store %q", name)
	return storeSetup{}
}

// randomVaultKey returns a fresh vault key in base64.
func randomVaultKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, token.VaultKeyLen)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

var (
	hashesOnce sync.Once
	hashes     map[string]string
)

// basicAuthBlock returns the basic_auth accounts of people, hashed with
// bcrypt's minimum cost so that portal calls stay fast.
func basicAuthBlock(t *testing.T) string {
	t.Helper()
	hashesOnce.Do(func() {
		hashes = map[string]string{}
		for user, pass := range people {
			h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
			if err != nil {
				panic(fmt.Sprintf("bcrypt: %v", err))
			}
			hashes[user] = string(h)
		}
	})
	var b strings.Builder
	for _, user := range []string{"alice", "bob", "carol"} {
		fmt.Fprintf(&b, "\t\t\t%s %s\n", user, hashes[user])
	}
	return b.String()
}

// quickstartCaddyfile is the root Caddyfile's shape with free ports, a chosen
// store and a chosen backend size: the feed with or without the trailing
// slash, the person's Jira API token injected, anything else 404.
func quickstartCaddyfile(t *testing.T, st storeSetup, proxyPort, backendPort int, cfg jiraexport.Config) string {
	t.Helper()
	return fmt.Sprintf(`{
	admin 127.0.0.1:{ADMIN_PORT}
	tokengate {
		%s
		cache_ttl 1m
		negative_ttl 10s
		last_used_flush 30s
		max_tokens_per_user 25
	}
}

:%d {
	log

	@feed path /odata /odata/*
	handle @feed {
		rewrite /odata /odata/
		tokengate_auth {
			realm "Jira export"
			inject_vault jira X-Jira-Api-Token
		}
		reverse_proxy 127.0.0.1:%d {
			transport http {
				response_header_timeout 600s
				read_timeout 600s
			}
		}
	}

	redir /tokens /tokens/
	handle_path /tokens/* {
		basic_auth {
%s		}
		tokengate_portal {
			admins carol
		}
	}

	handle {
		respond 404
	}
}

http://:%d {
	bind 127.0.0.1
	encode gzip
	jira_export_demo {
		issues %d
		page_size %d
		seed %d
		base_path %s
	}
}
`, st.directive, proxyPort, backendPort, basicAuthBlock(t), backendPort, cfg.Issues, cfg.PageSize, cfg.Seed, cfg.BasePath)
}

// stack is one running tokengate process in the quickstart's shape.
type stack struct {
	inst        *testcaddy.Instance
	base        string // the proxy, http://127.0.0.1:PORT
	backendPort int
	client      *http.Client // never decompresses, so encodings stay visible
}

// startStack runs the quickstart shape on st with the backend configured by cfg.
func startStack(t *testing.T, st storeSetup, cfg jiraexport.Config) *stack {
	t.Helper()
	proxyPort, backendPort := testcaddy.FreePort(t), testcaddy.FreePort(t)
	for backendPort == proxyPort {
		backendPort = testcaddy.FreePort(t)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	inst := testcaddy.Start(t, quickstartCaddyfile(t, st, proxyPort, backendPort, cfg), testcaddy.Options{
		Env: st.env, ReadyURL: base + "/tokens/",
	})
	return newStack(t, inst, base, backendPort)
}

func newStack(t *testing.T, inst *testcaddy.Instance, base string, backendPort int) *stack {
	t.Helper()
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &stack{inst: inst, base: base, backendPort: backendPort,
		client: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

// created is the part of the portal's 201 answer the tests use.
type created struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Hint  string `json:"hint"`
	Token string `json:"token"`
}

// portalCall sends one request to the token page's API as user.
func (s *stack) portalCall(t *testing.T, method, path, user string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+"/tokens"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", basicauth.Header(user, people[user]))
	req.Header.Set("Origin", s.base)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, out
}

// createToken creates a token for user through the portal API.
func (s *stack) createToken(t *testing.T, user, label string) created {
	t.Helper()
	resp, body := s.portalCall(t, http.MethodPost, "/api/tokens", user, map[string]any{"label": label, "expires_on": nil})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create token for %s: status %d, body %s", user, resp.StatusCode, body)
	}
	var c created
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("create token for %s: %v in %s", user, err, body)
	}
	if c.ID == "" || !strings.HasPrefix(c.Token, "tgp_") || c.Label != label || !strings.HasSuffix(c.Token, c.Hint) {
		t.Fatalf("create token for %s: unexpected answer (id %q, label %q, hint %q, token prefix ok %v)",
			user, c.ID, c.Label, c.Hint, strings.HasPrefix(c.Token, "tgp_"))
	}
	return c
}

// revokeToken revokes user's token id through the portal API.
func (s *stack) revokeToken(t *testing.T, user, id string) {
	t.Helper()
	resp, body := s.portalCall(t, http.MethodDelete, "/api/tokens/"+id, user, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke %s's token %s: status %d, body %s", user, id, resp.StatusCode, body)
	}
}

// odataGet requests url like Power BI does, with Basic credentials unless
// user is "", and returns the response with its decoded body.
func (s *stack) odataGet(t *testing.T, url, user, secret string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range powerBIHeaders {
		req.Header.Set(k, v)
	}
	if user != "" {
		req.Header.Set("Authorization", basicauth.Header(user, secret))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	return resp, decodeBody(t, url, resp)
}

// decodeBody reads resp's body and undoes its Content-Encoding (gzip or none).
func decodeBody(t *testing.T, url string, resp *http.Response) []byte {
	t.Helper()
	var r io.Reader = resp.Body
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: gzip header: %v", url, err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("GET %s: unexpected Content-Encoding %q", url, enc)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("GET %s: reading the (%s) body: %v", url, resp.Header.Get("Content-Encoding"), err)
	}
	return body
}

// multiValued are response headers that may legitimately repeat.
var multiValued = map[string]bool{"Set-Cookie": true}

// checkPassThrough asserts what the proxy must keep intact on a successful
// OData response: OData-Version exactly once, no other header duplicated,
// and gzip on every body larger than the encoder's minimum length (512 bytes).
func checkPassThrough(t *testing.T, url string, resp *http.Response, decoded []byte) {
	t.Helper()
	if v := resp.Header.Values("OData-Version"); len(v) != 1 || v[0] != "4.0" {
		t.Errorf("GET %s: OData-Version %q, want exactly one \"4.0\"", url, v)
	}
	for k, v := range resp.Header {
		if len(v) > 1 && !multiValued[k] {
			t.Errorf("GET %s: header %s duplicated through the proxy: %q", url, k, v)
		}
	}
	if len(decoded) > 512 && resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("GET %s: %d-byte body arrived with Content-Encoding %q, want gzip", url, len(decoded), resp.Header.Get("Content-Encoding"))
	}
}

// page is one page of an OData collection.
type page struct {
	Context  string            `json:"@odata.context"`
	NextLink string            `json:"@odata.nextLink"`
	Value    []json.RawMessage `json:"value"`
}

// pageResult is what following a collection's nextLinks gave.
type pageResult struct {
	rows  int
	pages int
	links []string // every @odata.context and @odata.nextLink seen
}

// followPages requests url and every @odata.nextLink after it until the end,
// checking each page's pass-through and that every link points at the proxy.
func (s *stack) followPages(t *testing.T, url, user, secret string) pageResult {
	t.Helper()
	var res pageResult
	seen := map[string]bool{}
	for url != "" {
		if seen[url] {
			t.Fatalf("nextLink loop: %s requested twice", url)
		}
		seen[url] = true
		resp, body := s.odataGet(t, url, user, secret)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s as %s: status %d, body %.300s", url, user, resp.StatusCode, body)
		}
		checkPassThrough(t, url, resp, body)
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("GET %s: not an OData page: %v", url, err)
		}
		res.rows += len(p.Value)
		res.pages++
		res.links = append(res.links, p.Context)
		s.checkLink(t, p.Context)
		if p.NextLink != "" {
			res.links = append(res.links, p.NextLink)
			if !s.checkLink(t, p.NextLink) {
				t.Fatalf("page %d: not following a nextLink that leaves the proxy", res.pages)
			}
		}
		url = p.NextLink
	}
	return res
}

// checkLink asserts that l points back through the proxy, never at the
// backend, and reports whether it does.
func (s *stack) checkLink(t *testing.T, l string) bool {
	t.Helper()
	ok := true
	if !strings.HasPrefix(l, s.base+"/odata/") {
		t.Errorf("link %q does not point at the proxy %s/odata/", l, s.base)
		ok = false
	}
	if strings.Contains(l, fmt.Sprintf(":%d", s.backendPort)) {
		t.Errorf("link %q names the backend port %d", l, s.backendPort)
		ok = false
	}
	return ok
}
