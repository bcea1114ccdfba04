package jiraexport

import "sort"

// Every issue owns a run of consecutive rows in three dependent sets: its
// worklogs, its sprint links (IssueSprints) and its status changes. The
// index that maps between them packs the three counts of an issue into one
// byte and keeps the running totals at every ckEvery-th issue, about 1.4
// bytes per issue in all, so that a big data set's live heap (and with it
// the garbage collector's headroom while a response streams) stays small.

// layoutField is one of the per-issue runs.
type layoutField uint8

const (
	fWorklogs layoutField = iota // 0..3 per issue
	fLinks                       // 0..6 per issue (see issueLife)
	fChanges                     // 0..5 per issue
	numFields
)

var (
	fieldShift = [numFields]uint8{0, 2, 5}
	fieldMask  = [numFields]uint8{3, 7, 7}
)

// ckEvery is the distance between checkpoints of the running totals.
const ckEvery = 32

// setCount records the count of field f of issue i (before buildCheckpoints).
func (s *Service) setCount(f layoutField, i, c int) {
	if c < 0 || c > int(fieldMask[f]) {
		panic("jiraexport: per-issue count out of its packed range")
	}
	s.counts[i] = s.counts[i]&^(fieldMask[f]<<fieldShift[f]) | uint8(c)<<fieldShift[f]
}

// count returns the count of field f of issue i.
func (s *Service) count(f layoutField, i int) int {
	return int(s.counts[i] >> fieldShift[f] & fieldMask[f])
}

// buildCheckpoints computes the running totals once every count is set.
func (s *Service) buildCheckpoints() {
	n := len(s.counts)
	for f := range numFields {
		ck := make([]int32, n/ckEvery+2)
		var sum int32
		for i := range n {
			if i%ckEvery == 0 {
				ck[i/ckEvery] = sum
			}
			sum += int32(s.count(f, i))
		}
		for b := (n + ckEvery - 1) / ckEvery; b < len(ck); b++ {
			ck[b] = sum
		}
		s.ck[f] = ck
	}
}

// start returns the first row of field f owned by issue i.
func (s *Service) start(f layoutField, i int) int {
	j := int(s.ck[f][i/ckEvery])
	for k := i &^ (ckEvery - 1); k < i; k++ {
		j += s.count(f, k)
	}
	return j
}

// total returns the number of rows of field f.
func (s *Service) total(f layoutField) int { return int(s.ck[f][len(s.ck[f])-1]) }

// owner returns the issue owning row j of field f (0 <= j < total(f)).
func (s *Service) owner(f layoutField, j int) int {
	ck := s.ck[f]
	b := sort.Search(len(ck), func(b int) bool { return ck[b] > int32(j) }) - 1
	at := int(ck[b])
	for i := b * ckEvery; ; i++ {
		at += s.count(f, i)
		if j < at {
			return i
		}
	}
}

// rangeOf appends the rows of field f owned by issue i to out.
func (s *Service) rangeOf(f layoutField, i int, out []int) []int {
	j := s.start(f, i)
	for k := range s.count(f, i) {
		out = append(out, j+k)
	}
	return out
}
