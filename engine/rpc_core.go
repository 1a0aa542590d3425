package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// coreRPCs are the engine's own methods, under Kamailio's names and with
// its reply shapes.
func (e *Engine) coreRPCs() []kemi.RPCMethod {
	return append([]kemi.RPCMethod{
		{Name: "system.listMethods", Doc: "Lists the RPC methods the server offers.", Handler: e.rpcListMethods},
		{Name: "system.methodHelp", Doc: "Returns the help of an RPC method. Parameter: the method name.", Handler: e.rpcMethodHelp},
		{Name: "core.version", Doc: "Returns the version of the server.", Handler: e.rpcVersion},
		{Name: "core.uptime", Doc: "Returns uptime of SIP server: now, up_since and uptime in seconds.", Handler: e.rpcUptime},
		{Name: "core.ps", Doc: "Returns the description of running processes: pid, description, pid, ...", Handler: e.rpcPs},
		{Name: "core.psx", Doc: "Returns the detailed description of running processes: IDX, PID, DSC of each.", Handler: e.rpcPsx},
		{Name: "core.shmmem", Doc: "Returns the memory of the worker process, from Go's runtime: total, free, used, real_used (bytes).", Handler: e.rpcShmmem},
		{Name: "core.echo", Doc: "Returns back its parameters, as strings.", Handler: rpcEcho},
		{Name: "app_lua.reload", Doc: "Reloads the routing script (all or nothing, as SIGHUP); fails with the script's error and file:line.", Handler: e.rpcReload},
	}, e.statsRPCs()...)
}

func (e *Engine) rpcListMethods(context.Context, kemi.RPCParams) (any, error) {
	return e.rpc.names, nil
}

func (e *Engine) rpcMethodHelp(_ context.Context, p kemi.RPCParams) (any, error) {
	name, err := p.Str(0)
	if err != nil {
		return nil, err
	}
	m, ok := e.rpc.methods[name]
	if !ok {
		return nil, &kemi.RPCError{Code: kemi.RPCInvalidParams, Message: "command not found: " + name}
	}
	return m.Doc, nil
}

// rpcVersion answers as Kamailio's "kamailio 5.6.3 (x86_64/linux)".
func (e *Engine) rpcVersion(context.Context, kemi.RPCParams) (any, error) {
	return fmt.Sprintf("kemi %s (%s/%s)", e.cfg.Version, runtime.GOARCH, runtime.GOOS), nil
}

// ctime is the time format of C's ctime(3), which Kamailio's core.uptime
// uses: "Sun Dec  6 18:15:39 2026".
const ctime = "Mon Jan _2 15:04:05 2006"

func (e *Engine) rpcUptime(context.Context, kemi.RPCParams) (any, error) {
	now := time.Now()
	return struct {
		Now     string `json:"now"`
		UpSince string `json:"up_since"`
		Uptime  int64  `json:"uptime"`
	}{now.Format(ctime), e.startAt.Format(ctime), int64(now.Sub(e.startAt).Seconds())}, nil
}

// rpcProc is one line of core.psx.
type rpcProc struct {
	IDX int    `json:"IDX"`
	PID int    `json:"PID"`
	DSC string `json:"DSC"`
}

// processes lists what Kamailio would list as processes: the main process
// (the supervisor in fork mode), the workers and the modules' extra
// processes. Workers and extra processes are goroutines of the worker
// process, so they share its pid.
func (e *Engine) processes() []rpcProc {
	pid := os.Getpid()
	main := pid
	if IsWorkerProcess() {
		main = os.Getppid()
	}
	ps := []rpcProc{{PID: main, DSC: "main process - attendant"}}
	for _, w := range e.workers {
		ps = append(ps, rpcProc{PID: pid, DSC: fmt.Sprintf("worker rank=%d", w.rank)})
	}
	rank := kemi.RankExtraBase // as startExtraProcesses numbers them
	for _, mi := range e.mods {
		for _, p := range mi.Env.Processes() {
			ps = append(ps, rpcProc{PID: pid, DSC: fmt.Sprintf("%s (module %s) rank=%d", p.Name, mi.Name, rank)})
			rank--
		}
	}
	for i := range ps {
		ps[i].IDX = i
	}
	return ps
}

func (e *Engine) rpcPs(context.Context, kemi.RPCParams) (any, error) {
	var out []any
	for _, p := range e.processes() {
		out = append(out, p.PID, p.DSC)
	}
	return out, nil
}

func (e *Engine) rpcPsx(context.Context, kemi.RPCParams) (any, error) {
	return e.processes(), nil
}

// rpcShmmem maps Go's memory statistics onto Kamailio's shared memory
// report: total is what the runtime got from the system, used the live
// heap, real_used the heap and stacks in use, free the rest. Kamailio's
// max_used and fragments have no Go counterpart and are left out.
func (e *Engine) rpcShmmem(context.Context, kemi.RPCParams) (any, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	real := ms.HeapInuse + ms.StackInuse
	return struct {
		Total    uint64 `json:"total"`
		Free     uint64 `json:"free"`
		Used     uint64 `json:"used"`
		RealUsed uint64 `json:"real_used"`
	}{ms.Sys, ms.Sys - real, ms.HeapAlloc, real}, nil
}

// rpcEcho returns its parameters as strings, as Kamailio's core.echo.
func rpcEcho(_ context.Context, p kemi.RPCParams) (any, error) {
	out := make([]string, 0, p.Len())
	for i := range p.Len() {
		s, err := p.Str(i)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// rpcReload reloads the script as SIGHUP does. Kamailio's app_lua.reload
// answers nothing on success; kemi answers the new generation, which
// tooling that ignores the result does not mind.
func (e *Engine) rpcReload(context.Context, kemi.RPCParams) (any, error) {
	gen, err := e.ReloadScript()
	if e.cfg.OnReload != nil {
		e.cfg.OnReload(gen, e.Script().Source, err)
	}
	if err != nil {
		return nil, err
	}
	return struct {
		Generation int64 `json:"generation"`
	}{gen}, nil
}
