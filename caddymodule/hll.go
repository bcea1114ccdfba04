package caddymodule

import (
	"math"
	"math/bits"
)

// hllPrecision is log2 of the number of HyperLogLog registers (4096:
// about 1.6 % standard error, 4 KiB per window).
const hllPrecision = 12

// hyperLogLog estimates the number of distinct hashes added to it, in
// fixed memory and O(1) per add.
type hyperLogLog struct {
	reg [1 << hllPrecision]uint8
}

// add adds a 64-bit hash.
func (h *hyperLogLog) add(x uint64) {
	idx := x >> (64 - hllPrecision)
	rho := uint8(bits.LeadingZeros64(x<<hllPrecision|1<<(hllPrecision-1))) + 1
	if rho > h.reg[idx] {
		h.reg[idx] = rho
	}
}

// estimate returns the estimated number of distinct hashes added.
func (h *hyperLogLog) estimate() uint64 {
	const m = float64(len(h.reg))
	sum, zeros := 0.0, 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	if zeros == len(h.reg) {
		return 0
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // small range: linear counting
	}
	return uint64(math.Round(e))
}

// reset empties the sketch.
func (h *hyperLogLog) reset() {
	clear(h.reg[:])
}
