//go:build scale

package scale

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// linearResult is bolt's Import and History(owner) at 50k and 200k tokens.
type linearResult struct {
	import50, import200 time.Duration
	hist50, hist200     time.Duration
}

func (l *linearResult) importRatio() float64  { return float64(l.import200) / float64(l.import50) }
func (l *linearResult) historyRatio() float64 { return float64(l.hist200) / float64(l.hist50) }

// measureLinear imports 50k and 200k legacy tokens (20 per owner) into empty
// bolt files in one Import each and times History(owner, 100) on them: the
// 200k times must stay within 5× the 50k ones (issue 14; before, import was
// quadratic and History scanned every event). The faster of two runs counts.
func measureLinear(t *testing.T) *linearResult {
	l := &linearResult{}
	run := func(n int) (imp, hist time.Duration) {
		imp, hist = time.Hour, time.Hour
		for range 2 {
			st, err := bolt.Open(filepath.Join(t.TempDir(), "linear.db"))
			if err != nil {
				t.Fatal(err)
			}
			owners := n / 20
			ts := make([]token.Token, n)
			for i := range ts {
				ts[i] = genToken(i, owners)
			}
			start := time.Now()
			if err := st.Import(context.Background(), ts, scaleActor, time.Now().UTC()); err != nil {
				t.Fatalf("import %d: %v", n, err)
			}
			imp = min(imp, time.Since(start))
			d := &dataset{owners: owners}
			hist = min(hist, timeOwnerHistory(t, st, d.sampleOwners(500)))
			st.Close()
		}
		return imp, hist
	}
	l.import50, l.hist50 = run(50_000)
	l.import200, l.hist200 = run(200_000)
	t.Logf("bolt import 50k %s, 200k %s (ratio %.2f); History(owner) 50k %s, 200k %s (ratio %.2f)",
		dur(l.import50), dur(l.import200), l.importRatio(), dur(l.hist50), dur(l.hist200), l.historyRatio())
	if r := l.importRatio(); r > 5 {
		t.Errorf("bolt import: 200k took %.2f× 50k, want ≤ 5", r)
	}
	if r := l.historyRatio(); r > 5 {
		t.Errorf("bolt History(owner): at 200k %.2f× at 50k, want ≤ 5", r)
	}
	return l
}
