package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// BenchmarkAuthHit measures tokengate_auth's ServeHTTP for a cached valid
// token (everything but the network and the proxy), with a real bolt store.
func BenchmarkAuthHit(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "t.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := token.NewService(st, token.Policy{}, nil, nil).Create(context.Background(), "alice", "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	v, err := token.NewValidator(st, token.ValidatorConfig{MaxEntries: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	h := &Auth{Realm: "bench", validators: fixedValidator{v}, logger: zap.NewNop(), outcomes: newOutcomeCounters()}
	h.challenge = `Basic realm="bench", charset="UTF-8"`
	h.rejections = newRejectionLog(h.logger, rejectLogInterval, rejectLogMaxLines, rejectLogMaxKeys, time.Now)
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

// fixedValidator is a validatorSource for tests without a tokengate app.
type fixedValidator struct{ v *token.Validator }

func (f fixedValidator) Validator() *token.Validator { return f.v }
