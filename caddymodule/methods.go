package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// DefaultMethods are the request methods tokengate_auth lets through when
// `methods` is not set: Power BI and other OData clients only read.
var DefaultMethods = []string{http.MethodGet, http.MethodHead}

// neverForwarded are methods no configuration may let through: TRACE
// reflects the request (headers that tokengate injected included) and
// CONNECT would turn the proxy into a tunnel.
var neverForwarded = []string{http.MethodTrace, http.MethodConnect}

// methodSet is the checked form of the `methods` option.
type methodSet struct {
	allowed []string // upper case, no duplicates, in config order
	allow   string   // the Allow header of a 405
}

// newMethodSet checks the configured methods (nil = DefaultMethods); errors
// name the option and the offending method.
func newMethodSet(methods []string) (methodSet, error) {
	if methods == nil {
		methods = DefaultMethods
	}
	if len(methods) == 0 {
		return methodSet{}, fmt.Errorf("tokengate_auth: methods: list at least one method (default: %s)", strings.Join(DefaultMethods, " "))
	}
	var s methodSet
	for _, m := range methods {
		if m == "" || !isToken(m) {
			return methodSet{}, fmt.Errorf("tokengate_auth: methods: %q is not an HTTP method", m)
		}
		for _, never := range neverForwarded {
			if strings.EqualFold(m, never) {
				return methodSet{}, fmt.Errorf("tokengate_auth: methods: %s is never forwarded (remove it)", never)
			}
		}
		if up := strings.ToUpper(m); !s.permits(up) {
			s.allowed = append(s.allowed, up)
		}
	}
	s.allow = strings.Join(s.allowed, ", ")
	return s, nil
}

// permits reports whether method is allowed (methods are case-sensitive,
// RFC 9110 §9.1: "get" is not GET).
func (s methodSet) permits(method string) bool {
	for _, m := range s.allowed {
		if m == method {
			return true
		}
	}
	return false
}

// isToken reports whether s consists of RFC 9110 token characters only.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}
