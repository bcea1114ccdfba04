package caddymodule

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http/httpguts"

	"github.com/tokengate/tokengate/token"
)

func init() {
	caddy.RegisterModule(Auth{})
}

// Identity headers set for the upstream. Client-sent copies are removed first.
const (
	HeaderUser    = "X-Authenticated-User"
	HeaderTokenID = "X-Access-Token-Id"
)

// Defaults of the handler's settings.
const (
	DefaultRealm         = "tokengate"
	DefaultFailureLimit  = 30
	DefaultFailureWindow = time.Minute
	DefaultLookupLimit   = 100
	DefaultLookupWindow  = time.Minute
	// unavailableRetryAfter is the Retry-After sent with 503.
	unavailableRetryAfter = 5
)

// Auth is the http.handlers.tokengate_auth handler: it accepts a request
// whose Basic password is a valid token, sets the identity for the upstream
// and passes it on; anything else ends here with 401, 429 or 503.
type Auth struct {
	// Realm is sent in the WWW-Authenticate challenge.
	Realm string `json:"realm,omitempty"`
	// MatchUsername, when true, also requires the Basic user name to equal
	// the token's owner. When false (default) a mismatch is only logged.
	MatchUsername bool `json:"match_username,omitempty"`
	// FailureLimit is how many failed attempts one client IP + user name
	// may make per FailureWindow before getting 429 (default 30; -1 = off).
	FailureLimit int `json:"failure_limit,omitempty"`
	// FailureWindow is the window of FailureLimit (default 1m).
	FailureWindow caddy.Duration `json:"failure_window,omitempty"`
	// LookupLimit is how many unknown tokens (well-formed, not in the
	// cache, not in the store: each cost a store lookup) one client IP may
	// present per LookupWindow, whatever the user names (default 100; -1 =
	// off). Beyond it, that IP is answered from the cache alone: tokens the
	// cache knows keep working, anything else gets 429 without a lookup.
	LookupLimit int `json:"lookup_limit,omitempty"`
	// LookupWindow is the window of LookupLimit (default 1m).
	LookupWindow caddy.Duration `json:"lookup_window,omitempty"`
	// InjectVault sets upstream request headers from the signed-in person's
	// vault (e.g. their Jira API token). Client-sent copies are removed.
	InjectVault []VaultInjection `json:"inject_vault,omitempty"`

	challenge  string
	stripped   []string // header names removed from every request
	mismatches *onceEvery
	sealer     *token.Sealer
	validators validatorSource
	limiter    *failureLimiter // failures per client IP + user name
	lookups    *failureLimiter // unknown-token lookups per client IP
	outcomes   outcomeCounters
	logger     *zap.Logger
}

// validatorSource hands out the validator once the tokengate app has
// started (nil before); *App is one.
type validatorSource interface {
	Validator() *token.Validator
}

