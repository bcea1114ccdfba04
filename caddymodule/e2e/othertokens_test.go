package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/jiraexport"
)

// putJiraToken stores secret as user's Jira API token through the token
// page's API, as the page's "Other tokens" form does.
func (s *stack) putJiraToken(t *testing.T, user, secret string) {
	t.Helper()
	resp, body := s.portalCall(t, http.MethodPut, "/api/vault/jira", user, map[string]string{"secret": secret})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("store %s's Jira API token: status %d, body %s", user, resp.StatusCode, body)
	}
	if strings.Contains(string(body), secret) {
		t.Fatalf("the token page echoed the Jira API token: %s", body)
	}
}

// checkOtherTokens: with the Jira API token alice stored on the token page,
// Power BI reads SprintReports and Velocity with her tokengate token; bob,
// who stored none, gets the backend's 403 that says to add one on the token
// page (a copy he sends himself is removed); the Jira API token is never
// logged.
func (s *stack) checkOtherTokens(t *testing.T, alice, bob created) {
	t.Helper()
	const jiraSecret = "ATATT3xFfGF0-e2e-alice-jira-api-token-0123456789"
	s.putJiraToken(t, "alice", jiraSecret)
	for _, set := range []string{"SprintReports", "Velocity"} {
		res := s.followPages(t, s.base+"/odata/"+set, "alice", alice.Token)
		if res.rows == 0 {
			t.Errorf("alice, with her Jira API token stored, read no %s", set)
		}
		url := s.base + "/odata/" + set
		resp, body := s.odataGet(t, url, "bob", bob.Token)
		checkJiraTokenRequired(t, "bob (no Jira API token stored)", url, resp, body)

		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range powerBIHeaders {
			req.Header.Set(k, v)
		}
		req.Header.Set("Authorization", basicauth.Header("bob", bob.Token))
		req.Header.Set(jiraexport.JiraTokenHeader, "forged-by-bob")
		resp, err = s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body = decodeBody(t, url, resp)
		resp.Body.Close()
		checkJiraTokenRequired(t, "bob sending his own "+jiraexport.JiraTokenHeader, url, resp, body)
	}
	if strings.Contains(s.inst.Logs.String(), jiraSecret) {
		t.Error("the Jira API token appears in the logs")
	}
}

// checkJiraTokenRequired asserts the backend's 403: an OData error that
// tells the person to add a Jira API token on the token page.
func checkJiraTokenRequired(t *testing.T, who, url string, resp *http.Response, body []byte) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET %s as %s: status %d, want 403 (body %.300s)", url, who, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("GET %s as %s: 403 without an OData error (%v): %.300s", url, who, err, body)
	}
	if !strings.Contains(e.Error.Message, "Jira API token") || !strings.Contains(e.Error.Message, "token page") {
		t.Errorf("GET %s as %s: 403 message %q does not say to add a Jira API token on the token page", url, who, e.Error.Message)
	}
}
