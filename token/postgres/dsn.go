package postgres

import (
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces a password in DSNs and error texts.
const redacted = "xxxxx"

// RedactDSN returns dsn with its password masked, for logs and error texts.
// It handles postgres:// and postgresql:// URLs (a password in the user info
// or in a password= query parameter) and keyword=value strings (password=,
// quoted or not). It is best effort for malformed input but never returns the
// input unchanged when it can find a password in it.
func RedactDSN(dsn string) string {
	r, _ := redact(dsn)
	return r
}

// redact returns dsn with passwords masked and the passwords it found (raw and
// decoded forms), so that callers can also mask them in other texts.
func redact(dsn string) (string, []string) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return redactURL(dsn)
	}
	return redactKeywords(dsn)
}

// passwordParam matches a password query parameter of a URL.
var passwordParam = regexp.MustCompile(`(?i)([?&]password=)([^&#]*)`)

// redactURL masks the password of a URL DSN.
func redactURL(dsn string) (string, []string) {
	var secrets []string
	scheme, rest, _ := strings.Cut(dsn, "://")

	// Textual pass first: it also works for URLs net/url rejects. The user
	// info ends at the last '@' before the path (a password may contain '@').
	authEnd := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authEnd = i
	}
	if at := strings.LastIndex(rest[:authEnd], "@"); at >= 0 {
		if user, pw, ok := strings.Cut(rest[:at], ":"); ok {
			secrets = append(secrets, pw)
			if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
				secrets = append(secrets, dec)
			}
			rest = user + ":" + redacted + rest[at:]
		}
	} else if at := strings.LastIndex(rest, "@"); at >= 0 {
		// No '@' before the first '/': a password containing '/' or '?'
		// (malformed, but it happens). Mask everything after the first ':'.
		if user, pw, ok := strings.Cut(rest[:at], ":"); ok {
			secrets = append(secrets, pw)
			rest = user + ":" + redacted + rest[at:]
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatch(rest, -1) {
		secrets = append(secrets, m[2])
		if dec, err := url.QueryUnescape(m[2]); err == nil && dec != m[2] {
			secrets = append(secrets, dec)
		}
	}
	rest = passwordParam.ReplaceAllString(rest, "${1}"+redacted)
	return scheme + "://" + rest, secrets
}

// redactKeywords masks password values in a keyword=value DSN, following the
// libpq quoting rules (single quotes, backslash escapes).
func redactKeywords(dsn string) (string, []string) {
	var (
		out     strings.Builder
		secrets []string
		i       int
	)
	for i < len(dsn) {
		// Copy white space.
		j := i
		for j < len(dsn) && isSpace(dsn[j]) {
			j++
		}
		out.WriteString(dsn[i:j])
		i = j
		if i >= len(dsn) {
			break
		}
		// Keyword, optional spaces, '=', optional spaces.
		eq := strings.IndexByte(dsn[i:], '=')
		if eq < 0 {
			out.WriteString(dsn[i:])
			break
		}
		key := strings.TrimSpace(dsn[i : i+eq])
		j = i + eq + 1
		for j < len(dsn) && isSpace(dsn[j]) {
			j++
		}
		out.WriteString(dsn[i:j])
		// Value, quoted or not.
		start := j
		var val strings.Builder
		if j < len(dsn) && dsn[j] == '\'' {
			j++
			for j < len(dsn) && dsn[j] != '\'' {
				if dsn[j] == '\\' && j+1 < len(dsn) {
					j++
				}
				val.WriteByte(dsn[j])
				j++
			}
			if j < len(dsn) {
				j++ // closing quote
			}
		} else {
			for j < len(dsn) && !isSpace(dsn[j]) {
				if dsn[j] == '\\' && j+1 < len(dsn) {
					j++
				}
				val.WriteByte(dsn[j])
				j++
			}
		}
		if strings.EqualFold(key, "password") {
			secrets = append(secrets, val.String(), dsn[start:j])
			out.WriteString(redacted)
		} else {
			out.WriteString(dsn[start:j])
		}
		i = j
	}
	return out.String(), secrets
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
