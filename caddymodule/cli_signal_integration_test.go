package caddymodule_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
)

// TestCapLifetimeCtrlC: Ctrl-C (SIGINT) stops a direct cap-lifetime between
// two batches; the batches committed stay, the command says so and exits
// non-zero, and running it again caps exactly the rest.
func TestCapLifetimeCtrlC(t *testing.T) {
	testcaddy.SkipIfShort(t)
	const n = 60_000
	dir := t.TempDir()
	cfg := "{\n\tadmin off\n\ttokengate {\n\t\tstore bolt ./data/tokengate.db\n\t}\n}\n:0 {\n\trespond ok\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("owner,label,token\n")
	for i := range n {
		fmt.Fprintf(&csv, "user%d,legacy %d,legacy-secret-%08d-abcdefghijklmnop\n", i%500, i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "legacy.csv"), []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := tokensRun(t, dir, nil, "import", "legacy.csv"); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}

	cmd := exec.Command(testcaddy.Binary(t), "tokens", "cap-lifetime", "30d")
	cmd.Dir = dir
	var stdout strings.Builder
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(errPipe)
	signalled := false
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if !signalled && strings.HasPrefix(sc.Text(), "capped ") { // the first batch is committed
			signalled = true
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if !signalled {
		t.Fatalf("no progress line before the end:\n%s", stderr.String())
	}
	if err == nil {
		t.Fatalf("cap-lifetime exited 0 after SIGINT (finished all %d before the signal?):\n%s%s", n, stdout.String(), stderr.String())
	}
	m := regexp.MustCompile(`interrupted after capping (\d+) tokens; run cap-lifetime again to finish`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no interruption message:\n%s", stderr.String())
	}
	first, _ := strconv.Atoi(m[1])
	if first <= 0 || first >= n {
		t.Fatalf("capped %d of %d before the interruption, want some but not all", first, n)
	}

	out, stderr2, code := tokensRun(t, dir, nil, "cap-lifetime", "30d")
	if code != 0 {
		t.Fatalf("second cap-lifetime: exit %d\n%s", code, stderr2)
	}
	m = regexp.MustCompile(`shortened (\d+) tokens`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("second cap-lifetime said %q", out)
	}
	if rest, _ := strconv.Atoi(m[1]); first+rest != n {
		t.Errorf("capped %d, then %d: want %d in all, none twice", first, rest, n)
	}
}
