package token

import "strings"

// CompareListOrder orders tokens as Store.List returns them: newest
// CreatedAt first, legacy tokens (no CreatedAt) last, ties by ID in byte
// order. It returns a negative number when a comes first, a positive one when
// b does, and 0 only for equal IDs with equal creation times; use it with
// slices.SortFunc.
func CompareListOrder(a, b Token) int {
	switch {
	case a.Legacy() != b.Legacy():
		if a.Legacy() {
			return 1
		}
		return -1
	case !a.CreatedAt.Equal(b.CreatedAt):
		return b.CreatedAt.Compare(a.CreatedAt)
	default:
		return strings.Compare(a.ID, b.ID)
	}
}
