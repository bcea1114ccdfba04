// Package portal is the self-service token page of tokengate and its JSON API.
//
// The Handler is plain net/http: it serves paths relative to where it is
// mounted (the quickstart mounts it at /tokens with Caddy's handle_path, which
// strips the prefix), so every link in the page is relative. caddy.go adapts
// it as the Caddy handler http.handlers.tokengate_portal.
//
// JSON API (all responses carry Cache-Control: no-store):
//
//	GET    /api/tokens                      {"tokens":[token...]}
//	POST   /api/tokens                      {"label":"…","expires_on":"YYYY-MM-DD"|null,"allowed_ips":[…]?,"scopes":[…]?} → 201 token + "token"
//	DELETE /api/tokens/{id}                 204; another person's or unknown id → 404
//	GET    /api/rejections                  {"rejections":[{at,ip,agent,token_id,label,reason,count}...]}
//	GET    /api/vault                       {"enabled":true,"entries":[vault entry...]}; vault off → {"enabled":false,"entries":[]}
//	PUT    /api/vault/{kind}                {"secret":"…"} → 200 vault entry (never the secret)
//	DELETE /api/vault/{kind}                204; nothing of that kind stored → 404
//	GET    /api/admin/tokens?owner=…&limit=N&cursor=C {"tokens":[token + "owner"...],"next_cursor":C}
//	DELETE /api/admin/tokens/{id}           204
//	DELETE /api/admin/users/{owner}/tokens  200 {"revoked":N}
//	GET    /api/admin/history?owner=…&limit=N&cursor=C {"events":[{id,at,kind,actor,owner,token_id,label,detail}...],"next_cursor":C}
//	POST   /api/admin/cap                   {"max_lifetime":"90d"} → 200 {"changed":N}
//
// A token is {id,label,hint,legacy,created_at,expires_at,last_used_at,
// last_used_ip,last_used_agent,status,allowed_ips,scopes}: hint is the last 4
// characters of the secret, times are RFC 3339 UTC or null, status is active,
// expiring_soon or expired. allowed_ips (addresses and CIDR ranges, single
// addresses without /32 or /128) and scopes are the token's restrictions,
// always present and [] when there are none; they are set at creation and
// cannot be changed.
//
// The vault ("Other tokens": upstream credentials such as a Jira API token
// that the export backend uses on the person's behalf) is always the
// signed-in person's own: there is no owner parameter and no administrator
// route, administrators never see a credential. A vault entry is
// {kind,label,stored,hint,updated_at}: hint (last 4 characters) and
// updated_at are null when nothing is stored. A kind the server does not
// store is 404; when no vault_key is configured, PUT and DELETE are 404 with
// VaultOffMessage (the resource does not exist on this server; 404 rather
// than 409 because nothing the client does can change that).
//
// Errors are {"error":"…"} with a 4xx status saying what to fix (503
// with Retry-After when the store is unreachable).
package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

// DefaultFeedPath is the OData feed path shown in the "How to connect Power
// BI" help when no feed URL is configured; it is joined with the request's host.
const DefaultFeedPath = "/odata/"

// Config configures a Handler.
type Config struct {
	// Service creates, lists and revokes tokens. Required.
	Service *token.Service
	// Admins are the identities allowed to use the administration view.
	Admins []string
	// Identity returns who is signed in for a request; "" means nobody.
	// Required.
	Identity func(*http.Request) string
	// FeedURL returns the OData feed URL shown in the Power BI help. When
	// nil, FeedPath is joined with the request's scheme and host.
	FeedURL func(*http.Request) string
	// FeedPath is the feed's path (or absolute URL) used when FeedURL is nil;
	// default DefaultFeedPath.
	FeedPath string
	// OriginalPath returns the request path before any prefix was stripped,
	// used to redirect "/tokens" to "/tokens/" so that the page's relative
	// links resolve under the mount point. When nil, the path of
	// r.RequestURI is used (which net/http's StripPrefix leaves intact).
	OriginalPath func(*http.Request) string
	// Logger receives one entry per change (action, identity, token id);
	// never a secret. Nil means no logging.
	Logger *zap.Logger
	// Clock is the time used for statuses and date bounds; nil means the
	// Service's clock.
	Clock token.Clock
	// ClientIP returns the caller's IP address, offered on the page as the
	// "add my current IP" suggestion for a token's allow-list. Nil means
	// RemoteIP (the connection's address); inside Caddy it is Caddy's
	// client IP, the one tokengate_auth checks the allow-list against.
	ClientIP func(*http.Request) string
	// Notices says where a person's expiry warnings and alerts go: the
	// mail address ("" without mail) and the channels ("email",
	// "webhook"). Nil means notifications are off.
	Notices func(owner string) (address string, channels []string)
}

// Handler serves the token page and its JSON API.
type Handler struct {
	svc          *token.Service
	identity     func(*http.Request) string
	feedURL      func(*http.Request) string
	originalPath func(*http.Request) string
	clientIP     func(*http.Request) string
	notices      func(string) (string, []string)
	log          *zap.Logger
	now          token.Clock
	mux          *http.ServeMux
}

