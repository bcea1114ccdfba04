package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/caddymodule/internal/basicauth"
	"github.com/tokengate/tokengate/caddymodule/internal/testcaddy"
	"github.com/tokengate/tokengate/token"
)

// TestHostileFloods (issue 8): in the real binary, on both stores, floods
// from one IP — wrong passwords under alice's name, unknown tokens under
// rotating user names, unparseable Authorization headers, a legacy secret
// typed as the user name — and then from 200 IPs at once never lock out a
// valid token: alice's cached token and a token created after the floods
// (never used, not cached, not in the prefilter until it syncs) both get 200
// from the same IP. The floods cost (almost) no store lookups, the logs stay
// bounded and carry neither the secrets nor the user names that came with
// unknown tokens.
func TestHostileFloods(t *testing.T) {
	for _, name := range []string{"bolt", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			kind := postgresKind(t)
			if name == "bolt" {
				kind = boltKind(t, dir)
			}
			st := kind.open(t)
			cached := seed(t, st, "alice", "cached")
			const legacySecret = "LegacySecret-ABCDEFGHIJKLMNOP"
			legacy := token.Token{ID: "legacy00000000000001", Owner: "dave", Label: "legacy",
				Digest: token.DigestOf(legacySecret), Hint: token.HintOf(legacySecret)}
			if err := st.Import(ctx, []token.Token{legacy}, "admin", time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			st.Close()
			up := newEchoUpstream(t)
			inst, base := startGate(t, kind, dir, up.URL, "")
			feed := base + "/odata/Issues"
			if s := status(t, feed, basicauth.Header("alice", cached.Secret)); s != http.StatusOK {
				t.Fatalf("warm-up: %d", s)
			}
			lookups := storeLookups(t, inst)

			// Unknown tokens wait for the prefilter's next sync (≤ 100 ms),
			// so the floods run 16 requests at a time.
			var rotated []string
			var auths []string
			for i := 0; i < 100; i++ { // wrong passwords for alice
				unknown, _ := token.Generate()
				auths = append(auths, basicauth.Header("alice", unknown))
			}
			for i := 0; i < 150; i++ { // unknown tokens, rotating user names
				unknown, _ := token.Generate()
				u := fmt.Sprintf("rotating-user-%03d", i)
				rotated = append(rotated, u)
				auths = append(auths, basicauth.Header(u, unknown))
			}
			for i := 0; i < 50; i++ { // unparseable headers
				auths = append(auths, fmt.Sprintf("Basic !!%d-not-base64", i))
			}
			sendAll(t, feed, auths, 16, http.StatusUnauthorized)
			// A legacy secret typed as the user name, with a wrong password.
			if s := status(t, feed, basicauth.Header(legacySecret, "wrong-password-123")); s != http.StatusUnauthorized {
				t.Fatalf("legacy secret as user name: %d, want 401", s)
			}
			floodFromManyIPs(t, feed, 200, 10)

			if got := storeLookups(t, inst) - lookups; got > 3 {
				t.Errorf("the floods made %v store lookups, want (almost) none: the prefilter refuses unknown tokens", got)
			}
			if s := status(t, feed, basicauth.Header("alice", cached.Secret)); s != http.StatusOK {
				t.Errorf("alice's cached token after the floods: %d, want 200", s)
			}
			fresh := createVia(t, base, "alice", "created after the floods")
			if s := status(t, feed, basicauth.Header("alice", fresh)); s != http.StatusOK {
				t.Errorf("a never-used valid token after the floods: %d, want 200", s)
			}
			// The legacy secret as user name with a valid password: the
			// mismatch is logged, the user name is not.
			if s := status(t, feed, basicauth.Header(legacySecret, cached.Secret)); s != http.StatusOK {
				t.Errorf("valid token with a legacy secret as user name: %d, want 200", s)
			}

			inst.Stop()
			logs := inst.Logs.String()
			for _, secret := range []string{cached.Secret, fresh, legacySecret} {
				if strings.Contains(logs, secret) {
					t.Errorf("a secret appears in the logs")
				}
			}
			for _, u := range rotated {
				if strings.Contains(logs, u) {
					t.Fatalf("user name %q, which came with an unknown token, appears in the logs", u)
				}
			}
			if !strings.Contains(logs, "user name differs from token owner") {
				t.Errorf("the user name mismatch was not logged")
			}
			lines := 0
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, `"logger":"http.handlers.tokengate_auth"`) {
					lines++
				}
			}
			// ≈ 2,300 rejections from 201 clients: at most one line per
			// outcome and client, 100 a minute, plus summaries and a total.
			if lines == 0 || lines > 210 {
				t.Errorf("the handler wrote %d log lines for ≈ 2,300 rejections, want 1..210", lines)
			}
			t.Logf("%d handler log lines", lines)
		})
	}
}

// floodFromManyIPs sends perIP unknown tokens (unique user names) from each
// of n loopback addresses (127.0.0.2 …), a few clients at a time.
func floodFromManyIPs(t *testing.T, url string, n, perIP int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 50)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+(i+1)/250), byte(2+(i+1)%250))}
			tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}).DialContext}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for j := 0; j < perIP; j++ {
				unknown, _ := token.Generate()
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.SetBasicAuth(fmt.Sprintf("flood-%d-%d", i, j), unknown)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					errs <- fmt.Errorf("flood from %s: %d, want 401", local.IP, resp.StatusCode)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// sendAll sends GET url once with each Authorization value, conc at a
// time, and fails unless every answer has status want.
func sendAll(t *testing.T, url string, auths []string, conc int, want int) {
	t.Helper()
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, len(auths))
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", a)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					errs <- fmt.Errorf("status %d, want %d", resp.StatusCode, want)
				}
			}
		}()
	}
	for _, a := range auths {
		work <- a
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// createVia creates a token for owner through the token page API of the
// instance at base and returns its secret.
func createVia(t testing.TB, base, owner, label string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"label": label})
	req, err := http.NewRequest(http.MethodPost, base+"/tokens/api/tokens", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-User", owner)
	req.Header.Set("Origin", base)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Token == "" {
		t.Fatalf("creating a token via %s: %d %v", base, resp.StatusCode, err)
	}
	return out.Token
}

// storeLookups reads how many store lookups the instance has made.
func storeLookups(t testing.TB, inst *testcaddy.Instance) float64 {
	t.Helper()
	return metricValue(t, inst, "caddy_tokengate_store_lookup_duration_seconds_count")
}
