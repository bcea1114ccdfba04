package token

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on user input enforced by the Service.
const (
	// MaxLabelLen is the longest label, in characters, after trimming.
	MaxLabelLen = 100
	// MaxOwnerLen is the longest owner identity accepted.
	MaxOwnerLen = 200
	// DefaultMaxTokensPerUser applies when Policy.MaxTokensPerUser is zero.
	DefaultMaxTokensPerUser = 25
	// DateLayout is the layout of expiry dates (UTC calendar days).
	DateLayout = "2006-01-02"
)

// Policy holds the operator's rules for new tokens.
type Policy struct {
	// MaxTokensPerUser bounds the unrevoked tokens of one person
	// (DefaultMaxTokensPerUser when zero, unlimited when negative).
	MaxTokensPerUser int
	// MaxLifetime, when positive, makes an expiry date required for new
	// tokens and caps it: the token must expire no later than now+MaxLifetime.
	MaxLifetime time.Duration
	// RequireAllowedIPs makes an IP allow-list required for new tokens.
	RequireAllowedIPs bool
	// KnownScopes returns the scope names the operator defined (nil or
	// empty: none, so no token can ask for one). It is asked on every
	// create, so scopes defined by handlers provisioned later count.
	KnownScopes func() []string
	// Admins are the identities (as the sign-in reports them) that may use
	// the administrator methods (see admin.go); operators (Operator) always may.
	Admins []string
}

// Service enforces the rules for creating, listing and revoking tokens on top
// of a Store, and tells an Invalidator (the Validator's cache) what changed.
type Service struct {
	store  Store
	policy Policy
	now    Clock
	inv    Invalidator

	sealer     *Sealer     // nil: vault off
	vaultKinds []VaultKind // kinds people may store

	admins map[string]bool // Policy.Admins plus WithAdmins; see admin.go
}

// NewService returns a Service over store. inv may be nil; now nil means SystemClock.
func NewService(store Store, policy Policy, inv Invalidator, now Clock) *Service {
	if policy.MaxTokensPerUser == 0 {
		policy.MaxTokensPerUser = DefaultMaxTokensPerUser
	}
	if now == nil {
		now = SystemClock
	}
	s := &Service{store: store, policy: policy, now: now, inv: inv}
	s.admins = make(map[string]bool, len(policy.Admins))
	for _, a := range policy.Admins {
		s.admins[a] = true
	}
	return s
}

// Policy returns the effective policy.
func (s *Service) Policy() Policy { return s.policy }

// Now returns the Service's current time (UTC).
func (s *Service) Now() time.Time { return s.now().UTC() }

// Created is the result of Create: the stored record and the secret, which
// exists only here and must be shown to its owner exactly once.
type Created struct {
	Token  Token
	Secret string
}

// Create makes a new token for owner, the signed-in person. expiresOn is ""
// (never expires, unless the policy requires a date) or a UTC date
// "YYYY-MM-DD": the token is valid until the next midnight UTC.
func (s *Service) Create(ctx context.Context, owner, label, expiresOn string) (Created, error) {
	return s.CreateWith(ctx, owner, CreateRequest{Label: label, ExpiresOn: expiresOn})
}

// CreateRequest is what a person asks for when creating a token.
type CreateRequest struct {
	Label     string
	ExpiresOn string // "" or "YYYY-MM-DD" (UTC)
	// AllowedIPs are addresses or CIDR ranges as typed (see
	// ParseAllowedIPs); empty: from anywhere (unless the policy requires a list).
	AllowedIPs []string
	// Scopes are scope names (see NormalizeScopes); empty: every path.
	Scopes []string
}

// CreateWith makes a new token for owner, the signed-in person, with the
// restrictions in req; see Create.
func (s *Service) CreateWith(ctx context.Context, owner string, req CreateRequest) (Created, error) {
	if err := ValidateOwner(owner); err != nil {
		return Created{}, err
	}
	label, err := NormalizeLabel(req.Label)
	if err != nil {
		return Created{}, err
	}
	allowed, err := ParseAllowedIPs(req.AllowedIPs)
	if err != nil {
		return Created{}, err
	}
	if s.policy.RequireAllowedIPs && len(allowed) == 0 {
		return Created{}, inputErr(ErrInvalidInput, "allowed IPs are required on this server: list the addresses or ranges the token will be used from (e.g. your data gateway's)")
	}
	scopes, err := NormalizeScopes(req.Scopes, s.KnownScopes())
	if err != nil {
		return Created{}, err
	}
	expiresOn := req.ExpiresOn
	now := s.Now().Truncate(time.Microsecond)
	expiresAt, err := s.ExpiryFromDate(expiresOn, now)
	if err != nil {
		return Created{}, err
	}
	secret, err := Generate()
	if err != nil {
		return Created{}, fmt.Errorf("creating token: %w", err)
	}
	id, err := NewID()
	if err != nil {
		return Created{}, fmt.Errorf("creating token: %w", err)
	}
	t := Token{
		ID:        id,
		Owner:     owner,
		Label:     label,
		Digest:    DigestOf(secret),
		Hint:      HintOf(secret),
		CreatedAt: now,
		ExpiresAt: expiresAt,

		AllowedIPs: allowed,
		Scopes:     scopes,
	}
	limit := s.policy.MaxTokensPerUser
	if limit < 0 {
		limit = 0
	}
	if err := s.store.Create(ctx, t, limit); err != nil {
		if errors.Is(err, ErrLimitReached) {
			return Created{}, &InputError{Kind: ErrLimitReached, Msg: fmt.Sprintf(
				"you already have %d tokens, the most allowed; revoke one you no longer use (expired tokens count until revoked)", limit)}
		}
		return Created{}, fmt.Errorf("creating token for %q: %w", owner, err)
	}
	return Created{Token: t, Secret: secret}, nil
}

