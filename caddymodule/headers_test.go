package caddymodule

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

// upstreamNames is what tokengate_auth strips with one vault header configured.
var upstreamNames = []string{HeaderUser, HeaderTokenID, "X-Forwarded-Prefix", "X-Jira-Api-Token"}

// TestSanitizeUpstreamConnection: Connection tokens naming a stripped header
// or Authorization go, in any spelling; the other tokens stay as they were.
func TestSanitizeUpstreamConnection(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string
		want []string // nil: no Connection header left
	}{
		{"the issue's example", []string{"close, X-Authenticated-User, X-Access-Token-Id"}, []string{"close"}},
		{"only identity", []string{"X-Authenticated-User, X-Access-Token-Id"}, nil},
		{"several values", []string{"keep-alive", "X-Authenticated-User", "close, x-access-token-id"}, []string{"keep-alive", "close"}},
		{"first value removed", []string{"X-Authenticated-User", "close"}, []string{"close"}},
		{"spaces and tabs", []string{"  X-Authenticated-User ,\tclose\t, X-Access-Token-Id  "}, []string{"close"}},
		{"odd case", []string{"x-AUTHENTICATED-user, Close"}, []string{"Close"}},
		{"underscores", []string{"X_Authenticated_User, x_access_token_id, Upgrade"}, []string{"Upgrade"}},
		{"authorization", []string{"Authorization, close", "AUTHORIZATION"}, []string{"close"}},
		{"vault header", []string{"x-jira-api-token, close"}, []string{"close"}},
		{"forwarded prefix", []string{"X-Forwarded-Prefix"}, nil},
		{"empty tokens", []string{",close,, X-Authenticated-User,"}, []string{"close"}},
		{"longer and shorter names kept", []string{"X-Authenticated-Users, X-Authenticated, Authorizations"}, []string{"X-Authenticated-Users, X-Authenticated, Authorizations"}},
		{"nothing to remove", []string{"close", "keep-alive"}, []string{"close", "keep-alive"}},
		{"empty value", []string{""}, []string{""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/odata/x", nil)
			r.Header["Connection"] = append([]string(nil), c.in...)
			sanitizeUpstream(r, upstreamNames)
			got, ok := r.Header["Connection"]
			if c.want == nil {
				if ok {
					t.Fatalf("Connection = %q, want the header dropped", got)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Connection = %q, want %q", got, c.want)
			}
		})
	}
}

// TestSanitizeUpstreamConnectionSurvivesHopByHop: after sanitizeUpstream and
// the identity headers being set, reverse_proxy's hop-by-hop removal (its
// removeConnectionHeaders, mirrored here) leaves the identity intact.
func TestSanitizeUpstreamConnectionSurvivesHopByHop(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/odata/x", nil)
	r.Header["Connection"] = []string{"close, X-Authenticated-User, x-access-token-id", "X-Jira-Api-Token, Authorization"}
	sanitizeUpstream(r, upstreamNames)
	r.Header[HeaderUser] = []string{"alice"}
	r.Header[HeaderTokenID] = []string{"tok1"}
	r.Header["X-Jira-Api-Token"] = []string{"vault"}
	for _, f := range r.Header["Connection"] { // as reverseproxy.removeConnectionHeaders
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				r.Header.Del(sf)
			}
		}
	}
	for _, k := range []string{HeaderUser, HeaderTokenID, "X-Jira-Api-Token"} {
		if r.Header.Get(k) == "" {
			t.Errorf("%s removed as hop-by-hop; Connection was %q", k, r.Header["Connection"])
		}
	}
}

// TestSanitizeUpstreamStripsHeaders: client copies of the names go in any
// spelling, X-Forwarded-Prefix included; other headers stay.
func TestSanitizeUpstreamStripsHeaders(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/odata/x", nil)
	r.Header = http.Header{
		"X-Authenticated-User": {"mallory"},
		"X_authenticated_user": {"mallory"},
		"X-Access-Token-Id":    {"forged"},
		"X-Forwarded-Prefix":   {"/evil"},
		"x_forwarded_prefix":   {"/evil"},
		"X-Jira-Api-Token":     {"forged"},
		"X-Forwarded-Host":     {"kept"},
		"X-Forwarded-Prefixes": {"kept"},
		"Accept":               {"application/json"},
	}
	sanitizeUpstream(r, upstreamNames)
	want := http.Header{
		"X-Forwarded-Host":     {"kept"},
		"X-Forwarded-Prefixes": {"kept"},
		"Accept":               {"application/json"},
	}
	if !reflect.DeepEqual(r.Header, want) {
		t.Errorf("after sanitizeUpstream: %v, want %v", r.Header, want)
	}
}

