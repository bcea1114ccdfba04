package jiraexport

import "testing"

// TestPackedLayout checks the packed per-issue index against plain prefix
// sums, for sizes around the checkpoint distance.
func TestPackedLayout(t *testing.T) {
	for _, n := range []int{1, 31, 32, 33, 1000} {
		s, err := New(Config{Issues: n})
		if err != nil {
			t.Fatal(err)
		}
		for f := range numFields {
			sum := 0
			for i := range n {
				if got := s.start(f, i); got != sum {
					t.Fatalf("n=%d field %d: start(%d) = %d, want %d", n, f, i, got, sum)
				}
				for k := range s.count(f, i) {
					if o := s.owner(f, sum+k); o != i {
						t.Fatalf("n=%d field %d: owner(%d) = %d, want %d", n, f, sum+k, o, i)
					}
				}
				sum += s.count(f, i)
			}
			if s.total(f) != sum {
				t.Fatalf("n=%d field %d: total %d, want %d", n, f, s.total(f), sum)
			}
		}
	}
}
