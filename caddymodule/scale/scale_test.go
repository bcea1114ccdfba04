//go:build scale

package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token"
)

// config is the size of the run.
type config struct {
	tokens, owners int // the large run (default 1M over 50k)
}

// The small twin every large run is compared with.
const (
	smallTokens = 1000
	smallOwners = 50
)

func loadConfig(t *testing.T) config {
	t.Helper()
	c := config{tokens: 1_000_000, owners: 50_000}
	for _, v := range []struct {
		name string
		p    *int
	}{{"TOKENGATE_SCALE_TOKENS", &c.tokens}, {"TOKENGATE_SCALE_OWNERS", &c.owners}} {
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive whole number", v.name, s)
			}
			*v.p = n
		}
	}
	if c.owners > c.tokens {
		c.owners = c.tokens
	}
	return c
}

// metrics is what one run on one store and size measured.
type metrics struct {
	data         *dataset
	start        time.Duration // until the instance answered
	idleRSS      int64         // after start-up and one small admin request
	idleAnon     int64         // RssAnon then
	list         fetched       // GET /api/admin/tokens?limit=100 (median of 5)
	page         fetched       // GET /tokens/ (the admin view)
	history      fetched       // GET /api/admin/history?limit=100
	concurrent   time.Duration // three admin list walks at once
	concurrentHW peak          // the instance's peak meanwhile
	cliList      cliRun        // tokens list over every token
	listPeak     peak          // the instance's peak meanwhile
	capRun       cliRun        // tokens cap-lifetime 90d
	capChanged   int
	capPeak      peak // the instance's peak during the cap
	ownerHistory time.Duration
	fileBytes    int64 // bolt: the file as generated
	fileAfterCap int64 // bolt: the file after the cap (a new event per token)
}

// TestScale generates both stores at both sizes, measures each against the
// real binary, checks issue 14's bounds and prints the 1k vs 1M table.
func TestScale(t *testing.T) {
	cfg := loadConfig(t)
	rep := &report{cfg: cfg, runs: map[string]*metrics{}}
	testcaddy.Binary(t) // built before anything is timed
	for _, store := range []string{"postgres", "bolt"} {
		for _, size := range []struct{ tokens, owners int }{{smallTokens, smallOwners}, {cfg.tokens, cfg.owners}} {
			name := fmt.Sprintf("%s/%d", store, size.tokens)
			t.Run(name, func(t *testing.T) {
				now := time.Now().UTC()
				var d *dataset
				if store == "postgres" {
					d = genPostgres(t, size.tokens, size.owners, now)
				} else {
					d = genBolt(t, size.tokens, size.owners, now)
				}
				t.Logf("generated %d tokens (%d unrevoked) over %d owners in %s", d.tokens, d.unrevoked, d.owners, d.genTime.Round(time.Millisecond))
				m := measure(t, d)
				rep.put(store, size.tokens == smallTokens, m)
			})
		}
		t.Run(store+"/flat", func(t *testing.T) { checkFlat(t, rep, store) })
	}
	t.Run("bolt/linear", func(t *testing.T) { rep.linear = measureLinear(t) })
	rep.emit(t)
}

