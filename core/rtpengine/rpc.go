package rtpengine

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/kemisip/kemi/kemi"
)

// addRPCs declares Kamailio's rtpengine.show, rtpengine.enable and
// rtpengine.ping.
func (mod *Module) addRPCs(env *kemi.Env) {
	env.AddRPC(kemi.RPCMethod{Name: "rtpengine.show", Doc: "List the rtpengine nodes: a node URL or \"all\".", Handler: mod.rpcShow})
	env.AddRPC(kemi.RPCMethod{Name: "rtpengine.enable", Doc: "Enable (1) or disable for good (0) a node URL or \"all\".", Handler: mod.rpcEnable})
	env.AddRPC(kemi.RPCMethod{Name: "rtpengine.ping", Doc: "Ping a node URL or \"all\"; a node that answers is enabled, one that does not is disabled.", Handler: mod.rpcPing})
}

// rpcNode is a node as rtpengine.show gives it.
type rpcNode struct {
	URL          string `json:"url"`
	Set          int    `json:"set"`
	Index        int    `json:"index"`
	Weight       int    `json:"weight"`
	Disabled     int    `json:"disabled"`
	RecheckTicks string `json:"recheck_ticks"`
}

// disabledForGood marks a node disabled by rtpengine.enable 0: only
// rtpengine.enable 1 or a ping that answers brings it back.
const disabledForGood = math.MaxInt64

// nodes returns the nodes the first parameter names (a URL, or "all"),
// by set and order, with their sets and their places in them.
func (mod *Module) nodes(p kemi.RPCParams) ([]*node, [][2]int, error) {
	url, err := p.Str(0)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int, 0, len(mod.client.sets))
	for id := range mod.client.sets {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var out []*node
	var where [][2]int
	for _, id := range ids {
		for i, n := range mod.client.sets[id].nodes {
			if url == "all" || n.url == url {
				out = append(out, n)
				where = append(where, [2]int{id, i})
			}
		}
	}
	if len(out) == 0 {
		return nil, nil, &kemi.RPCError{Code: kemi.RPCInvalidParams, Message: fmt.Sprintf("no rtpengine node %q", url)}
	}
	return out, where, nil
}

func (mod *Module) rpcShow(_ context.Context, p kemi.RPCParams) (any, error) {
	nodes, where, err := mod.nodes(p)
	if err != nil {
		return nil, err
	}
	out := make([]rpcNode, len(nodes))
	for i, n := range nodes {
		r := rpcNode{URL: n.url, Set: where[i][0], Index: where[i][1], Weight: n.weight, RecheckTicks: "0"}
		until := n.disabledUntil.Load()
		switch {
		case until == disabledForGood:
			r.Disabled, r.RecheckTicks = 1, "N/A"
		case !mod.client.enabled(n):
			r.Disabled = 1
			left := (until - mod.client.now().UnixNano()) / 1e9
			r.RecheckTicks = fmt.Sprint(left + 1)
		}
		out[i] = r
	}
	return out, nil
}

func (mod *Module) rpcEnable(_ context.Context, p kemi.RPCParams) (any, error) {
	on, err := p.Int(1)
	if err != nil {
		return nil, err
	}
	nodes, _, err := mod.nodes(p)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if on != 0 {
			n.disabledUntil.Store(0)
		} else {
			n.disabledUntil.Store(disabledForGood)
		}
	}
	return "Success", nil
}

func (mod *Module) rpcPing(_ context.Context, p kemi.RPCParams) (any, error) {
	nodes, _, err := mod.nodes(p)
	if err != nil {
		return nil, err
	}
	type result struct {
		URL     string `json:"url"`
		Success int    `json:"success"`
	}
	out := make([]result, len(nodes))
	for i, n := range nodes {
		reply, err := mod.client.send(n, map[string]any{"command": cmdPing})
		ok := err == nil && reply["result"] == "pong"
		if ok {
			n.disabledUntil.Store(0)
		} else {
			mod.client.disable(n)
		}
		out[i] = result{URL: n.url}
		if ok {
			out[i].Success = 1
		}
	}
	return out, nil
}
