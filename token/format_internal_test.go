package token

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// crc32String must agree with the standard library for every length.
func TestCRC32StringMatchesStdlib(t *testing.T) {
	buf := make([]byte, 200)
	for n := 0; n <= len(buf); n++ {
		for k := 0; k < 20; k++ {
			for i := range buf[:n] {
				buf[i] = byte(rand.IntN(256))
			}
			if got, want := crc32String(string(buf[:n])), crc32.ChecksumIEEE(buf[:n]); got != want {
				t.Fatalf("crc32String of %d bytes = %08x, want %08x", n, got, want)
			}
		}
	}
}
