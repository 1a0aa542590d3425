// Package dispatcher is Kamailio's dispatcher module: it balances requests
// over sets of destinations read from a dispatcher.list file, with the
// selection algorithms, failover (ds_next_dst from the failure route) and
// the address matching (ds_is_from_list) of Kamailio 5.6.
package dispatcher

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "dispatcher", Order: 200, New: func() kemi.Module { return &Module{} }})
}

// Module is the dispatcher of one engine: the destination sets and their
// state, shared by every worker.
type Module struct {
	log *slog.Logger
	// sets is the loaded list; empty when list_file is unset.
	sets atomic.Pointer[list]
	// state holds the runtime state flags of each destination.
	state *stateTable
	// hashPV is the format hashed by algorithm 7 (hash_pvar).
	hashPV *kemi.Format
	// setidPV and attrsPV receive the set id and attributes of the
	// destination ds_is_from_list matched (setid_pvname, attrs_pvname).
	setidPV, attrsPV *kemi.PVName
	// failover keeps the other usable destinations after the selected one
	// for ds_next_dst (flags bit 2); without it only the selected one is
	// kept.
	failover bool
	// uriUserOnly hashes only the user part of URIs (flags bit 1).
	uriUserOnly bool
	// probingAll marks ds_mark_dst destinations for probing too
	// (ds_probing_mode 1).
	probingAll bool
	// rnd returns a random number in [0, n); tests replace it.
	rnd func(n int) int
	// xavp names the $xavp records of failover (see xavp.go).
	xavp *xavpConf
	// load is the call load of algorithm 10; nil without ds_hash_size.
	load *loadTable
}

// ModInit reads the parameters and loads list_file. Without list_file the
// module starts with no destination set: every selection fails.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.rnd = randN
	p := env.Params
	file := p.Str("list_file", "")
	flags := p.Int("flags", 0)
	mod.uriUserOnly = flags&1 != 0
	mod.failover = flags&2 != 0
	mod.probingAll = p.Int("ds_probing_mode", 0) == 1
	mod.xavp = readXAVPConf(p)
	if err := mod.readLoad(env); err != nil {
		return err
	}
	if s := p.Str("hash_pvar", ""); s != "" {
		f, err := env.PVs.CompileFormat(s)
		if err != nil {
			return fmt.Errorf("core/dispatcher: hash_pvar %q: %w", s, err)
		}
		mod.hashPV = f
	}
	for _, x := range []struct {
		name string
		dst  **kemi.PVName
	}{{"setid_pvname", &mod.setidPV}, {"attrs_pvname", &mod.attrsPV}} {
		if s := p.Str(x.name, ""); s != "" {
			pv, err := env.PVs.Parse(s)
			if err != nil {
				return fmt.Errorf("core/dispatcher: %s %q: %w", x.name, s, err)
			}
			*x.dst = pv
		}
	}
	l := &list{sets: map[int]*set{}}
	if file != "" {
		var err error
		if l, err = loadListFile(file); err != nil {
			return err
		}
	}
	mod.state = newStateTable(l)
	mod.sets.Store(l)
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
