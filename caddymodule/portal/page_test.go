package portal

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// TestPageStatesServerConstants checks that the limits and names the page
// states are the server's own: the label and credential maxlength, the
// token prefix, the "expiring soon" window, and a help text per configured
// kind of other token.
func TestPageStatesServerConstants(t *testing.T) {
	kinds := []token.VaultKind{{ID: "jira", Label: "Jira API token"}, {ID: "tempo", Label: "Tempo Timesheets token"}}
	e := newEnv(t, "bolt", envOptions{vault: true, vaultKinds: kinds})
	page := string(e.do("GET", "/", "alice", "").body)
	for _, want := range []string{
		`id="label" name="label" type="text" required maxlength="` + strconv.Itoa(token.MaxLabelLen) + `"`,
		"at most " + strconv.Itoa(token.MaxLabelLen) + " characters",
		`id="vault-jira-secret" name="secret" type="password" required maxlength="` + strconv.Itoa(token.MaxVaultSecretLen) + `"`,
		`id="vault-tempo-secret" name="secret" type="password" required maxlength="` + strconv.Itoa(token.MaxVaultSecretLen) + `"`,
		"(starts with <code>" + token.Prefix + "</code>)",
		`aria-describedby="vault-tempo-state vault-tempo-help"`,
		`<p id="vault-tempo-help" class="help">Paste the Tempo Timesheets token that`,
		`<p id="error" class="error" role="alert" tabindex="-1"></p>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "Atlassian") {
		t.Errorf("the page still carries help for one kind of credential only")
	}
	e.create("alice", "soon", e.svc.Now().UTC().AddDate(0, 0, 2).Format(token.DateLayout))
	page = string(e.do("GET", "/", "alice", "").body)
	if want := "Tokens that expire within " + durationWords(token.ExpiringSoonWindow) + ": 1"; !strings.Contains(page, want) {
		t.Errorf("page lacks %q", want)
	}
}

func TestDurationWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:     "1 day",
		7 * 24 * time.Hour: "7 days",
		36 * time.Hour:     "36h0m0s",
	} {
		if got := durationWords(d); got != want {
			t.Errorf("durationWords(%v) = %q, want %q", d, got, want)
		}
	}
}
