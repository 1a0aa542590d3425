package kemi

// InitEvent is a script event callback that a module asks the engine to
// run once, after the script is loaded and before any traffic, such as
// htable's "htable:mod-init" (Kamailio runs those from child_init with
// PROC_INIT).
type InitEvent struct {
	// Callback is the script function to run.
	Callback string
	// Name is the event name, the function's argument.
	Name string
}

// AddInitEvent asks for ev to run at start: in worker 1's Lua state, with
// a fake message, in module order, before core:worker-one-init. A Lua
// error in it or a drop aborts the start, as in Kamailio; a script
// without the function is skipped.
func (e *Env) AddInitEvent(ev InitEvent) {
	e.initEvents = append(e.initEvents, ev)
}

// InitEvents returns the init events asked for.
func (e *Env) InitEvents() []InitEvent {
	return e.initEvents
}
