package token

import "unicode/utf8"

// Clip returns s cut to at most n bytes without splitting a UTF-8 encoded
// character: a character that would straddle the cut is left out whole.
// Bytes that are not valid UTF-8 count one by one. Clip returns "" for n <= 0.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	// A character straddles the cut if it starts at most UTFMax-1 bytes
	// before s[n] and its encoding runs past n.
	for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if r, size := utf8.DecodeRuneInString(s[i:]); (r != utf8.RuneError || size > 1) && i+size > n {
				return s[:i]
			}
			break
		}
	}
	return s[:n]
}

// Ellipsize returns s if it has at most n bytes, and otherwise Clip(s, n)
// followed by "…": for quoting input in a message.
func Ellipsize(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Clip(s, n) + "…"
}
