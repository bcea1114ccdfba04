package browsertest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// RestrictionsSite is a running token page with scopes configured, for
// RunRestrictionsFlow.
type RestrictionsSite struct {
	// PageURL, Headers and Screenshots are as in Site.
	PageURL     string
	Headers     func(who string) map[string]string
	Screenshots string
	// Alice is an ordinary person, Carol an administrator; defaults
	// "alice" and "carol".
	Alice, Carol string
	// Scopes are the scope names the server defines, sorted; the flow
	// ticks the first. At least one is required.
	Scopes []string
	// ClientIP is the address the page should offer as "add my current
	// IP" (e.g. "127.0.0.1").
	ClientIP string
	// Stored returns the allow-list (as token.FormatAllowedIPs writes it)
	// and the scopes the server stored for secret, just created by who.
	// Required.
	Stored func(t *testing.T, who, secret string) (allowedIPs, scopes []string)
	// ScopeWorks, when set, must check that secret, allowed from here and
	// scoped to Scopes[0], reaches that scope's data and is refused (403)
	// elsewhere, through tokengate_auth.
	ScopeWorks func(t *testing.T, who, secret string)
	// RefusedHere, when set, must check that secret, allowed only from
	// 198.51.100.7, is refused (401) from here. With both set, the flow
	// expects both refusals among alice's rejected attempts.
	RefusedHere func(t *testing.T, who, secret string)
}

