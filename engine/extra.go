package engine

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// extraProcs runs the extra processes modules asked for at ModInit, each a
// supervised goroutine with its own negative rank.
type extraProcs struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (e *Engine) startExtraProcesses() *extraProcs {
	ctx, cancel := context.WithCancel(context.Background())
	xp := &extraProcs{cancel: cancel}
	rank := kemi.RankExtraBase
	for _, mi := range e.mods {
		for _, p := range mi.Env.Processes() {
			p, r := p, rank
			rank--
			xp.wg.Add(1)
			go func() {
				defer xp.wg.Done()
				e.superviseProcess(ctx, mi.Name, p, r)
			}()
		}
	}
	return xp
}

func (xp *extraProcs) stop() {
	xp.cancel()
	xp.wg.Wait()
}

// superviseProcess runs p until ctx ends, restarting it with back-off after
// an error or a panic.
func (e *Engine) superviseProcess(ctx context.Context, mod string, p kemi.Process, rank int) {
	log := e.log.With("process", p.Name, "rank", rank, "mod", mod)
	pc := &kemi.ProcContext{Rank: rank, Proc: kemi.NewProc(rank), Logger: log}
	var run *eventRunner // the process's Lua state, built at its first event
	var stScript *luaext.Script
	closeState := func() {
		if run != nil {
			e.unwatch(run.st)
			run.st.Close()
			run = nil
		}
	}
	defer closeState()
	pc.Event = func(callback, evname string) error {
		if run != nil && stScript != e.script.Load() {
			closeState() // the script was reloaded: use the current one
		}
		if run == nil {
			stScript = e.script.Load()
			st, err := luaext.NewState(stScript, e.luaOptions())
			if err != nil {
				return fmt.Errorf("engine: script: %w", err)
			}
			run = &eventRunner{e: e, st: st, rank: rank, routeStats: routeStats{routes: map[string]*routeMetrics{}}}
			e.watch(st) // RouteTimeout holds here as in the workers
		}
		// counted and logged as every route; the error is the process's too
		_, err := run.Call(callback, kemi.RouteEvent, FakeMsg(pc.Proc, e), evname)
		return err
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
				}
			}()
			return p.Run(ctx, pc)
		}()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			log.Info("extra process ended")
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		log.Error("extra process failed; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
	}
}

// FakeMsg returns the stand-in message that event routes and timers run
// with, as Kamailio's faked message: an OPTIONS request from and to
// 127.0.0.1.
func FakeMsg(proc *kemi.Proc, host kemi.Host) *kemi.Msg {
	req := fakeRequest(sip.OPTIONS)
	return kemi.WithRequest(&kemi.Msg{Proto: "udp", Proc: proc, Host: host, OrigURI: req.Recipient.String(), Received: time.Now(), Faked: true}, req)
}

// fakeRequest is the request of FakeMsg, with method.
func fakeRequest(method sip.RequestMethod) *sip.Request {
	var ru sip.Uri
	_ = sip.ParseUri("sip:you@127.0.0.1", &ru)
	req := sip.NewRequest(method, ru)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 9, Params: sip.NewParams()}
	via.Params.Add("branch", "z9hG4bKkemi-fake")
	req.AppendHeader(via)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "kemi", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", "fake")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "you", Host: "127.0.0.1"}, Params: sip.NewParams()})
	cid := sip.CallIDHeader("kemi-faked-message")
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	req.SetBody(nil)
	return req
}
