package jiraexport

import (
	"fmt"
	"net/http"
	"strings"
)

// serviceRoot is the absolute URL of the service root as the client sees
// it: X-Forwarded-Proto / X-Forwarded-Host when a proxy set them (else the
// request's own scheme and Host), then X-Forwarded-Prefix, then the base path.
func serviceRoot(r *http.Request, basePath string) (string, error) {
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if v := firstValue(r.Header.Get("X-Forwarded-Proto")); v != "" {
		proto = strings.ToLower(v)
		if proto != "http" && proto != "https" {
			return "", fmt.Errorf("X-Forwarded-Proto must be http or https, got %q", v)
		}
	}
	host := r.Host
	if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" {
		host = v
	}
	if host == "" || strings.ContainsFunc(host, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-_:[]", c))
	}) {
		return "", fmt.Errorf("invalid host %q (from X-Forwarded-Host or Host)", host)
	}
	prefix := ""
	if v := firstValue(r.Header.Get("X-Forwarded-Prefix")); v != "" && v != "/" {
		p, err := normalizeBasePath(v)
		if err != nil {
			return "", fmt.Errorf("X-Forwarded-Prefix: %w", err)
		}
		prefix = p
	}
	if basePath == "/" {
		basePath = ""
	}
	return proto + "://" + host + prefix + basePath, nil
}

// firstValue returns the first element of a comma-separated header value
// (proxies append theirs to a chain).
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// nextLink is the URL of the page starting at token, keeping every query
// option of the request except $skiptoken.
func (rq *request) nextLink(token string) string {
	var b strings.Builder
	b.WriteString(rq.root)
	b.WriteString(rq.rel)
	b.WriteByte('?')
	for _, p := range rq.opts.rawKept {
		b.WriteString(p)
		b.WriteByte('&')
	}
	b.WriteString("$skiptoken=")
	b.WriteString(token)
	return b.String()
}
