package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// tab is one browser tab signed in as one person.
type tab struct {
	t       *testing.T
	ctx     context.Context
	who     string
	shots   string
	accept  atomic.Bool // answer to the next confirm() dialogs
	dialogs chan string // messages of the dialogs seen
}

func openTab(t *testing.T, browser context.Context, who string, headers map[string]string, shots string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, who: who, shots: shots, dialogs: make(chan string, 16)}
	tb.accept.Store(true)
	hdr := network.Headers{}
	for k, v := range headers {
		hdr[k] = v
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: hdr}); err != nil {
		t.Fatalf("%s: setting sign-in headers: %v", who, err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			select {
			case tb.dialogs <- ev.Message:
			default:
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: tb.accept.Load()})
		}
	}()
	return tb
}

// do runs steps, failing the test on error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.who, what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) in the tab.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v", tb.who, js, err)
	}
	return v
}

// waitJS polls a boolean JavaScript expression until it is true.
func (tb *tab) waitJS(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		if eval[bool](tb, "!!("+cond+")") {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: waiting for %s (%s): timed out", tb.who, what, cond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// navigate loads url and waits for the page's script to be ready.
func (tb *tab) navigate(url string) {
	tb.t.Helper()
	tb.do("navigate to "+url, chromedp.Navigate(url))
	tb.waitJS("the page", `document.readyState === "complete" && document.getElementById("create-form")`)
}

// press sends key presses to the focused element.
func (tb *tab) press(keys string) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("pressing %q", keys), chromedp.KeyEvent(keys))
}

// focused describes the focused element: its id, or data-action:data-label.
func (tb *tab) focused() string {
	tb.t.Helper()
	return eval[string](tb, `(function(){var e=document.activeElement; if(!e) return "";
		return e.id || ((e.getAttribute("data-action")||e.tagName.toLowerCase()) + ":" + (e.getAttribute("data-label")||e.textContent.trim()));})()`)
}

// shot saves a full-page PNG screenshot and returns its path.
func (tb *tab) shot(name string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s: %v", tb.who, name, err)
	}
	path := filepath.Join(tb.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatalf("writing screenshot: %v", err)
	}
	tb.t.Logf("screenshot %s", path)
	return path
}

// dialog returns the message of the next confirm() dialog.
func (tb *tab) dialog() string {
	tb.t.Helper()
	select {
	case m := <-tb.dialogs:
		return m
	case <-time.After(stepTimeout):
		tb.t.Fatalf("%s: no confirmation dialog appeared", tb.who)
		return ""
	}
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
