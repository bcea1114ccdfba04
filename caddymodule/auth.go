package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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

// DefaultRealm is the realm of the Basic challenge when none is configured.
const DefaultRealm = "tokengate"

// RetryAfterSeconds is the Retry-After of every 503 that tokengate's
// handlers send when the token store cannot be reached.
const RetryAfterSeconds = "5"

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
// and passes it on; anything else ends here with 401, 403 (a scoped token
// outside its scopes), 405 or 503 (500 when a stored vault secret cannot be
// decrypted). A token's IP allow-list is enforced like its validity: outside
// it, 401.
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
	// Header names are matched in any spelling.
	InjectVault []VaultInjection `json:"inject_vault,omitempty"`
	// Methods are the request methods let through (default GET, HEAD);
	// any other gets 405 with Allow before authentication, whatever the
	// credential. TRACE and CONNECT are refused in the config.
	Methods []string `json:"methods,omitempty"`
	// Scopes names sets of path patterns (Caddy path matcher patterns,
	// e.g. "/odata/Issues*") that a token created with scopes is limited
	// to: such a token reaches the paths of its scopes and ScopeAlways,
	// elsewhere it gets 403. Names: 1–64 characters a-z, 0-9, - and _,
	// starting with a letter. Tokens without scopes reach every path.
	Scopes map[string][]string `json:"scopes,omitempty"`
	// ScopeAlways are path patterns every scoped token reaches (e.g. the
	// OData service document and $metadata); all a token reaches through
	// this handler when none of its scopes is defined here.
	ScopeAlways []string `json:"scope_always,omitempty"`

	challenge  string
	inject     []VaultInjection // InjectVault with canonical header names
	stripped   []string         // header names removed from every request
	mismatches *onceEvery
	sealer     *token.Sealer
	app        appSource
	rejections *rejectionLog // bounded, aggregated log of refused requests
	methods    methodSet     // checked Methods
	scopes     scopeSet      // checked Scopes and ScopeAlways
	outcomes   outcomeCounters
	logger     *zap.Logger
}

