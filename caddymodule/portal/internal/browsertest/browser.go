// Package browsertest drives the token page of tokengate in a real headless
// Chromium with chromedp. RunTokenPageFlow is the whole user journey (create,
// copy, reload, revoke, replace, another person, the administrator's
// off-boarding, keyboard and label checks); it only needs the page's URL and
// a way to sign people in, so the same flow runs against the plain handler
// (caddymodule/portal tests) and inside a real Caddy.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumEnv names an environment variable that may hold the browser's path.
const ChromiumEnv = "TOKENGATE_CHROMIUM"

// ScreenshotsEnv names an environment variable holding a directory for the
// screenshots of the flow (default: the test's temporary directory).
const ScreenshotsEnv = "TOKENGATE_SCREENSHOTS"

// FindChromium returns the path of a Chromium or Chrome binary, or "".
func FindChromium() string {
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// NewBrowser starts a headless Chromium for the test and returns a chromedp
// context whose children are tabs of it. Without a browser the test fails
// when CI=true and is skipped otherwise.
func NewBrowser(t *testing.T) context.Context {
	t.Helper()
	path := FindChromium()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium found (set %s); browser tests must run in CI", ChromiumEnv)
		}
		t.Skipf("no Chromium found (set %s); skipping the browser test", ChromiumEnv)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// Start the browser now, without a deadline (a deadline on the first
	// Run would bound the browser's whole life).
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// ScreenshotDir returns where screenshots go: $TOKENGATE_SCREENSHOTS/<test
// name> (created if needed) or a temporary directory of the test.
func ScreenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return t.TempDir()
	}
	dir, err := filepath.Abs(filepath.Join(dir, filepath.Base(t.Name())))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("screenshot directory: %v", err)
	}
	return dir
}

// stepTimeout bounds each browser step of the flow.
const stepTimeout = 20 * time.Second
