package token_test

import (
	"crypto/sha256"
	"hash/crc32"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokengate/tokengate/token"
)

// The format, restated independently of format.go.
const (
	base62   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	bodyLen  = 4 + 43 // prefix + random part
	tokenLen = bodyLen + 6
)

// checksum62 is CRC32-IEEE of body in base62, zero-padded to 6 characters.
func checksum62(body string) string {
	sum := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		out[i] = base62[sum%62]
		sum /= 62
	}
	return string(out)
}

func generate(t testing.TB) string {
	t.Helper()
	s, err := token.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

func TestGeneratedTokensAreWellFormed(t *testing.T) {
	if token.Len != tokenLen {
		t.Fatalf("token.Len = %d, want %d", token.Len, tokenLen)
	}
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		s := generate(t)
		if len(s) != tokenLen || !strings.HasPrefix(s, "tgp_") {
			t.Fatalf("token %d: length %d or prefix wrong", i, len(s))
		}
		if strings.Trim(s[4:], base62) != "" {
			t.Fatalf("token %d has characters outside base62", i)
		}
		if s[bodyLen:] != checksum62(s[:bodyLen]) {
			t.Fatalf("token %d: checksum does not match CRC32-IEEE of its body", i)
		}
		if !token.WellFormed(s) {
			t.Fatalf("generated token %d is not WellFormed", i)
		}
		if seen[s] {
			t.Fatal("Generate repeated a token")
		}
		seen[s] = true
	}
}

func TestChecksumKnownAnswers(t *testing.T) {
	// Computed outside Go (Python zlib.crc32 and a hand-written base62).
	known := []string{
		"tgp_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg4O6LPg", // crc 0xefa6a45c
		"tgp_000000000000000000000000000000000000000000017jAMh", // crc 0x3d699d8f
		"tgp_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1ioDao", // crc 0x5e12572e
	}
	for _, s := range known {
		if got := checksum62(s[:bodyLen]); got != s[bodyLen:] {
			t.Errorf("test's own checksum of %s… = %s, want %s", s[:12], got, s[bodyLen:])
		}
		if !token.WellFormed(s) {
			t.Errorf("WellFormed(%s) = false, want true", s)
		}
	}
	if crc32.ChecksumIEEE([]byte(known[0][:bodyLen])) != 0xefa6a45c {
		t.Error("CRC32-IEEE known answer mismatch")
	}
}

func TestEverySingleCorruptionIsRejected(t *testing.T) {
	for n := 0; n < 20; n++ {
		s := generate(t)
		b := []byte(s)
		for i := range b {
			orig := b[i]
			for c := 0; c < 256; c++ {
				if byte(c) == orig {
					continue
				}
				b[i] = byte(c)
				if token.WellFormed(string(b)) {
					t.Fatalf("substituting %q at position %d was accepted", byte(c), i)
				}
			}
			b[i] = orig
		}
		for l := 0; l < len(s); l++ {
			if token.WellFormed(s[:l]) {
				t.Fatalf("truncation to %d characters was accepted", l)
			}
			if token.WellFormed(s[:l] + s[l+1:]) {
				t.Fatalf("deleting position %d was accepted", l)
			}
		}
		for _, c := range base62 + "_-=" {
			if token.WellFormed(s+string(c)) || token.WellFormed(string(c)+s) {
				t.Fatalf("extension by %q was accepted", c)
			}
		}
		// Swapping two neighbouring distinct characters is also caught.
		for i := 4; i+1 < len(b); i++ {
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
			if token.WellFormed(string(b)) {
				t.Fatalf("transposition at %d was accepted", i)
			}
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
}

// A chi-square test over the random characters of many tokens: a biased
// mapping (like b%62 without rejection) fails it by a wide margin.
func TestRandomPartIsUniform(t *testing.T) {
	const n = 2000
	var counts [256]int
	total := 0
	for i := 0; i < n; i++ {
		for _, c := range []byte(generate(t)[4:bodyLen]) {
			counts[c]++
			total++
		}
	}
	expected := float64(total) / 62
	chi2 := 0.0
	for i := 0; i < len(base62); i++ {
		d := float64(counts[base62[i]]) - expected
		chi2 += d * d / expected
	}
	// 61 degrees of freedom: mean 61, standard deviation 11; 150 is ~8 sd out.
	if chi2 > 150 {
		t.Errorf("chi-square over %d characters = %.1f, want < 150 (mean 61)", total, chi2)
	}
	if chi2 < 15 {
		t.Errorf("chi-square = %.1f is implausibly small for random data", chi2)
	}
}

func TestFormatHelpersDoNotAllocate(t *testing.T) {
	s := generate(t)
	if a := testing.AllocsPerRun(100, func() { token.WellFormed(s) }); a != 0 {
		t.Errorf("WellFormed allocates %.0f times, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = token.DigestOf(s) }); a != 0 {
		t.Errorf("DigestOf allocates %.0f times, want 0", a)
	}
}

func TestDigestOf(t *testing.T) {
	for _, s := range []string{"", "a", generate(t), strings.Repeat("x", 128), strings.Repeat("y", 129), strings.Repeat("z", 5000)} {
		if token.DigestOf(s) != token.Digest(sha256.Sum256([]byte(s))) {
			t.Errorf("DigestOf(string of %d bytes) differs from SHA-256", len(s))
		}
	}
}

func FuzzWellFormed(f *testing.F) {
	valid := "tgp_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg4O6LPg"
	for _, s := range []string{
		valid, valid[:52], valid + "0", "tgp_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg4O6LPh",
		"tgq_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg4O6LPg", "", "tgp_", "tgp_é",
		"tgp_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdeé4O6LPg", strings.Repeat("\xff", 53),
		"tgp_日本語日本語日本語日本語日本語0123456789abc", "TGP_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg4O6LPg",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !token.WellFormed(s) {
			return
		}
		if len(s) != tokenLen || !strings.HasPrefix(s, "tgp_") || !utf8.ValidString(s) {
			t.Fatalf("WellFormed accepted %q: wrong length or prefix", s)
		}
		if strings.Trim(s[4:], base62) != "" {
			t.Fatalf("WellFormed accepted non-base62 characters: %q", s)
		}
		if s[bodyLen:] != checksum62(s[:bodyLen]) {
			t.Fatalf("WellFormed accepted a wrong checksum: %q", s)
		}
	})
}
