package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tokengate/tokengate/token"
)

// pageTokens pages through ListPage(owner) with limit, calling between
// before each page after the first, and returns every token in page order.
func (e *env) pageTokens(owner string, limit int, between func(cursor string)) []token.Token {
	e.t.Helper()
	var all []token.Token
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.t.Fatalf("ListPage(%q) does not end", owner)
		}
		if pages > 0 && between != nil {
			between(cursor)
		}
		ts, next, err := e.s.ListPage(e.ctx, owner, limit, cursor)
		if err != nil {
			e.t.Fatalf("ListPage(%q, %d, %q): %v", owner, limit, cursor, err)
		}
		if len(ts) > limit || (next != "" && len(ts) != limit) {
			e.t.Fatalf("ListPage(%q, %d, %q) = %d tokens, next %q; want a full page when next is set", owner, limit, cursor, len(ts), next)
		}
		all = append(all, ts...)
		if next == "" {
			return all
		}
		if next != ts[len(ts)-1].ID {
			e.t.Fatalf("ListPage next = %q, want the last ID %q", next, ts[len(ts)-1].ID)
		}
		cursor = next
	}
}

// checkListPages: every page in ID order, each token at most once, the
// tokens of want all present, none of gone, only unrevoked ones of owner.
func checkListPages(e *env, what, owner string, got []token.Token, want, gone map[string]bool) {
	e.t.Helper()
	for i, tk := range got {
		if i > 0 && got[i-1].ID >= tk.ID {
			e.t.Fatalf("%s: %q after %q: not in ascending ID order (or twice)", what, tk.ID, got[i-1].ID)
		}
		if !tk.RevokedAt.IsZero() || (owner != "" && tk.Owner != owner) || gone[tk.ID] {
			e.t.Errorf("%s: lists %s of %s (revoked at %v), which it must not", what, tk.ID, tk.Owner, tk.RevokedAt)
		}
		delete(want, tk.ID)
	}
	if len(want) > 0 {
		e.t.Errorf("%s: %d tokens missing", what, len(want))
	}
}

func testListPage(e *env) {
	t := e.t
	for i := range 9 {
		e.create([]string{"pam", "quinn", "rob"}[i%3], fmt.Sprint("t", i), e.at(time.Duration(-i)*time.Minute))
	}
	e.mustImport([]token.Token{e.legacyToken("pam", "old"), e.legacyToken("sue", "old")}, "ops", e.at(0))
	revokedPam := e.create("pam", "gone", e.at(0))
	e.mustRevoke(revokedPam.ID, "", "ops", e.at(time.Minute))

	if got := e.pageTokens("", 100, nil); len(got) != 11 {
		t.Fatalf("ListPage(\"\") in one page = %d tokens, want 11", len(got))
	}
	for _, owner := range []string{"", "pam"} {
		// Between pages a token is created (it must show up iff its ID
		// sorts after the cursor) and one not yet listed is revoked.
		w, gone := map[string]bool{}, map[string]bool{}
		for _, tk := range e.list(owner) {
			w[tk.ID] = true
		}
		n := 0
		got := e.pageTokens(owner, 2, func(cursor string) {
			n++
			tk := e.create("pam", fmt.Sprint("between", n), e.at(0))
			if tk.ID > cursor {
				w[tk.ID] = true
			}
			if len(gone) >= 2 {
				return
			}
			for id := range w {
				if id > cursor {
					e.mustRevoke(id, "", "ops", e.at(time.Hour))
					gone[id] = true
					delete(w, id)
					return
				}
			}
		})
		checkListPages(e, fmt.Sprintf("ListPage(%q) pages", owner), owner, got, w, gone)
	}
	if ts, next, err := e.s.ListPage(e.ctx, "nobody", 5, ""); err != nil || len(ts) != 0 || next != "" {
		t.Errorf("ListPage(nobody) = %d tokens, %q, %v; want none", len(ts), next, err)
	}
	if ts, next, err := e.s.ListPage(e.ctx, "", 5, "\U0010ffff"); err != nil || len(ts) != 0 || next != "" {
		t.Errorf("ListPage after the last ID = %d tokens, %q, %v; want none", len(ts), next, err)
	}
}

