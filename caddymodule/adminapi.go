package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// Admin API routes, on Caddy's admin endpoint (default localhost:2019):
//
//	GET    /tokengate/tokens?owner=&limit=&cursor=  AdminTokenList (by id; next_cursor "" on the last page; total)
//	DELETE /tokengate/tokens/{id}                   AdminRevoked
//	POST   /tokengate/revoke-user                   {"owner":"bob"} → {"revoked":N}
//	POST   /tokengate/cap-lifetime                  {"max_lifetime":"90d"} → {"changed":N,"expires_by":…} (in batches; progress in the log)
//	POST   /tokengate/import                        text/csv body (owner,label,token) → {"imported":N,"already_there":M} (checked, then in chunks; progress in the log)
//	GET    /tokengate/history?owner=&limit=&cursor= AdminHistory (newest first)
//
// Every route acts as an operator (token.Operator) named by the
// Tokengate-Actor request header (default "admin-api"); it is recorded in
// the history. Caddy's own protections apply: the endpoint listens on
// localhost (or a unix socket) by default, requests with an Origin header
// (browsers) must come from an allowed origin, and remote access needs
// Caddy's `remote` admin with mTLS and access control naming these paths.
const (
	adminAPIBase = "/tokengate/"
	// ActorHeader names the operator an admin API request acts for.
	ActorHeader = "Tokengate-Actor"
	// DefaultAPIActor is the actor of admin API requests without ActorHeader.
	DefaultAPIActor = "admin-api"
	// MaxImportBytes bounds the CSV body of POST /tokengate/import: about
	// 3 million legacy tokens. The body is spooled to a temporary file.
	MaxImportBytes = 256 << 20
	maxAdminJSON   = 64 << 10
)

// activeApp is the tokengate app of the running config: set when it
// starts, cleared when it stops (unless a newer config's app took over).
// The admin endpoint is started before a config's apps are provisioned,
// so the module looks the app up here, per request, rather than in the
// config being loaded.
var activeApp atomic.Pointer[App]

// AdminAPI is the admin.api.tokengate module: token operations for
// operators on the running instance, through its store, cache and
// revocation path (a revoke is in effect on this instance at once, and
// on every instance with Postgres).
type AdminAPI struct {
	log *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.tokengate",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the logger.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.log = ctx.Logger(a)
	return nil
}

// Routes returns the admin routes under /tokengate/.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminAPIBase, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// adminReq is one admin API request with the running service and actor.
type adminReq struct {
	w     http.ResponseWriter
	r     *http.Request
	svc   *token.Service
	actor token.Actor
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	path := strings.TrimPrefix(r.URL.Path, adminAPIBase)
	type route struct {
		method string
		run    func(*AdminAPI, adminReq) error
	}
	var rt route
	switch {
	case path == "tokens":
		rt = route{http.MethodGet, (*AdminAPI).list}
	case strings.HasPrefix(path, "tokens/") && !strings.Contains(path[len("tokens/"):], "/"):
		rt = route{http.MethodDelete, (*AdminAPI).revoke}
	case path == "revoke-user":
		rt = route{http.MethodPost, (*AdminAPI).revokeUser}
	case path == "cap-lifetime":
		rt = route{http.MethodPost, (*AdminAPI).capLifetime}
	case path == "import":
		rt = route{http.MethodPost, (*AdminAPI).importCSV}
	case path == "history":
		rt = route{http.MethodGet, (*AdminAPI).history}
	default:
		return apiErr(http.StatusNotFound, "no such tokengate admin route %q; see the README's operator section", r.URL.Path)
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		return apiErr(http.StatusMethodNotAllowed, "%s %s: use %s", r.Method, r.URL.Path, rt.method)
	}
	app := activeApp.Load()
	var svc *token.Service
	if app != nil {
		svc = app.Service()
	}
	if svc == nil {
		return apiErr(http.StatusServiceUnavailable, "the running config has no started tokengate app (is a config loaded, or a reload under way?)")
	}
	name := r.Header.Get(ActorHeader)
	if name == "" {
		name = DefaultAPIActor
	}
	if err := token.ValidateOwner(name); err != nil {
		return apiErr(http.StatusBadRequest, "%s header: %v", ActorHeader, err)
	}
	return rt.run(a, adminReq{w: w, r: r, svc: svc, actor: token.Operator(name)})
}

