package browsertest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Site is a running token page for RunTokenPageFlow.
type Site struct {
	// PageURL is the token page's URL with its trailing slash, e.g.
	// "http://127.0.0.1:8080/tokens/".
	PageURL string
	// Headers returns the HTTP headers that sign who in, sent with every
	// request of that person's tab: e.g. {"Authorization": "Basic …"} in
	// front of Caddy's basic_auth, or a test identity header.
	Headers func(who string) map[string]string
	// Alice and Bob are ordinary people; Carol is an administrator (listed
	// in the portal's admins). Defaults "alice", "bob", "carol".
	Alice, Bob, Carol string
	// TokenWorks must check that secret, just created for who, is accepted
	// (e.g. a request through tokengate_auth succeeds).
	TokenWorks func(t *testing.T, who, secret string)
	// TokenRejected must check that the revoked secret of who is refused.
	TokenRejected func(t *testing.T, who, secret string)
	// Screenshots is the directory for the PNGs (default ScreenshotDir(t)).
	Screenshots string
}

var secretRE = regexp.MustCompile(`^tgp_[0-9A-Za-z]{49}$`)

// RunTokenPageFlow drives the whole journey in the browser of NewBrowser:
//
//   - alice: labels and lang checked; the label input stops at
//     token.MaxLabelLen characters, and a longer label set by script is
//     refused by the server in the red error box, never the green one; she
//     tabs to the form, types a label and a date, reads the exact expiry
//     meaning, submits with Enter, reads the secret and its warning, copies
//     it with the keyboard, sees it in the list; after a reload the secret
//     is gone from the page and the API; a token expiring in 3 days brings
//     the banner and Replace pre-fills the form; revoking asks for
//     confirmation (dismissing keeps the token, accepting removes it, said
//     in the green box) and the secret stops working; revoking a token that
//     another tab already revoked is explained in the error box, and so is
//     a list that could not be re-read after a revoke;
//   - bob does not see alice's tokens and cannot revoke them; he creates two;
//   - carol (admin) sees everybody's metadata, never a secret; answers
//     without a JSON error (an HTML error page of a proxy, JSON null) are
//     still explained; she caps lifetimes and revokes all of bob's tokens
//     after confirming; bob's page is then empty and his secrets no longer
//     work.
//
// Every tab is also tabbed through end to end: each visible control must be
// reachable with the keyboard. Screenshots: 01-form, 01b-label-error,
// 02-secret-shown, 03-list, 03b-expiring-banner-replace, 03c-revoke-error,
// 04-admin, 04b-admin-errors, 05-admin-after-offboarding.
func RunTokenPageFlow(t *testing.T, browser context.Context, s Site) {
	t.Helper()
	if s.Alice == "" {
		s.Alice, s.Bob, s.Carol = "alice", "bob", "carol"
	}
	if s.Screenshots == "" {
		s.Screenshots = ScreenshotDir(t)
	}
	today := time.Now().UTC()
	expiry := today.AddDate(0, 0, 30)
	soon := today.AddDate(0, 0, 3)

	// ---- alice ----
	alice := openTab(t, browser, s.Alice, s.Headers(s.Alice), s.Screenshots)
	alice.navigate(s.PageURL)
	alice.checkAccessibility()
	alice.shot("01-form")
	if got := eval[string](alice, `document.getElementById("identity").textContent`); got != s.Alice {
		t.Fatalf("page signed in as %q, want %q", got, s.Alice)
	}

	alice.checkLabelLimit()

	label := "Power BI sprint report"
	alice.tabTo("label")
	alice.press(label)
	alice.press(kb.Tab)
	if f := alice.focused(); f != "expires_on" {
		t.Fatalf("Tab from the label went to %q, want the expiry date", f)
	}
	alice.press(expiry.Format("01022006")) // en-US field order: month, day, year
	if v := eval[string](alice, `document.getElementById("expires_on").value`); v != expiry.Format("2006-01-02") {
		t.Fatalf("typed date gave %q, want %s", v, expiry.Format("2006-01-02"))
	}
	meaning := eval[string](alice, `document.getElementById("expiry-meaning").textContent`)
	if !strings.Contains(meaning, "23:59:59 UTC on "+expiry.Format("2006-01-02")) {
		t.Fatalf("expiry meaning %q does not spell out the date", meaning)
	}
	alice.press(kb.Enter)
	secret := alice.waitSecret()
	if f := alice.focused(); f != "secret" {
		t.Errorf("after creation the focus is on %q, want the secret", f)
	}
	warning := eval[string](alice, `document.getElementById("created").textContent`)
	if !strings.Contains(warning, "will not be shown again") {
		t.Errorf("no warning next to the secret: %q", warning)
	}
	alice.press(kb.Tab)
	if f := alice.focused(); f != "copy" {
		t.Fatalf("Tab from the secret went to %q, want the Copy button", f)
	}
	alice.press(kb.Enter)
	alice.waitJS("the copy status", `document.getElementById("copy-status").textContent !== ""`)
	t.Logf("copy: %s", eval[string](alice, `document.getElementById("copy-status").textContent`))
	alice.waitJS("the new row", `document.querySelector("#tokens tr[data-token-id]")`)
	alice.shot("02-secret-shown")
	id := alice.rowID("#tokens", label)
	row := eval[string](alice, `document.querySelector(`+js(rowSel(id))+`).textContent`)
	for _, want := range []string{"tgp_…" + secret[len(secret)-4:], expiry.Format("2006-01-02") + " 23:59:59 UTC", "never used", "active"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", strings.Join(strings.Fields(row), " "), want)
		}
	}
	s.TokenWorks(t, s.Alice, secret)

	// Reload: the secret is gone for good.
	alice.do("reload", chromedp.Reload())
	alice.waitJS("the reloaded page", `document.readyState === "complete" && document.getElementById("create-form")`)
	if eval[bool](alice, `document.documentElement.outerHTML.includes(`+js(secret)+`)`) {
		t.Fatalf("the secret is in the page after a reload")
	}
	if eval[bool](alice, `fetch("api/tokens").then(r => r.text()).then(b => b.includes(`+js(secret)+`))`) {
		t.Fatalf("GET api/tokens returns the secret")
	}
	if !eval[bool](alice, `document.getElementById("created").hidden && document.getElementById("secret").value === ""`) {
		t.Fatalf("the secret box is shown after a reload")
	}
	alice.shot("03-list")

	// A token expiring in 3 days: banner and Replace.
	soonLabel := "Expiring report"
	alice.fillAndCreate(soonLabel, soon.Format("2006-01-02"))
	alice.waitJS("the expiry banner", `document.querySelector("#banner .banner")`)
	if b := eval[string](alice, `document.querySelector(`+js(rowSel(alice.rowID("#tokens", soonLabel))+" .badge")+`).textContent`); !strings.Contains(b, "expiring soon") {
		t.Errorf("badge of the expiring token = %q", b)
	}
	alice.do("hide the secret", chromedp.Click(chromedp.ID("hide-secret")))
	alice.do("focus Replace", chromedp.Focus(chromedp.CSS(`#banner button[data-action="replace"]`)))
	alice.press(kb.Enter)
	if v := eval[string](alice, `document.getElementById("label").value`); v != soonLabel {
		t.Errorf("Replace filled the label with %q, want %q", v, soonLabel)
	}
	if f := alice.focused(); f != "expires_on" {
		t.Errorf("after Replace the focus is on %q, want the expiry date", f)
	}
	alice.shot("03b-expiring-banner-replace")

	// Revoke with the keyboard: dismissing keeps it, accepting revokes it.
	alice.accept.Store(false)
	alice.do("focus Revoke", chromedp.Focus(chromedp.CSS(`#tokens button[data-action="revoke"][data-id="`+id+`"]`)))
	alice.press(kb.Enter)
	if m := alice.dialog(); !strings.Contains(m, label) {
		t.Errorf("confirmation %q does not name the token", m)
	}
	time.Sleep(300 * time.Millisecond)
	if !eval[bool](alice, `!!document.querySelector(`+js(rowSel(id))+`)`) {
		t.Fatalf("dismissing the confirmation revoked the token")
	}
	alice.accept.Store(true)
	alice.press(kb.Enter)
	alice.dialog()
	alice.waitJS("the row to go", `!document.querySelector(`+js(rowSel(id))+`)`)
	if st := eval[string](alice, `document.getElementById("status").textContent`); !strings.Contains(st, "revoked") {
		t.Errorf("status after revoking: %q", st)
	}
	alice.checkBoxes("status", "error")
	s.TokenRejected(t, s.Alice, secret)

	alice.checkRevokeErrors(s.PageURL)

	// ---- bob ----
	bob := openTab(t, browser, s.Bob, s.Headers(s.Bob), s.Screenshots)
	bob.navigate(s.PageURL)
	if page := eval[string](bob, `document.body.textContent`); strings.Contains(page, soonLabel) || !strings.Contains(page, "You have no tokens yet") {
		t.Fatalf("bob's page shows alice's tokens or is not empty")
	}
	aliceID := alice.rowID("#tokens", soonLabel)
	if st := eval[int](bob, `fetch("api/tokens/`+aliceID+`", {method: "DELETE"}).then(r => r.status)`); st != 404 {
		t.Errorf("bob revoking alice's token: HTTP %d, want 404", st)
	}
	bobSecrets := []string{bob.fillAndCreate("bob laptop", ""), bob.fillAndCreate("bob desktop", expiry.Format("2006-01-02"))}
	if bobSecrets[0] == bobSecrets[1] {
		t.Fatalf("the second token shows the first one's secret")
	}
	for _, sec := range bobSecrets {
		s.TokenWorks(t, s.Bob, sec)
	}
	bob.checkAccessibility()

	// ---- carol, administrator ----
	carol := openTab(t, browser, s.Carol, s.Headers(s.Carol), s.Screenshots)
	carol.navigate(s.PageURL)
	carol.waitJS("the admin view", `document.getElementById("admin")`)
	adminText := eval[string](carol, `document.getElementById("admin").textContent`)
	for _, want := range []string{"bob laptop", "bob desktop", soonLabel, "Tokens history", "Cap token lifetime", "only ever shortens"} {
		if !strings.Contains(adminText, want) {
			t.Errorf("admin view lacks %q", want)
		}
	}
	html := eval[string](carol, `document.documentElement.outerHTML`)
	for _, sec := range append(bobSecrets, secret) {
		if strings.Contains(html, sec) {
			t.Fatalf("the admin view shows a secret")
		}
	}
	if eval[bool](carol, `!!document.querySelector('#create-form [name="owner"]')`) {
		t.Fatalf("the create form lets an administrator pick an owner")
	}
	carol.checkAccessibility()
	carol.shot("04-admin")

	carol.checkAnswersWithoutError()

	// Lifetime cap: a bad value is explained; 20d shortens bob's two tokens
	// (one never expired, one in 30 days) and leaves alice's 3-day token.
	carol.do("type a bad cap", chromedp.SendKeys(chromedp.ID("max-lifetime"), "abc"))
	carol.press(kb.Enter)
	carol.dialog()
	carol.waitJS("the cap error", `document.getElementById("cap-error").textContent.includes("max_lifetime")`)
	eval[string](carol, `document.getElementById("max-lifetime").value = ""`)
	carol.do("type the cap", chromedp.SendKeys(chromedp.ID("max-lifetime"), "20d"))
	carol.press(kb.Enter)
	if m := carol.dialog(); !strings.Contains(m, "20d") {
		t.Errorf("cap confirmation %q does not name the limit", m)
	}
	carol.waitJS("the cap result", `/2 token\(s\) now expire at most 20d/.test(document.getElementById("admin-status").textContent)`)
	carol.checkBoxes("admin-status", "admin-error")
	if !eval[bool](carol, `fetch("api/admin/tokens").then(r => r.json()).then(b => b.tokens.length === 3 && b.tokens.every(t => t.expires_at !== null))`) {
		t.Errorf("after the cap a token still never expires")
	}
	carol.checkOwnerSearch(s.PageURL, s.Bob)
	carol.do("type bob", chromedp.SendKeys(chromedp.ID("revoke-owner"), s.Bob))
	carol.press(kb.Enter)
	if m := carol.dialog(); !strings.Contains(m, s.Bob) {
		t.Errorf("off-boarding confirmation %q does not name bob", m)
	}
	carol.waitJS("the off-boarding result", `/2 token\(s\) of/.test(document.getElementById("admin-status").textContent)`)
	if strings.Contains(eval[string](carol, `document.querySelector("#admin table").textContent`), "bob laptop") {
		t.Errorf("bob's tokens still listed in the admin view")
	}
	carol.shot("05-admin-after-offboarding")
	bob.navigate(s.PageURL)
	if !strings.Contains(eval[string](bob, `document.getElementById("tokens").textContent`), "You have no tokens yet") {
		t.Errorf("bob still has tokens after off-boarding")
	}
	for _, sec := range bobSecrets {
		s.TokenRejected(t, s.Bob, sec)
	}
}

