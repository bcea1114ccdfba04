package caddymodule

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/token"
)

// What the logs may say about the Basic user name. It is logged as typed
// only with a known token (then it is the owner, or a mismatch worth
// seeing), and even then not when it may itself be a secret. With an unknown
// or malformed token it is never logged: a person who typed a secret into
// the wrong field, or an attacker's payload, would end up in the logs. A
// keyed fingerprint lets operators see that the same name came back.

// fingerprintKey keys userFingerprint; it is new for every process, so a
// fingerprint cannot be matched against guesses outside it.
var fingerprintKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
}()

// anonymousUser stands for a user name that came with no known token: its
// keyed fingerprint and length, never its text ("" when there was none).
func anonymousUser(user string) string {
	if user == "" {
		return ""
	}
	m := hmac.New(sha256.New, fingerprintKey)
	m.Write([]byte(user))
	return "fp:" + hex.EncodeToString(m.Sum(nil)[:6]) + " (" + strconv.Itoa(len(user)) + " bytes)"
}

// secretChecker tells whether a string may be a stored token's secret;
// *token.Validator is one (its prefilter).
type secretChecker interface {
	MayBeStored(s string) bool
}

// knownUser returns the user name that came with a known token as it may be
// logged: as typed, unless it looks like or may be a secret.
func (h *Auth) knownUser(v secretChecker, user, secret string) string {
	u := loggableUser(user, secret)
	if u == redactedUser || u == "" {
		return u
	}
	if v.MayBeStored(user) || v.MayBeStored(strings.TrimSpace(user)) {
		return redactedUser
	}
	return u
}

// redactedUser stands in the logs for a user name that may hold a secret.
const redactedUser = "(redacted: looks like a token)"

// loggableUser returns the Basic user name as it may be logged: redacted
// when it may hold a secret — a token pasted into the user name field (with
// or without the password, surrounding spaces, any case of the prefix), or
// a name longer than any owner can be.
func loggableUser(user, secret string) string {
	trimmed := strings.TrimSpace(user)
	switch {
	case len(user) > token.MaxOwnerLen,
		containsFold(user, token.Prefix),
		len(secret) >= minSecretOverlap && strings.Contains(user, secret),
		len(trimmed) >= minSecretOverlap && strings.Contains(secret, trimmed):
		return redactedUser
	}
	return user
}

// containsFold reports whether sub occurs in s, ignoring ASCII case,
// without allocating (this runs on every request).
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// minSecretOverlap is the shortest user name / password overlap treated as
// a secret in the user name field (legacy tokens have at least 16 characters).
const minSecretOverlap = 8