func (a *AdminAPI) list(q adminReq) error {
	v := q.r.URL.Query()
	limit, err := token.ParseLimit(v.Get("limit"))
	if err != nil {
		return apiErr(http.StatusBadRequest, "%v", err)
	}
	p, total, err := listWithTotal(q.r.Context(), q.svc, q.actor, v.Get("owner"), v.Get("cursor"), limit)
	if err != nil {
		return a.fail(q, "list", err)
	}
	return writeAdminJSON(q.w, adminTokenList(p, total, q.svc.Now()))
}

// listWithTotal reads one page of tokens and, for the first page (cursor
// ""), how many match the owner filter in all, from a count query; nil on
// later pages.
func listWithTotal(ctx context.Context, svc *token.Service, actor token.Actor, owner, cursor string, limit int) (token.Page[token.Token], *int, error) {
	p, err := svc.AdminListPage(ctx, actor, owner, cursor, limit)
	if err != nil || cursor != "" {
		return p, nil, err
	}
	total, err := svc.AdminCountTokens(ctx, actor, owner)
	return p, &total, err
}

func (a *AdminAPI) revoke(q adminReq) error {
	id, err := url.PathUnescape(strings.TrimPrefix(q.r.URL.EscapedPath(), adminAPIBase+"tokens/"))
	if err != nil || id == "" {
		return apiErr(http.StatusBadRequest, "DELETE /tokengate/tokens/{id}: the token id is missing or malformed")
	}
	t, err := q.svc.AdminRevoke(q.r.Context(), q.actor, id)
	if err != nil {
		return a.fail(q, "revoke", err)
	}
	a.log.Info("token revoked", zap.String("action", "revoke"), zap.String("actor", q.actor.Name()),
		zap.String("owner", t.Owner), zap.String("token_id", t.ID))
	return writeAdminJSON(q.w, AdminRevoked{Revoked: adminTokenOf(t, q.svc.Now())})
}

func (a *AdminAPI) revokeUser(q adminReq) error {
	var req AdminRevokeUserRequest
	if err := decodeAdminJSON(q.r, &req); err != nil {
		return err
	}
	if err := token.ValidateOwner(req.Owner); err != nil {
		return apiErr(http.StatusBadRequest, "owner: %v", err)
	}
	n, err := q.svc.AdminRevokeOwner(q.r.Context(), q.actor, req.Owner)
	if err != nil {
		return a.fail(q, "revoke_user", err)
	}
	a.log.Info("all tokens of a person revoked", zap.String("action", "revoke_user"),
		zap.String("actor", q.actor.Name()), zap.String("owner", req.Owner), zap.Int("revoked", n))
	return writeAdminJSON(q.w, AdminCount{Revoked: intp(n)})
}

func (a *AdminAPI) capLifetime(q adminReq) error {
	var req AdminCapRequest
	if err := decodeAdminJSON(q.r, &req); err != nil {
		return err
	}
	d, err := token.ParseLifetime(req.MaxLifetime)
	if err != nil {
		return apiErr(http.StatusBadRequest, "max_lifetime: %v", err)
	}
	fields := []zap.Field{zap.String("action", "cap_lifetime"), zap.String("actor", q.actor.Name()),
		zap.String("max_lifetime", token.FormatLifetime(d))}
	r, err := q.svc.CapLifetimeWith(q.r.Context(), q.actor, d, token.CapOptions{Progress: CapProgressLogger(a.log, fields...)})
	if err != nil {
		if r.Changed > 0 {
			a.log.Warn("token lifetime cap interrupted; run it again to finish", append(fields, zap.Int("changed", r.Changed), zap.Error(err))...)
		}
		return a.fail(q, "cap_lifetime", err)
	}
	a.log.Info("token lifetime capped", append(fields, zap.Int("changed", r.Changed))...)
	return writeAdminJSON(q.w, AdminCount{Changed: intp(r.Changed), ExpiresBy: adminTime(r.ExpiresBy)})
}

