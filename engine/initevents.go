package engine

import (
	"fmt"

	"github.com/kemisip/kemi/kemi"
)

// moduleInitEvents runs the events modules asked for with
// kemi.Env.AddInitEvent (htable:mod-init), in module order, in worker 1,
// before core:worker-one-init and before any traffic. A Lua error or a
// drop aborts the start, as in Kamailio.
func (e *Engine) moduleInitEvents() error {
	for _, lm := range e.mods {
		for _, ev := range lm.Env.InitEvents() {
			if err := e.startEvent(ev.Callback, ev.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// startEvent runs the event callback with name in worker 1 with a fake
// message, before any traffic; a Lua error or a drop aborts the start.
func (e *Engine) startEvent(callback, name string) error {
	if len(e.workers) == 0 {
		return nil
	}
	w := e.workers[0]
	m := FakeMsg(w.proc, e)
	res, err := w.run(callback, kemi.RouteEvent, m, name)
	if err != nil {
		return fmt.Errorf("engine: %s(%q): %w", callback, name, err)
	}
	if res.Ran && m.Drop {
		return fmt.Errorf("engine: %s dropped %s: start aborted", callback, name)
	}
	return nil
}