// TestSanitizeUpstreamTrailers: declared trailers (r.Trailer and the Trailer
// header) are dropped, whatever their names.
func TestSanitizeUpstreamTrailers(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/odata/x", strings.NewReader("body"))
	r.Header["Trailer"] = []string{"X-Authenticated-User, Authorization"}
	r.Trailer = http.Header{HeaderUser: {"mallory"}, "Authorization": nil, "X-Checksum": {"1"}}
	sanitizeUpstream(r, upstreamNames)
	if r.Trailer != nil {
		t.Errorf("Trailer = %v, want nil", r.Trailer)
	}
	if _, ok := r.Header["Trailer"]; ok {
		t.Errorf("Trailer header = %q, want none", r.Header["Trailer"])
	}
}

// TestSanitizeUpstreamLateTrailers: net/http fills in request trailers only
// at the body's EOF, after tokengate_auth ran. Through a real net/http
// server, with the handler working on a shallow copy of the request as
// every Caddy handler does, trailers sent after sanitizeUpstream (declared
// or not) never show on that copy or on copies made from it later (as
// reverse_proxy's cloneRequest does), while the server's own request does
// get them (so the trailers were really sent and parsed).
func TestSanitizeUpstreamLateTrailers(t *testing.T) {
	for _, c := range []struct {
		name    string
		declare string // Trailer header sent, "" for none
	}{
		{"declared", "Trailer: X-Authenticated-User, X-Access-Token-Id, Authorization\r\n"},
		{"undeclared", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			type seen struct{ server, handler, later http.Header }
			got := make(chan seen, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, orig *http.Request) {
				r := orig.WithContext(context.WithValue(orig.Context(), struct{}{}, 1)) // as caddyhttp's prepareRequest
				sanitizeUpstream(r, upstreamNames)
				later := r.Clone(r.Context()) // as a later handler would
				_, _ = io.Copy(io.Discard, later.Body)
				got <- seen{orig.Trailer, r.Trailer, later.Trailer}
			}))
			defer srv.Close()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = io.WriteString(conn, "POST /odata/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"+c.declare+
				"Connection: close\r\n\r\n4\r\nbody\r\n0\r\n"+
				"X-Authenticated-User: mallory\r\nX-Access-Token-Id: forged\r\nAuthorization: Basic Zm9yZ2Vk\r\n\r\n")
			if err != nil {
				t.Fatal(err)
			}
			s := <-got
			if s.server.Get(HeaderUser) != "mallory" {
				t.Fatalf("the server's request got trailers %v: the test sent none?", s.server)
			}
			if s.handler != nil || s.later != nil {
				t.Errorf("trailers seen by the handler %v, by a later copy %v, want none", s.handler, s.later)
			}
		})
	}
}

// TestSanitizeUpstreamAllocs: the common valid-token request (no Connection
// header, or one naming nothing to remove) costs no allocation.
func TestSanitizeUpstreamAllocs(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/odata/x", nil)
	r.Header = http.Header{"Accept": {"*/*"}, "User-Agent": {"Microsoft.Data.Mashup"}, "Connection": {"keep-alive, Upgrade"}}
	if n := testing.AllocsPerRun(100, func() { sanitizeUpstream(r, upstreamNames) }); n != 0 {
		t.Errorf("sanitizeUpstream allocates %v times per request, want 0", n)
	}
	if got := r.Header["Connection"]; !reflect.DeepEqual(got, []string{"keep-alive, Upgrade"}) {
		t.Errorf("Connection = %q, want it unchanged", got)
	}
}

// BenchmarkSanitizeUpstream measures the valid-token path's header work.
func BenchmarkSanitizeUpstream(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/odata/x", nil)
	r.Header = http.Header{"Accept": {"*/*"}, "User-Agent": {"Microsoft.Data.Mashup"}, "Accept-Encoding": {"gzip, deflate"}}
	b.ReportAllocs()
	for b.Loop() {
		sanitizeUpstream(r, upstreamNames)
	}
}
