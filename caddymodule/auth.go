package caddymodule

import (
	"errors"
	"fmt"
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
	DefaultRealm = "tokengate"
	// unavailableRetryAfter is the Retry-After sent with 503.
	unavailableRetryAfter = 5
)

// Bounds of the rejection log (see rejectionLog): per interval, at most one
// line per outcome and client (IPv4 address or IPv6 /64) and
// rejectLogMaxLines lines in all, plus as many summaries and one total.
const (
	rejectLogInterval = time.Minute
	rejectLogMaxLines = 100
	rejectLogMaxKeys  = 10_000
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
	// FailureLimit is accepted for old configs and ignored (a warning is
	// logged): per-client failure limits locked valid tokens out.
	//
	// Deprecated: unknown tokens cost no store lookup (the prefilter), so
	// there is nothing left for it to protect.
	FailureLimit int `json:"failure_limit,omitempty"`
	// FailureWindow is ignored with FailureLimit.
	//
	// Deprecated: see FailureLimit.
	FailureWindow caddy.Duration `json:"failure_window,omitempty"`
	// LookupLimit is accepted for old configs and ignored, like FailureLimit.
	//
	// Deprecated: see FailureLimit.
	LookupLimit int `json:"lookup_limit,omitempty"`
	// LookupWindow is ignored with LookupLimit.
	//
	// Deprecated: see FailureLimit.
	LookupWindow caddy.Duration `json:"lookup_window,omitempty"`
	// InjectVault sets upstream request headers from the signed-in person's
	// vault (e.g. their Jira API token). Client-sent copies are removed.
	InjectVault []VaultInjection `json:"inject_vault,omitempty"`
	// Methods are the request methods let through (default GET, HEAD);
	// any other gets 405 with Allow before authentication, whatever the
	// credential. TRACE and CONNECT are refused in the config.
	Methods []string `json:"methods,omitempty"`

	challenge  string
	stripped   []string // header names removed from every request
	mismatches *onceEvery
	sealer     *token.Sealer
	validators validatorSource
	rejections *rejectionLog // bounded, aggregated log of refused requests
	methods    methodSet     // checked Methods
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

// Provision loads the tokengate app and prepares the challenge and the
// rejection log.
func (h *Auth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Realm == "" {
		h.Realm = DefaultRealm
	}
	if err := h.Validate(); err != nil {
		return err
	}
	if h.FailureLimit != 0 || h.FailureWindow != 0 || h.LookupLimit != 0 || h.LookupWindow != 0 {
		h.logger.Warn("failure_limit and lookup_limit are no longer used and are ignored: unknown tokens are refused without a store lookup, and no limit may refuse a valid token; remove them from the config")
	}
	h.methods, _ = newMethodSet(h.Methods) // checked by Validate
	h.challenge = `Basic realm="` + h.Realm + `", charset="UTF-8"`
	h.mismatches = new(onceEvery)
	app, err := AppFrom(ctx)
	if err != nil {
		return err
	}
	h.validators = app
	h.outcomes = newOutcomeCounters()
	h.stripped = []string{HeaderUser, HeaderTokenID, "X-Forwarded-Prefix"}
	if len(h.InjectVault) > 0 {
		if err := h.provisionVault(app); err != nil {
			return err
		}
	}
	h.rejections = newRejectionLog(h.logger, rejectLogInterval, rejectLogMaxLines, rejectLogMaxKeys, time.Now)
	go h.rejections.run(ctx.Done())
	return nil
}

// Validate checks the settings; errors name the field.
func (h *Auth) Validate() error {
	if strings.ContainsAny(h.Realm, "\"\\") || strings.IndexFunc(h.Realm, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("tokengate_auth: realm: must not contain quotes, backslashes or control characters, got %q", h.Realm)
	}
	if _, err := newMethodSet(h.Methods); err != nil {
		return err
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
	ip := clientIP(r)
	if !h.methods.permits(r.Method) {
		h.outcomes.inc("method_not_allowed")
		h.rejections.record(zapcore.InfoLevel, "method not allowed", "method_not_allowed", ip, "", "", r.RequestURI)
		w.Header().Set("Allow", h.methods.allow)
		return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %.20q not allowed", r.Method))
	}
	user, secret, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") == "" {
			h.outcomes.inc("missing")
			return h.unauthorized(w, "missing")
		}
		return h.reject(w, r, "malformed", "", ip, "")
	}
	v := h.validators.Validator()
	if v == nil { // no store: a config only being checked, or already cleaned up
		h.outcomes.inc("unavailable")
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("tokengate has no open token store"))
	}

	// No limit stands before this: unknown tokens are refused by the
	// validator's prefilter without a store lookup, so nothing a client
	// sends can use up what a valid token needs.
	res := v.Validate(r.Context(), secret)
	switch res.Outcome {
	case token.OutcomeValid:
	case token.OutcomeUnavailable:
		h.outcomes.inc("unavailable")
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		h.rejections.record(zapcore.ErrorLevel, "token store unavailable", "unavailable", ip, "", anonymousUser(user), r.RequestURI)
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("token store unavailable"))
	case token.OutcomeExpired:
		v.RecordRejection(res, token.RejectExpired, ip, r.UserAgent())
		return h.reject(w, r, res.Outcome.String(), res.TokenID, ip, h.knownUser(v, user, secret))
	case token.OutcomeRevoked:
		v.RecordRejection(res, token.RejectRevoked, ip, r.UserAgent())
		return h.reject(w, r, res.Outcome.String(), res.TokenID, ip, h.knownUser(v, user, secret))
	default: // malformed, unknown: the user name came with no known token
		return h.reject(w, r, res.Outcome.String(), "", ip, anonymousUser(user))
	}

	if user != res.Owner {
		if h.MatchUsername {
			v.RecordRejection(res, token.RejectUsernameMismatch, ip, r.UserAgent())
			return h.reject(w, r, "username_mismatch", res.TokenID, ip, h.knownUser(v, user, secret))
		}
		if h.mismatches.first(res.TokenID, time.Now()) {
			h.log(zapcore.InfoLevel, "user name differs from token owner (match_username off; logged once per token per 10m)", r, "valid", res.TokenID, ip, h.knownUser(v, user, secret))
		}
	}

	h.outcomes.inc("valid")
	v.RecordUse(res, ip, r.UserAgent())
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", res.Owner)
	repl.Set("http.auth.user.token_id", res.TokenID)
	delete(r.Header, "Authorization")
	sanitizeUpstream(r, h.stripped)
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
			h.log(zapcore.ErrorLevel, "vault unavailable", r, "unavailable", res.TokenID, ip, res.Owner)
			return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("token store unavailable"))
		default:
			// Undecryptable (wrong vault_key): an operator problem, not the client's.
			h.log(zapcore.ErrorLevel, "vault secret cannot be used: "+err.Error(), r, "valid", res.TokenID, ip, res.Owner)
			return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("vault secret of kind %s cannot be decrypted", inj.Kind))
		}
	}
	r.Header[HeaderUser] = []string{res.Owner}
	r.Header[HeaderTokenID] = []string{res.TokenID}
	return next.ServeHTTP(w, r)
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

// reject answers 401 for a bad credential; it is counted in the metrics
// and logged in aggregate (see rejectionLog).
func (h *Auth) reject(w http.ResponseWriter, r *http.Request, outcome, tokenID, ip, user string) error {
	h.outcomes.inc(outcome)
	h.rejections.record(zapcore.InfoLevel, "authentication failed", outcome, ip, tokenID, user, r.RequestURI)
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
