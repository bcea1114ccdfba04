// Package testcaddy runs the real tokengate binary (Caddy with tokengate's
// modules) for integration tests: it builds cmd/tokengate once per test
// process, starts instances from Caddyfiles with free ports, captures their
// logs and stops them when the test ends.
//
// Everything that builds or runs a binary skips the test under `go test
// -short` (the inner loop: the in-process suites only). Without -short
// nothing skips, and CI runs without it.
package testcaddy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builds holds one build per package path, made once per test process.
var builds sync.Map // package path → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// SkipIfShort skips t under `go test -short`: it builds or runs the real
// binary, which the inner loop leaves out.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped with -short")
	}
}

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Binary builds ./cmd/tokengate once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	return BuildPackage(t, "./cmd/tokengate")
}

// BuildPackage builds the main package pkg (a path relative to the module
// root, such as ./cmd/tokengate) once per test process and returns the
// binary's path.
func BuildPackage(t testing.TB, pkg string) string {
	t.Helper()
	SkipIfShort(t)
	v, _ := builds.LoadOrStore(pkg, new(build))
	b := v.(*build)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "tokengate-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = ModuleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a server the test starts next. It is drawn at random from below the
// kernel's ephemeral range: a port from ":0" would be handed out again to
// whatever binds ":0" or connects out in the meantime (test packages run in
// parallel), and a Caddy that fails to bind leaves the test talking to a
// stranger.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := portRange()
	for attempt := 0; attempt < 200; attempt++ {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use
		}
		l.Close()
		return port
	}
	t.Fatalf("no free port in %d-%d after 200 tries", lo, hi)
	return 0
}

// portRange is the range FreePort draws from: [10000, start of the
// ephemeral range), or a fixed range when that cannot be read.
func portRange() (lo, hi int) {
	lo, hi = 10000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err == nil && first > lo+1000 {
		hi = first
	}
	return lo, hi
}

// SyncBuffer is a goroutine-safe bytes.Buffer for captured logs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Instance is one running tokengate process.
type Instance struct {
	// AdminAddr is the admin endpoint (host:port), used for reloads.
	AdminAddr string
	// Dir is the instance's working directory (relative paths in the
	// Caddyfile, such as ./data, resolve there).
	Dir string
	// Logs holds everything the process wrote to stdout and stderr.
	Logs *SyncBuffer

	t          testing.TB
	bin        string // the program the instance runs
	cmd        *exec.Cmd
	done       chan struct{}
	configName string // file name of the config; default "Caddyfile"
}

// Options tune Start.
type Options struct {
	// Dir is the working directory; default a new t.TempDir().
	Dir string
	// Env is added to the process environment.
	Env []string
	// AdminPort is the admin endpoint's port; default a free one. The
	// Caddyfile must contain the global option "admin 127.0.0.1:{ADMIN_PORT}"
	// or "{ADMIN_PORT}" is substituted wherever it appears.
	AdminPort int
	// ReadyURL is polled until it answers (any status); default the admin endpoint's /config/.
	ReadyURL string
	// Adapter is the config adapter: "caddyfile" (default) or "json".
	Adapter string
	// Binary is the program to run; default Binary(t), the tokengate binary.
	Binary string
}

// Start writes caddyfile (with "{ADMIN_PORT}" replaced; JSON with
// Options.Adapter "json") into the instance's directory and runs the binary
// on it until the test ends.
func Start(t testing.TB, caddyfile string, opts Options) *Instance {
	t.Helper()
	SkipIfShort(t)
	bin := opts.Binary
	if bin == "" {
		bin = Binary(t)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.AdminPort == 0 {
		opts.AdminPort = FreePort(t)
	}
	inst := &Instance{
		AdminAddr: fmt.Sprintf("127.0.0.1:%d", opts.AdminPort),
		Dir:       opts.Dir,
		Logs:      new(SyncBuffer),
		t:         t,
		bin:       bin,
		done:      make(chan struct{}),
	}
	if opts.Adapter == "json" {
		inst.configName = "config.json"
	}
	args := []string{"run", "--config", inst.writeCaddyfile(caddyfile)}
	if opts.Adapter != "json" {
		args = append(args, "--adapter", "caddyfile")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout = inst.Logs
	cmd.Stderr = inst.Logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting tokengate: %v", err)
	}
	inst.cmd = cmd
	go func() { _ = cmd.Wait(); close(inst.done) }()
	t.Cleanup(inst.Stop)
	if opts.ReadyURL != "" {
		inst.waitReady(opts.ReadyURL, true, 60*time.Second)
	} else {
		inst.waitReady("http://"+inst.AdminAddr+"/config/", false, 60*time.Second)
	}
	return inst
}

func (i *Instance) writeCaddyfile(caddyfile string) string {
	name := i.configName
	if name == "" {
		name = "Caddyfile"
	}
	path := filepath.Join(i.Dir, name)
	_, port, _ := net.SplitHostPort(i.AdminAddr)
	content := strings.ReplaceAll(caddyfile, "{ADMIN_PORT}", port)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		i.t.Fatal(err)
	}
	return path
}

// waitReady polls url until it answers; site says url is served by one of
// Caddy's HTTP servers (which send "Server: Caddy"), not the admin API.
func (i *Instance) waitReady(url string, site bool, timeout time.Duration) {
	i.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-i.done:
			i.t.Fatalf("tokengate exited during start-up; logs:\n%s", i.Logs.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if site {
				i.checkServes(url)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	i.t.Fatalf("tokengate not ready at %s after %s; logs:\n%s", url, timeout, i.Logs.String())
}

// checkServes makes sure that url was answered by this instance, not by a
// stranger on the same port (a Caddy that failed to bind exits): the
// process still runs, and its admin API serves a config listening on url's
// port.
func (i *Instance) checkServes(rawURL string) {
	i.t.Helper()
	select {
	case <-i.done:
		i.t.Fatalf("tokengate exited during start-up; logs:\n%s", i.Logs.String())
	case <-time.After(200 * time.Millisecond):
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		i.t.Fatal(err)
	}
	resp, err := http.Get("http://" + i.AdminAddr + "/config/apps/http/servers")
	if err != nil {
		i.t.Fatalf("admin API of the instance: %v; logs:\n%s", err, i.Logs.String())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), ":"+u.Port()+`"`) {
		i.t.Fatalf("%s is not served by this instance (its servers: %d %s); logs:\n%s", rawURL, resp.StatusCode, body, i.Logs.String())
	}
}

// Reload replaces the running config with caddyfile through the admin API
// (as `caddy reload` does) and fails the test if Caddy refuses it.
func (i *Instance) Reload(caddyfile string) {
	i.t.Helper()
	if out, err := i.TryReload(caddyfile); err != nil {
		i.t.Fatalf("reload: %v\n%s", err, out)
	}
}

// TryReload is Reload that returns Caddy's refusal (and the command's
// output) instead of failing the test.
func (i *Instance) TryReload(caddyfile string) (string, error) {
	i.t.Helper()
	path := i.writeCaddyfile(caddyfile)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, i.bin, "reload", "--config", path, "--adapter", "caddyfile", "--address", i.AdminAddr, "--force")
	cmd.Dir = i.Dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Pid returns the process id.
func (i *Instance) Pid() int { return i.cmd.Process.Pid }

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (i *Instance) Stop() {
	select {
	case <-i.done:
		return
	default:
	}
	_ = i.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-i.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
		<-i.done
	}
}

// RSS returns the process's resident set size in bytes (Linux).
func (i *Instance) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", i.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("VmRSS not found")
}
