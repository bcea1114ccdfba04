package browsertest

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// ReplaceLinkSite is a token page with one token of Owner, for
// RunReplaceLinkFlow.
type ReplaceLinkSite struct {
	// PageURL, Headers and Screenshots are as in Site.
	PageURL     string
	Headers     func(who string) map[string]string
	Screenshots string
	// Owner owns the token TokenID, labelled Label, with the allow-list
	// IPs (one entry a line, "" for none).
	Owner, TokenID, Label, IPs string
	// GoneID is a token of Owner that was revoked.
	GoneID string
	// Notice is what the page must say about where Owner's warnings go.
	Notice string
}

// RunReplaceLinkFlow opens the link notification messages carry,
// <page>?replace=<token id>: the create form is filled in with the token's
// label and restrictions at once, the status says so, the focus is on the
// expiry date, and the parameter is dropped from the address bar (a reload
// does not repeat it). A link to a revoked token says it is no longer
// listed and leaves the form empty. The page states where warnings go.
// Screenshot: 13-replace-link.
func RunReplaceLinkFlow(t *testing.T, browser context.Context, s ReplaceLinkSite) {
	t.Helper()
	if s.Screenshots == "" {
		s.Screenshots = ScreenshotDir(t)
	}
	tb := openTab(t, browser, s.Owner, s.Headers(s.Owner), s.Screenshots)
	tb.navigate(s.PageURL + "?replace=" + url.QueryEscape(s.TokenID))
	tb.waitJS("the form filled in from the link", `document.getElementById("label").value === `+js(s.Label))
	if got := eval[string](tb, `document.getElementById("allowed_ips").value`); got != s.IPs {
		t.Errorf("allow-list filled in as %q, want %q", got, s.IPs)
	}
	if got := eval[string](tb, `document.getElementById("status").textContent`); !strings.Contains(got, "The form is filled in with the label “"+s.Label+"”") {
		t.Errorf("status %q", got)
	}
	if got := tb.focused(); got != "expires_on" {
		t.Errorf("focus on %q, want the expiry date", got)
	}
	if got := eval[string](tb, `window.location.search`); strings.Contains(got, "replace") {
		t.Errorf("the address still carries %q", got)
	}
	if got := eval[string](tb, `document.getElementById("notices").textContent`); !strings.Contains(strings.Join(strings.Fields(got), " "), s.Notice) {
		t.Errorf("notices %q, want %q", got, s.Notice)
	}
	tb.shot("13-replace-link")

	tb.navigate(s.PageURL + "?replace=" + url.QueryEscape(s.GoneID))
	tb.waitJS("the no-longer-listed note", `document.getElementById("replace-gone")`)
	if got := eval[string](tb, `document.getElementById("label").value`); got != "" {
		t.Errorf("a link to a revoked token filled the form with %q", got)
	}
	if got := eval[string](tb, `window.location.search`); strings.Contains(got, "replace") {
		t.Errorf("the address still carries %q", got)
	}
}
