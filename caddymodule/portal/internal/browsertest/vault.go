package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tokengate/tokengate/token"
)

// VaultSite is a running token page with the vault on, for RunVaultFlow.
type VaultSite struct {
	// PageURL, Headers and Screenshots are as in Site.
	PageURL     string
	Headers     func(who string) map[string]string
	Screenshots string
	// Alice and Bob are ordinary people; defaults "alice" and "bob".
	Alice, Bob string
	// Kind and Label name the credential the flow stores; defaults "jira"
	// and "Jira API token".
	Kind, Label string
	// Kinds are all the kinds the server is configured with, in order
	// (default: Kind alone). The page must show one form for each, with a
	// help text naming its label.
	Kinds []token.VaultKind
	// Stored returns the credential of kind the server holds for who,
	// decrypted, and whether there is one. Required.
	Stored func(t *testing.T, who, kind string) (secret string, ok bool)
}

// RunVaultFlow drives the "Other tokens" section: the forms and their help
// texts are those of the configured kinds, the credential inputs stop at
// token.MaxVaultSecretLen; alice types a credential and saves it with the
// mouse (errors in the red error box, success in the green one); the input is emptied, the server holds exactly
// what she typed, the page shows "stored …<last 4>" and never the secret, not
// even after a reload; she replaces it with the keyboard; bob sees none of
// it; removing asks for confirmation (dismissing keeps it, accepting removes
// it). Screenshots: 10-vault-empty, 10b-vault-error, 11-vault-stored (the
// section or form alone) and 12-vault-page (the whole page).
func RunVaultFlow(t *testing.T, browser context.Context, s VaultSite) {
	t.Helper()
	if s.Alice == "" {
		s.Alice, s.Bob = "alice", "bob"
	}
	if s.Kind == "" {
		s.Kind, s.Label = "jira", "Jira API token"
	}
	if len(s.Kinds) == 0 {
		s.Kinds = []token.VaultKind{{ID: s.Kind, Label: s.Label}}
	}
	if s.Screenshots == "" {
		s.Screenshots = ScreenshotDir(t)
	}
	input := "vault-" + s.Kind + "-secret"
	state := `document.getElementById("vault-` + s.Kind + `-state").textContent`
	msg := `document.getElementById("vault-` + s.Kind + `-msg").textContent`
	suffix := time.Now().Format("150405")
	first := "ATATT3xFfGF0-browser-first-" + suffix + "-k7Qw"
	second := "ATATT3xFfGF0-browser-second-" + suffix + "-Zp93"

	alice := openTab(t, browser, s.Alice, s.Headers(s.Alice), s.Screenshots)
	alice.navigate(s.PageURL)
	alice.waitJS("the Other tokens section", `document.getElementById("vault")`)
	section := eval[string](alice, `document.getElementById("vault").textContent`)
	for _, want := range []string{"Other tokens", s.Label, "not stored", "on your behalf"} {
		if !strings.Contains(section, want) {
			t.Errorf("the Other tokens section lacks %q", want)
		}
	}
	// One form per configured kind, each with its own help text.
	if got := eval[[]string](alice, `[...document.querySelectorAll("form.vault-form")].map(f => f.getAttribute("data-vault-kind"))`); len(got) != len(s.Kinds) {
		t.Errorf("the page has forms for %v, want one for each of %v", got, s.Kinds)
	}
	for _, k := range s.Kinds {
		help := eval[string](alice, `(function(){var h=document.getElementById("vault-`+k.ID+`-help"), i=document.getElementById("vault-`+k.ID+`-secret");
			return h && i && (" "+i.getAttribute("aria-describedby")+" ").includes(" "+h.id+" ") ? h.textContent : "";})()`)
		if !strings.Contains(help, "Paste the "+k.Label) {
			t.Errorf("help of %s (described by its input): %q, want it to name %q", k.ID, help, k.Label)
		}
		if n := eval[int](alice, `document.getElementById("vault-`+k.ID+`-secret").maxLength`); n != token.MaxVaultSecretLen {
			t.Errorf("%s input maxlength = %d, want token.MaxVaultSecretLen = %d", k.ID, n, token.MaxVaultSecretLen)
		}
	}
	attrs := eval[string](alice, `(function(){var i=document.getElementById(`+js(input)+`); return i.type+" "+i.getAttribute("autocomplete")+" "+i.labels.length+" "+(i.labels[0]?i.labels[0].textContent:"");})()`)
	if attrs != "password off 1 Paste your "+s.Label {
		t.Errorf("credential input: type, autocomplete, labels = %q", attrs)
	}
	alice.checkAccessibility()
	alice.shotOf("10-vault-empty", "vault")

	// Errors are explained next to the input; nothing is stored.
	errEl := `document.getElementById("vault-` + s.Kind + `-error").textContent`
	save := `#vault-` + s.Kind + `-actions button[type="submit"]`
	alice.do("blank credential", chromedp.SetValue(chromedp.ID(input), "   "), chromedp.Click(chromedp.CSS(save)))
	alice.waitJS("the blank-credential error", errEl+`.includes("Paste your")`)
	alice.do("overlong credential", chromedp.SetValue(chromedp.ID(input), strings.Repeat("é", 3000)), chromedp.Click(chromedp.CSS(save)))
	alice.waitJS("the server's error", errEl+`.includes("at most `+strconv.Itoa(token.MaxVaultSecretLen)+`")`)
	alice.checkBoxes("vault-"+s.Kind+"-error", "vault-"+s.Kind+"-msg")
	alice.shotOf("10b-vault-error", "vault-"+s.Kind+"-form")
	if _, ok := s.Stored(t, s.Alice, s.Kind); ok {
		t.Fatalf("a refused credential was stored")
	}
	eval[bool](alice, `(document.getElementById(`+js(input)+`).value = "", true)`)

	// Save with the mouse.
	alice.do("type the credential", chromedp.SendKeys(chromedp.ID(input), first))
	alice.do("click Save", chromedp.Click(chromedp.CSS(save)))
	alice.waitJS("the saved message", msg+`.includes("saved")`)
	if e := eval[string](alice, errEl); e != "" {
		t.Errorf("the error %q stays after a successful save", e)
	}
	alice.checkBoxes("vault-"+s.Kind+"-msg", "vault-"+s.Kind+"-error")
	if got := eval[string](alice, msg); !strings.Contains(got, "…"+first[len(first)-4:]) || !strings.Contains(got, "will not be shown again") {
		t.Errorf("message after saving: %q", got)
	}
	if f := alice.focused(); f != "vault-"+s.Kind+"-msg" {
		t.Errorf("after saving the focus is on %q, want the message", f)
	}
	alice.vaultChecks(s, input, first, "stored …"+first[len(first)-4:])
	if got, ok := s.Stored(t, s.Alice, s.Kind); !ok || got != first {
		t.Fatalf("the server holds %d characters (stored %v), not what alice typed", len(got), ok)
	}
	alice.shotOf("11-vault-stored", "vault")

	// Reload: still stored, still no secret anywhere in the page.
	alice.do("reload", chromedp.Reload())
	alice.waitJS("the reloaded page", `document.readyState === "complete" && document.getElementById("vault")`)
	alice.vaultChecks(s, input, first, "stored …"+first[len(first)-4:])
	if st := eval[string](alice, state); !strings.Contains(st, "updated "+time.Now().UTC().Format("2006-01-02")) {
		t.Errorf("state after reload %q lacks the update time", st)
	}
	alice.shot("12-vault-page")

	// Replace with the keyboard: Enter in the input submits.
	alice.do("focus the input", chromedp.Focus(chromedp.ID(input)))
	alice.press(second)
	alice.press(kb.Enter)
	alice.waitJS("the replaced hint", state+`.includes(`+js("…"+second[len(second)-4:])+`)`)
	alice.vaultChecks(s, input, second, "stored …"+second[len(second)-4:])
	if got, ok := s.Stored(t, s.Alice, s.Kind); !ok || got != second {
		t.Fatalf("after Replace the server does not hold the new credential")
	}

	// Bob sees nothing of it.
	bob := openTab(t, browser, s.Bob, s.Headers(s.Bob), s.Screenshots)
	bob.navigate(s.PageURL)
	bob.waitJS("bob's Other tokens", `document.getElementById("vault")`)
	if st := eval[string](bob, state); !strings.Contains(st, "not stored") || strings.Contains(st, second[len(second)-4:]) {
		t.Errorf("bob's state: %q", st)
	}
	if eval[bool](bob, `!!document.querySelector('[data-action="vault-remove"]')`) {
		t.Errorf("bob has a Remove button for a credential he never stored")
	}
	if eval[bool](bob, `fetch("api/vault").then(r => r.json()).then(b => b.entries.some(e => e.stored))`) {
		t.Errorf("bob's GET api/vault shows a stored credential")
	}

	// Remove: dismissing keeps it, accepting removes it.
	remove := `#vault-` + s.Kind + `-actions button[data-action="vault-remove"]`
	alice.accept.Store(false)
	alice.do("click Remove", chromedp.Click(chromedp.CSS(remove)))
	if m := alice.dialog(); !strings.Contains(m, s.Label) {
		t.Errorf("confirmation %q does not name the credential", m)
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok := s.Stored(t, s.Alice, s.Kind); !ok {
		t.Fatalf("dismissing the confirmation removed the credential")
	}
	alice.accept.Store(true)
	alice.do("click Remove", chromedp.Click(chromedp.CSS(remove)))
	alice.dialog()
	alice.waitJS("the removed state", state+`.includes("not stored")`)
	if got := eval[string](alice, msg); !strings.Contains(got, "removed") {
		t.Errorf("message after removing: %q", got)
	}
	if _, ok := s.Stored(t, s.Alice, s.Kind); ok {
		t.Fatalf("the server still holds the credential after Remove")
	}
	if eval[bool](alice, `!!document.querySelector(`+js(remove)+`)`) {
		t.Errorf("Remove is still offered after removing")
	}
}

// vaultChecks checks the section after a save: the input is empty, the
// state reads want, the submit button says Replace, and neither the page
// nor GET api/vault holds the secret.
func (tb *tab) vaultChecks(s VaultSite, input, secret, want string) {
	tb.t.Helper()
	if v := eval[string](tb, `document.getElementById(`+js(input)+`).value`); v != "" {
		tb.t.Errorf("%s: the credential input still holds %d characters", tb.who, len(v))
	}
	st := eval[string](tb, `document.getElementById("vault-`+s.Kind+`-state").textContent`)
	if !strings.Contains(st, want) {
		tb.t.Errorf("%s: state %q, want %q", tb.who, strings.Join(strings.Fields(st), " "), want)
	}
	if b := eval[string](tb, `document.querySelector("#vault-`+s.Kind+`-actions button[type=submit]").textContent`); b != "Replace" {
		tb.t.Errorf("%s: the submit button says %q, want Replace", tb.who, b)
	}
	if eval[bool](tb, `document.documentElement.outerHTML.includes(`+js(secret)+`)`) {
		tb.t.Fatalf("%s: the secret is in the page's HTML", tb.who)
	}
	if eval[bool](tb, `fetch("api/vault").then(r => r.text()).then(b => b.includes(`+js(secret)+`) || !b.includes('"stored":true'))`) {
		tb.t.Fatalf("%s: GET api/vault holds the secret or shows nothing stored", tb.who)
	}
}

// shotOf saves a PNG screenshot of the element with id and returns its path.
func (tb *tab) shotOf(name, id string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID(id)))
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
