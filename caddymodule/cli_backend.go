package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/tokengate/tokengate/token"
)

// tokensBackend is how a tokens subcommand reaches the tokens: through the
// running instance's admin API (apiBackend) or by opening the configured
// store (directBackend). Both answer in the admin API's JSON shapes and act
// as the same operator actor.
type tokensBackend interface {
	list(ctx context.Context, owner, cursor string, limit int) (AdminTokenList, error)
	revoke(ctx context.Context, id string) (AdminRevoked, error)
	revokeUser(ctx context.Context, owner string) (AdminCount, error)
	// capLifetime reports every committed batch to progress when it runs
	// here (direct); the admin API logs them in the instance's log instead.
	capLifetime(ctx context.Context, lifetime string, progress func(token.CapProgress)) (AdminCount, error)
	// importCSV imports the CSV file f, reporting every committed chunk
	// to progress when it runs here (direct); the admin API logs them.
	importCSV(ctx context.Context, f *os.File, progress func(token.ImportProgress)) (AdminCount, error)
	history(ctx context.Context, owner, cursor string, limit int) (AdminHistory, error)
	// describe names the path taken, for the one line on stderr.
	describe() string
	close() error
}

// errNotFound is an admin API 404 or the Service's ErrNotFound: nothing
// matched (exit code 2).
var errNotFound = errors.New("nothing matched")

// apiBackend talks to the admin API at addr, like `caddy reload` does.
type apiBackend struct {
	addr  string
	actor string
}

func (b *apiBackend) describe() string { return "via the running instance's admin API at " + b.addr }
func (b *apiBackend) close() error     { return nil }

// errNoInstance says no instance answered at the admin address.
var errNoInstance = errors.New("no running instance")

var apiErrRE = regexp.MustCompile(`^caddy responded with error: HTTP (\d+): (?s)(.*)$`)

// do sends one request; a refused connection is errNoInstance, an error
// answer an error with the API's message (errNotFound wrapped for 404).
func (b *apiBackend) do(method, uri, contentType string, body io.Reader, out any) error {
	h := http.Header{ActorHeader: {b.actor}}
	if body != nil {
		h.Set("Content-Type", contentType)
	}
	resp, err := caddycmd.AdminAPIRequest(b.addr, method, uri, h, body)
	if err != nil {
		msg := err.Error()
		if m := apiErrRE.FindStringSubmatch(msg); m != nil {
			status, _ := strconv.Atoi(m[1])
			var e struct {
				Error string `json:"error"`
			}
			text := strings.TrimSpace(m[2])
			if json.Unmarshal([]byte(text), &e) == nil && e.Error != "" {
				text = e.Error
			}
			if status == http.StatusNotFound && strings.HasPrefix(text, "no such token") {
				return fmt.Errorf("%s: %w", text, errNotFound)
			}
			if status == http.StatusNotFound {
				text += " (is this a tokengate binary with admin.api.tokengate?)"
			}
			return fmt.Errorf("admin API at %s: HTTP %d: %s", b.addr, status, text)
		}
		if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such file or directory") {
			return errNoInstance
		}
		return fmt.Errorf("admin API at %s: %s", b.addr, msg)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin API at %s: reading the answer: %w", b.addr, err)
	}
	return nil
}

