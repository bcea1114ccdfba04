package token

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Who may do what is decided here, for every front end (the token page,
// Caddy's admin API, the CLI): a person manages only their own tokens
// (Service.List, Revoke, CreateWith); the administrator methods below
// (AdminList, AdminListPage, AdminRevoke, AdminRevokeOwner, CapLifetime,
// History, HistoryPage, Import) take an Actor and return ErrForbidden
// unless it is an administrator (Policy.Admins, WithAdmins) or an operator.

// Bounds shared by the token page, the admin API and the CLI.
const (
	// DefaultPageSize is how many tokens or events a page holds when the
	// caller gives no limit (the history view of the page included).
	DefaultPageSize = 100
	// MaxHistoryLimit is the largest page of tokens or events.
	MaxHistoryLimit = 1000
	// MaxCursorLength is the longest token-list cursor (a token ID) accepted.
	MaxCursorLength = 256
	// MaxCapLifetime is the longest lifetime CapLifetime accepts.
	MaxCapLifetime = 100 * 365 * 24 * time.Hour
)

// Actor is who calls an administrator method: a signed-in person (Person)
// or an operator (Operator). The zero Actor is nobody and may do nothing.
type Actor struct {
	name     string
	operator bool
}

// Person is a signed-in person, identified as the sign-in reports them.
// They are an administrator when their identity is among the Service's admins.
func Person(id string) Actor { return Actor{name: id} }

// Operator is somebody with access to the server itself: Caddy's admin
// endpoint or the CLI on the host. Operators may use every administrator
// method. Only those front ends construct one: the token page makes every
// identity a Person, so no sign-in name (not even "cli:root") is an operator.
func Operator(name string) Actor { return Actor{name: name, operator: true} }

// Name is what the history records as the actor.
func (a Actor) Name() string { return a.name }

// IsOperator reports whether a was made by Operator.
func (a Actor) IsOperator() bool { return a.operator }

// String returns the name, marked "(operator)" for operators.
func (a Actor) String() string {
	if a.operator {
		return a.name + " (operator)"
	}
	return a.name
}

// WithAdmins returns a Service over the same store, cache and policy whose
// administrators are s's plus ids. The token page passes the admins of its
// config this way; s is unchanged.
func (s *Service) WithAdmins(ids ...string) *Service {
	c := *s
	c.admins = make(map[string]bool, len(s.admins)+len(ids))
	for a := range s.admins {
		c.admins[a] = true
	}
	for _, a := range ids {
		c.admins[a] = true
	}
	return &c
}

// IsAdmin reports whether a may use the administrator methods.
func (s *Service) IsAdmin(a Actor) bool {
	if a.name == "" || ValidateOwner(a.name) != nil {
		return false
	}
	return a.operator || s.admins[a.name]
}

// authorize returns ErrForbidden (as an InputError naming what) unless a is
// an administrator or operator.
func (s *Service) authorize(a Actor, what string) error {
	if s.IsAdmin(a) {
		return nil
	}
	return inputErr(ErrForbidden, fmt.Sprintf("only administrators may %s; ask one if you need it", what))
}

// AdminList returns the unrevoked tokens of owner, or of everybody when owner is "".
func (s *Service) AdminList(ctx context.Context, actor Actor, owner string) ([]Token, error) {
	if err := s.authorize(actor, "list other people's tokens"); err != nil {
		return nil, err
	}
	if owner != "" {
		if err := ValidateOwner(owner); err != nil {
			return nil, err
		}
	}
	ts, err := s.store.List(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return ts, nil
}

// Page is one page of a paginated listing: Next is the cursor of the
// following page, "" on the last.
type Page[T any] struct {
	Items []T
	Next  string
}

// AdminListPage returns up to limit (0: DefaultPageSize) unrevoked tokens of
// owner (everybody when ""), ordered by id, after cursor (the Next of the
// previous page, "" for the first). The store pages (Store.ListPage), so
// memory does not grow with the number of tokens; the order is stable
// across revocations and creations.
func (s *Service) AdminListPage(ctx context.Context, actor Actor, owner, cursor string, limit int) (Page[Token], error) {
	if err := s.authorize(actor, "list other people's tokens"); err != nil {
		return Page[Token]{}, err
	}
	limit, err := pageLimit(limit)
	if err != nil {
		return Page[Token]{}, err
	}
	if owner != "" {
		if err := ValidateOwner(owner); err != nil {
			return Page[Token]{}, err
		}
	}
	if err := CheckListCursor(cursor); err != nil {
		return Page[Token]{}, err
	}
	ts, next, err := s.store.ListPage(ctx, owner, limit, cursor)
	if err != nil {
		return Page[Token]{}, fmt.Errorf("listing tokens: %w", err)
	}
	return Page[Token]{Items: ts, Next: next}, nil
}

// AdminRevoke revokes any person's token id on behalf of actor.
func (s *Service) AdminRevoke(ctx context.Context, actor Actor, id string) (Token, error) {
	if err := s.authorize(actor, "revoke other people's tokens"); err != nil {
		return Token{}, err
	}
	return s.revoke(ctx, id, "", actor.Name())
}

// AdminRevokeOwner revokes every token of owner (off-boarding) and returns how many.
func (s *Service) AdminRevokeOwner(ctx context.Context, actor Actor, owner string) (int, error) {
	if err := s.authorize(actor, "revoke other people's tokens"); err != nil {
		return 0, err
	}
	if err := ValidateOwner(owner); err != nil {
		return 0, err
	}
	ts, err := s.store.RevokeOwner(ctx, owner, actor.Name(), s.Now().Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("revoking all tokens of %q: %w", owner, err)
	}
	if s.inv != nil {
		for _, t := range ts {
			s.inv.Revoked(t.Digest)
		}
	}
	return len(ts), nil
}

// History returns the newest limit (0: DefaultPageSize, at most
// MaxHistoryLimit) history events, of owner or of all when "".
func (s *Service) History(ctx context.Context, actor Actor, owner string, limit int) ([]Event, error) {
	p, err := s.HistoryPage(ctx, actor, owner, "", limit)
	return p.Items, err
}

// HistoryPage returns up to limit (0: DefaultPageSize) events of owner (all
// when ""), newest first, after cursor (the Next of the previous page, ""
// for the newest). The store pages (Store.HistoryPage).
func (s *Service) HistoryPage(ctx context.Context, actor Actor, owner, cursor string, limit int) (Page[Event], error) {
	if err := s.authorize(actor, "read the full history"); err != nil {
		return Page[Event]{}, err
	}
	limit, err := pageLimit(limit)
	if err != nil {
		return Page[Event]{}, err
	}
	if owner != "" {
		if err := ValidateOwner(owner); err != nil {
			return Page[Event]{}, err
		}
	}
	if _, _, err := ParseEventCursor(cursor); err != nil {
		return Page[Event]{}, err
	}
	es, next, err := s.store.HistoryPage(ctx, owner, limit, cursor)
	if err != nil {
		return Page[Event]{}, fmt.Errorf("reading history: %w", err)
	}
	return Page[Event]{Items: es, Next: next}, nil
}

// EventCursor is the history cursor positioned at e: the events after it in
// history order are those strictly older (by At, then ID). Its form,
// "<At in Unix nanoseconds>.<ID>", is opaque to callers.
func EventCursor(e Event) string {
	return strconv.FormatInt(e.At.UnixNano(), 10) + "." + strconv.FormatInt(e.ID, 10)
}

// ParseEventCursor returns the time (UTC) and ID of a cursor made by
// EventCursor; "" gives zeros and no error. Anything else is an
// InputError wrapping ErrInvalidInput.
func ParseEventCursor(s string) (at time.Time, id int64, err error) {
	if s == "" {
		return time.Time{}, 0, nil
	}
	a, b, ok := strings.Cut(s, ".")
	ns, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || id < 0 {
		return time.Time{}, 0, badCursor(s)
	}
	return time.Unix(0, ns).UTC(), id, nil
}

// CheckListCursor validates a token-list cursor: "" or something that can
// be a token ID (valid UTF-8 without control characters, at most
// MaxCursorLength bytes). Otherwise it returns an InputError wrapping
// ErrInvalidInput.
func CheckListCursor(s string) error {
	if len(s) > MaxCursorLength || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return badCursor(s)
	}
	return nil
}

func badCursor(s string) error {
	return inputErr(ErrInvalidInput, fmt.Sprintf(
		"cursor %q is not one this server returned; pass next_cursor from the previous page", truncateForMessage(s)))
}

func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 0 || limit > MaxHistoryLimit:
		return 0, inputErr(ErrInvalidInput, fmt.Sprintf("limit must be a whole number from 1 to %d, got %d", MaxHistoryLimit, limit))
	}
	return limit, nil
}

