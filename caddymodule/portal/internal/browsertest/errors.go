package browsertest

// The page's answers to failures: each error goes into the red error box
// of its area (role="alert"), never into the green success box.

import (
	"strconv"
	"strings"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tokengate/tokengate/token"
)

// checkLabelLimit checks the create form against token.MaxLabelLen: the
// input's maxlength is the server's, typing stops there, and a longer label
// set by script is refused by the server and shown in the error box.
// Screenshot: 01b-label-error.
func (tb *tab) checkLabelLimit() {
	tb.t.Helper()
	if n := eval[int](tb, `document.getElementById("label").maxLength`); n != token.MaxLabelLen {
		tb.t.Errorf("label maxlength = %d, want token.MaxLabelLen = %d", n, token.MaxLabelLen)
	}
	tb.do("focus the label", chromedp.Focus(chromedp.ID("label")))
	tb.press(strings.Repeat("x", token.MaxLabelLen+1))
	if n := eval[int](tb, `document.getElementById("label").value.length`); n != token.MaxLabelLen {
		tb.t.Errorf("typing %d characters gave a label of %d", token.MaxLabelLen+1, n)
	}
	tb.do("submit a label that is too long",
		chromedp.SetValue(chromedp.ID("label"), strings.Repeat("y", token.MaxLabelLen+1)),
		chromedp.Click(chromedp.ID("create-button")))
	tb.waitJS("the label error", `document.getElementById("form-error").textContent !== ""`)
	if e := eval[string](tb, `document.getElementById("form-error").textContent`); !strings.Contains(e, "at most "+strconv.Itoa(token.MaxLabelLen)) {
		tb.t.Errorf("error for a label of %d characters: %q", token.MaxLabelLen+1, e)
	}
	tb.checkBoxes("form-error", "status")
	if !eval[bool](tb, `document.getElementById("created").hidden`) {
		tb.t.Errorf("a refused label shows the secret box")
	}
	tb.shotOf("01b-label-error", "create-form")
	eval[bool](tb, `(document.getElementById("label").value = "", true)`)
}

// checkRevokeErrors creates two tokens and revokes them from the list while
// something goes wrong: the first was already revoked behind the page's
// back (another tab), the second is revoked but the page cannot be re-read
// afterwards. Screenshot: 03c-revoke-error.
func (tb *tab) checkRevokeErrors(pageURL string) {
	tb.t.Helper()
	// A token revoked behind the page's back (another tab): Revoke is
	// refused by the server, and the page says so in the error box.
	staleLabel := "Stale tab"
	tb.fillAndCreate(staleLabel, "")
	tb.do("hide the secret", chromedp.Click(chromedp.ID("hide-secret")))
	staleID := tb.rowID("#tokens", staleLabel)
	if st := eval[int](tb, `fetch("api/tokens/`+staleID+`", {method: "DELETE"}).then(r => r.status)`); st != 204 {
		tb.t.Fatalf("revoking the stale token behind the page: HTTP %d", st)
	}
	tb.do("click the stale Revoke", chromedp.Click(chromedp.CSS(`#tokens button[data-action="revoke"][data-id="`+staleID+`"]`)))
	tb.dialog()
	tb.waitJS("the revoke error", `document.getElementById("error").textContent !== ""`)
	if e := eval[string](tb, `document.getElementById("error").textContent`); !strings.Contains(e, "no such token") {
		tb.t.Errorf("error after revoking a revoked token: %q", e)
	}
	tb.checkBoxes("error", "status")
	if f := tb.focused(); f != "error" {
		tb.t.Errorf("after the failed revoke the focus is on %q, want the error", f)
	}
	tb.shot("03c-revoke-error")
	tb.navigate(pageURL) // the page shows the list as it is

	// A revoke that works but whose re-read of the page fails: both boxes,
	// each with its own message.
	offLabel := "Refresh fails"
	tb.fillAndCreate(offLabel, "")
	tb.do("hide the secret", chromedp.Click(chromedp.ID("hide-secret")))
	offID := tb.rowID("#tokens", offLabel)
	eval[bool](tb, `(function(){
		var real = window.fetch;
		window.fetch = function (url, opts) {
			if (opts && opts.headers && opts.headers.Accept === "text/html") {
				return Promise.resolve(new Response("down", {status: 503}));
			}
			return real(url, opts);
		};
		return true;
	})()`)
	tb.do("click Revoke", chromedp.Click(chromedp.CSS(`#tokens button[data-action="revoke"][data-id="`+offID+`"]`)))
	tb.dialog()
	tb.waitJS("the revoked status", `document.getElementById("status").textContent.includes("revoked")`)
	if e := eval[string](tb, `document.getElementById("error").textContent`); !strings.Contains(e, "could not be refreshed") {
		tb.t.Errorf("error box after a failed refresh: %q", e)
	}
	tb.navigate(pageURL)
}

// checkAnswersWithoutError checks, on the administrator's cap form, that a
// failed answer without a JSON error (an HTML page of a proxy in front,
// JSON null, another JSON shape) still reads as an error in the error box.
// Screenshot: 04b-admin-errors.
func (tb *tab) checkAnswersWithoutError() {
	tb.t.Helper()
	for _, c := range []struct{ body, contentType, want string }{
		{"<html><body>Bad gateway</body></html>", "text/html", "Unexpected answer from the server (HTTP 502)."},
		{"null", "application/json", "Applying the cap failed (HTTP 502)."},
		{`{"message":"no"}`, "application/json", "Applying the cap failed (HTTP 502)."},
	} {
		eval[bool](tb, `(function(){
			var real = window.__realFetch || window.fetch;
			window.__realFetch = real;
			window.fetch = function (url, opts) {
				if (String(url).indexOf("api/admin/cap") >= 0) {
					return Promise.resolve(new Response(`+js(c.body)+`, {status: 502, headers: {"Content-Type": `+js(c.contentType)+`}}));
				}
				return real(url, opts);
			};
			document.getElementById("max-lifetime").value = "20d";
			document.getElementById("cap-error").textContent = "";
			return true;
		})()`)
		tb.do("focus the cap", chromedp.Focus(chromedp.ID("max-lifetime")))
		tb.press(kb.Enter)
		tb.dialog()
		tb.waitJS("the cap error", `document.getElementById("cap-error").textContent !== ""`)
		if e := eval[string](tb, `document.getElementById("cap-error").textContent`); e != c.want {
			tb.t.Errorf("cap answered %s %q: error %q, want %q", c.contentType, c.body, e, c.want)
		}
		tb.checkBoxes("cap-error", "admin-status")
	}
	tb.shotOf("04b-admin-errors", "admin")
	eval[bool](tb, `(window.fetch = window.__realFetch, document.getElementById("max-lifetime").value = "", true)`)
}
