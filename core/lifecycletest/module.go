//go:build kemitest

// Package lifecycletest is a module for kemi's own process-model tests. It
// appends every lifecycle call it gets (ModInit, ChildInit with its rank,
// extra process start and stop, Destroy), with the process id, to a file,
// so that tests can check the order, the ranks and the process each call
// ran in. It is built only with the kemitest build tag.
package lifecycletest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "lifecycletest", New: func() kemi.Module { return &Module{} }})
}

// Record is one line of the record file.
type Record struct {
	Call string `json:"call"`
	Rank int    `json:"rank"`
	Pid  int    `json:"pid"`
	Dry  bool   `json:"dry,omitempty"`
	What string `json:"what,omitempty"`
}

// Module records its lifecycle.
type Module struct {
	file string
	dry  bool
	mu   sync.Mutex

	startDelay time.Duration
}

// ModInit reads the parameters: file (where to record), extra (ask for an
// extra process), event (script callback the extra process runs),
// start_delay (how long ChildInit(RankMain) sleeps, outside a dry run: a
// slow start for tests of readiness).
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.file = env.Params.Str("file", "")
	mod.startDelay = env.Params.Duration("start_delay", 0, time.Millisecond)
	extra := env.Params.Bool("extra", false)
	event := env.Params.Str("event", "")
	if mod.file == "" {
		return fmt.Errorf("parameter file is required")
	}
	mod.dry = env.DryRun
	mod.record(Record{Call: "mod_init", Dry: env.DryRun})
	if extra && !env.DryRun {
		env.AddProcess(kemi.Process{Name: "lifecycle-prober", Run: func(ctx context.Context, pc *kemi.ProcContext) error {
			mod.record(Record{Call: "process_start", Rank: pc.Rank})
			if event != "" {
				if err := pc.Event(event, "lifecycletest:process-init"); err != nil {
					return err
				}
			}
			<-ctx.Done()
			mod.record(Record{Call: "process_stop", Rank: pc.Rank})
			return nil
		}})
	}
	return nil
}

// ChildInit records the rank; at RankMain it sleeps start_delay first.
func (mod *Module) ChildInit(rank int) error {
	if rank == kemi.RankMain && !mod.dry {
		time.Sleep(mod.startDelay)
	}
	mod.record(Record{Call: "child_init", Rank: rank})
	return nil
}

// Destroy records the end.
func (mod *Module) Destroy() {
	mod.record(Record{Call: "destroy", Dry: mod.dry})
}

// Exports has KSR.lifecycletest.record(text) for scripts.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{{Module: "lifecycletest", Name: "record", Params: kemi.S, Return: kemi.ReturnInt,
		Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			rank := 0
			if m.Proc != nil {
				rank = m.Proc.Rank
			}
			mod.record(Record{Call: "script", Rank: rank, What: a.Str(0)})
			return kemi.OK
		}}}
}

func (mod *Module) record(r Record) {
	if mod.file == "" {
		return
	}
	r.Pid = os.Getpid()
	b, _ := json.Marshal(r)
	mod.mu.Lock()
	defer mod.mu.Unlock()
	f, err := os.OpenFile(mod.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	f.Write(append(b, '\n'))
	f.Close()
}

var (
	_ kemi.ModIniter   = (*Module)(nil)
	_ kemi.ChildIniter = (*Module)(nil)
	_ kemi.Destroyer   = (*Module)(nil)
)
