package tm

import (
	"context"

	"github.com/kemisip/kemi/kemi"
)

// initRPC offers Kamailio's tm.stats.
func (mod *Module) initRPC(env *kemi.Env) {
	env.AddRPC(kemi.RPCMethod{Name: "tm.stats", Doc: "List transaction statistics: current, waiting, total, total_local, rpl_generated, rpl_sent, 6xx..2xx, created, freed.", Handler: func(context.Context, kemi.RPCParams) (any, error) {
		return mod.stats(), nil
	}})
}

// tmStats are tm's transaction counts under Kamailio's tm.stats names and
// in its order. Kamailio's rpl_received and delayed_free are left out:
// kemi's tm does not count the replies it receives apart from the core,
// and frees nothing late.
type tmStats struct {
	// Current is the transactions in the tables, Waiting those of them
	// with a final reply sent, kept for wt_timer.
	Current int64 `json:"current"`
	Waiting int64 `json:"waiting"`
	// Total is every transaction: those created for requests received and
	// the requests tm sent as a UAC (TotalLocal).
	Total      uint64 `json:"total"`
	TotalLocal uint64 `json:"total_local"`
	// RplGenerated is the replies tm made itself, RplSent those and the
	// replies it relayed.
	RplGenerated uint64 `json:"rpl_generated"`
	RplSent      uint64 `json:"rpl_sent"`
	// C6xx to C2xx are the final replies sent upstream, by class.
	C6xx uint64 `json:"6xx"`
	C5xx uint64 `json:"5xx"`
	C4xx uint64 `json:"4xx"`
	C3xx uint64 `json:"3xx"`
	C2xx uint64 `json:"2xx"`
	// Created is the transactions put in the tables, Freed those removed.
	Created uint64 `json:"created"`
	Freed   uint64 `json:"freed"`
}

// stats reads the counters tm keeps for its metrics.
func (mod *Module) stats() tmStats {
	var s tmStats
	count, live := mod.txs.count.Load(), mod.txs.live.Load()
	s.Current = count
	// a transaction leaves "live" with its final reply and the tables
	// after wt_timer; read apart, the two may cross for a moment
	s.Waiting = max(count-live, 0)
	s.Created = mod.met.created.Get()
	s.Freed = s.Created - min(uint64(max(count, 0)), s.Created)
	s.TotalLocal = mod.met.uacRequests.Get()
	s.Total = s.Created + s.TotalLocal
	var final [7]uint64
	for c := 1; c <= 6; c++ {
		local, relayed := mod.met.local[c].Get(), mod.met.relayed[c].Get()
		s.RplGenerated += local
		s.RplSent += local + relayed
		final[c] = local + relayed
	}
	s.C2xx, s.C3xx, s.C4xx, s.C5xx, s.C6xx = final[2], final[3], final[4], final[5], final[6]
	return s
}