// CapProgressInterval is the least time between two progress lines of a
// cap run in the log (the first batch is always logged).
const CapProgressInterval = time.Second

// CapProgressLogger returns a token.CapOptions.Progress that logs a cap
// run's progress at info with fields: after the first batch, then at most
// once per CapProgressInterval. The token page's cap action uses it too.
func CapProgressLogger(log *zap.Logger, fields ...zap.Field) func(token.CapProgress) {
	logp := progressLog(log, CapProgressInterval, "token lifetime cap in progress", fields)
	return func(p token.CapProgress) {
		logp(p.Batches == 1, zap.Int("changed", p.Changed), zap.Int("batches", p.Batches),
			zap.Int("unrevoked_tokens", p.Total), zap.String("expires_by", adminTime(p.ExpiresBy)))
	}
}

// progressLog returns a function that logs msg at info with fields and
// more: always for the first step, else at most once per interval.
func progressLog(log *zap.Logger, interval time.Duration, msg string, fields []zap.Field) func(first bool, more ...zap.Field) {
	var last time.Time
	return func(first bool, more ...zap.Field) {
		if !first && time.Since(last) < interval {
			return
		}
		last = time.Now()
		log.Info(msg, append(slices.Clip(fields), more...)...)
	}
}

func (a *AdminAPI) history(q adminReq) error {
	v := q.r.URL.Query()
	limit, err := token.ParseLimit(v.Get("limit"))
	if err != nil {
		return apiErr(http.StatusBadRequest, "%v", err)
	}
	p, err := q.svc.HistoryPage(q.r.Context(), q.actor, v.Get("owner"), v.Get("cursor"), limit)
	if err != nil {
		return a.fail(q, "history", err)
	}
	return writeAdminJSON(q.w, adminHistory(p))
}

// fail maps a Service error to an APIError: 4xx say what to fix, a store
// outage is 503, anything else 500 (details in the log only).
func (a *AdminAPI) fail(q adminReq, action string, err error) error {
	var in *token.InputError
	switch {
	case errors.Is(err, token.ErrForbidden):
		return apiErr(http.StatusForbidden, "%v", err)
	case errors.As(err, &in):
		return apiErr(http.StatusBadRequest, "%s", in.Msg)
	case errors.Is(err, token.ErrNotFound):
		return apiErr(http.StatusNotFound, "no such token: it does not exist or is already revoked")
	case errors.Is(err, token.ErrDuplicate):
		return apiErr(http.StatusConflict, "%v (already imported?)", err)
	case errors.Is(err, token.ErrUnavailable):
		return apiErr(http.StatusServiceUnavailable, "the token store is unavailable right now; try again in a few seconds")
	}
	a.log.Error("tokengate admin request failed", zap.String("action", action),
		zap.String("actor", q.actor.Name()), zap.Error(err))
	return apiErr(http.StatusInternalServerError, "internal error; details are in the server log")
}

func apiErr(status int, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return caddy.APIError{HTTPStatus: status, Err: err, Message: err.Error()}
}

func decodeAdminJSON(r *http.Request, dst any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return apiErr(http.StatusUnsupportedMediaType, "%s %s: send a JSON object with Content-Type application/json", r.Method, r.URL.Path)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apiErr(http.StatusBadRequest, "%s %s: the body is not the expected JSON object: %v", r.Method, r.URL.Path, err)
	}
	return nil
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}

// setActive makes a the app the admin API serves with (called from Start).
func setActive(a *App) { activeApp.Store(a) }

// clearActive forgets a unless a newer app took over (called from Stop).
func clearActive(a *App) { activeApp.CompareAndSwap(a, nil) }

// Interface guards.
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
