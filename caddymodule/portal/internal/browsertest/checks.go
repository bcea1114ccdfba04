package browsertest

// Checks of the page as people perceive it: accessibility and the message
// boxes.

import "github.com/chromedp/chromedp/kb"

// checkAccessibility checks lang, labels, real buttons and text badges, then
// tabs through the whole page: every visible control must take the focus.
func (tb *tab) checkAccessibility() {
	tb.t.Helper()
	problems := eval[[]string](tb, `(function(){
		var p = [];
		if (document.documentElement.lang !== "en") p.push("html lang is not en");
		document.querySelectorAll("input, select, textarea").forEach(function (el) {
			if (el.type !== "hidden" && (!el.labels || el.labels.length === 0)) p.push("no label: " + (el.id || el.name));
		});
		document.querySelectorAll("[onclick], [role=button], a:not([href])").forEach(function (el) { p.push("pseudo-button: " + el.outerHTML.slice(0, 60)); });
		document.querySelectorAll("button").forEach(function (b) {
			if (!b.textContent.trim()) p.push("button without text");
			if (!b.getAttribute("type")) p.push("button without type: " + b.textContent.trim());
		});
		document.querySelectorAll(".badge").forEach(function (b) {
			if (!/active|expiring soon|expired|stored/.test(b.textContent)) p.push("badge without text: " + b.outerHTML.slice(0, 60));
		});
		return p;
	})()`)
	for _, p := range problems {
		tb.t.Errorf("%s: accessibility: %s", tb.who, p)
	}
	n := eval[int](tb, `(function(){
		window.__seen = new Set();
		document.addEventListener("focusin", function (e) { window.__seen.add(e.target); });
		if (document.activeElement) document.activeElement.blur();
		return document.querySelectorAll("a[href], button, input, select, textarea").length;
	})()`)
	for i := 0; i < 2*n+10; i++ {
		tb.press(kb.Tab)
	}
	missed := eval[[]string](tb, `[...document.querySelectorAll("a[href], button, input, select, textarea")]
		.filter(function (el) { return !el.disabled && el.offsetParent !== null && !window.__seen.has(el); })
		.map(function (el) { return el.outerHTML.slice(0, 80); })`)
	for _, m := range missed {
		tb.t.Errorf("%s: not reachable with Tab: %s", tb.who, m)
	}
	eval[bool](tb, `(document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0), true)`)
}

// checkBoxes checks the page's message boxes after an answer: shown (an
// error box, class "error", or a success box, class "status") holds the
// message, is visible and has its role and colour (errors role="alert" in
// red, successes role="status" in green); empty, the other box of the
// area, holds nothing and is not displayed.
func (tb *tab) checkBoxes(shown, empty string) {
	tb.t.Helper()
	problems := eval[[]string](tb, `(function(){
		var p = [], s = document.getElementById(`+js(shown)+`), o = document.getElementById(`+js(empty)+`);
		if (!s || !o) return ["no such box"];
		function rgb(c) { var m = c.match(/\d+/g) || []; return {r: +m[0], g: +m[1]}; }
		var cs = getComputedStyle(s), isError = s.classList.contains("error");
		var want = isError ? "alert" : "status";
		if (s.textContent.trim() === "") p.push("the box is empty");
		if (s.offsetParent === null) p.push("the box is not displayed");
		if (s.getAttribute("role") !== want) p.push("role " + s.getAttribute("role") + ", want " + want);
		["backgroundColor", "color", "borderLeftColor"].forEach(function (k) {
			var c = rgb(cs[k]), red = c.r > c.g;
			if (red !== isError) p.push(k + " " + cs[k] + " is not " + (isError ? "red" : "green"));
		});
		if (o.textContent !== "") p.push("the other box (" + o.id + ") holds " + JSON.stringify(o.textContent));
		if (getComputedStyle(o).display !== "none") p.push("the other box (" + o.id + ") is displayed");
		return p;
	})()`)
	for _, p := range problems {
		tb.t.Errorf("%s: #%s: %s", tb.who, shown, p)
	}
}
