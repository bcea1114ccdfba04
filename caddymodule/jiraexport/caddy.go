package jiraexport

import (
	"fmt"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("jira_export_demo", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("jira_export_demo", httpcaddyfile.Before, "file_server")
}

// Handler is the Caddy HTTP handler http.handlers.jira_export_demo: the demo
// Jira export OData service. It is terminal: it answers every request it
// gets and never calls the next handler.
type Handler struct {
	// Issues is the number of generated issues (default 5000).
	Issues int `json:"issues,omitempty"`
	// PageSize is the number of entities per page (default 1000).
	PageSize int `json:"page_size,omitempty"`
	// Seed makes the generated data reproducible (default 0).
	Seed int64 `json:"seed,omitempty"`
	// BasePath is the path prefix the service answers below (default "/").
	BasePath string `json:"base_path,omitempty"`

	svc    *Service
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jira_export_demo",
		New: func() caddy.Module { return new(Handler) },
	}
}

func (h *Handler) config() Config {
	return Config{Issues: h.Issues, PageSize: h.PageSize, Seed: h.Seed, BasePath: h.BasePath}
}

// Provision builds the service.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := h.Validate(); err != nil {
		return err
	}
	svc, err := New(h.config())
	if err != nil {
		return fmt.Errorf("jira_export_demo: %w", err)
	}
	h.svc = svc
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if err := h.config().Validate(); err != nil {
		return fmt.Errorf("jira_export_demo: %w", err)
	}
	return nil
}

// ServeHTTP answers the request; it never calls next. A failure to write a
// response that has already started (client gone) is logged, not returned,
// because Caddy could no longer send an error page anyway.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.svc == nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("jira_export_demo: handler not provisioned"))
	}
	if err := h.svc.Serve(w, r); err != nil && h.logger != nil {
		h.logger.Debug("response aborted", zap.String("path", r.URL.Path), zap.Error(err))
	}
	return nil
}

// Service returns the provisioned service (nil before Provision).
func (h *Handler) Service() *Service { return h.svc }

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	jira_export_demo [<matcher>] {
//	    issues    <n>     # default 5000
//	    page_size <n>     # default 1000
//	    seed      <n>     # default 0
//	    base_path <path>  # default /
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.Errf("jira_export_demo: unexpected argument %q; settings go in a block", d.Val())
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("jira_export_demo: %s: given more than once", name)
		}
		seen[name] = true
		var arg string
		switch name {
		case "issues", "page_size", "seed", "base_path":
			if !d.NextArg() {
				return d.Errf("jira_export_demo: %s: missing value", name)
			}
			arg = d.Val()
			if d.NextArg() {
				return d.Errf("jira_export_demo: %s: expected one value, got extra %q", name, d.Val())
			}
		default:
			return d.Errf("jira_export_demo: unrecognized subdirective %q (expected issues, page_size, seed or base_path)", name)
		}
		switch name {
		case "issues", "page_size":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return d.Errf("jira_export_demo: %s: must be a positive integer, got %q", name, arg)
			}
			if name == "issues" {
				h.Issues = n
			} else {
				h.PageSize = n
			}
		case "seed":
			n, err := strconv.ParseInt(arg, 10, 64)
			if err != nil {
				return d.Errf("jira_export_demo: seed: must be an integer, got %q", arg)
			}
			h.Seed = n
		case "base_path":
			h.BasePath = arg
		}
	}
	if err := h.Validate(); err != nil {
		return d.WrapErr(err)
	}
	return nil
}

func parseCaddyfile(hp httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(hp.Dispenser)
	return h, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
