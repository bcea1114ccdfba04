package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

var (
	//go:embed templates/page.html
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS

	pageTemplate = template.Must(template.New("page.html").ParseFS(templateFS, "templates/page.html"))

	// assetVersion changes whenever an embedded asset does, so browsers never
	// combine a new page with an old script.
	assetVersion = func() string {
		h := sha256.New()
		_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := staticFS.ReadFile(p)
				h.Write([]byte(p))
				h.Write(b)
			}
			return nil
		})
		return hex.EncodeToString(h.Sum(nil))[:12]
	}()
)

func assetHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded directory exists at compile time
	}
	fsrv := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(w, r)
	})
}

// DateTimeLayout is how the page shows instants (always UTC).
const DateTimeLayout = "2006-01-02 15:04 UTC"

type rowView struct {
	ID, Owner, Label, Hint     string
	Created, CreatedISO        string
	Expires, ExpiresISO        string
	LastUsed, LastUsedISO      string
	LastUsedIP, LastUsedAgent  string
	Status, StatusText, Symbol string
	Replaceable                bool
	restrictionsView
}

// rejectionView is a row of "Recent rejected attempts": Count identical
// attempts, the last at At.
type rejectionView struct {
	At, AtISO, IP, Agent, Label, Reason string
	Count                               int
}

type eventView struct {
	At, AtISO, Kind, Actor, Owner, TokenID, Label, Detail string
}

