package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"unicode/utf8"
)

// Prefix starts every token tokengate issues.
const Prefix = "tgp_"

const (
	// alphabet is the base62 alphabet of the random part and of the checksum.
	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// randomLen is the number of random base62 characters (≈256 bits).
	randomLen = 43
	// checksumLen is the number of base62 characters of the CRC32 checksum.
	checksumLen = 6
	// Len is the length of a well-formed token.
	Len = len(Prefix) + randomLen + checksumLen
	// HintLen is how many trailing characters of a token are kept as a hint.
	HintLen = 4
)

// Digest is the SHA-256 digest of a token: the only form in which a token is stored.
type Digest [sha256.Size]byte

// String returns the digest in lower-case hex. A digest is not a secret.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigestHex parses a 64-character hex SHA-256 digest.
func ParseDigestHex(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("digest must be %d hex characters, got %d", 2*len(d), len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("digest is not hex: %w", err)
	}
	return d, nil
}

// DigestOf returns the SHA-256 digest of a presented secret. It does not
// allocate for secrets of up to digestBufLen bytes (every tokengate token).
func DigestOf(secret string) Digest {
	var buf [digestBufLen]byte
	if len(secret) <= len(buf) {
		n := copy(buf[:], secret)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(secret))
}

// digestBufLen is the size of DigestOf's stack buffer ([]byte(secret) of a
// longer string would allocate).
const digestBufLen = 128

// HintOf returns the last HintLen characters of a secret (or all of a shorter one).
func HintOf(secret string) string {
	i := len(secret)
	for n := 0; n < HintLen && i > 0; n++ {
		_, size := utf8.DecodeLastRuneInString(secret[:i])
		i -= size
	}
	return secret[i:]
}

// Generate returns a new random token: Prefix, 43 uniformly drawn base62
// characters from crypto/rand, and a 6-character base62 CRC32-IEEE checksum.
func Generate() (string, error) {
	buf := make([]byte, Len)
	copy(buf, Prefix)
	random := buf[len(Prefix) : len(Prefix)+randomLen]
	// Rejection sampling: bytes >= 248 (= 4*62) are discarded so every
	// character is uniform over the alphabet.
	var pool [64]byte
	filled := 0
	for filled < randomLen {
		if _, err := rand.Read(pool[:]); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range pool {
			if b >= 248 {
				continue
			}
			random[filled] = alphabet[b%62]
			filled++
			if filled == randomLen {
				break
			}
		}
	}
	putChecksum(buf[len(Prefix)+randomLen:], crc32.ChecksumIEEE(buf[:len(Prefix)+randomLen]))
	return string(buf), nil
}

// putChecksum writes sum in base62, zero-padded, into dst (checksumLen bytes).
func putChecksum(dst []byte, sum uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[sum%62]
		sum /= 62
	}
}

// HasPrefix reports whether s claims to be a tokengate token (starts with Prefix).
func HasPrefix(s string) bool { return len(s) >= len(Prefix) && s[:len(Prefix)] == Prefix }

// WellFormed reports whether s is a well-formed token: the prefix, the exact
// length, only base62 characters and a matching checksum. It does not allocate.
func WellFormed(s string) bool {
	if len(s) != Len || !HasPrefix(s) {
		return false
	}
	for i := len(Prefix); i < Len; i++ {
		if !isBase62(s[i]) {
			return false
		}
	}
	body := len(Prefix) + randomLen
	sum := crc32String(s[:body])
	var want [checksumLen]byte
	putChecksum(want[:], sum)
	return s[body:] == string(want[:])
}

// crc32String returns the CRC32-IEEE checksum of s, computed over the string
// itself (crc32.ChecksumIEEE([]byte(s)) would allocate), slicing by 8.
func crc32String(s string) uint32 {
	t := &crc32Slicing8
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][crc>>24] ^ t[5][(crc>>16)&0xFF] ^ t[6][(crc>>8)&0xFF] ^ t[7][crc&0xFF]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = t[0][byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// crc32Slicing8 holds the slicing-by-8 tables of CRC32-IEEE.
var crc32Slicing8 = func() (t [8]crc32.Table) {
	t[0] = *crc32.IEEETable
	for i := 0; i < 256; i++ {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xFF] ^ (crc >> 8)
			t[j][i] = crc
		}
	}
	return t
}()

func isBase62(c byte) bool {
	return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}
