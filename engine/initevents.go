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
	if len(e.workers) == 0 {
		return nil
	}
	w := e.workers[0]
	for _, lm := range e.mods {
		for _, ev := range lm.Env.InitEvents() {
			m := FakeMsg(w.proc, e)
			res, err := w.run(ev.Callback, kemi.RouteEvent, m, ev.Name)
			if err != nil {
				return fmt.Errorf("engine: %s(%q): %w", ev.Callback, ev.Name, err)
			}
			if res.Ran && m.Drop {
				return fmt.Errorf("engine: %s dropped %s: start aborted", ev.Callback, ev.Name)
			}
		}
	}
	return nil
}
