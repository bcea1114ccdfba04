package token_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tokengate/tokengate/token"
)

func TestCompareListOrder(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	want := []token.Token{
		{ID: "n2", CreatedAt: t0.Add(time.Hour)},
		{ID: "a", CreatedAt: t0},
		{ID: "b", CreatedAt: t0.In(time.FixedZone("X", 3600))}, // same instant, another zone: tie by ID
		{ID: "o", CreatedAt: t0.Add(-time.Hour)},
		{ID: "L1"}, // legacy tokens last, by ID
		{ID: "L2"},
	}
	for _, perm := range [][]int{{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {4, 2, 0, 5, 3, 1}, {1, 5, 2, 4, 0, 3}} {
		ts := make([]token.Token, len(perm))
		for i, p := range perm {
			ts[i] = want[p]
		}
		slices.SortFunc(ts, token.CompareListOrder)
		for i := range ts {
			if ts[i].ID != want[i].ID {
				t.Errorf("sorted %v: position %d is %s, want %s", perm, i, ts[i].ID, want[i].ID)
			}
		}
	}
	if c := token.CompareListOrder(want[1], want[1]); c != 0 {
		t.Errorf("CompareListOrder(x, x) = %d, want 0", c)
	}
	for i := 0; i+1 < len(want); i++ {
		if token.CompareListOrder(want[i], want[i+1]) >= 0 || token.CompareListOrder(want[i+1], want[i]) <= 0 {
			t.Errorf("CompareListOrder(%s, %s) is not antisymmetric", want[i].ID, want[i+1].ID)
		}
	}
}
