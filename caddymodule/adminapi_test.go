package caddymodule

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// TestAdminAPIWithoutApp: with no started tokengate app (no config, or a
// reload under way) every route answers 503 saying so; unknown routes and
// wrong methods are refused first, with what to fix.
func TestAdminAPIWithoutApp(t *testing.T) {
	prev := activeApp.Swap(nil)
	defer activeApp.Store(prev)
	a := &AdminAPI{log: zap.NewNop()}
	if rs := a.Routes(); len(rs) != 1 || rs[0].Pattern != "/tokengate/" {
		t.Fatalf("routes = %+v", rs)
	}
	for _, c := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/tokengate/tokens", http.StatusServiceUnavailable, "no started tokengate app"},
		{"DELETE", "/tokengate/tokens/abc", http.StatusServiceUnavailable, "no started tokengate app"},
		{"GET", "/tokengate/tokens/abc/x", http.StatusNotFound, "no such tokengate admin route"},
		{"POST", "/tokengate/history", http.StatusMethodNotAllowed, "use GET"},
		{"PUT", "/tokengate/import", http.StatusMethodNotAllowed, "use POST"},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		err := a.serve(httptest.NewRecorder(), r)
		var ae caddy.APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != c.status || !strings.Contains(ae.Message, c.want) {
			t.Errorf("%s %s: %v (%d), want %d with %q", c.method, c.path, err, ae.HTTPStatus, c.status, c.want)
		}
	}
}

// TestActiveAppHandover: a reload's new app takes over the admin API when
// it starts; the old one stopping afterwards does not clear it.
func TestActiveAppHandover(t *testing.T) {
	prev := activeApp.Swap(nil)
	defer activeApp.Store(prev)
	old, next := new(App), new(App)
	_ = old.Start()
	_ = next.Start()
	_ = old.Stop()
	if activeApp.Load() != next {
		t.Fatal("the old app's Stop cleared the new app")
	}
	_ = next.Stop()
	if activeApp.Load() != nil {
		t.Fatal("the last app's Stop left it active")
	}
}
