package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/caddymodule"
)

// TestTokensListStreamsPages: `tokens list --limit 2` over 5 tokens prints
// all 5 (three pages, one header), as a table and as one --json object,
// through the admin API of a running instance and directly on the store.
func TestTokensListStreamsPages(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kind := boltKind(t, dir)
			if name == "postgres" {
				kind = postgresKind(t)
			}
			up := newEchoUpstream(t)
			inst, base := startGate(t, kind, dir, up.URL, "")
			for i := range 5 {
				createVia(t, base, fmt.Sprintf("user%d", i), fmt.Sprintf("Report %d", i))
			}
			check := func(path string) {
				t.Helper()
				out, errOut, code := tokensRun(t, dir, kind.env, "list", "--limit", "2")
				if code != 0 || strings.Count(out, "OWNER") != 1 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "\n5 tokens\n") {
					t.Fatalf("list --limit 2 (%s): exit %d\n%s\n%s", path, code, out, errOut)
				}
				for i := range 5 {
					if !strings.Contains(out, fmt.Sprintf("user%d ", i)) {
						t.Fatalf("list --limit 2 (%s) misses user%d:\n%s", path, i, out)
					}
				}
				out, errOut, code = tokensRun(t, dir, kind.env, "list", "--limit", "2", "--json")
				var list caddymodule.AdminTokenList
				if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Tokens) != 5 || list.NextCursor != "" || list.Total == nil || *list.Total != 5 {
					t.Fatalf("list --limit 2 --json (%s): exit %d, %v\n%s\n%s", path, code, err, out, errOut)
				}
				seen := map[string]bool{}
				for _, tk := range list.Tokens {
					seen[tk.ID] = true
				}
				if len(seen) != 5 {
					t.Fatalf("list --json (%s) repeats tokens:\n%s", path, out)
				}
			}
			check("admin API at " + inst.AdminAddr)
			inst.Stop()
			check("directly on the")
		})
	}
}
