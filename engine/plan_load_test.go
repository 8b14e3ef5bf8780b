package engine

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortUnique sorts below and above the size it sorts in two halves at: the result
// is the one order the comparison allows.
func TestSortUnique(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 100, 1<<14 - 1, 1 << 14, 50_001} {
		s := r.Perm(n)
		want := slices.Sorted(slices.Values(s))
		got := sortUnique(slices.Clone(s), func(a, b *int) int { return cmp.Compare(*a, *b) })
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: sortUnique is not sorted", n)
		}
	}
}
