//go:build scale

package scale

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

const (
	adminUser     = "carol"
	adminPassword = "scale test password"
	cliPageSize   = "1000" // token.MaxHistoryLimit: the fewest round trips
)

// instance is a running tokengate on a dataset, with the token page (admin
// view for carol behind basic_auth) at /tokens.
type instance struct {
	*testcaddy.Instance
	base  string
	authz string
	data  *dataset
}

func startInstance(t *testing.T, d *dataset) (*instance, time.Duration) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	port := testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:{ADMIN_PORT}
	persist_config off
	log {
		output stderr
		level WARN
	}
	tokengate {
		%s
	}
}
http://127.0.0.1:%d {
	handle /plain/* {
		respond "ok" 200
	}
	handle_path /tokens* {
		basic_auth {
			%s %s
		}
		tokengate_portal {
			admins %s
		}
	}
}
`, d.directive, port, adminUser, hash, adminUser)
	start := time.Now()
	// GOGC=25 (as the e2e big-export test does): the memory checks then
	// see what a request holds, not the collector's headroom, which at
	// GOGC=100 grows with the live heap — larger at 1M tokens (the digest
	// prefilter) whatever the request does.
	env := append([]string{"GOGC=25"}, d.env...)
	inst := testcaddy.Start(t, caddyfile, testcaddy.Options{Dir: d.dir, Env: env, ReadyURL: base + "/plain/"})
	return &instance{Instance: inst, base: base, authz: basicauth.Header(adminUser, adminPassword), data: d}, time.Since(start)
}

// fetched is one measured request.
type fetched struct {
	took  time.Duration
	bytes int
	body  []byte
}

// get sends an authenticated GET and fails the test unless it answers 200.
func (in *instance) get(t testing.TB, path string) fetched {
	t.Helper()
	f, err := in.fetch(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fetch sends an authenticated GET; anything but 200 is an error.
func (in *instance) fetch(path string) (fetched, error) {
	req, err := http.NewRequest(http.MethodGet, in.base+path, nil)
	if err != nil {
		return fetched{}, err
	}
	req.Header.Set("Authorization", in.authz)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fetched{}, fmt.Errorf("GET %s: %w", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fetched{}, fmt.Errorf("GET %s: %d %v\n%.500s", path, resp.StatusCode, err, body)
	}
	return fetched{took: took, bytes: len(body), body: body}, nil
}

// median fetches path n times and returns the median time (and the last body).
func (in *instance) median(t testing.TB, path string, n int) fetched {
	t.Helper()
	var times []time.Duration
	var f fetched
	for range n {
		f = in.get(t, path)
		times = append(times, f.took)
	}
	slices.Sort(times)
	f.took = times[len(times)/2]
	return f
}

// walk fetches pages of the admin token list (limit each) following
// next_cursor, at most pages of them. Safe to call from any goroutine.
func (in *instance) walk(limit, pages int) error {
	cursor := ""
	for p := 0; p < pages; p++ {
		f, err := in.fetch(fmt.Sprintf("/tokens/api/admin/tokens?limit=%d&cursor=%s", limit, url.QueryEscape(cursor)))
		if err != nil {
			return err
		}
		var page struct {
			Tokens     []json.RawMessage `json:"tokens"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal(f.body, &page); err != nil {
			return fmt.Errorf("admin token list page: %w", err)
		}
		if len(page.Tokens) != limit && page.NextCursor != "" {
			return fmt.Errorf("admin token list page: %d tokens, want %d", len(page.Tokens), limit)
		}
		if cursor = page.NextCursor; cursor == "" {
			return nil
		}
	}
	return nil
}

// procStatus reads a "kB" field (VmRSS, VmHWM, RssAnon) of
// /proc/<pid>/status in bytes, failing the test if it cannot.
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	n, err := readStatus(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading process status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("%s in /proc/%d/status: %w", field, pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s missing from /proc/%d/status", field, pid)
}

// peak is a process's peak memory while something ran.
type peak struct {
	hwm  int64 // VmHWM: resident, file pages (bolt's mapped file) included
	anon int64 // the highest RssAnon sampled every 2 ms: the heap and stacks
}

// peakDuring runs fn and returns pid's peak memory meanwhile. VmHWM is
// reset first (clear_refs 5); where that is refused, hwm is the highest
// VmRSS sampled instead.
func peakDuring(t testing.TB, pid int, fn func()) peak {
	t.Helper()
	reset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	var (
		p    peak
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	sample := func() { // on the sampling goroutine too: no t.Fatal
		if n, err := readStatus(pid, "RssAnon"); err == nil {
			p.anon = max(p.anon, n)
		}
		if n, err := readStatus(pid, "VmRSS"); err == nil && !reset {
			p.hwm = max(p.hwm, n)
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				sample()
			}
		}
	}()
	func() {
		defer func() { close(stop); <-done }() // also when fn fails the test
		fn()
	}()
	sample()
	if reset {
		p.hwm = procStatus(t, pid, "VmHWM")
	}
	return p
}

// resetOwnPeak shrinks the test process and resets its peak RSS. Linux
// charges a child's peak RSS with its parent's at exec (exec_mmap records
// the high-water mark of the address space it replaces, and Go starts
// children with CLONE_VM|CLONE_VFORK: the parent's), so without this the
// CLI's Maxrss would be the test process's own peak from generating a
// million tokens. What remains of the parent is its current RSS, logged.
func resetOwnPeak(t testing.TB) {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the test process's peak RSS (%v): the CLI's Maxrss includes it", err)
	}
}

// cliRun is one `tokengate tokens …` process.
type cliRun struct {
	took   time.Duration
	maxRSS int64 // peak RSS of the CLI process
	lines  int   // newline-terminated lines of stdout
	out    []byte
}

// lineCounter counts lines and keeps the last 64 KiB of what is written.
type lineCounter struct {
	lines int
	tail  []byte
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	c.tail = append(c.tail, p...)
	if len(c.tail) > 64<<10 {
		c.tail = c.tail[len(c.tail)-64<<10:]
	}
	return len(p), nil
}

// tokens runs `tokengate tokens args…` in the instance's directory (so it
// finds the Caddyfile and, through its admin setting, the instance).
func (in *instance) tokens(t testing.TB, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(testcaddy.Binary(t), append([]string{"tokens"}, args...)...)
	cmd.Dir = in.data.dir
	cmd.Env = append(os.Environ(), in.data.env...)
	var out lineCounter
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	resetOwnPeak(t)
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("tokens %s: %v\nstderr: %s\nstdout (tail): %s", strings.Join(args, " "), err, errOut.String(), out.tail)
	}
	if !strings.Contains(errOut.String(), "admin API at "+in.AdminAddr) {
		t.Fatalf("tokens %s did not go through the running instance's admin API:\n%s", strings.Join(args, " "), errOut.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatalf("no rusage for the CLI process")
	}
	return cliRun{took: took, maxRSS: ru.Maxrss << 10, lines: out.lines, out: out.tail}
}
