package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/token"
)

// MaxAdminRows is the page size of the administrators' token table: the
// page loads one page of tokens (and one of history), never all of them.
const MaxAdminRows = 100

// The admin view reads its state from the query: owner (an exact owner id;
// "" for everybody), limit (tokens per page, 1 to MaxAdminRows), cursor (the page of tokens after that id) and before
// (the page of history older than that event cursor). A cursor the server
// did not hand out is reported and the first page shown instead.

// adminPageData fills the admin view with one page of tokens and one of
// history, with the links to the following pages.
func (h *Handler) adminPageData(r *http.Request, d *pageData, now time.Time) error {
	ctx := r.Context()
	actor := token.Person(d.Identity)
	q := r.URL.Query()
	filter := strings.TrimSpace(q.Get("owner"))
	if filter != "" {
		if err := token.ValidateOwner(filter); err != nil {
			d.AdminError = "Owner filter ignored: " + err.Error()
			filter = ""
		}
	}
	d.AdminFilter = filter
	cursor, before := q.Get("cursor"), q.Get("before")
	limit := MaxAdminRows
	if n, err := token.ParseLimit(q.Get("limit")); err == nil && n < MaxAdminRows && q.Get("limit") != "" {
		limit = n
	}
	base := url.Values{}
	if filter != "" {
		base.Set("owner", filter)
	}
	if limit != MaxAdminRows {
		base.Set("limit", strconv.Itoa(limit))
	}
	d.AdminFirst = adminURL(base, "", "")
	d.AdminPageSize = limit

	p, err := h.svc.AdminListPage(ctx, actor, filter, cursor, limit)
	if errors.Is(err, token.ErrInvalidInput) && cursor != "" {
		d.AdminError = "Page of tokens not found; showing the first page."
		cursor = ""
		p, err = h.svc.AdminListPage(ctx, actor, filter, "", limit)
	}
	if err != nil {
		return err
	}
	for _, t := range p.Items {
		d.AdminTokens = append(d.AdminTokens, rowOf(t, now))
	}
	d.AdminPaged = cursor != ""
	if p.Next != "" {
		d.AdminNext = adminURL(base, "cursor", p.Next)
	}

	hp, err := h.svc.HistoryPage(ctx, actor, filter, before, DefaultHistoryLimit)
	if errors.Is(err, token.ErrInvalidInput) && before != "" {
		d.AdminError = "Page of history not found; showing the newest events."
		before = ""
		hp, err = h.svc.HistoryPage(ctx, actor, filter, "", DefaultHistoryLimit)
	}
	if err != nil {
		return err
	}
	for _, e := range hp.Items {
		d.History = append(d.History, eventView{At: e.At.UTC().Format(DateTimeLayout), AtISO: rfc3339(e.At),
			Kind: string(e.Kind), Actor: e.Actor, Owner: e.Owner, TokenID: e.TokenID, Label: e.Label, Detail: e.Detail})
	}
	d.HistoryPaged = before != ""
	if hp.Next != "" {
		d.HistoryNext = adminURL(base, "before", hp.Next)
	}
	return nil
}

// adminURL is the relative URL of the page with the base query (owner,
// limit) and one cursor.
func adminURL(base url.Values, key, cursor string) string {
	v := url.Values{}
	for k, x := range base {
		v[k] = x
	}
	if cursor != "" {
		v.Set(key, cursor)
	}
	if len(v) == 0 {
		return "./"
	}
	return "?" + v.Encode()
}
