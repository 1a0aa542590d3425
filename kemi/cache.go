package kemi

import "sync"

// Cache is a bounded cache of values derived from keys a script supplies
// (compiled expressions, parsed formats), safe for concurrent use. It
// keeps two generations: a lookup that hits the old one moves the entry to
// the new one, and when the new one is full the old one is dropped.
// Scripts that build keys at run time therefore cannot grow memory
// without limit, while the keys in steady use stay.
type Cache[K comparable, V any] struct {
	mu   sync.Mutex
	cur  map[K]V
	old  map[K]V
	half int
}

// NewCache returns a cache of at most max values.
func NewCache[K comparable, V any](max int) *Cache[K, V] {
	if max < 2 {
		max = 2
	}
	return &Cache[K, V]{cur: map[K]V{}, old: map[K]V{}, half: max / 2}
}

// Get returns the value cached for key, or computes it with compute and
// caches it. compute runs without the cache locked, so two callers may
// compute the same value at once; the cache then keeps one of them.
func (c *Cache[K, V]) Get(key K, compute func() V) V {
	c.mu.Lock()
	if v, ok := c.cur[key]; ok {
		c.mu.Unlock()
		return v
	}
	if v, ok := c.old[key]; ok {
		c.put(key, v)
		c.mu.Unlock()
		return v
	}
	c.mu.Unlock()
	v := compute()
	c.mu.Lock()
	c.put(key, v)
	c.mu.Unlock()
	return v
}

// put stores a value in the current generation; c.mu is held.
func (c *Cache[K, V]) put(key K, v V) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[K]V, c.half)
	}
	c.cur[key] = v
}

// Len returns the number of cached values.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.cur)
	for k := range c.old {
		if _, dup := c.cur[k]; !dup {
			n++
		}
	}
	return n
}
