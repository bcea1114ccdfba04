package caddymodule

import (
	"net/http"
	"net/textproto"
	"strings"
)

// sanitizeUpstream makes r safe to hand to the upstream once tokengate_auth
// has accepted it, before it sets its own identity headers. It
//
//   - removes every client-sent copy of names (the identity headers, the
//     vault headers, X-Forwarded-Prefix) in any spelling (see stripHeaders);
//   - removes from every Connection header value each token naming one of
//     names or Authorization (any case, '_' == '-'), keeping the others (such
//     as "close"), and drops the Connection header when nothing is left:
//     reverse_proxy deletes every header a Connection token names as
//     hop-by-hop, which would delete the headers tokengate sets next;
//   - drops every client request trailer (r.Trailer and the Trailer header),
//     so no trailer named like an identity, vault or Authorization header
//     can reach the upstream.
//
// Trailers: the protocol servers fill in request trailers only when the body
// reaches EOF, after this runs. HTTP/1 (net/http transfer.go, readTrailer)
// merges them into the Trailer map of its own *http.Request, or sets that
// request's field when it was nil; HTTP/2 writes into the map created from
// the declared trailers; HTTP/3 (quic-go) sets its own request's field. Caddy
// hands every handler a shallow copy of that request (r.WithContext in
// caddyhttp's prepareRequest), so setting r.Trailer to nil detaches r — and
// every copy later handlers make of it — from both the shared map and the
// server's field. reverse_proxy copies trailers at EOF from the request it
// was given (requestBodyWithTrailers reads origReq.Trailer), so it finds
// none and forwards none: no body wrapper (and no allocation) is needed.
//
// It allocates nothing unless a Connection value names a header to remove.
func sanitizeUpstream(r *http.Request, names []string) {
	stripHeaders(r.Header, names)
	if values := r.Header["Connection"]; len(values) > 0 {
		var kept []string // a new slice only once a value changes
		changed := false
		for i, v := range values {
			nv, same := connectionWithout(v, names)
			if !changed {
				if same {
					continue
				}
				kept = append(make([]string, 0, len(values)), values[:i]...)
				changed = true
			}
			if nv != "" {
				kept = append(kept, nv)
			}
		}
		switch {
		case !changed:
		case len(kept) == 0:
			delete(r.Header, "Connection")
		default:
			r.Header["Connection"] = kept
		}
	}
	r.Trailer = nil
	delete(r.Header, "Trailer")
}

// connectionWithout returns the Connection header value v without the
// comma-separated tokens that name one of names or Authorization, the others
// kept in order and joined by ", ". ok reports that v had no such token (nv
// is then v itself, nothing allocated); nv is "" when no token is left.
func connectionWithout(v string, names []string) (nv string, ok bool) {
	if !connectionNamesAny(v, names) {
		return v, true
	}
	var b strings.Builder
	for rest := v; rest != ""; {
		tok, tail, _ := strings.Cut(rest, ",")
		rest = tail
		tok = textproto.TrimString(tok)
		if tok == "" || namesHeader(tok, names) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tok)
	}
	return b.String(), false
}

// connectionNamesAny reports whether a token of the Connection header value
// v names one of names or Authorization, without allocating.
func connectionNamesAny(v string, names []string) bool {
	for rest := v; rest != ""; {
		tok, tail, _ := strings.Cut(rest, ",")
		rest = tail
		if namesHeader(textproto.TrimString(tok), names) {
			return true
		}
	}
	return false
}

// namesHeader reports whether the header name tok is Authorization or one of
// names, compared like stripHeaders does (any case, '_' == '-').
func namesHeader(tok string, names []string) bool {
	const authorization = "Authorization"
	if len(tok) == len(authorization) && sameHeaderName(tok, authorization) {
		return true
	}
	for _, name := range names {
		if len(tok) == len(name) && sameHeaderName(tok, name) {
			return true
		}
	}
	return false
}

// stripHeaders removes every client-sent copy of the named headers (the
// identity headers and the vault ones): any case (Go canonicalizes incoming
// keys, but not every variant) and spellings with underscores, which CGI,
// WSGI or PHP backends treat like hyphens. Caddy drops underscore headers by
// default, but an operator may allow them (expected_underscore_headers); this
// does not rely on it. Only keys of the right length are compared.
func stripHeaders(h http.Header, names []string) {
	for k := range h {
		for _, name := range names {
			if len(k) == len(name) && sameHeaderName(k, name) {
				delete(h, k)
				break
			}
		}
	}
}

// sameHeaderName compares header names case-insensitively with '_' == '-'.
// a and b must have the same length.
func sameHeaderName(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
