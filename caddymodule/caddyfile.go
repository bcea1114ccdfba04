package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/token"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("tokengate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("tokengate_auth", parseAuth)
	// Ordered like basic_auth: authentication runs before handle, route,
	// respond and reverse_proxy, so a top-level tokengate_auth guards them all.
	httpcaddyfile.RegisterDirectiveOrder("tokengate_auth", httpcaddyfile.After, "basic_auth")
}

// parseGlobalOption parses the global "tokengate { ... }" block:
//
//	tokengate {
//		store bolt <path> | store postgres <dsn>
//		cache_ttl <duration>
//		cache_max_entries <n>
//		negative_ttl <duration>
//		last_used_flush <duration>
//		max_tokens_per_user <n>
//		max_lifetime <duration>
//		vault_key <key>
//		vault_kind <id> <label>
//		require_allowed_ips [on|off]
//		notify { … }              (see unmarshalNotify)
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "tokengate", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "store":
			var kind, loc string
			if !d.Args(&kind, &loc) {
				return d.Errf("store: want 'store bolt <path>' or 'store postgres <dsn>'")
			}
			if d.NextArg() {
				return d.Errf("store: too many arguments")
			}
			switch kind {
			case "bolt":
				a.Store = StoreConfig{Type: "bolt", Path: loc}
			case "postgres":
				a.Store = StoreConfig{Type: "postgres", DSN: loc}
			default:
				return d.Errf("store: unknown type %q (want bolt or postgres)", kind)
			}
		case "cache_ttl":
			if err := parseDuration(d, &a.CacheTTL); err != nil {
				return err
			}
		case "cache_max_entries":
			n, err := parseInt(d)
			if err != nil {
				return err
			}
			if n <= 0 || n > MaxCacheEntries {
				return d.Errf("cache_max_entries: must be between 1 and %d, got %d", MaxCacheEntries, n)
			}
			a.CacheMaxEntries = int64(n)
		case "negative_ttl":
			if err := parseDuration(d, &a.NegativeTTL); err != nil {
				return err
			}
		case "last_used_flush":
			if err := parseDuration(d, &a.LastUsedFlush); err != nil {
				return err
			}
		case "max_lifetime":
			if err := parseDuration(d, &a.MaxLifetime); err != nil {
				return err
			}
		case "vault_key":
			if !d.NextArg() {
				return d.Errf("vault_key: missing key (use a placeholder such as {env.TOKENGATE_VAULT_KEY})")
			}
			a.VaultKey = d.Val()
			if d.NextArg() {
				return d.Errf("vault_key: too many arguments")
			}
		case "vault_kind":
			var id string
			if !d.Args(&id) {
				return d.Errf("vault_kind: want 'vault_kind <id> <label>', e.g. vault_kind jira \"Jira API token\"")
			}
			label := strings.Join(d.RemainingArgs(), " ")
			if label == "" {
				return d.Errf("vault_kind %s: missing label", id)
			}
			a.VaultKinds = append(a.VaultKinds, token.VaultKind{ID: id, Label: label})
		case "require_allowed_ips":
			on, err := parseFlag(d)
			if err != nil {
				return err
			}
			a.RequireAllowedIPs = on
		case "notify":
			if a.Notify != nil {
				return d.Errf("notify: defined twice")
			}
			a.Notify = new(NotifyConfig)
			if err := a.Notify.unmarshalNotify(d); err != nil {
				return err
			}
		case "max_tokens_per_user":
			n, err := parseInt(d)
			if err != nil {
				return err
			}
			if n <= 0 {
				return d.Errf("max_tokens_per_user: must be positive, got %d", n)
			}
			a.MaxTokensPerUser = n
		default:
			return d.Errf("tokengate: unknown option %q", d.Val())
		}
	}
	return nil
}

