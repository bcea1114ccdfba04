package token_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokengate/tokengate/token"
)

func TestClip(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 5, ""},
		{"abc", 3, "abc"},
		{"abc", 10, "abc"},
		{"abcdef", 3, "abc"},
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"aé", 2, "a"},                          // é is 2 bytes: not split
		{"aé", 3, "aé"},                         // exactly fits
		{"ab€x", 3, "ab"},                       // € is 3 bytes, cut after its first byte
		{"ab€x", 4, "ab"},                       // ... after its second byte
		{"ab€x", 5, "ab€"},                      // fits
		{"a😀b", 2, "a"},                         // 😀 is 4 bytes
		{"a😀b", 4, "a"},                         //
		{"a😀b", 5, "a😀"},                        //
		{"é", 1, ""},                            // nothing fits
		{"\xff\xfe\xfd", 2, "\xff\xfe"},         // invalid bytes count one by one
		{"ab\x80\x80\x80\x80", 4, "ab\x80\x80"}, // stray continuation bytes too
		{"a\xe2\x82", 2, "a\xe2"},               // a truncated sequence is not a character
		{"a\uFFFDb", 2, "a"},                    // U+FFFD is a real 3-byte character
		{strings.Repeat("\x80", 100), 40, strings.Repeat("\x80", 40)},
	} {
		if got := token.Clip(c.s, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

// TestClipProperties: for valid UTF-8 the result is the longest prefix of at
// most n bytes that ends on a character boundary.
func TestClipProperties(t *testing.T) {
	const s = "tgp_ä€😀x\u0301 ÿ日本語🙂z"
	for n := 0; n <= len(s)+1; n++ {
		got := token.Clip(s, n)
		if !strings.HasPrefix(s, got) || len(got) > n || !utf8.ValidString(got) {
			t.Fatalf("Clip(%q, %d) = %q: not a valid prefix of at most %d bytes", s, n, got, n)
		}
		if rest := s[len(got):]; rest != "" {
			_, size := utf8.DecodeRuneInString(rest)
			if len(got)+size <= n {
				t.Fatalf("Clip(%q, %d) = %q: the next character would have fit", s, n, got)
			}
		}
	}
}

func TestEllipsize(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a bit too long", 5, "a bit…"},
		{"naïve", 3, "na…"},
		{"€€", 4, "€…"},
	} {
		if got := token.Ellipsize(c.s, c.n); got != c.want {
			t.Errorf("Ellipsize(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