func pageQuery(owner, cursor string, limit int) string {
	v := url.Values{}
	if owner != "" {
		v.Set("owner", owner)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func (b *apiBackend) list(_ context.Context, owner, cursor string, limit int) (out AdminTokenList, err error) {
	return out, b.do(http.MethodGet, "/tokengate/tokens"+pageQuery(owner, cursor, limit), "", nil, &out)
}

func (b *apiBackend) revoke(_ context.Context, id string) (out AdminRevoked, err error) {
	return out, b.do(http.MethodDelete, "/tokengate/tokens/"+url.PathEscape(id), "", nil, &out)
}

func (b *apiBackend) revokeUser(_ context.Context, owner string) (out AdminCount, err error) {
	body, _ := json.Marshal(AdminRevokeUserRequest{Owner: owner})
	return out, b.do(http.MethodPost, "/tokengate/revoke-user", "application/json", bytes.NewReader(body), &out)
}

func (b *apiBackend) capLifetime(_ context.Context, lifetime string, _ func(token.CapProgress)) (out AdminCount, err error) {
	body, _ := json.Marshal(AdminCapRequest{MaxLifetime: lifetime})
	return out, b.do(http.MethodPost, "/tokengate/cap-lifetime", "application/json", bytes.NewReader(body), &out)
}

// importCSV streams the file to the instance, which spools it (at most
// MaxImportBytes) and imports it in chunks.
func (b *apiBackend) importCSV(_ context.Context, f *os.File, _ func(token.ImportProgress)) (out AdminCount, err error) {
	if fi, err := f.Stat(); err == nil && fi.Size() > MaxImportBytes {
		return out, fmt.Errorf("larger than the admin API takes (%d MiB); split it, or stop the instance to import it directly", MaxImportBytes>>20)
	}
	return out, b.do(http.MethodPost, "/tokengate/import", "text/csv", f, &out)
}

func (b *apiBackend) history(_ context.Context, owner, cursor string, limit int) (out AdminHistory, err error) {
	return out, b.do(http.MethodGet, "/tokengate/history"+pageQuery(owner, cursor, limit), "", nil, &out)
}

// directBackend works on the configured store, opened by this process.
type directBackend struct {
	store    token.Store
	svc      *token.Service
	actor    token.Actor
	location string
}

func (b *directBackend) describe() string {
	return "directly on the " + b.location + " (no running instance answered)"
}
func (b *directBackend) close() error { return b.store.Close() }

// direct maps the Service's errors like the admin API does.
func direct(err error) error {
	if errors.Is(err, token.ErrNotFound) {
		return fmt.Errorf("no such token: it does not exist or is already revoked: %w", errNotFound)
	}
	return err
}

func (b *directBackend) list(ctx context.Context, owner, cursor string, limit int) (AdminTokenList, error) {
	p, total, err := listWithTotal(ctx, b.svc, b.actor, owner, cursor, limit)
	return adminTokenList(p, total, b.svc.Now()), direct(err)
}

func (b *directBackend) revoke(ctx context.Context, id string) (AdminRevoked, error) {
	t, err := b.svc.AdminRevoke(ctx, b.actor, id)
	return AdminRevoked{Revoked: adminTokenOf(t, b.svc.Now())}, direct(err)
}

func (b *directBackend) revokeUser(ctx context.Context, owner string) (AdminCount, error) {
	n, err := b.svc.AdminRevokeOwner(ctx, b.actor, owner)
	return AdminCount{Revoked: intp(n)}, direct(err)
}

func (b *directBackend) capLifetime(ctx context.Context, lifetime string, progress func(token.CapProgress)) (AdminCount, error) {
	d, err := token.ParseLifetime(lifetime)
	if err != nil {
		return AdminCount{}, fmt.Errorf("max lifetime: %w", err)
	}
	r, err := b.svc.CapLifetimeWith(ctx, b.actor, d, token.CapOptions{Progress: progress})
	return AdminCount{Changed: intp(r.Changed), ExpiresBy: adminTime(r.ExpiresBy)}, direct(err)
}

func (b *directBackend) importCSV(ctx context.Context, f *os.File, progress func(token.ImportProgress)) (AdminCount, error) {
	r, err := b.svc.ImportCSV(ctx, b.actor, f, token.ImportOptions{Progress: progress})
	return AdminCount{Imported: intp(r.Imported), AlreadyThere: intp(r.AlreadyThere)}, direct(err)
}

func (b *directBackend) history(ctx context.Context, owner, cursor string, limit int) (AdminHistory, error) {
	p, err := b.svc.HistoryPage(ctx, b.actor, owner, cursor, limit)
	return adminHistory(p), direct(err)
}