// parseAuth parses the tokengate_auth directive:
//
//	tokengate_auth {
//		realm <text>
//		match_username on|off
//		inject_vault <kind> <header>
//		methods <method>...            (default GET HEAD)
//		scope <name> <path-pattern>... (repeatable, one line per scope)
//		scope_always <path-pattern>...
//	}
//
// failure_limit <n> [<window>] | off and lookup_limit (same form) are still
// parsed, so that old configs load, and ignored with a warning.
func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Auth)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (h *Auth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "realm":
			if !d.NextArg() {
				return d.Errf("realm: missing value")
			}
			h.Realm = d.Val()
			if d.NextArg() {
				return d.Errf("realm: too many arguments (quote a realm with spaces)")
			}
		case "match_username":
			if !d.NextArg() {
				return d.Errf("match_username: want on or off")
			}
			switch d.Val() {
			case "on":
				h.MatchUsername = true
			case "off":
				h.MatchUsername = false
			default:
				return d.Errf("match_username: want on or off, got %q", d.Val())
			}
			if d.NextArg() {
				return d.Errf("match_username: too many arguments")
			}
		case "failure_limit":
			if err := parseLimit(d, &h.FailureLimit, &h.FailureWindow); err != nil {
				return err
			}
		case "lookup_limit":
			if err := parseLimit(d, &h.LookupLimit, &h.LookupWindow); err != nil {
				return err
			}
		case "methods":
			ms := d.RemainingArgs()
			if len(ms) == 0 {
				return d.Errf("methods: list the methods to let through, e.g. methods GET HEAD")
			}
			h.Methods = append(h.Methods, ms...)
		case "scope":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("scope: want 'scope <name> <path-pattern>...', e.g. scope issues /odata/Issues* /odata/Sprints*")
			}
			if _, dup := h.Scopes[args[0]]; dup {
				return d.Errf("scope %s: defined twice (list all its patterns on one line)", args[0])
			}
			if _, err := newScopeSet(map[string][]string{args[0]: args[1:]}, nil); err != nil {
				return d.Err(err.Error()) // with the line
			}
			if h.Scopes == nil {
				h.Scopes = make(map[string][]string)
			}
			h.Scopes[args[0]] = args[1:]
		case "scope_always":
			patterns := d.RemainingArgs()
			if len(patterns) == 0 {
				return d.Errf("scope_always: list the path patterns every scoped token reaches, e.g. scope_always /odata/ /odata/$metadata")
			}
			if _, err := checkPatterns("scope_always", patterns); err != nil {
				return d.Err(err.Error())
			}
			h.ScopeAlways = append(h.ScopeAlways, patterns...)
		case "inject_vault":
			var kind, header string
			if !d.Args(&kind, &header) {
				return d.Errf("inject_vault: want 'inject_vault <kind> <header>', e.g. inject_vault jira X-Jira-Api-Token")
			}
			if d.NextArg() {
				return d.Errf("inject_vault: too many arguments")
			}
			h.InjectVault = append(h.InjectVault, VaultInjection{Kind: kind, Header: header})
		default:
			return d.Errf("tokengate_auth: unknown option %q", d.Val())
		}
	}
	return nil
}

func parseDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: missing duration", name)
	}
	dur, err := caddy.ParseDuration(d.Val())
	if err != nil {
		return d.Errf("%s: invalid duration %q (examples: 30s, 1m, 365d)", name, d.Val())
	}
	if dur < 0 {
		return d.Errf("%s: must not be negative, got %s", name, d.Val())
	}
	if d.NextArg() {
		return d.Errf("%s: too many arguments", name)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// parseFlag parses a flag option: '<option>' or '<option> on' is true,
// '<option> off' false.
func parseFlag(d *caddyfile.Dispenser) (bool, error) {
	name := d.Val()
	on := true
	if d.NextArg() {
		switch d.Val() {
		case "on":
		case "off":
			on = false
		default:
			return false, d.Errf("%s: want on or off (or nothing), got %q", name, d.Val())
		}
	}
	if d.NextArg() {
		return false, d.Errf("%s: too many arguments", name)
	}
	return on, nil
}

func parseInt(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	if !d.NextArg() {
		return 0, d.Errf("%s: missing number", name)
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil {
		return 0, d.Errf("%s: want an integer, got %q", name, d.Val())
	}
	if d.NextArg() {
		return 0, d.Errf("%s: too many arguments", name)
	}
	return n, nil
}

var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Auth)(nil)
)

// parseLimit parses '<option> <count> [<window>]' or '<option> off' into
// count (-1 for off) and, when given, window.
func parseLimit(d *caddyfile.Dispenser, count *int, window *caddy.Duration) error {
	name := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: want '<count> [<window>]' or 'off'", name)
	}
	if d.Val() == "off" {
		*count = -1
	} else {
		n, err := strconv.Atoi(d.Val())
		if err != nil || n <= 0 {
			return d.Errf("%s: count must be a positive integer, got %q", name, d.Val())
		}
		*count = n
		if d.NextArg() {
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("%s: window must be a positive duration like 1m, got %q", name, d.Val())
			}
			*window = caddy.Duration(dur)
		}
	}
	if d.NextArg() {
		return d.Errf("%s: too many arguments", name)
	}
	return nil
}