// rowSel is the CSS selector of the row of token id in the person's list.
func rowSel(id string) string { return `#tokens tr[data-token-id="` + id + `"]` }

// waitSecret waits for the secret box and returns the secret.
func (tb *tab) waitSecret() string {
	tb.t.Helper()
	tb.waitJS("the new secret", `!document.getElementById("created").hidden && document.getElementById("secret").value !== ""`)
	secret := eval[string](tb, `document.getElementById("secret").value`)
	if !secretRE.MatchString(secret) {
		tb.t.Fatalf("%s: the secret box holds %d characters that are not a tgp_ token", tb.who, len(secret))
	}
	return secret
}

// fillAndCreate creates a token with the mouse and returns its secret.
func (tb *tab) fillAndCreate(label, date string) string {
	tb.t.Helper()
	if eval[bool](tb, `!document.getElementById("created").hidden`) {
		tb.do("hide the previous secret", chromedp.Click(chromedp.ID("hide-secret")))
	}
	tb.do("fill the form",
		chromedp.SetValue(chromedp.ID("label"), label),
		chromedp.SetValue(chromedp.ID("expires_on"), date),
		chromedp.Click(chromedp.ID("create-button")))
	secret := tb.waitSecret()
	tb.waitJS("the new row", `[...document.querySelectorAll("#tokens .label-cell")].some(c => c.textContent === `+js(label)+`)`)
	return secret
}

// rowID returns the token id of the row labelled label in the section.
func (tb *tab) rowID(section, label string) string {
	tb.t.Helper()
	return eval[string](tb, `(function(){var r=[...document.querySelectorAll(`+js(section+" tr[data-token-id]")+`)].find(r => r.querySelector(".label-cell").textContent === `+js(label)+`); return r ? r.getAttribute("data-token-id") : "";})()`)
}

// tabTo presses Tab from the top of the page until id has the focus.
func (tb *tab) tabTo(id string) {
	tb.t.Helper()
	eval[bool](tb, `(document.activeElement && document.activeElement.blur(), true)`)
	for i := 0; i < 40; i++ {
		tb.press(kb.Tab)
		if tb.focused() == id {
			return
		}
	}
	tb.t.Fatalf("%s: Tab never reached #%s", tb.who, id)
}