// VaultInjection names a vault kind and the upstream header that carries it.
type VaultInjection struct {
	// Kind is a vault kind configured in the tokengate app (e.g. "jira").
	Kind string `json:"kind"`
	// Header is the request header set for the upstream.
	Header string `json:"header"`
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.tokengate_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision loads the tokengate app and prepares the challenge and limiter.
func (h *Auth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Realm == "" {
		h.Realm = DefaultRealm
	}
	if h.FailureLimit == 0 {
		h.FailureLimit = DefaultFailureLimit
	}
	if h.FailureWindow == 0 {
		h.FailureWindow = caddy.Duration(DefaultFailureWindow)
	}
	if h.LookupLimit == 0 {
		h.LookupLimit = DefaultLookupLimit
	}
	if h.LookupWindow == 0 {
		h.LookupWindow = caddy.Duration(DefaultLookupWindow)
	}
	if err := h.Validate(); err != nil {
		return err
	}
	h.challenge = `Basic realm="` + h.Realm + `", charset="UTF-8"`
	h.mismatches = new(onceEvery)
	app, err := AppFrom(ctx)
	if err != nil {
		return err
	}
	h.validators = app
	h.outcomes = newOutcomeCounters()
	h.stripped = []string{HeaderUser, HeaderTokenID}
	if len(h.InjectVault) > 0 {
		if err := h.provisionVault(app); err != nil {
			return err
		}
	}
	if h.FailureLimit > 0 {
		h.limiter = newFailureLimiter(h.FailureLimit, time.Duration(h.FailureWindow), time.Now)
		go h.limiter.sweepUntil(ctx.Done())
	}
	if h.LookupLimit > 0 {
		h.lookups = newFailureLimiter(h.LookupLimit, time.Duration(h.LookupWindow), time.Now)
		go h.lookups.sweepUntil(ctx.Done())
	}
	return nil
}

// Validate checks the settings; errors name the field.
func (h *Auth) Validate() error {
	if strings.ContainsAny(h.Realm, "\"\\") || strings.IndexFunc(h.Realm, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("tokengate_auth: realm: must not contain quotes, backslashes or control characters, got %q", h.Realm)
	}
	if h.FailureLimit < -1 {
		return fmt.Errorf("tokengate_auth: failure_limit: must be positive (or -1 for off), got %d", h.FailureLimit)
	}
	if h.FailureWindow < 0 || (h.FailureWindow > 0 && time.Duration(h.FailureWindow) < MinInterval) {
		return fmt.Errorf("tokengate_auth: failure_window: must be at least %s, got %s", MinInterval, time.Duration(h.FailureWindow))
	}
	if h.LookupLimit < -1 {
		return fmt.Errorf("tokengate_auth: lookup_limit: must be positive (or -1 for off), got %d", h.LookupLimit)
	}
	if h.LookupWindow < 0 || (h.LookupWindow > 0 && time.Duration(h.LookupWindow) < MinInterval) {
		return fmt.Errorf("tokengate_auth: lookup_window: must be at least %s, got %s", MinInterval, time.Duration(h.LookupWindow))
	}
	seen := map[string]bool{}
	for i, inj := range h.InjectVault {
		name := http.CanonicalHeaderKey(inj.Header)
		if !httpguts.ValidHeaderFieldName(inj.Header) {
			return fmt.Errorf("tokengate_auth: inject_vault %s: %q is not a valid header name", inj.Kind, inj.Header)
		}
		switch name {
		case "Authorization", "Host", "Cookie", "Content-Length", "Transfer-Encoding", "Connection", HeaderUser, HeaderTokenID:
			return fmt.Errorf("tokengate_auth: inject_vault %s: header %s is reserved", inj.Kind, name)
		}
		if seen[name] {
			return fmt.Errorf("tokengate_auth: inject_vault: header %s used twice", name)
		}
		seen[name] = true
		h.InjectVault[i].Header = name
	}
	return nil
}

// provisionVault checks that the app has a vault with the kinds to inject.
func (h *Auth) provisionVault(app *App) error {
	h.sealer = app.Sealer()
	if h.sealer == nil {
		return fmt.Errorf("tokengate_auth: inject_vault: the tokengate app has no vault_key")
	}
	for _, inj := range h.InjectVault {
		found := false
		for _, id := range app.VaultKindIDs() {
			found = found || id == inj.Kind
		}
		if !found {
			return fmt.Errorf("tokengate_auth: inject_vault: unknown vault kind %q (configure it with vault_kind in the tokengate app)", inj.Kind)
		}
		h.stripped = append(h.stripped, inj.Header)
	}
	return nil
}

// ServeHTTP authenticates the request.
func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	user, secret, ok := r.BasicAuth()
	ip := clientIP(r)
	logUser := loggableUser(user, secret)
	if !ok {
		if r.Header.Get("Authorization") == "" {
			h.outcomes.inc("missing")
			return h.unauthorized(w, "missing")
		}
		h.limiter.fail(ip, "")
		return h.reject(w, r, "malformed", "", ip, logUser)
	}
	v := h.validators.Validator()
	if v == nil { // no store: a config only being checked, or already cleaned up
		h.outcomes.inc("unavailable")
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("tokengate has no open token store"))
	}
	if blocked, wait := h.limiter.blocked(ip, user); blocked {
		h.outcomes.inc("rate_limited")
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		h.log(zapcore.WarnLevel, "too many failed attempts", r, "rate_limited", "", ip, logUser)
		return caddyhttp.Error(http.StatusTooManyRequests, fmt.Errorf("too many failed attempts from %s", ip))
	}

	var res token.Result
	if blocked, wait := h.lookups.blocked(ip, ""); blocked {
		// This IP has spent its store lookups on unknown tokens: answer
		// from the cache alone, so known tokens behind it keep working.
		var cached bool
		if res, cached = v.ValidateCached(secret); !cached {
			h.outcomes.inc("rate_limited")
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			h.log(zapcore.WarnLevel, "too many unknown tokens from this client IP; answering from the cache only", r, "rate_limited", "", ip, logUser)
			return caddyhttp.Error(http.StatusTooManyRequests, fmt.Errorf("too many unknown tokens from %s", ip))
		}
	} else {
		res = v.Validate(r.Context(), secret)
	}
	switch res.Outcome {
	case token.OutcomeValid:
	case token.OutcomeUnavailable:
		h.outcomes.inc("unavailable")
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		h.log(zapcore.ErrorLevel, "token store unavailable", r, "unavailable", "", ip, logUser)
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("token store unavailable"))
	case token.OutcomeExpired:
		v.RecordRejection(res, token.RejectExpired, ip, r.UserAgent())
		h.limiter.fail(ip, user)
		return h.reject(w, r, res.Outcome.String(), res.TokenID, ip, logUser)
	case token.OutcomeRevoked:
		v.RecordRejection(res, token.RejectRevoked, ip, r.UserAgent())
		h.limiter.fail(ip, user)
		return h.reject(w, r, res.Outcome.String(), res.TokenID, ip, logUser)
	default: // malformed, unknown
		h.limiter.fail(ip, user)
		if res.Outcome == token.OutcomeUnknown && !res.CacheHit {
			h.lookups.fail(ip, "")
		}
		return h.reject(w, r, res.Outcome.String(), "", ip, logUser)
	}

	if user != res.Owner {
		if h.MatchUsername {
			v.RecordRejection(res, token.RejectUsernameMismatch, ip, r.UserAgent())
			h.limiter.fail(ip, user)
			return h.reject(w, r, "username_mismatch", res.TokenID, ip, logUser)
		}
		if h.mismatches.first(res.TokenID, time.Now()) {
			h.log(zapcore.InfoLevel, "user name differs from token owner (match_username off; logged once per token per 10m)", r, "valid", res.TokenID, ip, logUser)
		}
	}

	h.outcomes.inc("valid")
	v.RecordUse(res, ip, r.UserAgent())
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", res.Owner)
	repl.Set("http.auth.user.token_id", res.TokenID)
	delete(r.Header, "Authorization")
	stripHeaders(r.Header, h.stripped)
	for _, inj := range h.InjectVault {
		cred, err := v.VaultCredential(r.Context(), h.sealer, res.Owner, inj.Kind)
		switch {
		case err == nil:
			r.Header[inj.Header] = []string{cred}
		case errors.Is(err, token.ErrNotFound):
			// Nothing stored: the upstream decides what that means.
		case errors.Is(err, token.ErrUnavailable):
			h.outcomes.inc("unavailable")
			w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
			h.log(zapcore.ErrorLevel, "vault unavailable", r, "unavailable", res.TokenID, ip, logUser)
			return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("token store unavailable"))
		default:
			// Undecryptable (wrong vault_key): an operator problem, not the client's.
			h.log(zapcore.ErrorLevel, "vault secret cannot be used: "+err.Error(), r, "valid", res.TokenID, ip, logUser)
			return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("vault secret of kind %s cannot be decrypted", inj.Kind))
		}
	}
	r.Header[HeaderUser] = []string{res.Owner}
	r.Header[HeaderTokenID] = []string{res.TokenID}
	return next.ServeHTTP(w, r)
}