// testListPageConcurrent: tokens created by others while a reader pages
// never make it see a token twice or miss one that existed before.
func testListPageConcurrent(e *env) {
	before := map[string]bool{}
	for i := range 20 {
		before[e.create(fmt.Sprint("w", i%4), "pre", e.at(0)).ID] = true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tk := e.newToken(fmt.Sprint("w", (w+i)%4), "during", e.at(0), time.Time{})
				if err := e.s.Create(e.ctx, tk, 0); err != nil {
					e.t.Errorf("concurrent Create: %v", err)
					return
				}
			}
		}()
	}
	for _, owner := range []string{"", "w1"} {
		w := map[string]bool{}
		for id := range before {
			w[id] = true
		}
		if owner != "" {
			for _, tk := range e.list("") {
				if tk.Owner != owner {
					delete(w, tk.ID)
				}
			}
		}
		got := e.pageTokens(owner, 3, func(string) { time.Sleep(time.Millisecond) })
		checkListPages(e, fmt.Sprintf("ListPage(%q) under concurrent creates", owner), owner, got, w, nil)
	}
	close(stop)
	wg.Wait()
}

// testHistoryPage: pages of History cover it exactly once, in order, for
// everybody and for one owner, while newer events are added between pages.
func testHistoryPage(e *env) {
	t := e.t
	for i := range 7 {
		tk := e.create([]string{"hal", "ivy"}[i%2], fmt.Sprint("h", i), e.at(time.Duration(-i%3)*time.Hour))
		if i%3 == 0 {
			e.mustRevoke(tk.ID, "", "ops", e.at(-time.Minute)) // ties at the same At
		}
	}
	n := 0 // events added while paging are newer than every earlier one
	for _, owner := range []string{"", "hal"} {
		for _, limit := range []int{1, 2, 3, 9, 100} {
			want := e.history(owner, 1000)
			var got []token.Event
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 1000 {
					t.Fatalf("HistoryPage(%q) does not end", owner)
				}
				if pages > 0 { // newer than everything paged: never on a later page
					n++
					e.create(owner+"x", fmt.Sprint("new", n), e.at(time.Duration(n)*time.Hour))
				}
				es, next, err := e.s.HistoryPage(e.ctx, owner, limit, cursor)
				if err != nil {
					t.Fatalf("HistoryPage(%q, %d, %q): %v", owner, limit, cursor, err)
				}
				if len(es) > limit || (next != "" && len(es) != limit) {
					t.Fatalf("HistoryPage(%q, %d) = %d events, next %q", owner, limit, len(es), next)
				}
				got = append(got, es...)
				if next == "" {
					break
				}
				cursor = next
			}
			checkOrder(e, "HistoryPage pages", got)
			if len(got) != len(want) {
				t.Fatalf("HistoryPage(%q, %d) pages hold %d events, want %d", owner, limit, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID {
					t.Fatalf("HistoryPage(%q, %d) event %d = %d, want %d", owner, limit, i, got[i].ID, want[i].ID)
				}
			}
		}
	}
}

// testPageInput: bad limits and cursors are refused as ErrInvalidInput.
func testPageInput(e *env) {
	for _, c := range []string{"\x00", "a\nb", "\xff\xfe", strings.Repeat("a", token.MaxCursorLength+1)} {
		if _, _, err := e.s.ListPage(e.ctx, "", 5, c); !errors.Is(err, token.ErrInvalidInput) {
			e.t.Errorf("ListPage cursor %q = %v, want ErrInvalidInput", c, err)
		}
	}
	for _, c := range []string{"x", "1", "1.", ".2", "1.2.3", "1.-2", "a.b"} {
		if _, _, err := e.s.HistoryPage(e.ctx, "", 5, c); !errors.Is(err, token.ErrInvalidInput) {
			e.t.Errorf("HistoryPage cursor %q = %v, want ErrInvalidInput", c, err)
		}
	}
	for _, n := range []int{0, -1} {
		if _, _, err := e.s.ListPage(e.ctx, "", n, ""); !errors.Is(err, token.ErrInvalidInput) {
			e.t.Errorf("ListPage limit %d = %v, want ErrInvalidInput", n, err)
		}
		if _, _, err := e.s.HistoryPage(e.ctx, "", n, ""); !errors.Is(err, token.ErrInvalidInput) {
			e.t.Errorf("HistoryPage limit %d = %v, want ErrInvalidInput", n, err)
		}
	}
}
