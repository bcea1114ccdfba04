package token_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
	"github.com/tokengate/tokengate/token/bolt"
)

// newAdminService is a Service over a fresh bolt store with "root" as its
// administrator (Policy.Admins).
func newAdminService(t *testing.T) *token.Service {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return token.NewService(st, token.Policy{Admins: []string{"root"}}, nil, nil)
}

// adminCalls calls every administrator method as actor.
func adminCalls(svc *token.Service, actor token.Actor, victim token.Token) map[string]error {
	ctx := context.Background()
	errs := map[string]error{}
	_, errs["AdminList"] = svc.AdminList(ctx, actor, "")
	_, errs["AdminListPage"] = svc.AdminListPage(ctx, actor, "", "", 0)
	_, errs["History"] = svc.History(ctx, actor, "", 10)
	_, errs["HistoryPage"] = svc.HistoryPage(ctx, actor, "bob", "", 10)
	_, errs["CapLifetime"] = svc.CapLifetime(ctx, actor, 1000*24*time.Hour)
	_, errs["AdminCountTokens"] = svc.AdminCountTokens(ctx, actor, "")
	_, errs["Import"] = svc.Import(ctx, actor, []token.ImportRow{{Owner: "carol", Label: "old", Secret: "legacy-secret-" + actor.Name() + "-0123456789"}})
	_, errs["AdminRevoke"] = svc.AdminRevoke(ctx, actor, victim.ID)
	_, errs["AdminRevokeOwner"] = svc.AdminRevokeOwner(ctx, actor, "bob")
	return errs
}

// TestAdminMethodsForbidden: every administrator method refuses anybody
// who is neither an administrator nor an operator with ErrForbidden (and
// changes nothing): a person, the zero Actor, and a person whose identity
// looks like an operator's name.
func TestAdminMethodsForbidden(t *testing.T) {
	svc := newAdminService(t)
	ctx := context.Background()
	bob, err := svc.Create(ctx, "bob", "Power BI", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, actor := range []token.Actor{token.Person("mallory"), {}, token.Person("cli:root"),
		token.Person("admin-api"), token.Person("bob"), token.Operator("")} {
		for method, err := range adminCalls(svc, actor, bob.Token) {
			if !errors.Is(err, token.ErrForbidden) {
				t.Errorf("%s as %q: err = %v, want ErrForbidden", method, actor, err)
			} else if !strings.Contains(err.Error(), "only administrators may") {
				t.Errorf("%s as %q: message %q does not say who may", method, actor, err)
			}
		}
	}
	if ts, _ := svc.List(ctx, "bob"); len(ts) != 1 || !ts[0].ExpiresAt.IsZero() {
		t.Fatalf("refused calls changed bob's tokens: %+v", ts)
	}
	if ts, _ := svc.List(ctx, "carol"); len(ts) != 0 {
		t.Fatalf("refused import stored tokens: %+v", ts)
	}
}

// TestAdminMethodsAllowed: administrators (Policy.Admins, WithAdmins) and
// operators may use them; the actor's name is what the history records.
func TestAdminMethodsAllowed(t *testing.T) {
	for _, tc := range []struct {
		actor token.Actor
		extra []string
	}{
		{token.Person("root"), nil},
		{token.Person("ada"), []string{"ada"}},
		{token.Operator("cli:ops"), nil},
	} {
		svc := newAdminService(t).WithAdmins(tc.extra...)
		ctx := context.Background()
		bob, err := svc.Create(ctx, "bob", "Power BI", "")
		if err != nil {
			t.Fatal(err)
		}
		for method, err := range adminCalls(svc, tc.actor, bob.Token) {
			if errors.Is(err, token.ErrForbidden) {
				t.Errorf("%s as %q: %v", method, tc.actor, err)
			}
		}
		es, err := svc.History(ctx, tc.actor, "bob", 0)
		if err != nil || len(es) == 0 || es[0].Actor != tc.actor.Name() {
			t.Errorf("history as %q: %+v %v, want the actor recorded", tc.actor, es, err)
		}
	}
	base := newAdminService(t)
	if base.WithAdmins("ada"); base.IsAdmin(token.Person("ada")) {
		t.Error("WithAdmins changed the Service it was called on")
	}
}

// TestAdminBounds: the same bounds as the token page (lifetime, page size).
func TestAdminBounds(t *testing.T) {
	svc := newAdminService(t)
	ctx := context.Background()
	op := token.Operator("ops")
	for _, d := range []time.Duration{0, -time.Hour, token.MaxCapLifetime + time.Hour} {
		if _, err := svc.CapLifetime(ctx, op, d); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("CapLifetime(%s) = %v, want ErrInvalidInput", d, err)
		}
	}
	for _, b := range []int{-1, token.MaxCapBatch + 1} {
		if _, err := svc.CapLifetimeWith(ctx, op, time.Hour, token.CapOptions{Batch: b}); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("CapLifetimeWith(batch %d) = %v, want ErrInvalidInput", b, err)
		}
	}
	for _, s := range []string{"50000d", "0d", "-3h", "soon", ""} {
		if _, err := token.ParseLifetime(s); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("ParseLifetime(%q) = %v, want ErrInvalidInput", s, err)
		}
	}
	if d, err := token.ParseLifetime("36500d"); err != nil || d != token.MaxCapLifetime {
		t.Errorf("ParseLifetime(36500d) = %v, %v", d, err)
	}
	for _, n := range []int{-1, token.MaxHistoryLimit + 1} {
		if _, err := svc.History(ctx, op, "", n); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("History limit %d = %v, want ErrInvalidInput", n, err)
		}
		if _, err := svc.AdminListPage(ctx, op, "", "", n); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("AdminListPage limit %d = %v, want ErrInvalidInput", n, err)
		}
	}
	for _, s := range []string{"0", "1001", "x", "-5"} {
		if _, err := token.ParseLimit(s); !errors.Is(err, token.ErrInvalidInput) {
			t.Errorf("ParseLimit(%q) = %v", s, err)
		}
	}
	if _, err := svc.HistoryPage(ctx, op, "", "garbage", 5); !errors.Is(err, token.ErrInvalidInput) {
		t.Errorf("HistoryPage with a bad cursor = %v", err)
	}
}

// TestAdminPaging: pages of tokens (by id) and events (newest first) cover
// everything exactly once.
func TestAdminPaging(t *testing.T) {
	svc := newAdminService(t)
	ctx := context.Background()
	op := token.Operator("ops")
	want := map[string]bool{}
	for i := range 7 {
		c, err := svc.Create(ctx, fmt.Sprintf("user%d", i%3), fmt.Sprintf("t%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		want[c.Token.ID] = true
	}
	seen, cursor, pages := map[string]bool{}, "", 0
	for {
		p, err := svc.AdminListPage(ctx, op, "", cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tk := range p.Items {
			if seen[tk.ID] {
				t.Fatalf("token %s on two pages", tk.ID)
			}
			seen[tk.ID] = true
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(seen) != len(want) || pages != 3 {
		t.Fatalf("paged %d tokens in %d pages, want 7 in 3", len(seen), pages)
	}
	var ids []int64
	cursor = ""
	for {
		p, err := svc.HistoryPage(ctx, op, "", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			ids = append(ids, e.ID)
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	all, _ := svc.History(ctx, op, "", 0)
	if len(ids) != len(all) || len(all) != 7 {
		t.Fatalf("paged %d events, history has %d, want 7", len(ids), len(all))
	}
	for i := range all {
		if ids[i] != all[i].ID {
			t.Fatalf("paged order %v differs from history order at %d", ids, i)
		}
	}
}
