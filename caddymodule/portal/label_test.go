package portal

import (
	"net/http"
	"strings"
	"testing"
)

// TestCreateSpoofingLabel: POST /api/tokens refuses a label with characters
// that make it display as something else (issue 8, point 8) with 400 and a
// JSON error naming the character by code point, kind and position, and
// stores nothing; ordinary text of other scripts and emoji still work.
func TestCreateSpoofingLabel(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		for _, c := range []struct{ name, body, want string }{
			{"bidi override and zero-width space", `{"label":"\u202eevil\u200b"}`, "U+202E (a bidirectional override) at character 1"},
			{"zero-width space", `{"label":"admin\u200breport","expires_on":null}`, "U+200B (a zero-width space) at character 6"},
			{"bidi isolate", `{"label":"report\u2067x"}`, "U+2067 (a bidirectional isolate) at character 7"},
			{"soft hyphen", `{"label":"pass\u00adword"}`, "U+00AD (a soft hyphen) at character 5"},
			{"line separator", `{"label":"a\u2028b"}`, "U+2028 (a line separator) at character 2"},
			{"noncharacter", `{"label":"a\uffff"}`, "U+FFFF (a noncharacter) at character 2"},
			{"tab", `{"label":"a\tb"}`, "control characters (tabs, line breaks): U+0009 (a tab) at character 2"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do("POST", "/api/tokens", "alice", c.body)
				if r.status != http.StatusBadRequest {
					t.Fatalf("POST %s: %d %s, want 400", c.body, r.status, r.body)
				}
				if msg := r.errMsg(t); !strings.Contains(msg, c.want) {
					t.Errorf("POST %s: error %q, want it to contain %q", c.body, msg, c.want)
				}
			})
		}
		if ts := e.list("alice"); len(ts) != 0 {
			t.Fatalf("alice has %d tokens after refused labels: %+v", len(ts), ts)
		}
		c := e.create("alice", "تقرير المبيعات 📊 — été", "")
		if c.Label != "تقرير المبيعات 📊 — été" {
			t.Errorf("created label = %+q", c.Label)
		}
	})
}
