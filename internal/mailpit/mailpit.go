// Package mailpit runs a real SMTP server for tests: the Mailpit binary
// named by $TOKENGATE_TEST_MAILPIT (the test command builds it; see
// .ci/test.sh), on free loopback ports, with a client for its HTTP API to
// read what arrived. Without the variable, tests skip — or fail when CI=true.
package mailpit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// EnvBinary names the environment variable holding the Mailpit binary.
const EnvBinary = "TOKENGATE_TEST_MAILPIT"

// startTimeout bounds how long Start and Restart wait for Mailpit to answer.
const startTimeout = 20 * time.Second

// Server is a running Mailpit. Its ports stay the same across Stop and
// Restart, and so do the messages (they live in a database file).
type Server struct {
	// SMTPAddr is host:port of the SMTP server; Host and SMTPPort are its parts.
	SMTPAddr string
	Host     string
	SMTPPort int
	// APIURL is the base URL of the HTTP API and web UI.
	APIURL string

	t      testing.TB
	bin    string
	args   []string
	dir    string
	client *http.Client
	tls    *tlsFiles // set by WithSTARTTLS
	auth   bool      // set by WithAuth

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Option changes how Start runs Mailpit.
type Option func(*Server)

// Binary returns the Mailpit binary from $TOKENGATE_TEST_MAILPIT. When it is
// unset, t fails if CI=true and is skipped otherwise.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: the test command must build Mailpit (see .ci/test.sh)", EnvBinary)
		}
		t.Skipf("%s is not set: run the tests through .ci/test.sh to get a real SMTP server", EnvBinary)
	}
	return bin
}

// Start starts Mailpit on free loopback ports and stops it at t.Cleanup.
// Without options it speaks plain SMTP and accepts any login, or none.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := Binary(t)
	smtpPort, httpPort := freePort(t), freePort(t)
	s := &Server{
		SMTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort)),
		Host:     "127.0.0.1",
		SMTPPort: smtpPort,
		APIURL:   "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		t:        t,
		bin:      bin,
		dir:      t.TempDir(),
		client:   &http.Client{Timeout: 10 * time.Second},
	}
	s.args = []string{
		"--smtp", s.SMTPAddr,
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		"--pop3", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		"--database", filepath.Join(s.dir, "mailpit.db"),
		"--disable-version-check",
		"--smtp-disable-rdns",
		"--quiet",
	}
	for _, o := range opts {
		o(s)
	}
	if !s.auth {
		s.args = append(s.args, "--smtp-auth-accept-any")
	}
	if s.tls == nil {
		s.args = append(s.args, "--smtp-auth-allow-insecure")
	}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Restart starts Mailpit again after Stop (Start calls it first), on the
// same ports and with the same messages, and waits until both its SMTP
// server and its API answer. It does nothing while Mailpit runs.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		cmd := exec.Command(s.bin, s.args...)
		logf, err := os.OpenFile(filepath.Join(s.dir, "mailpit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			s.t.Fatalf("mailpit log: %v", err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			s.t.Fatalf("starting mailpit %s: %v", s.bin, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
		if lastErr = s.waitReady(done, deadline); lastErr == nil {
			s.cmd, s.done = cmd, done
			return
		}
		_ = cmd.Process.Kill()
		<-done
		time.Sleep(100 * time.Millisecond) // a port still held by the last run: try again
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "mailpit.log"))
	s.t.Fatalf("mailpit did not come up within %v: %v\n%s", startTimeout, lastErr, log)
}

// waitReady waits until the SMTP port accepts and /readyz answers 200.
func (s *Server) waitReady(done <-chan struct{}, deadline time.Time) error {
	for {
		select {
		case <-done:
			return errors.New("mailpit exited")
		default:
		}
		err := s.ready()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) ready() error {
	c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+"/readyz", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("api: /readyz: %s", resp.Status)
	}
	return nil
}

// Stop stops Mailpit (a mail server that is down) and waits until it has
// exited; connections to SMTPAddr are then refused. Restart brings it back.
// It does nothing when Mailpit is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}