// measure runs everything on d: store-side History(owner) first, then the
// instance (its requests, the CLI; the cap last, since it changes the data).
func measure(t *testing.T, d *dataset) *metrics {
	m := &metrics{data: d}
	st := d.open(t)
	m.ownerHistory = timeOwnerHistory(t, st, d.sampleOwners(200))
	st.Close()
	m.fileBytes = d.fileSize()
	// A page in under 2 s and History(owner) in under 100 ms, however
	// loaded the machine: before issue 14 they took 5 s and 2–17 s.
	if m.ownerHistory > 100*time.Millisecond {
		t.Errorf("History(owner, 100): %s per call, want < 100 ms", m.ownerHistory)
	}

	in, took := startInstance(t, d)
	m.start = took
	pid := in.Pid()
	in.get(t, "/tokens/api/admin/tokens?limit=1")
	time.Sleep(500 * time.Millisecond)
	m.idleRSS = procStatus(t, pid, "VmRSS")
	m.idleAnon = procStatus(t, pid, "RssAnon")

	m.list = in.median(t, "/tokens/api/admin/tokens?limit=100", 5)
	m.page = in.median(t, "/tokens/", 5)
	m.history = in.median(t, "/tokens/api/admin/history?limit=100", 5)
	for what, f := range map[string]fetched{"admin token list": m.list, "admin page": m.page, "admin history": m.history} {
		if f.took > 2*time.Second {
			t.Errorf("%s: %s (median of 5), want < 2 s", what, f.took)
		}
	}
	checkPageLen(t, m.list.body, "tokens", 100)
	checkPageLen(t, m.history.body, "events", 100)

	// Three admin list calls at once, each walking 10 pages of 1000.
	start := time.Now()
	m.concurrentHW = peakDuring(t, pid, func() {
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { errs[i] = in.walk(1000, 10) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})
	m.concurrent = time.Since(start)
	if m.concurrentHW.hwm > 2*m.idleRSS {
		t.Errorf("three concurrent admin lists: peak RSS %s, want ≤ 2× idle %s", mib(m.concurrentHW.hwm), mib(m.idleRSS))
	}

	m.listPeak = peakDuring(t, pid, func() { m.cliList = in.tokens(t, "list", "--limit", cliPageSize) })
	if got := m.cliList.lines - 1; got != d.unrevoked {
		t.Errorf("tokens list printed %d rows, want the %d unrevoked tokens", got, d.unrevoked)
	}

	t.Run("cap", func(t *testing.T) { capCase(t, in, m) })
	in.Stop()
	m.fileAfterCap = d.fileSize()
	return m
}

// capCase runs `tokens cap-lifetime 90d` through the instance and checks
// how many tokens it changed.
func capCase(t *testing.T, in *instance, m *metrics) {
	m.capPeak = peakDuring(t, in.Pid(), func() { m.capRun = in.tokens(t, "cap-lifetime", capLifetime, "--json") })
	n, err := capChanged(m.capRun.out)
	if err != nil {
		t.Fatalf("cap-lifetime --json: %v\n%s", err, m.capRun.out)
	}
	m.capChanged = n
	if m.capChanged != m.data.capped {
		t.Errorf("cap-lifetime %s changed %d tokens, want %d", capLifetime, m.capChanged, m.data.capped)
	}
}

// checkFlat compares the large run with its 1k twin: the CLI's peak RSS
// and the instance's peak anonymous memory over idle (its heap: bolt's
// mapped file pages are resident too, but they are the page cache, given
// back under pressure) during tokens list and the cap grow by at most 2×
// or 64 MiB.
func checkFlat(t *testing.T, rep *report, store string) {
	small, large := rep.runs[store+"/small"], rep.runs[store+"/large"]
	if small == nil || large == nil {
		t.Skip("a run failed before measuring")
	}
	flat := func(what string, s, l int64) {
		if l > max(2*s, s+64<<20) {
			t.Errorf("%s: %s at %d tokens vs %s at %d: not flat (want ≤ 2× or +64 MiB)",
				what, mib(l), large.data.tokens, mib(s), small.data.tokens)
		}
	}
	flat("tokens list: CLI peak RSS", small.cliList.maxRSS, large.cliList.maxRSS)
	flat("tokens list: instance peak anonymous memory over idle", small.listPeak.anonOver(small), large.listPeak.anonOver(large))
	if small.capRun.took > 0 && large.capRun.took > 0 {
		flat("cap-lifetime: instance peak anonymous memory over idle", small.capPeak.anonOver(small), large.capPeak.anonOver(large))
		flat("cap-lifetime: CLI peak RSS", small.capRun.maxRSS, large.capRun.maxRSS)
	}
}

// anonOver is p's anonymous peak above m's idle RssAnon.
func (p peak) anonOver(m *metrics) int64 { return max(0, p.anon-m.idleAnon) }

func checkPageLen(t *testing.T, body []byte, field string, want int) {
	t.Helper()
	var page map[string]json.RawMessage
	var items []json.RawMessage
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("page: %v", err)
	}
	if err := json.Unmarshal(page[field], &items); err != nil || len(items) != want {
		t.Errorf("page of %s: %d items (%v), want %d", field, len(items), err, want)
	}
}

// timeOwnerHistory returns the mean time of History(owner, 100) over owners.
func timeOwnerHistory(t *testing.T, st token.Store, owners []string) time.Duration {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	for _, o := range owners {
		es, err := st.History(ctx, o, 100)
		if err != nil || len(es) == 0 {
			t.Fatalf("History(%s): %d events, %v", o, len(es), err)
		}
	}
	return time.Since(start) / time.Duration(len(owners))
}

// capChanged reads "changed" from the last JSON object in out (the
// command's --json answer; anything before the first "{" is skipped).
func capChanged(out []byte) (int, error) {
	i := bytes.IndexByte(out, '{')
	if i < 0 {
		return 0, fmt.Errorf("no JSON object in the output")
	}
	dec := json.NewDecoder(bytes.NewReader(out[i:]))
	var changed *int
	for dec.More() {
		var v struct {
			Changed *int `json:"changed"`
		}
		if err := dec.Decode(&v); err != nil {
			return 0, err
		}
		if v.Changed != nil {
			changed = v.Changed
		}
	}
	if changed == nil {
		return 0, fmt.Errorf(`no "changed" in the output`)
	}
	return *changed, nil
}
