package jiraexport

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// The $filter language is the OData v4 subset Power Query folds:
//
//   - logical operators or, and, not (in rising precedence) and parentheses;
//   - comparisons eq ne gt ge lt le and "x in (a, b, …)";
//   - string functions contains, startswith, endswith, tolower, toupper,
//     length, indexof, substring, trim;
//   - date functions year, month, day, hour, minute, date;
//   - literals: 'strings' ('' escapes a quote), numbers, true, false, null,
//     dates (2024-05-01) and DateTimeOffset values (2024-05-01T10:00:00Z);
//   - lambdas on collection-valued properties: Labels/any(l:l eq 'backend'),
//     Labels/all(l:…) and Labels/any().
//
// The parser (filter_parse.go) builds a small syntax tree, which
// compileFilter (filter_eval.go) type-checks against an entity set and turns
// into a predicate. Valid OData this service does not implement (arithmetic,
// has, cast, isof, other functions, typed literals, paths through
// navigation properties) is a *filterError with notImpl set, answered 501
// NotImplemented; every other error is a syntax or type error, answered 400.
// Input length and nesting depth are bounded so a hostile filter costs
// bounded time and stack.

const (
	// maxFilterLen bounds the length of a $filter expression in bytes.
	maxFilterLen = 8000
	// maxFilterDepth bounds the nesting of parentheses, not, function calls
	// and lambdas.
	maxFilterDepth = 50
	// maxLambdaDepth bounds the nesting of any/all lambdas, whose cost
	// multiplies per level by the size of the collection.
	maxLambdaDepth = 2
	// maxFilterCost bounds the estimated evaluation cost per row (see
	// filterCost), which bounds the time a request can take.
	maxFilterCost = 2500
)

// filterError is an error in a $filter expression.
type filterError struct {
	notImpl bool // valid OData this service does not implement: 501
	msg     string
}

// Error returns the message, which starts with "$filter: ".
func (e *filterError) Error() string { return e.msg }

// NotImplemented reports whether the error is answered 501 NotImplemented
// rather than 400.
func (e *filterError) NotImplemented() bool { return e.notImpl }

// syntaxError is a 400 error at byte offset pos of the expression.
func syntaxError(pos int, format string, args ...any) error {
	return &filterError{msg: fmt.Sprintf("$filter: "+format, args...) + fmt.Sprintf(" at position %d", pos)}
}

// typeError is a 400 error that is not tied to one position.
func typeError(format string, args ...any) error {
	return &filterError{msg: fmt.Sprintf("$filter: "+format, args...)}
}

// notImplemented is a 501 error.
func notImplemented(format string, args ...any) error {
	return &filterError{notImpl: true, msg: fmt.Sprintf("$filter: "+format, args...)}
}

type litKind uint8

const (
	litNull litKind = iota
	litString
	litNumber
	litTime
	litBool
	litDate
)

// String names the literal kind in error messages.
func (k litKind) String() string {
	return [...]string{"null", "a string", "a number", "a DateTimeOffset", "a boolean", "a date"}[k]
}

// literal is a constant of a filter expression.
type literal struct {
	kind litKind
	v    value
	text string // as written, for messages
}

var (
	reNumber   = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	reDate     = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	reDateTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,12})?)?(Z|[+-][0-9]{2}:[0-9]{2})$`)
)

// parseBare parses a literal that is not quoted: a number, a date or a
// DateTimeOffset.
func parseBare(text string, pos int) (literal, error) {
	switch {
	case reNumber.MatchString(text):
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return literal{}, syntaxError(pos, "number %s is out of range", text)
		}
		return literal{kind: litNumber, v: num(f), text: text}, nil
	case reDate.MatchString(text):
		t, err := time.Parse(time.DateOnly, text)
		if err != nil {
			return literal{}, syntaxError(pos, "invalid date %s", text)
		}
		return literal{kind: litDate, v: tim(t.Unix()), text: text}, nil
	case reDateTime.MatchString(text):
		layout := time.RFC3339Nano
		if text[16] != ':' { // no seconds
			layout = "2006-01-02T15:04Z07:00"
		}
		t, err := time.Parse(layout, text)
		if err != nil {
			return literal{}, syntaxError(pos, "invalid DateTimeOffset %s", text)
		}
		return literal{kind: litTime, v: value{sec: t.Unix(), nsec: int32(t.Nanosecond())}, text: text}, nil
	default:
		return literal{}, syntaxError(pos, "unsupported literal %s (supported: 'string', numbers, true, false, null, dates like 2024-05-01, DateTimeOffset like 2024-05-01T10:00:00Z)", clip(text))
	}
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