// appSource is what tokengate_auth needs of the tokengate app (*App): the
// validator once the store is open (nil before, and when the config is only
// checked) and the vault settings.
type appSource interface {
	Validator() *token.Validator
	Sealer() *token.Sealer
	VaultKindIDs() []string
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.tokengate_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision checks the settings, loads the tokengate app and prepares the
// handler (see setup) and its rejection log.
func (h *Auth) Provision(ctx caddy.Context) error {
	if err := h.Validate(); err != nil { // before loading the app, which opens the store
		return err
	}
	app, err := AppFrom(ctx)
	if err != nil {
		return err
	}
	if err := h.setup(ctx.Logger(), app); err != nil {
		return err
	}
	app.registerScopes(h.scopes.names) // the token page offers them
	go h.rejections.run(ctx.Done())
	return nil
}

// setup is Provision without Caddy: it fills in the defaults and the
// checked forms of the settings and takes the validator and the vault from
// app. The caller runs the rejection log.
func (h *Auth) setup(logger *zap.Logger, app appSource) error {
	h.logger = logger
	if h.Realm == "" {
		h.Realm = DefaultRealm
	}
	if err := h.Validate(); err != nil {
		return err
	}
	if h.FailureLimit != 0 || h.FailureWindow != 0 || h.LookupLimit != 0 || h.LookupWindow != 0 {
		h.logger.Warn("failure_limit and lookup_limit are no longer used and are ignored: unknown tokens are refused without a store lookup, and no limit may refuse a valid token; remove them from the config")
	}
	h.methods, _ = newMethodSet(h.Methods)             // checked by Validate
	h.scopes, _ = newScopeSet(h.Scopes, h.ScopeAlways) // checked by Validate
	h.inject, _ = canonicalInjections(h.InjectVault)   // checked by Validate
	h.challenge = `Basic realm="` + h.Realm + `", charset="UTF-8"`
	h.mismatches = new(onceEvery)
	h.app = app
	h.outcomes = newOutcomeCounters()
	h.stripped = []string{HeaderUser, HeaderTokenID, "X-Forwarded-Prefix"}
	if len(h.inject) > 0 {
		if err := h.provisionVault(app); err != nil {
			return err
		}
	}
	h.rejections = newRejectionLog(h.logger, rejectLogInterval, rejectLogMaxLines, rejectLogMaxKeys, time.Now)
	return nil
}

// Validate checks the settings without changing them; errors name the field.
func (h *Auth) Validate() error {
	if strings.ContainsAny(h.Realm, "\"\\") || strings.IndexFunc(h.Realm, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("tokengate_auth: realm: must not contain quotes, backslashes or control characters, got %q", h.Realm)
	}
	if _, err := newMethodSet(h.Methods); err != nil {
		return err
	}
	if _, err := newScopeSet(h.Scopes, h.ScopeAlways); err != nil {
		return err
	}
	_, err := canonicalInjections(h.InjectVault)
	return err
}

// Errors of refused requests, for Caddy's log of the request.
var (
	errNoStore          = errors.New("tokengate has no open token store")
	errStoreUnavailable = errors.New("token store unavailable")
)

// ServeHTTP authenticates the request.
func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ip := clientIP(r)
	if !h.methods.permits(r.Method) {
		return h.refuse(w, r, refusal{status: http.StatusMethodNotAllowed, outcome: "method_not_allowed",
			msg: "method not allowed", ip: ip, err: fmt.Errorf("method %.20q not allowed", r.Method)})
	}
	user, secret, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") == "" {
			return h.refuse(w, r, refusal{status: http.StatusUnauthorized, outcome: "missing"}) // counted, not logged
		}
		return h.reject(w, r, "malformed", "", ip, "")
	}
	v := h.app.Validator()
	if v == nil { // no store: a config only being checked, or already cleaned up
		return h.refuse(w, r, refusal{status: http.StatusServiceUnavailable, outcome: "unavailable", err: errNoStore})
	}

	// No limit stands before this: unknown tokens are refused by the
	// validator's prefilter without a store lookup, so nothing a client
	// sends can use up what a valid token needs.
	res := v.Validate(r.Context(), secret)
	switch res.Outcome {
	case token.OutcomeValid:
	case token.OutcomeUnavailable:
		return h.refuse(w, r, refusal{status: http.StatusServiceUnavailable, outcome: "unavailable",
			level: zapcore.ErrorLevel, msg: "token store unavailable", ip: ip, user: anonymousUser(user), err: errStoreUnavailable})
	case token.OutcomeExpired:
		v.RecordRejection(res, token.RejectExpired, ip, r.UserAgent())
		return h.reject(w, r, res.Outcome.String(), res.TokenID, ip, h.knownUser(v, user, secret))
	case token.OutcomeRevoked:
		v.RecordRejection(res, token.RejectRevoked, ip, r.UserAgent())
		return h.reject(w, r, res.Outcome.String(), res.TokenID, ip, h.knownUser(v, user, secret))
	default: // malformed, unknown: the user name came with no known token
		return h.reject(w, r, res.Outcome.String(), "", ip, anonymousUser(user))
	}

	// Restrictions: outside its IP allow-list a token is refused like a bad
	// credential (a stolen token learns nothing); the cheap length checks
	// keep the unrestricted path as it was.
	if len(res.AllowedIPs) > 0 && !token.AllowsIP(res.AllowedIPs, ip) {
		v.RecordRejection(res, token.RejectIPNotAllowed, ip, r.UserAgent())
		return h.reject(w, r, string(token.RejectIPNotAllowed), res.TokenID, ip, h.knownUser(v, user, secret))
	}
	if user != res.Owner {
		if h.MatchUsername {
			v.RecordRejection(res, token.RejectUsernameMismatch, ip, r.UserAgent())
			return h.reject(w, r, "username_mismatch", res.TokenID, ip, h.knownUser(v, user, secret))
		}
		if h.mismatches.first(res.TokenID, time.Now()) {
			h.log(zapcore.InfoLevel, mismatchLogMsg, r, "valid", res.TokenID, ip, h.knownUser(v, user, secret))
		}
	}
	if len(res.Scopes) > 0 {
		if ok, err := h.scopes.permits(r, res.Scopes); !ok {
			return h.outOfScope(w, r, v, res, ip, h.knownUser(v, user, secret), err)
		}
	}

	h.outcomes.inc("valid")
	v.RecordUse(res, ip, r.UserAgent())
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", res.Owner)
	repl.Set("http.auth.user.token_id", res.TokenID)
	delete(r.Header, "Authorization")
	sanitizeUpstream(r, h.stripped)
	for _, inj := range h.inject {
		cred, err := v.VaultCredential(r.Context(), h.sealer, res.Owner, inj.Kind)
		switch {
		case err == nil:
			r.Header[inj.Header] = []string{cred}
		case errors.Is(err, token.ErrNotFound):
			// Nothing stored: the upstream decides what that means.
		case errors.Is(err, token.ErrUnavailable):
			// Logged at once (not in aggregate): the person is known.
			h.log(zapcore.ErrorLevel, "vault unavailable", r, "unavailable", res.TokenID, ip, res.Owner)
			return h.refuse(w, r, refusal{status: http.StatusServiceUnavailable, outcome: "unavailable", err: errStoreUnavailable})
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

// refusal describes how tokengate_auth ends a request it does not pass on.
type refusal struct {
	status  int    // 401, 403, 405 or 503
	outcome string // the metrics label
	err     error  // the handler error; for 401 default "not authenticated (<outcome>)"
	// body, when set, is written as a text/plain response (and no handler
	// error is returned); otherwise the body is Caddy's (empty by default).
	body string
	// msg is the rejection log's message; "" counts the request without
	// logging it. level, ip, tokenID and user go with it (user redacted).
	msg     string
	level   zapcore.Level
	ip      string
	tokenID string
	user    string
}

// refuse ends the request as f says: it counts the outcome, logs it in
// aggregate (see rejectionLog) when f has a message, sets the header the
// status needs (WWW-Authenticate with the Basic challenge, Allow or
// Retry-After) and returns the handler error, or writes f.body. The body
// never says why a credential was refused.
func (h *Auth) refuse(w http.ResponseWriter, r *http.Request, f refusal) error {
	h.outcomes.inc(f.outcome)
	if f.msg != "" {
		h.rejections.record(f.level, f.msg, f.outcome, f.ip, f.tokenID, f.user, r.RequestURI)
	}
	switch f.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", h.challenge)
		if f.err == nil {
			f.err = fmt.Errorf("not authenticated (%s)", f.outcome)
		}
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", h.methods.allow)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", RetryAfterSeconds)
	}
	if f.body != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.body)
		return nil
	}
	return caddyhttp.Error(f.status, f.err)
}

// reject refuses a bad credential with 401, logged as "authentication failed".
func (h *Auth) reject(w http.ResponseWriter, r *http.Request, outcome, tokenID, ip, user string) error {
	return h.refuse(w, r, refusal{status: http.StatusUnauthorized, outcome: outcome,
		msg: "authentication failed", level: zapcore.InfoLevel, ip: ip, tokenID: tokenID, user: user})
}

// log writes one line about a request at once (not in aggregate).
func (h *Auth) log(level zapcore.Level, msg string, r *http.Request, outcome, tokenID, ip, user string) {
	logRequest(h.logger, level, msg, outcome, tokenID, user, ip, r.RequestURI)
}

// logRequest writes one line about a request with the fields every
// tokengate_auth line has; user must already be redacted.
func logRequest(logger *zap.Logger, level zapcore.Level, msg, outcome, tokenID, user, ip, uri string) {
	if ce := logger.Check(level, msg); ce != nil {
		ce.Write(
			zap.String("outcome", outcome),
			zap.String("token_id", tokenID),
			zap.String("user", user),
			zap.String("client_ip", ip),
			zap.String("uri", uri),
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