// RunRestrictionsFlow drives the restrictions of a new token: the form
// offers the allow-list (with an example and the caller's address as a
// one-click suggestion), one checkbox per configured scope and says that
// restrictions cannot be widened later; alice types a range, adds her
// current IP (twice: it is listed once), ticks a scope and creates the
// token; the server stores exactly that, the form is emptied, and the list
// shows "from 2 ranges" and "scopes: …", the whole list in a tooltip and a
// disclosure. A wrong entry is named in the red error box. Replace of an
// expiring restricted token fills the form with its restrictions. Carol's
// admin view shows them too. Where tokengate_auth enforces them
// (ScopeWorks, RefusedHere), the refused uses show up readably among the
// rejected attempts. Screenshots: 20-restricted-form, 21-restricted-list,
// 22-restricted-error, 23-restricted-admin, 24-restricted-rejections.
func RunRestrictionsFlow(t *testing.T, browser context.Context, s RestrictionsSite) {
	t.Helper()
	if s.Alice == "" {
		s.Alice, s.Carol = "alice", "carol"
	}
	if s.Screenshots == "" {
		s.Screenshots = ScreenshotDir(t)
	}
	if len(s.Scopes) == 0 {
		t.Fatal("RunRestrictionsFlow needs a configured scope")
	}
	scope := s.Scopes[0]

	alice := openTab(t, browser, s.Alice, s.Headers(s.Alice), s.Screenshots)
	alice.navigate(s.PageURL)
	alice.checkAccessibility()
	form := eval[string](alice, `document.getElementById("create-form").textContent`)
	for _, want := range []string{"Allowed IP addresses (optional)", s.ClientIP, "Add my current IP", "Scopes (optional)",
		"cannot be widened later; create a new token instead"} {
		if !strings.Contains(form, want) {
			t.Errorf("the create form lacks %q", want)
		}
	}
	if ph := eval[string](alice, `document.getElementById("allowed_ips").placeholder`); !strings.Contains(ph, "203.0.113.0/24") {
		t.Errorf("the allow-list has no example: placeholder %q", ph)
	}
	boxes := eval[[]string](alice, `[...document.querySelectorAll('#create-form input[name="scopes"]')].map(b => b.value)`)
	if !slices.Equal(boxes, s.Scopes) {
		t.Errorf("scope checkboxes %q, want %q", boxes, s.Scopes)
	}

	// Label, then a range typed with the keyboard, the current IP with
	// one click (a second click adds nothing), a scope ticked.
	label := "Gateway refresh"
	alice.tabTo("label")
	alice.press(label)
	alice.do("focus the allow-list", chromedp.Focus(chromedp.ID("allowed_ips")))
	alice.press("203.0.113.0/24")
	alice.do("add my current IP", chromedp.Click(chromedp.ID("add-my-ip")))
	alice.do("add my current IP again", chromedp.Click(chromedp.ID("add-my-ip")))
	if v := eval[string](alice, `document.getElementById("allowed_ips").value`); v != "203.0.113.0/24\n"+s.ClientIP {
		t.Errorf("allow-list after adding the current IP twice: %q", v)
	}
	if f := alice.focused(); f != "allowed_ips" {
		t.Errorf("after adding the current IP the focus is on %q, want the allow-list", f)
	}
	alice.do("tick the scope", chromedp.Focus(chromedp.ID("scope-"+scope)))
	alice.press(" ")
	if !eval[bool](alice, `document.getElementById(`+js("scope-"+scope)+`).checked`) {
		t.Fatalf("Space did not tick the scope %q", scope)
	}
	alice.shotOf("20-restricted-form", "create-form")
	alice.do("create", chromedp.Click(chromedp.ID("create-button")))
	secret := alice.waitSecret()
	alice.waitJS("the new row", `[...document.querySelectorAll("#tokens .label-cell")].some(c => c.textContent === `+js(label)+`)`)
	if ips, scopes := s.Stored(t, s.Alice, secret); !slices.Equal(ips, []string{"203.0.113.0/24", s.ClientIP}) || !slices.Equal(scopes, []string{scope}) {
		t.Errorf("the server stored allowed IPs %q and scopes %q", ips, scopes)
	}
	if s.ScopeWorks != nil {
		s.ScopeWorks(t, s.Alice, secret)
	}
	if !eval[bool](alice, `document.getElementById("allowed_ips").value === "" && !document.querySelector('#create-form input[name="scopes"]:checked')`) {
		t.Errorf("the form keeps the restrictions after creating the token")
	}
	alice.do("hide the secret", chromedp.Click(chromedp.ID("hide-secret")))
	id := alice.rowID("#tokens", label)
	cell := rowSel(id) + " td.restrictions"
	alice.checkRestrictionsCell(cell, "from 2 ranges", "scopes: "+scope, "203.0.113.0/24", s.ClientIP)
	alice.do("open the list", chromedp.Click(chromedp.CSS(cell+" summary")))
	if items := eval[[]string](alice, `[...document.querySelectorAll(`+js(cell+" details[open] li")+`)].map(li => li.textContent)`); !slices.Equal(items, []string{"203.0.113.0/24", s.ClientIP}) {
		t.Errorf("the opened allow-list shows %q", items)
	}
	if eval[bool](alice, `!!document.querySelector('#tokens button[data-action="edit"], #tokens [name="allowed_ips"]')`) {
		t.Errorf("the list offers to edit restrictions")
	}
	alice.shotOf("21-restricted-list", "tokens")

	// A wrong entry is named in the red box; nothing is created.
	before := eval[int](alice, `document.querySelectorAll("#tokens tr[data-token-id]").length`)
	alice.do("fill a wrong range",
		chromedp.SetValue(chromedp.ID("label"), "Wrong range"),
		chromedp.SetValue(chromedp.ID("allowed_ips"), "198.51.100.7\n10.0.0.0/33"),
		chromedp.Click(chromedp.ID("create-button")))
	alice.waitJS("the range error", `document.getElementById("form-error").textContent !== ""`)
	if e := eval[string](alice, `document.getElementById("form-error").textContent`); !strings.Contains(e, `"10.0.0.0/33"`) {
		t.Errorf("error for a wrong range: %q", e)
	}
	alice.checkBoxes("form-error", "status")
	alice.shotOf("22-restricted-error", "create-form")
	if n := eval[int](alice, `document.querySelectorAll("#tokens tr[data-token-id]").length`); n != before {
		t.Errorf("a refused range created a token (%d rows, before %d)", n, before)
	}

	// Replace fills the form with the restrictions of the expiring token.
	soonLabel := "Expiring gateway"
	alice.do("fill an expiring restricted token",
		chromedp.SetValue(chromedp.ID("label"), soonLabel),
		chromedp.SetValue(chromedp.ID("expires_on"), time.Now().UTC().AddDate(0, 0, 3).Format("2006-01-02")),
		chromedp.SetValue(chromedp.ID("allowed_ips"), "198.51.100.7"),
		chromedp.Click(chromedp.ID("scope-"+scope)),
		chromedp.Click(chromedp.ID("create-button")))
	soonSecret := alice.waitSecret()
	if s.RefusedHere != nil {
		s.RefusedHere(t, s.Alice, soonSecret)
	}
	alice.waitJS("the banner", `document.querySelector("#banner .banner")`)
	alice.checkRestrictionsCell(rowSel(alice.rowID("#tokens", soonLabel))+" td.restrictions", "from 198.51.100.7", "scopes: "+scope)
	alice.do("hide the secret", chromedp.Click(chromedp.ID("hide-secret")))
	alice.do("focus Replace", chromedp.Focus(chromedp.CSS(`#banner button[data-action="replace"]`)))
	alice.press(kb.Enter)
	if v := eval[string](alice, `document.getElementById("allowed_ips").value`); v != "198.51.100.7" {
		t.Errorf("Replace filled the allow-list with %q", v)
	}
	if !eval[bool](alice, `document.getElementById(`+js("scope-"+scope)+`).checked`) {
		t.Errorf("Replace did not tick the scope %q", scope)
	}
	if st := eval[string](alice, `document.getElementById("status").textContent`); !strings.Contains(st, "and its restrictions") {
		t.Errorf("status after Replace: %q", st)
	}

	if s.ScopeWorks != nil && s.RefusedHere != nil {
		alice.waitRejections("outside the token's scopes", "not allowed from this IP "+s.ClientIP)
		alice.shotOf("24-restricted-rejections", "rejections")
	}

	// The administrator sees the restrictions too.
	carol := openTab(t, browser, s.Carol, s.Headers(s.Carol), s.Screenshots)
	carol.navigate(s.PageURL)
	carol.waitJS("the admin view", `document.getElementById("admin")`)
	carol.checkRestrictionsCell(`#admin tr[data-admin-token-id="`+id+`"] td.restrictions`, "from 2 ranges", "scopes: "+scope, "203.0.113.0/24", s.ClientIP)
	carol.shotOf("23-restricted-admin", "admin")
}

