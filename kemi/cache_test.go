package kemi

import "testing"

func TestCache(t *testing.T) {
	c := NewCache[int, int](8)
	calls := 0
	square := func(k int) func() int { return func() int { calls++; return k * k } }
	if v := c.Get(3, square(3)); v != 9 || calls != 1 {
		t.Fatalf("Get(3) = %d after %d calls", v, calls)
	}
	if v := c.Get(3, square(3)); v != 9 || calls != 1 {
		t.Fatalf("cached Get(3) = %d after %d calls", v, calls)
	}
	for k := 100; k < 200; k++ {
		c.Get(k, square(k))
		c.Get(3, square(3)) // in steady use: stays
		if n := c.Len(); n > 8 {
			t.Fatalf("cache holds %d values, limit 8", n)
		}
	}
	if calls != 101 {
		t.Errorf("%d computations, want 101: the hot key was evicted", calls)
	}
}
