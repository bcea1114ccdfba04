package browsertest

import (
	"strings"

	"github.com/chromedp/chromedp"
)

// adminRows is the owner and id of each row of the admin token table.
const adminRows = `Array.from(document.querySelectorAll("#admin tr[data-admin-token-id]")).map(r => r.cells[0].textContent + " " + r.getAttribute("data-admin-token-id"))`

// checkOwnerSearch: with one token per page (?limit=1), typing owner (who
// has two tokens) shows that person's first token as you type, the caret
// staying in the search box; "Next page" shows the other one and is the
// last page. The page is left at pageURL.
func (tb *tab) checkOwnerSearch(pageURL, owner string) {
	tb.t.Helper()
	tb.navigate(pageURL + "?limit=1")
	tb.do("type an owner", chromedp.SendKeys(chromedp.ID("owner-filter"), owner))
	tb.waitJS("the owner's first page as typed", `(function(){var r = `+adminRows+`;
		return location.search.includes("owner=`+owner+`") && r.length === 1 && r[0].startsWith("`+owner+` ") && !!document.getElementById("admin-next");})()`)
	if f := tb.focused(); f != "owner-filter" {
		tb.t.Errorf("after the search the focus is on %q, want the search box", f)
	}
	first := eval[[]string](tb, adminRows)
	tb.do("click next page", chromedp.Click(chromedp.ID("admin-next")))
	tb.waitJS("the owner's second page", `(function(){var r = `+adminRows+`;
		return location.search.includes("cursor=") && r.length === 1 && r[0].startsWith("`+owner+` ") && r[0] !== `+js(first[0])+`;})()`)
	if eval[bool](tb, `!!document.getElementById("admin-next")`) || !strings.Contains(eval[string](tb, `document.getElementById("admin").textContent`), "First page") {
		tb.t.Errorf("the last page of %s offers a next page or no way back", owner)
	}
	tb.navigate(pageURL)
}
