package token

import "errors"

// Sentinel errors. Stores and the Service wrap them with context; callers test
// with errors.Is. An HTTP layer maps them to status codes.
var (
	// ErrNotFound: no such token (or not the caller's own).
	ErrNotFound = errors.New("token not found")
	// ErrInvalidLabel: the label is empty, too long or has control characters.
	ErrInvalidLabel = errors.New("invalid label")
	// ErrInvalidDate: the expiry date is malformed, in the past or beyond the policy.
	ErrInvalidDate = errors.New("invalid expiry date")
	// ErrLimitReached: the owner already has the maximum number of unrevoked tokens.
	ErrLimitReached = errors.New("token limit reached")
	// ErrInvalidInput: any other malformed argument (owner, duration, import row).
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnavailable: the store cannot be reached; the request may be retried.
	ErrUnavailable = errors.New("token store unavailable")
	// ErrDuplicate: a token with the same digest already exists.
	ErrDuplicate = errors.New("token already exists")
	// ErrForbidden: the actor may not do this (an administrator method
	// called by somebody who is neither an administrator nor an operator).
	ErrForbidden = errors.New("forbidden")
)

// InputError is a rejected argument with a message that tells the user what to
// fix. It matches its Kind with errors.Is.
type InputError struct {
	Kind error  // one of the sentinel errors above
	Msg  string // human-readable, safe to show to the user
}

// Error returns the user-facing message.
func (e *InputError) Error() string { return e.Msg }

// Is makes errors.Is(err, e.Kind) true.
func (e *InputError) Is(target error) bool { return target == e.Kind }

func inputErr(kind error, msg string) error { return &InputError{Kind: kind, Msg: msg} }