// checkRestrictionsCell checks the compact text of a restrictions cell and
// that its tooltip names every entry of the allow-list.
func (tb *tab) checkRestrictionsCell(sel, ips, scopes string, entries ...string) {
	tb.t.Helper()
	text := strings.Join(strings.Fields(eval[string](tb, `document.querySelector(`+js(sel)+`).textContent`)), " ")
	if !strings.HasPrefix(text, ips) || !strings.Contains(text, scopes) {
		tb.t.Errorf("%s: restrictions %q, want %q and %q", tb.who, text, ips, scopes)
	}
	title := eval[string](tb, `document.querySelector(`+js(sel+" [title]")+`).title`)
	for _, e := range entries {
		if !strings.Contains(title, e) {
			tb.t.Errorf("%s: tooltip %q lacks %q", tb.who, title, e)
		}
	}
}

// waitRejections reloads the page until the rejected attempts name every
// reason in want (they are recorded behind the requests).
func (tb *tab) waitRejections(want ...string) {
	tb.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		tb.navigate(tb.url())
		text := eval[string](tb, `document.getElementById("rejections").textContent`)
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(text, w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: rejected attempts lack %q: %s", tb.who, missing, strings.Join(strings.Fields(text), " "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// url is the address of the page the tab shows.
func (tb *tab) url() string {
	tb.t.Helper()
	return eval[string](tb, `location.href`)
}
