package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/token"
)

// BenchmarkAuthHit measures tokengate_auth's ServeHTTP for a cached valid
// token (everything but the network and the proxy), with a real bolt store.
func BenchmarkAuthHit(b *testing.B) {
	f := newAuthFixture(b)
	h, c := f.h, f.alice
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	req := httptest.NewRequest(http.MethodGet, "/odata/Issues", nil)
	req.SetBasicAuth("alice", c.Secret)
	authz := req.Header.Get("Authorization")
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, req, next); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Header.Set("Authorization", authz)
		if err := h.ServeHTTP(w, req, next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthHitRestricted is BenchmarkAuthHit with a token limited to
// an IP range and a scope, on a path of its scope: what the restrictions
// cost a request that passes them.
func BenchmarkAuthHitRestricted(b *testing.B) {
	f := newAuthFixture(b)
	c := f.createRestricted(b, "rita", token.CreateRequest{AllowedIPs: []string{"10.0.0.0/8", "192.0.2.0/24"}, Scopes: []string{"issues"}})
	h := f.handler(b, &Auth{Realm: "test", ScopeAlways: []string{"/odata/", "/odata/$metadata"},
		Scopes: map[string][]string{"issues": {"/odata/Issues*", "/odata/Sprints*"}, "worklogs": {"/odata/Worklogs*"}}}, nil)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	req := httptest.NewRequest(http.MethodGet, "/odata/Issues", nil) // from 192.0.2.1
	req.SetBasicAuth("rita", c.Secret)
	authz := req.Header.Get("Authorization")
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, req, next); err != nil || w.Code != http.StatusOK {
		b.Fatal(w.Code, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Header.Set("Authorization", authz)
		if err := h.ServeHTTP(w, req, next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidTokenUnderFlood measures tokengate_auth's ServeHTTP for a
// cached valid token while other goroutines flood the same handler with
// rejected requests: made-up well-formed tokens (which wait for the
// prefilter's sync) and junk checksums, each with a user name and client
// IP. "unique" gives every flood request a new user name and IP (IPv4 and
// IPv6 /64s), "repeated" cycles through 50 of each. Per-key state (the
// rejection log) is bounded and O(1), so the two should be within 1.5×
// (DESIGN target); compare their ns/op.
func BenchmarkValidTokenUnderFlood(b *testing.B) {
	for _, mode := range []string{"repeated", "unique"} {
		b.Run(mode, func(b *testing.B) {
			f := newAuthFixture(b)
			h, c := f.h, f.alice
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var sent atomic.Int64
			flood := func(wellFormed bool, worker int) {
				defer wg.Done()
				w := httptest.NewRecorder()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := sent.Add(1)
					key := n
					if mode == "repeated" {
						key = n % 50
					}
					secret, _ := token.Generate()
					if !wellFormed {
						secret = secret[:token.Len-1] + "!"
					}
					req := httptest.NewRequest(http.MethodGet, "/odata/Issues", nil)
					req.SetBasicAuth(fmt.Sprintf("user-%d", key), secret)
					if key%2 == 0 {
						req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:4000", byte(key>>16), byte(key>>8), byte(key))
					} else {
						req.RemoteAddr = fmt.Sprintf("[2001:db8:%x:%x::1]:4000", uint16(key>>16), uint16(key))
					}
					req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
					_ = h.ServeHTTP(w, req, next)
				}
			}
			for i := 0; i < 64; i++ { // waiting on the prefilter's syncs
				wg.Add(1)
				go flood(true, i)
			}
			for i := 0; i < 2; i++ { // pure CPU: junk checksums
				wg.Add(1)
				go flood(false, i)
			}

			req := httptest.NewRequest(http.MethodGet, "/odata/Issues", nil)
			req.SetBasicAuth("alice", c.Secret)
			authz := req.Header.Get("Authorization")
			req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, req, next); err != nil {
				b.Fatal(err)
			}
			before := sent.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req.Header.Set("Authorization", authz)
				if err := h.ServeHTTP(w, req, next); err != nil {
					b.Fatalf("valid token refused under a %s flood: %v", mode, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(sent.Load()-before)/b.Elapsed().Seconds(), "flood-req/s")
			close(stop)
			wg.Wait()
		})
	}
}
