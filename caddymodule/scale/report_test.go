//go:build scale

package scale

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// report collects the runs and prints the 1k vs 1M table.
type report struct {
	mu     sync.Mutex
	cfg    config
	runs   map[string]*metrics // "postgres/small", "bolt/large", …
	linear *linearResult
}

func (r *report) put(store string, small bool, m *metrics) {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := "large"
	if small {
		size = "small"
	}
	r.runs[store+"/"+size] = m
}

var columns = []string{"postgres/small", "postgres/large", "bolt/small", "bolt/large"}

// row formats one table row: a cell per run ("—" where the run is missing
// or f returns "") and the bound.
func (r *report) row(b *strings.Builder, what, bound string, f func(m *metrics) string) {
	fmt.Fprintf(b, "| %s |", what)
	for _, c := range columns {
		cell := ""
		if m := r.runs[c]; m != nil {
			cell = f(m)
		}
		if cell == "" {
			cell = "—"
		}
		fmt.Fprintf(b, " %s |", cell)
	}
	fmt.Fprintf(b, " %s |\n", bound)
}

// table renders the markdown table.
func (r *report) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scale test: %d vs %d tokens (%d vs %d owners), real binary, %s\n\n",
		smallTokens, r.cfg.tokens, smallOwners, r.cfg.owners, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "| what | Postgres %s | Postgres %s | bolt %s | bolt %s | bound |\n|---|---|---|---|---|---|\n",
		count(smallTokens), count(r.cfg.tokens), count(smallTokens), count(r.cfg.tokens))
	r.row(&b, "generated (SQL / bolt Import)", "", func(m *metrics) string { return dur(m.data.genTime) })
	r.row(&b, "start until serving", "", func(m *metrics) string { return dur(m.start) })
	r.row(&b, "idle RSS (anonymous) after start", "", func(m *metrics) string { return fmt.Sprintf("%s (%s)", mib(m.idleRSS), mib(m.idleAnon)) })
	r.row(&b, "`GET /api/admin/tokens?limit=100`", "< 2 s, 100 rows", func(m *metrics) string { return fetchCell(m.list) })
	r.row(&b, "admin page `GET /tokens/`", "< 2 s, 100 rows", func(m *metrics) string { return fetchCell(m.page) })
	r.row(&b, "`GET /api/admin/history?limit=100`", "< 2 s, 100 rows", func(m *metrics) string { return fetchCell(m.history) })
	r.row(&b, "3 concurrent admin lists (3 × 10 pages of 1000): time, peak RSS", "peak ≤ 2× idle", func(m *metrics) string {
		return fmt.Sprintf("%s, %s (%.2f× idle)", dur(m.concurrent), mib(m.concurrentHW.hwm), float64(m.concurrentHW.hwm)/float64(max(m.idleRSS, 1)))
	})
	r.row(&b, "`tokengate tokens list` (every token): time, CLI peak RSS, server peak RSS (anonymous over idle)", "CLI, server anon flat (≤ 2× or +64 MiB of 1k)", func(m *metrics) string {
		if m.cliList.took == 0 {
			return ""
		}
		return fmt.Sprintf("%s, %s, %s (+%s)", dur(m.cliList.took), mib(m.cliList.maxRSS), mib(m.listPeak.hwm), mib(m.listPeak.anonOver(m)))
	})
	r.row(&b, "`tokengate tokens cap-lifetime 90d`: changed, time, server peak RSS (anonymous over idle), CLI peak RSS", "server anon, CLI flat (≤ 2× or +64 MiB of 1k)", func(m *metrics) string {
		if m.capRun.took == 0 {
			return ""
		}
		return fmt.Sprintf("%d, %s, %s (+%s), %s", m.capChanged, dur(m.capRun.took), mib(m.capPeak.hwm), mib(m.capPeak.anonOver(m)), mib(m.capRun.maxRSS))
	})
	r.row(&b, "store `History(owner, 100)` per call", "< 100 ms", func(m *metrics) string { return dur(m.ownerHistory) })
	r.row(&b, "bolt file as generated (bytes per token); after the cap", "aim ≤ 400 B per token", func(m *metrics) string {
		if m.fileBytes == 0 {
			return ""
		}
		if m.data.tokens == smallTokens {
			return fmt.Sprintf("%s; %s", mib(m.fileBytes), mib(m.fileAfterCap)) // mostly bbolt's preallocation
		}
		return fmt.Sprintf("%s (%d B); %s", mib(m.fileBytes), m.fileBytes/int64(m.data.tokens), mib(m.fileAfterCap))
	})
	if l := r.linear; l != nil {
		fmt.Fprintf(&b, "\n| bolt, into an empty file | 50k | 200k | ratio | bound |\n|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| `Import`: CPU time (wall time) | %s (%s) | %s (%s) | %.2f (%.2f) | either ≤ 5 |\n",
			dur(l.importCPU50), dur(l.import50), dur(l.importCPU200), dur(l.import200), l.importRatio(), l.importWallRatio())
		fmt.Fprintf(&b, "| `History(owner, 100)` per call | %s | %s | %.2f | ≤ 5 |\n", dur(l.hist50), dur(l.hist200), l.historyRatio())
	}
	if path := os.Getenv("TOKENGATE_SCALE_CACHE_ROWS"); path != "" {
		if rows, err := os.ReadFile(path); err == nil && len(rows) > 0 {
			fmt.Fprintf(&b, "\n| cache (token.Validator over bolt, TestCacheHitRatio) | value | bound |\n|---|---|---|\n%s", rows)
		}
	}
	return b.String()
}

// emit logs the table and writes it to $TOKENGATE_SCALE_REPORT if set.
func (r *report) emit(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tab := r.table()
	t.Log("\n" + tab)
	if path := os.Getenv("TOKENGATE_SCALE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(tab), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
}

func fetchCell(f fetched) string {
	if f.bytes == 0 {
		return ""
	}
	return fmt.Sprintf("%s, %s", dur(f.took), kb(f.bytes))
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func kb(n int) string { return fmt.Sprintf("%.0f KB", float64(n)/1000) }

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	default:
		return fmt.Sprint(n)
	}
}