// NewHandler checks cfg and returns a Handler.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("portal: Service is required")
	}
	if cfg.Identity == nil {
		return nil, errors.New("portal: Identity is required")
	}
	h := &Handler{
		svc:          cfg.Service.WithAdmins(cfg.Admins...),
		identity:     cfg.Identity,
		feedURL:      cfg.FeedURL,
		originalPath: cfg.OriginalPath,
		clientIP:     cfg.ClientIP,
		notices:      cfg.Notices,
		log:          cfg.Logger,
		now:          cfg.Clock,
	}
	for i, a := range cfg.Admins {
		if err := token.ValidateOwner(a); err != nil {
			return nil, fmt.Errorf("portal: admins[%d] %q: %w", i, a, err)
		}
	}
	if h.feedURL == nil {
		p := cfg.FeedPath
		if p == "" {
			p = DefaultFeedPath
		}
		f, err := FeedURLFrom(p)
		if err != nil {
			return nil, fmt.Errorf("portal: feed path: %w", err)
		}
		h.feedURL = f
	}
	if h.originalPath == nil {
		h.originalPath = requestURIPath
	}
	if h.clientIP == nil {
		h.clientIP = RemoteIP
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.now == nil {
		h.now = cfg.Service.Now
	}
	h.routes()
	return h, nil
}

// FeedURLFrom returns a FeedURL function for s: an absolute http(s) URL is
// returned as is, a path starting with "/" is joined with the scheme and
// host of each request.
func FeedURLFrom(s string) (func(*http.Request) string, error) {
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return func(r *http.Request) string {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			return scheme + "://" + r.Host + s
		}, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is neither a path starting with / nor an absolute http(s) URL", s)
	}
	return func(*http.Request) string { return s }, nil
}

func requestURIPath(r *http.Request) string {
	if r.RequestURI == "" {
		return r.URL.Path
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return r.URL.Path
	}
	return u.Path
}

func (h *Handler) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", h.page)
	m.Handle("GET /assets/", assetHandler())

	h.api(m, "/api/tokens", map[string]http.HandlerFunc{
		"GET": h.user(h.listTokens), "POST": h.user(h.createToken)})
	h.api(m, "/api/tokens/{id}", map[string]http.HandlerFunc{
		"DELETE": h.user(h.revokeToken)})
	h.api(m, "/api/rejections", map[string]http.HandlerFunc{
		"GET": h.user(h.listRejections)})
	h.api(m, "/api/vault", map[string]http.HandlerFunc{
		"GET": h.user(h.listVault)})
	h.api(m, "/api/vault/{kind}", map[string]http.HandlerFunc{
		"PUT": h.user(h.putVault), "DELETE": h.user(h.deleteVault)})
	h.api(m, "/api/admin/tokens", map[string]http.HandlerFunc{
		"GET": h.admin(h.adminListTokens)})
	h.api(m, "/api/admin/tokens/{id}", map[string]http.HandlerFunc{
		"DELETE": h.admin(h.adminRevokeToken)})
	h.api(m, "/api/admin/users/{owner}/tokens", map[string]http.HandlerFunc{
		"DELETE": h.admin(h.adminRevokeOwner)})
	h.api(m, "/api/admin/history", map[string]http.HandlerFunc{
		"GET": h.admin(h.adminHistory)})
	h.api(m, "/api/admin/cap", map[string]http.HandlerFunc{
		"POST": h.admin(h.adminCap)})
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
	h.mux = m
}

// api registers one handler per method for path, plus a JSON 405 for any
// other method (the mux's own 405 would be plain text).
func (h *Handler) api(m *http.ServeMux, path string, byMethod map[string]http.HandlerFunc) {
	allow := make([]string, 0, len(byMethod)+1)
	for method, f := range byMethod {
		m.HandleFunc(method+" "+path, f)
		allow = append(allow, method)
		if method == "GET" {
			allow = append(allow, "HEAD")
		}
	}
	slices.Sort(allow)
	allowed := strings.Join(allow, ", ")
	m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; use %s", r.Method, allowed))
	})
}

// ServeHTTP sets the security headers, refuses cross-site state changes and
// dispatches the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if !safeMethod(r.Method) {
		if msg := crossSite(r); msg != "" {
			h.log.Warn("cross-site request refused", zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.String("reason", msg))
			writeError(w, http.StatusForbidden, msg)
			return
		}
	}
	defer func() {
		// A bug must not take the server down nor leak details.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("portal handler panicked", zap.Any("panic", v), zap.String("path", r.URL.Path))
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	if r.URL.Path == "" {
		// http.StripPrefix("/tokens") leaves "" for "/tokens": that is the
		// page (which then redirects to "/tokens/").
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = "/", ""
		r2.URL = &u
		r = r2
	}
	h.mux.ServeHTTP(w, r)
}

// ContentSecurityPolicy is sent with every response: no inline script or
// style, nothing loaded from elsewhere, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossSite returns why a state-changing request must be refused, or "".
//
// Sec-Fetch-Site (sent by every current browser) must be same-origin or none
// when present. An Origin header, when present, must name the request's Host;
// schemes are not compared because TLS is often terminated in front of Caddy.
// X-Forwarded-Host is deliberately not consulted: any client can send it, and
// Caddy's reverse_proxy keeps the original Host, so a proxy in front that
// preserves Host needs nothing more.
func crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Sprintf("cross-site request refused (Sec-Fetch-Site: %s); use the token page itself", truncate(site, 40))
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "cross-site request refused: the Origin header is not a valid origin"
	}
	if !sameHost(hostPort(u.Host, u.Scheme), hostPort(r.Host, u.Scheme)) {
		return "cross-site request refused: Origin " + truncate(origin, 100) + " does not match the host of this page"
	}
	return ""
}

// hostPort lower-cases h and drops the default port of scheme.
func hostPort(h, scheme string) string {
	h = strings.ToLower(h)
	switch {
	case scheme == "https" && strings.HasSuffix(h, ":443"):
		return strings.TrimSuffix(h, ":443")
	case scheme == "http" && strings.HasSuffix(h, ":80"):
		return strings.TrimSuffix(h, ":80")
	}
	return h
}

func sameHost(a, b string) bool { return a != "" && a == b }

// truncate quotes at most n bytes of s in a message.
func truncate(s string, n int) string { return token.Ellipsize(s, n) }