type pageData struct {
	Identity      string
	AssetVersion  string
	Tokens        []rowView
	Expiring      []rowView
	Rejections    []rejectionView
	Today         string
	MaxDate       string
	DateRequired  bool
	MaxLifetime   string
	MaxTokens     int
	Create        createFormView
	FeedURL       string
	Admin         bool
	AdminFilter   string
	AdminError    string
	AdminTokens   []rowView
	AdminNext     string // URL of the next page of tokens, "" on the last
	AdminPaged    bool   // not the first page of tokens
	AdminPageSize int    // MaxAdminRows
	AdminFirst    string // URL of the first page (tokens and newest events) of the filter
	History       []eventView
	HistoryLimit  int
	HistoryNext   string // URL of the older events, "" when none
	HistoryPaged  bool   // not the newest events
	VaultEnabled  bool
	Vault         []vaultView
	Notices       noticesView
	ReplaceID     string // ?replace=<id> of one of the person's tokens: open its Replace
	ReplaceGone   bool   // ?replace= named no listed token (revoked, or not theirs)

	// Server constants the page states, so that it never disagrees with
	// the checks behind it.
	MaxLabelLen       int    // token.MaxLabelLen: the label input's maxlength
	MaxVaultSecretLen int    // token.MaxVaultSecretLen: the credential inputs' maxlength
	TokenPrefix       string // token.Prefix: how a token starts
	ExpiringSoon      string // token.ExpiringSoonWindow in words, e.g. "7 days"
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if p := h.originalPath(r); p != "" && !strings.HasSuffix(p, "/") {
		// Relative links only resolve under the mount point with a slash.
		// One leading slash: "//host/x" would be a protocol-relative URL
		// to another host.
		target := "/" + strings.TrimLeft(p, "/") + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	who := h.identity(r)
	if who == "" {
		htmlError(w, http.StatusUnauthorized, "You are not signed in. Sign in to manage your access tokens.")
		return
	}
	if err := token.ValidateOwner(who); err != nil {
		htmlError(w, http.StatusForbidden, "Your identity cannot own tokens: "+err.Error())
		return
	}
	d, err := h.pageData(r, who)
	if err != nil {
		if errors.Is(err, token.ErrUnavailable) {
			h.log.Warn("token store unavailable", zap.String("action", "page"), zap.String("identity", who), zap.Error(err))
			w.Header().Set("Retry-After", RetryAfterSeconds)
			htmlError(w, http.StatusServiceUnavailable, "The token store is unavailable right now. Reload the page in a few seconds.")
			return
		}
		h.log.Error("rendering the token page failed", zap.String("identity", who), zap.Error(err))
		htmlError(w, http.StatusInternalServerError, "Something went wrong; the administrators can find the details in the server log.")
		return
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		h.log.Error("rendering the token page failed", zap.String("identity", who), zap.Error(err))
		htmlError(w, http.StatusInternalServerError, "Something went wrong; the administrators can find the details in the server log.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) pageData(r *http.Request, who string) (pageData, error) {
	ctx := r.Context()
	now := h.now().UTC()
	pol := h.svc.Policy()
	maxDate := h.svc.LatestExpiryDate(now)
	if maxDate == "" { // no lifetime policy: the date picker still stops where the service does
		maxDate = now.Truncate(24*time.Hour).AddDate(token.MaxExpiryYears, 0, 0).Format(token.DateLayout)
	}
	d := pageData{
		Identity:     who,
		AssetVersion: assetVersion,
		Today:        now.Format(token.DateLayout),
		MaxDate:      maxDate,
		DateRequired: pol.MaxLifetime > 0,
		MaxTokens:    pol.MaxTokensPerUser,
		Create:       h.createForm(r),
		FeedURL:      h.feedURL(r),
		Admin:        h.svc.IsAdmin(token.Person(who)),
		HistoryLimit: DefaultHistoryLimit,

		MaxLabelLen:       token.MaxLabelLen,
		MaxVaultSecretLen: token.MaxVaultSecretLen,
		TokenPrefix:       token.Prefix,
		ExpiringSoon:      durationWords(token.ExpiringSoonWindow),
	}
	if pol.MaxLifetime > 0 {
		d.MaxLifetime = token.FormatLifetime(pol.MaxLifetime)
	}
	ts, err := h.svc.List(ctx, who)
	if err != nil {
		return d, err
	}
	for _, t := range ts {
		v := rowOf(t, now)
		d.Tokens = append(d.Tokens, v)
		if v.Status == string(token.StatusExpiringSoon) {
			d.Expiring = append(d.Expiring, v)
		}
	}
	d.Notices = h.noticesOf(who)
	d.ReplaceID, d.ReplaceGone = replaceRequest(r, d.Tokens)
	rs, err := h.svc.Rejections(ctx, who, MaxRejectionsShown)
	if err != nil {
		return d, err
	}
	for _, x := range rs {
		d.Rejections = append(d.Rejections, rejectionView{At: x.At.UTC().Format(DateTimeLayout), AtISO: rfc3339(x.At),
			IP: x.IP, Agent: x.Agent, Label: x.Label, Reason: reasonText(x), Count: x.Times()})
	}
	if err := h.vaultPageData(r, &d, who); err != nil {
		return d, err
	}
	if d.Admin {
		err = h.adminPageData(r, &d, now)
	}
	return d, err
}

func rowOf(t token.Token, now time.Time) rowView {
	v := rowView{ID: t.ID, Owner: t.Owner, Label: t.Label, Hint: "…" + t.Hint,
		Created: "—", Expires: "never", LastUsed: "never used",
		LastUsedIP: t.LastUsedIP, LastUsedAgent: t.LastUsedAgent, restrictionsView: restrictionsOf(t)}
	if !t.Legacy() {
		v.Hint = token.Prefix + v.Hint
		v.Created, v.CreatedISO = t.CreatedAt.UTC().Format(DateTimeLayout), rfc3339(t.CreatedAt)
	}
	if !t.ExpiresAt.IsZero() {
		v.Expires, v.ExpiresISO = expiresText(t.ExpiresAt), rfc3339(t.ExpiresAt)
	}
	if !t.LastUsedAt.IsZero() {
		v.LastUsed, v.LastUsedISO = t.LastUsedAt.UTC().Format(DateTimeLayout), rfc3339(t.LastUsedAt)
	}
	st := t.StatusAt(now)
	v.Status = string(st)
	switch st {
	case token.StatusExpired:
		v.StatusText, v.Symbol, v.Replaceable = "expired", "✕", true
	case token.StatusExpiringSoon:
		v.StatusText, v.Symbol, v.Replaceable = "expiring soon", "⚠", true
	case token.StatusRevoked:
		v.StatusText, v.Symbol = "revoked", "✕"
	default:
		v.StatusText, v.Symbol = "active", "✓"
	}
	return v
}

// durationWords writes d for people: "1 day", "7 days"; a duration that is
// not a whole number of days as token.FormatLifetime does.
func durationWords(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > 0 && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return token.FormatLifetime(d)
}

// expiresText shows the last valid moment of a token: an expiry date D
// (stored as the following midnight) reads "D 23:59:59 UTC"; a capped
// expiry at another time reads as that time.
func expiresText(e time.Time) string {
	e = e.UTC()
	if e.Equal(e.Truncate(24 * time.Hour)) {
		return e.Add(-time.Second).Format("2006-01-02 15:04:05 UTC")
	}
	return e.Format(DateTimeLayout)
}

var errorTemplate = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Access tokens</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="assets/portal.css?v={{.V}}"></head>
<body><main><h1>Access tokens</h1><p class="error-page" role="alert">{{.Msg}}</p></main></body></html>
`))

func htmlError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = errorTemplate.Execute(w, struct{ V, Msg string }{assetVersion, msg})
}
