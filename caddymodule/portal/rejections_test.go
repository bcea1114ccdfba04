package portal

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

// TestRejectionCountShown: a rejection that stands for several identical
// attempts is one row marked "×3" on the page and has "count":3 in the
// JSON API; one of a single attempt (or of an unset count) has no mark and
// count 1.
func TestRejectionCountShown(t *testing.T) {
	forEachStore(t, envOptions{}, func(t *testing.T, e *env) {
		c := e.create("alice", "dataset", "")
		minute := 0
		revoked := func(ip string, count int) token.Rejection {
			minute++
			return token.Rejection{TokenID: c.ID, Owner: "alice", Label: "dataset", IP: ip, Agent: "PowerBI",
				At: startTime.Add(time.Duration(minute) * time.Minute), Reason: token.RejectRevoked, Count: count}
		}
		rs := []token.Rejection{revoked("198.51.100.1", 3), revoked("198.51.100.2", 0), revoked("198.51.100.3", 1)}
		if err := e.store.AddRejections(context.Background(), rs); err != nil {
			t.Fatalf("AddRejections: %v", err)
		}
		var b struct {
			Rejections []apiRejection `json:"rejections"`
		}
		r := e.do("GET", "/api/rejections", "alice", "")
		r.json(t, &b)
		counts := map[string]int{}
		for _, x := range b.Rejections {
			counts[x.IP] = x.Count
		}
		if r.status != 200 || len(counts) != 3 || counts["198.51.100.1"] != 3 || counts["198.51.100.2"] != 1 || counts["198.51.100.3"] != 1 {
			t.Errorf("GET /api/rejections: %d %s; want counts 3, 1, 1", r.status, r.body)
		}
		if !strings.Contains(string(r.body), `"count":3`) {
			t.Errorf("GET /api/rejections lacks \"count\":3: %s", r.body)
		}

		page := string(e.do("GET", "/", "alice", "").body)
		rows := regexp.MustCompile(`(?s)<tr><td><time.*?</tr>`).FindAllString(page, -1)
		marked := map[string]bool{}
		for _, row := range rows {
			for ip := range counts {
				if strings.Contains(row, ip) {
					marked[ip] = strings.Contains(row, ">×3</span>")
					if strings.Contains(row, "×1") {
						t.Errorf("row of %s shows ×1: %s", ip, row)
					}
				}
			}
		}
		if len(marked) != 3 || !marked["198.51.100.1"] || marked["198.51.100.2"] || marked["198.51.100.3"] {
			t.Errorf("rows marked ×3: %v, want only 198.51.100.1's; rows:\n%s", marked, strings.Join(rows, "\n"))
		}
	})
}