// ParseLimit parses a page size as typed ("" means DefaultPageSize): a
// whole number from 1 to MaxHistoryLimit.
func ParseLimit(s string) (int, error) {
	if s == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxHistoryLimit {
		return 0, inputErr(ErrInvalidInput, fmt.Sprintf("limit must be a whole number from 1 to %d, got %q", MaxHistoryLimit, truncateForMessage(s)))
	}
	return n, nil
}

var daysRE = regexp.MustCompile(`^([0-9]{1,6})d$`)

// ParseLifetime parses a lifetime such as "90d" (days) or a Go duration such
// as "36h". It must be positive and at most MaxCapLifetime. Errors are
// InputErrors (ErrInvalidInput) saying what to write.
func ParseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, inputErr(ErrInvalidInput, `a lifetime is required, e.g. "90d"`)
	}
	tooLong := inputErr(ErrInvalidInput, fmt.Sprintf("%q is too long; at most %s", truncateForMessage(s), FormatLifetime(MaxCapLifetime)))
	var d time.Duration
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n > int(MaxCapLifetime/(24*time.Hour)) {
			return 0, tooLong
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, inputErr(ErrInvalidInput, fmt.Sprintf(
				`%q is not a lifetime: write days like "90d" or hours like "36h"`, truncateForMessage(s)))
		}
	}
	switch {
	case d <= 0:
		return 0, inputErr(ErrInvalidInput, fmt.Sprintf("%q must be positive", truncateForMessage(s)))
	case d > MaxCapLifetime:
		return 0, tooLong
	}
	return d, nil
}