// MaxExpiryYears bounds how far away an expiry date may be: later dates
// are refused (with the advice to leave the date empty instead), so that
// every stored instant is a valid timestamp in every store.
const MaxExpiryYears = 100

// ExpiryFromDate turns an expiry date "YYYY-MM-DD" (UTC) into the instant the
// token stops being valid: the following midnight UTC. "" means no expiry,
// which the policy may forbid. Dates before today (UTC) are refused.
func (s *Service) ExpiryFromDate(date string, now time.Time) (time.Time, error) {
	date = strings.TrimSpace(date)
	today := now.UTC().Truncate(24 * time.Hour)
	if date == "" {
		if s.policy.MaxLifetime > 0 {
			return time.Time{}, inputErr(ErrInvalidDate, fmt.Sprintf(
				"an expiry date is required: tokens may live at most %s (latest date %s)",
				FormatLifetime(s.policy.MaxLifetime), s.LatestExpiryDate(now)))
		}
		return time.Time{}, nil
	}
	d, err := time.Parse(DateLayout, date)
	if err != nil || d.Format(DateLayout) != date {
		return time.Time{}, inputErr(ErrInvalidDate, fmt.Sprintf(
			"expires_on %q is not a date of the form YYYY-MM-DD", truncateForMessage(date)))
	}
	if d.Before(today) {
		return time.Time{}, inputErr(ErrInvalidDate, fmt.Sprintf(
			"expires_on %s is in the past; choose today (%s, UTC) or later", date, today.Format(DateLayout)))
	}
	if d.After(today.AddDate(MaxExpiryYears, 0, 0)) {
		return time.Time{}, inputErr(ErrInvalidDate, fmt.Sprintf(
			"expires_on %s is more than %d years away; leave the date empty for a token that never expires", date, MaxExpiryYears))
	}
	expiresAt := d.Add(24 * time.Hour)
	if s.policy.MaxLifetime > 0 && expiresAt.After(now.Add(s.policy.MaxLifetime)) {
		return time.Time{}, inputErr(ErrInvalidDate, fmt.Sprintf(
			"expires_on %s is too far away: tokens may live at most %s (latest date %s)",
			date, FormatLifetime(s.policy.MaxLifetime), s.LatestExpiryDate(now)))
	}
	return expiresAt, nil
}

// LatestExpiryDate returns the last date a new token may expire on under the
// policy ("" when there is no maximum lifetime): the last day D whose
// following midnight is no later than now+MaxLifetime.
func (s *Service) LatestExpiryDate(now time.Time) string {
	if s.policy.MaxLifetime <= 0 {
		return ""
	}
	end := now.UTC().Add(s.policy.MaxLifetime).Truncate(24 * time.Hour)
	return end.Add(-24 * time.Hour).Format(DateLayout)
}

// FormatLifetime renders a lifetime in days when it is a whole number of days.
func FormatLifetime(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// List returns owner's unrevoked tokens, expired ones included.
func (s *Service) List(ctx context.Context, owner string) ([]Token, error) {
	if err := ValidateOwner(owner); err != nil {
		return nil, err
	}
	ts, err := s.store.List(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("listing tokens of %q: %w", owner, err)
	}
	return ts, nil
}

// Revoke revokes owner's own token id. Another person's or an unknown id is ErrNotFound.
func (s *Service) Revoke(ctx context.Context, owner, id string) (Token, error) {
	if err := ValidateOwner(owner); err != nil {
		return Token{}, err
	}
	return s.revoke(ctx, id, owner, owner)
}

func (s *Service) revoke(ctx context.Context, id, owner, by string) (Token, error) {
	if id == "" || len(id) > 100 {
		return Token{}, fmt.Errorf("revoking token %q: %w", truncateForMessage(id), ErrNotFound)
	}
	t, err := s.store.Revoke(ctx, id, owner, by, s.Now().Truncate(time.Microsecond))
	if err != nil {
		return Token{}, fmt.Errorf("revoking token %q: %w", truncateForMessage(id), err)
	}
	if s.inv != nil {
		s.inv.Revoked(t.Digest)
	}
	return t, nil
}

// Rejections returns owner's recent rejected attempts, newest first.
func (s *Service) Rejections(ctx context.Context, owner string, limit int) ([]Rejection, error) {
	if err := ValidateOwner(owner); err != nil {
		return nil, err
	}
	rs, err := s.store.Rejections(ctx, owner, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("reading rejected attempts of %q: %w", owner, err)
	}
	return rs, nil
}

func clampLimit(limit int) int {
	if limit <= 0 || limit > MaxHistoryLimit {
		return MaxHistoryLimit
	}
	return limit
}

// ValidateOwner checks an identity: non-empty, at most MaxOwnerLen bytes of
// valid UTF-8, no control characters.
func ValidateOwner(owner string) error {
	switch {
	case owner == "":
		return inputErr(ErrInvalidInput, "no identity: the owner of a token must be a signed-in person")
	case len(owner) > MaxOwnerLen:
		return inputErr(ErrInvalidInput, fmt.Sprintf("identity is longer than %d bytes", MaxOwnerLen))
	case !utf8.ValidString(owner) || strings.IndexFunc(owner, unicode.IsControl) >= 0:
		return inputErr(ErrInvalidInput, "identity contains invalid or control characters")
	}
	return nil
}

// NewID returns a new random token id (20 hex characters). IDs are not secret.
func NewID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// truncateForMessage quotes at most 40 bytes of s in an error message.
func truncateForMessage(s string) string { return Ellipsize(s, 40) }