// stripHeaders removes every client-sent copy of the named headers (the
// identity headers and the vault ones): any case (Go canonicalizes incoming
// keys, but not every variant) and spellings with underscores, which CGI,
// WSGI or PHP backends treat like hyphens. Caddy drops underscore headers by
// default, but an operator may allow them (expected_underscore_headers); this
// does not rely on it. Only keys of the right length are compared.
func stripHeaders(h http.Header, names []string) {
	for k := range h {
		for _, name := range names {
			if len(k) == len(name) && sameHeaderName(k, name) {
				delete(h, k)
				break
			}
		}
	}
}

// sameHeaderName compares header names case-insensitively with '_' == '-'.
func sameHeaderName(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// onceEvery remembers when something was last reported per key, so a
// Power BI refresh (hundreds of requests) logs a user name mismatch once,
// not per request. It is bounded: past 10 000 keys it starts over.
type onceEvery struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// first reports whether key was not reported in the last 10 minutes, and
// records now for it.
func (o *onceEvery) first(key string, now time.Time) bool {
	if o == nil {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.last[key]; ok && now.Sub(t) < 10*time.Minute {
		return false
	}
	if o.last == nil || len(o.last) >= 10_000 {
		o.last = make(map[string]time.Time)
	}
	o.last[key] = now
	return true
}

// reject answers 401 for a bad credential and logs why.
func (h *Auth) reject(w http.ResponseWriter, r *http.Request, outcome, tokenID, ip, user string) error {
	h.outcomes.inc(outcome)
	h.log(zapcore.InfoLevel, "authentication failed", r, outcome, tokenID, ip, user)
	return h.unauthorized(w, outcome)
}

// unauthorized sends the Basic challenge. The body never says why.
func (h *Auth) unauthorized(w http.ResponseWriter, outcome string) error {
	w.Header().Set("WWW-Authenticate", h.challenge)
	return caddyhttp.Error(http.StatusUnauthorized, fmt.Errorf("not authenticated (%s)", outcome))
}

func (h *Auth) log(level zapcore.Level, msg string, r *http.Request, outcome, tokenID, ip, user string) {
	if ce := h.logger.Check(level, msg); ce != nil {
		ce.Write(
			zap.String("outcome", outcome),
			zap.String("token_id", tokenID),
			zap.String("user", user),
			zap.String("client_ip", ip),
			zap.String("uri", r.RequestURI),
		)
	}
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

// clientIP returns the client address Caddy determined (honouring
// trusted_proxies), falling back to the connection's remote address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = strings.Trim(host[:i], "[]")
	}
	return host
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
