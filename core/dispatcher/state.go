package dispatcher

import (
	"math/rand/v2"
	"sync/atomic"
)

// Runtime state bits of a destination (Kamailio's DS_*_DST).
const (
	stInactive = flagInactive
	stTrying   = flagTrying
	stDisabled = flagDisabled
	stProbing  = flagProbing
)

// stateTable keeps what changes while running: each destination's state
// and each set's rotation counters. Workers share it; all of it is atomic.
type stateTable struct {
	dst map[*dest]*atomic.Int32
	rr  map[int]*atomic.Uint64 // round robin (algorithm 4)
	wrr map[int]*atomic.Uint64 // weight slots (algorithm 9)
}

func newStateTable(l *list) *stateTable {
	t := &stateTable{dst: map[*dest]*atomic.Int32{}, rr: map[int]*atomic.Uint64{}, wrr: map[int]*atomic.Uint64{}}
	for id, s := range l.sets {
		t.rr[id] = new(atomic.Uint64)
		t.wrr[id] = new(atomic.Uint64)
		for _, d := range s.dests {
			st := new(atomic.Int32)
			st.Store(int32(d.flags & (stInactive | stTrying | stDisabled | stProbing)))
			t.dst[d] = st
		}
	}
	return t
}

// flags returns the state of d.
func (t *stateTable) flags(d *dest) int32 { return t.dst[d].Load() }

// usable reports whether d may be selected: neither inactive nor disabled.
func (t *stateTable) usable(d *dest) bool {
	return t.flags(d)&(stInactive|stDisabled) == 0
}

// set replaces the state of d.
func (t *stateTable) set(d *dest, st int32) { t.dst[d].Store(st) }

func randN(n int) int { return rand.IntN(n) }
