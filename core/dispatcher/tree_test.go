package dispatcher

import (
	"slices"
	"testing"
)

// TestAVLPostOrder checks the set order against what Kamailio 5.6.3's
// dispatcher.list printed for lists with these set ids, in file order.
func TestAVLPostOrder(t *testing.T) {
	for _, tc := range []struct{ ids, want []int }{
		{[]int{2, 1, 1, 3}, []int{1, 3, 2}},
		{[]int{5, 3, 8, 1, 4, 7, 9, 2, 6}, []int{2, 1, 4, 3, 6, 7, 9, 8, 5}},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int{1, 3, 2, 5, 7, 6, 10, 9, 8, 4}},
		{[]int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, []int{1, 2, 4, 6, 5, 3, 8, 10, 9, 7}},
		{[]int{3, 1, 2, 7, 5, 4, 6, 9, 8, 11, 10}, []int{1, 2, 4, 6, 5, 3, 8, 10, 11, 9, 7}},
		{nil, []int{}},
	} {
		if got := avlPostOrder(tc.ids); !slices.Equal(got, tc.want) {
			t.Errorf("avlPostOrder(%v) = %v, want %v", tc.ids, got, tc.want)
		}
	}
}
