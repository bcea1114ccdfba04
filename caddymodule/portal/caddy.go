package portal

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/caddymodule"
	"github.com/tokengate/tokengate/token"
)

func init() {
	caddy.RegisterModule(Portal{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_portal", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("tokengate_portal", httpcaddyfile.Before, "file_server")
}

// DefaultIdentity is the placeholder that names the signed-in person: the
// user id set by Caddy's authentication handlers (basic_auth, forward_auth
// with copy_headers, or any authentication provider).
const DefaultIdentity = "{http.auth.user.id}"

// Portal is the Caddy handler http.handlers.tokengate_portal: the
// self-service token page and its JSON API, relative to where it is mounted
// (use handle_path so the prefix is stripped). It answers every request
// itself and never calls the next handler.
//
// Caddyfile:
//
//	tokengate_portal [<matcher>] {
//		identity <placeholder>    # default {http.auth.user.id}
//		admins <id>...            # repeatable
//		feed_url <url-or-path>    # default /odata/ on the request's host
//	}
type Portal struct {
	// Identity is a placeholder resolved per request to the signed-in
	// person's id; empty means nobody is signed in (401). It must contain
	// a placeholder: a literal would make everybody the same person.
	Identity string `json:"identity,omitempty"`
	// Admins are the identities that get the administration view.
	Admins []string `json:"admins,omitempty"`
	// FeedURL is the OData feed shown in the Power BI help: an absolute
	// http(s) URL, or a path joined with the request's scheme and host.
	// Placeholders are resolved per request. Default "/odata/".
	FeedURL string `json:"feed_url,omitempty"`

	h *Handler // nil when the tokengate app opened no store (tokengate validate)
}

// CaddyModule returns the Caddy module information.
func (Portal) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.tokengate_portal",
		New: func() caddy.Module { return new(Portal) },
	}
}

// Provision checks the settings and builds the handler on the tokengate
// app's token service.
func (p *Portal) Provision(ctx caddy.Context) error {
	if p.Identity == "" {
		p.Identity = DefaultIdentity
	}
	if p.FeedURL == "" {
		p.FeedURL = DefaultFeedPath
	}
	if err := p.Validate(); err != nil {
		return err
	}
	app, err := caddymodule.AppFrom(ctx)
	if err != nil {
		return fmt.Errorf("tokengate_portal: %w", err)
	}
	svc := app.Service()
	if svc == nil {
		return nil // a config only being checked: nothing is served
	}
	h, err := NewHandler(Config{
		Service:      svc,
		Admins:       p.Admins,
		Identity:     p.identity,
		FeedURL:      p.feedURL,
		OriginalPath: originalPath,
		ClientIP:     clientIP,
		Notices:      app.NotifyTarget,
		Logger:       ctx.Logger(),
	})
	if err != nil {
		return fmt.Errorf("tokengate_portal: %w", err)
	}
	p.h = h
	return nil
}

// Validate checks the configuration; errors name the field.
func (p *Portal) Validate() error {
	if open, closing := strings.Count(p.Identity, "{"), strings.Count(p.Identity, "}"); open != closing {
		return fmt.Errorf("tokengate_portal: identity: %q has unbalanced braces; use a placeholder such as %s", p.Identity, DefaultIdentity)
	}
	if p.Identity != "" && !strings.Contains(p.Identity, "{") {
		return fmt.Errorf("tokengate_portal: identity: %q has no placeholder; use one such as %s (a literal would sign everybody in as the same person)", p.Identity, DefaultIdentity)
	}
	for i, a := range p.Admins {
		if err := token.ValidateOwner(a); err != nil {
			return fmt.Errorf("tokengate_portal: admins[%d] %q: %w", i, a, err)
		}
	}
	if p.FeedURL != "" && !strings.Contains(p.FeedURL, "{") {
		if _, err := FeedURLFrom(p.FeedURL); err != nil {
			return fmt.Errorf("tokengate_portal: feed_url: %w", err)
		}
	}
	return nil
}

// ServeHTTP serves the page and the API; it never calls next. A request
// whose identity was established by tokengate_auth (an access token) is
// refused: otherwise a leaked token could mint new tokens for its owner.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if repl := replacer(r); repl != nil {
		if id, ok := repl.GetString("http.auth.user.token_id"); ok && id != "" {
			writeError(w, http.StatusForbidden, "the token page needs a person's sign-in, not an access token: "+
				"put your login (basic_auth, forward_auth, …) in front of tokengate_portal, not tokengate_auth")
			return nil
		}
	}
	h := p.h
	if h == nil {
		w.Header().Set("Retry-After", RetryAfterSeconds)
		writeError(w, http.StatusServiceUnavailable, "the token store is not open")
		return nil
	}
	h.ServeHTTP(w, r)
	return nil
}

func replacer(r *http.Request) *caddy.Replacer {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	return repl
}

// identity resolves the identity placeholder; "" (nobody) when any
// placeholder in it is unknown or empty.
func (p *Portal) identity(r *http.Request) string {
	repl := replacer(r)
	if repl == nil {
		return ""
	}
	// Every placeholder must resolve to something: with a template such as
	// "{http.auth.user.id}@corp", an anonymous request must not become "@corp".
	who, err := repl.ReplaceOrErr(p.Identity, true, true)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(who)
}

func (p *Portal) feedURL(r *http.Request) string {
	s := p.FeedURL
	if repl := replacer(r); repl != nil && strings.Contains(s, "{") {
		s = repl.ReplaceAll(s, "")
	}
	if f, err := FeedURLFrom(s); err == nil {
		return f(r)
	}
	return s
}

// originalPath is the request path before handle_path stripped its prefix.
func originalPath(r *http.Request) string {
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		return or.URL.Path
	}
	return requestURIPath(r)
}

// clientIP is the client address Caddy determined (trusted_proxies
// honoured), the one tokengate_auth checks allow-lists against; the
// connection's address when Caddy set none.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return RemoteIP(r)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (p *Portal) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.Errf("tokengate_portal takes no arguments on its line, got %q; use a block", d.Val())
	}
	for d.NextBlock(0) {
		switch sub := d.Val(); sub {
		case "identity":
			if !d.NextArg() {
				return d.Errf("identity: missing placeholder, e.g. %s", DefaultIdentity)
			}
			p.Identity = d.Val()
			if d.NextArg() {
				return d.Errf("identity: one placeholder expected, got also %q", d.Val())
			}
		case "admins":
			ids := d.RemainingArgs()
			if len(ids) == 0 {
				return d.Err("admins: at least one user id expected")
			}
			p.Admins = append(p.Admins, ids...)
		case "feed_url":
			if !d.NextArg() {
				return d.Err("feed_url: missing URL or path, e.g. /odata/")
			}
			p.FeedURL = d.Val()
			if d.NextArg() {
				return d.Errf("feed_url: one value expected, got also %q", d.Val())
			}
		default:
			return d.Errf("tokengate_portal: unknown subdirective %q (want identity, admins or feed_url)", sub)
		}
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(Portal)
	if err := p.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return p, nil
}

// Interface guards.
var (
	_ caddy.Module                = (*Portal)(nil)
	_ caddy.Provisioner           = (*Portal)(nil)
	_ caddy.Validator             = (*Portal)(nil)
	_ caddyhttp.MiddlewareHandler = (*Portal)(nil)
	_ caddyfile.Unmarshaler       = (*Portal)(nil)
)
